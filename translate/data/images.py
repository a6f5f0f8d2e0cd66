"""Reading, checking and writing image files. Images are float32 H×W×C arrays in [0, 1] here;
tensors in [-1, 1] are the networks' business (``to_tensor`` / ``to_array``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UserError, listing
from ..fileio import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MAX_PIXELS_ENV = "TRANSLATE_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 2 * 89_478_485  # PIL's own error threshold (2 × its warning limit), ~179 MP
SCAN_DECODE_PIXELS = 4_000_000  # images up to this many pixels are fully decoded when scanned


def find_images(folder: str | Path, flag: str = "--data", extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """All images (files ending in one of ``extensions``) under ``folder``, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{flag} {folder}: no such folder; pass a folder of images")
    if not folder.is_dir():
        raise UserError(f"{flag} {folder}: not a folder; pass the folder that holds the images")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in extensions and p.is_file()
                   and not p.name.startswith("."))
    if not paths:
        raise UserError(
            f"{flag} {folder}: no images found (looked recursively for {', '.join(extensions)}); "
            "point it at a folder that contains images"
        )
    return paths


class TooLarge(DataError):
    """An image over :func:`max_pixels`: refused from its header, before any pixel is decoded."""


def max_pixels() -> int:
    """Largest image (width × height) decoded, a guard against decompression bombs (a few KB of
    PNG that decode to gigabytes). TRANSLATE_MAX_PIXELS raises or lowers it."""
    import os

    try:
        return int(os.environ.get(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS))
    except ValueError:
        raise UserError(f"{MAX_PIXELS_ENV}={os.environ[MAX_PIXELS_ENV]!r}: give a whole number of pixels") from None


def _open(path: Path):
    """PIL's open with our pixel limit; a larger image is a one-line DataError."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below applies instead of PIL's warning/error
    try:
        img = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    w, h = img.size
    if w * h > max_pixels():
        img.close()
        raise TooLarge(f"{path}: {w}×{h} is {w * h:,} pixels, more than the {max_pixels():,} allowed (a guard "
                        f"against decompression bombs); set {MAX_PIXELS_ENV}={w * h} to allow it")
    return img


def decodes(path: Path) -> None:
    """Decode ``path`` cheaply enough to scan a data set: JPEGs at 1/8 scale (the DCT's DC terms,
    which still reads every byte, so truncation shows), small images whole; large non-JPEG images
    have their chunks and checksums verified instead of a full decode."""
    with _open(path) as img:
        w, h = img.size
        if img.format == "JPEG":
            img.draft(img.mode, (max(1, w // 8), max(1, h // 8)))
            img.load()
        elif w * h <= SCAN_DECODE_PIXELS:
            img.load()
        else:
            img.verify()


EXIF_SWAPS_AXES = (5, 6, 7, 8)  # EXIF orientations that rotate by 90°: width and height swap


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as the readers return it (EXIF orientation applied), from
    its header alone: sizes can be checked before anything is decoded or written."""
    with _open(Path(path)) as img:
        width, height = img.size
        if img.getexif().get(0x0112, 1) in EXIF_SWAPS_AXES:
            width, height = height, width
    return width, height


def check_images(paths: list[Path], flag: str, skip_bad: bool) -> list[Path]:
    """Decode-check every file (see :func:`decodes`); unreadable or truncated files stop the run
    with their paths before training starts, or are skipped with a count and their names when
    ``skip_bad`` is set. Failing is the default because a silently shrinking dataset is worse than
    a clear error."""
    good, bad, large = [], [], []  # over the pixel limit is not "unreadable": it says so, and how to allow it
    for path in paths:
        try:
            decodes(path)
            good.append(path)
        except TooLarge:
            large.append(path)
        except Exception:  # any decoder failure (OSError, SyntaxError, zlib.error, ...) is the file's
            bad.append(path)
    problems = []
    if bad:
        problems.append(f"{len(bad)} unreadable or truncated image(s): {listing(bad)}")
    if large:
        problems.append(f"{len(large)} image(s) over the {max_pixels():,}-pixel limit ({MAX_PIXELS_ENV}, a guard "
                        f"against decompression bombs): {listing(large)}")
    if problems and not skip_bad:
        raise UserError(f"{flag}: {'; '.join(problems)}; delete, shrink or re-save them, or pass --skip-bad-images")
    if problems:
        import sys

        print(f"warning: skipped under {flag}: {'; '.join(problems)}", file=sys.stderr)
    if not good:
        raise UserError(f"{flag}: none of the {len(paths)} image files could be read")
    return good




@dataclass
class LoadedImage:
    pixels: np.ndarray  # H×W×C float32 in [0, 1], C = requested channels
    alpha: np.ndarray | None  # H×W float32 in [0, 1], or None
    bits: int  # 8 or 16


def decode_image(img, channels: int = 3) -> LoadedImage:
    """A PIL image as RGB (3) or grayscale (1) pixels in [0, 1], upright as the EXIF orientation
    says (a phone photo comes out as it is seen). 16-bit images keep their precision; an alpha
    channel is returned separately so ``apply`` can carry it through."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    mode = img.mode
    alpha = None
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        img = rgba.convert("RGB") if channels == 3 else rgba.convert("L")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raw = float_pixels(img) if mode == "F" else np.asarray(img, dtype=np.float32) / 65535.0
        pixels = np.clip(raw, 0, 1)[..., None]
        if channels == 3:
            pixels = np.repeat(pixels, 3, axis=2)
        return LoadedImage(pixels, alpha, 16)
    img = img.convert("RGB" if channels == 3 else "L")
    pixels = np.asarray(img, dtype=np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return LoadedImage(pixels, alpha, 8)


def float_pixels(img) -> np.ndarray:
    """A floating-point (mode F, e.g. 32-bit TIFF) image's pixels, which must lie in [0, 1]: PIL's
    convert() would clip them to 0..255 integers and turn a [0, 1] image black. Any other range
    has no agreed meaning, so it is refused (the caller names the file)."""
    raw = np.asarray(img, dtype=np.float32)
    if raw.size and not np.isfinite(raw).all():
        raise ValueError("NaN or infinite floating-point pixels; re-save it with finite values in [0, 1]")
    if raw.size and not (raw.min() >= 0 and raw.max() <= 1):
        raise ValueError(f"floating-point pixels from {np.nanmin(raw):g} to {np.nanmax(raw):g}, not in [0, 1]; "
                         "save it as an 8- or 16-bit image, or scale it to [0, 1]")
    return raw


def read_image(path: str | Path, channels: int = 3) -> LoadedImage:
    """Decode an image file (see :func:`decode_image`), or one line naming the file."""
    try:
        with _open(Path(path)) as img:
            img.load()
            return decode_image(img, channels)
    except DataError:
        raise
    except Exception as exc:  # OSError, SyntaxError, zlib.error, ...: the file is at fault
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                        "delete or re-save it") from None


LEVEL_PEAKS = {"L": 255.0, "RGB": 255.0, "I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0, "F": 1.0}
STRIP_PIXELS = 1 << 18  # pixels per strip of rows when a whole image is read piecewise (a few MB of floats)


def open_upright(path: str | Path):
    """A decoded image as PIL holds it (1-4 bytes a pixel, no float copy), upright as its EXIF
    says, in one of the modes of LEVEL_PEAKS: palette expanded, alpha dropped, CMYK and the like
    as RGB, float pixels checked to lie in [0, 1]. For commands that read large images in strips
    (:func:`pixel_rows`); the caller closes it. Errors are one line naming the file."""
    from PIL import ImageOps

    try:
        upright = _open(Path(path))  # not a with-block: closing a PIL image frees its pixels too
        upright.load()  # a single-frame file's handle is closed by PIL once it is read
        ImageOps.exif_transpose(upright, in_place=True)
        if upright.mode not in LEVEL_PEAKS:
            upright = upright.convert("RGBA" if upright.mode in ("P", "PA") else upright.mode).convert(
                "L" if upright.mode in ("LA", "La") else "RGB")
        if upright.mode == "F":  # checked strip by strip: float_pixels' rule without a second whole copy
            for top, bottom in strips(upright.height, upright.width):
                float_pixels(upright.crop((0, top, upright.width, bottom)))
        return upright
    except DataError:
        raise
    except Exception as exc:  # OSError, SyntaxError, zlib.error, MemoryError, ...: the file is at fault
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                        "delete or re-save it") from None


def pixel_rows(img, top: int = 0, bottom: int | None = None) -> np.ndarray:
    """Rows ``top:bottom`` of an :func:`open_upright` image as an h×W×C float32 array in [0, 1]
    (C = 1 or 3), computed as :func:`decode_image` computes the whole image."""
    bottom = img.height if bottom is None else bottom
    rows = np.asarray(img.crop((0, top, img.width, bottom)), dtype=np.float32)
    if img.mode == "F":
        rows = np.clip(rows, 0, 1)
    elif LEVEL_PEAKS[img.mode] != 255.0:
        rows = np.clip(rows / np.float32(LEVEL_PEAKS[img.mode]), 0, 1)
    else:
        rows /= np.float32(255.0)
    return rows[..., None] if rows.ndim == 2 else rows


def strips(height: int, width: int, overlap: int = 0) -> list[tuple[int, int]]:
    """(top, bottom) row ranges of about STRIP_PIXELS pixels each covering ``height`` rows, each
    reaching ``overlap`` rows into the next (a filter window's reach)."""
    step = max(1, STRIP_PIXELS // max(width, 1), 2 * overlap)  # the overlap is recomputed: keep it a third or less
    return [(top, min(height, top + step + overlap)) for top in range(0, max(height - overlap, 1), step)]


def read_uint8(path: str | Path, channels: int = 3, min_side: int = 0) -> np.ndarray:
    """H×W×C uint8 for augmentation pipelines, decoded straight to 8 bits (no float copy of a
    large image). With ``min_side``, an image whose shorter side is at least twice that is
    reduced while decoding (JPEG draft at 1/2-1/8 scale, else a box filter by an integer factor)
    to a shorter side still ≥ ``min_side``: what the training transform resizes to anyway."""
    return read_uint8_reduced(path, channels, min_side)[0]


def read_uint8_reduced(path: str | Path, channels: int = 3, min_side: int = 0) -> tuple[np.ndarray, bool]:
    """:func:`read_uint8`, and whether the image was reduced (its full decode was the costly part)."""
    from PIL import Image, ImageOps

    reduced = False
    try:
        with _open(Path(path)) as img:
            reduced = bool(min_side) and min(img.size) >= 2 * min_side
            if reduced and img.format == "JPEG":
                img.draft(img.mode, _draft_size(img.size, min_side))
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode == "F":
                img = Image.fromarray((float_pixels(img) * 255).round().astype(np.uint8))
            elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
                img = Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
            elif img.mode in ("RGBA", "LA", "PA", "P"):
                img = img.convert("RGBA")  # palette colours made explicit; alpha dropped below
            img = img.convert("RGB" if channels == 3 else "L")
            factor = min(img.size) // min_side if min_side else 1
            if factor >= 2:
                img = img.reduce(factor)
            array = np.asarray(img)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                        "delete or re-save it") from None
    return (array[..., None] if array.ndim == 2 else array), reduced


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The size to ask JPEG's draft mode for: it picks the smallest 1/1..1/8 scale at least this big."""
    scale = min(size) / min_side
    return (max(1, int(size[0] / scale)), max(1, int(size[1] / scale)))


def encode_image(pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8, suffix: str = ".png"):
    """An H×W×C array in [0, 1] (and optional alpha) as a PIL image; 16 bits for grayscale where
    the format ``suffix`` holds them, alpha where it holds one."""
    from PIL import Image

    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.dtype != np.uint8 and sixteen_bits(pixels.shape, bits, suffix, alpha):
        return Image.fromarray((np.clip(pixels, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16))
    img = Image.fromarray(pixels if pixels.dtype == np.uint8 else quantise8(pixels))
    if alpha is not None and suffix.lower() in (".png", ".webp", ".tif", ".tiff"):
        a = Image.fromarray((np.clip(alpha, 0, 1) * 255.0 + 0.5).astype(np.uint8))
        if a.size != img.size:
            a = a.resize(img.size, Image.BILINEAR)
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
        img.putalpha(a)
    return img


def sixteen_bits(shape: tuple[int, ...], bits: int, suffix: str, alpha: np.ndarray | None) -> bool:
    """Whether an image of this (H, W[, C]) shape is written with 16 bits: grayscale from a 16-bit
    source, in a format that holds them, without alpha; everything else is written with 8."""
    gray = len(shape) == 2 or shape[-1] == 1
    return bits == 16 and gray and suffix.lower() in (".png", ".tif", ".tiff") and alpha is None


def quantise8(pixels: np.ndarray, rows: int = 256) -> np.ndarray:
    """An H×W[×C] array in [0, 1] as uint8 (clipped, rounded), a band of rows at a time: a large
    image then needs its uint8 copy only, not three float ones (16000×12000 RGB: 2.3 GB each)."""
    out = np.empty(pixels.shape, np.uint8)
    for top in range(0, pixels.shape[0], rows):
        out[top: top + rows] = (np.clip(pixels[top: top + rows], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out


def to_pixels(tensor, bits: int = 8, suffix: str = ".png", alpha: np.ndarray | None = None) -> np.ndarray:
    """A C×H×W tensor in [-1, 1] as write_image(path, to_array(tensor), alpha, bits) writes it: uint8
    converted a band of rows at a time where the file takes 8 bits (no whole-image float copy), the
    float array of :func:`to_array` where it takes 16."""
    c, h, w = tensor.shape
    if sixteen_bits((h, w, c), bits, suffix, alpha):
        return to_array(tensor)
    rows = max(1, (1 << 20) // max(1, w * c))
    out = np.empty((h, w, c), np.uint8)
    for top in range(0, h, rows):
        out[top: top + rows] = quantise8(to_array(tensor[:, top: top + rows]))
    return out


def write_image(path: str | Path, pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8,
                replace: bool = True) -> None:
    """Write an H×W×C array in [0, 1] atomically; the format follows the file extension.
    ``replace=False``: a file another process put at ``path`` meanwhile is kept (one-line error)."""
    path = Path(path)
    img = encode_image(pixels, alpha, bits, path.suffix)
    with atomic_path(path, replace) as tmp:
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower())
        img.save(tmp, format=fmt or (path.suffix[1:].upper() if path.suffix else "PNG"))


def to_tensor(pixels: np.ndarray):
    """H×W×C array in [0, 1] → 1×C×H×W tensor in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).unsqueeze(0) * 2.0 - 1.0


def to_array(tensor) -> np.ndarray:
    """C×H×W tensor in [-1, 1] → H×W×C float32 array in [0, 1]."""
    return ((tensor.detach().float().clamp(-1, 1) + 1.0) / 2.0).permute(1, 2, 0).cpu().numpy()


def save_grid(path: str | Path, images, nrow: int | None = None) -> None:
    """N×C×H×W tensor in [-1, 1] → one PNG grid."""
    import math

    from torchvision.utils import make_grid

    n = images.shape[0]
    grid = make_grid(images.detach().float().cpu().clamp(-1, 1), nrow=nrow or max(1, int(math.ceil(math.sqrt(n)))),
                     padding=2, pad_value=1.0)
    write_image(path, to_array(grid))
