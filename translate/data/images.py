"""Reading, checking and writing image files. Images are float32 H×W×C arrays in [0, 1] here;
tensors in [-1, 1] are the networks' business (``to_tensor`` / ``to_array``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def find_images(folder: str | Path, flag: str = "--data") -> list[Path]:
    """All images under ``folder``, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{flag} {folder}: no such folder; pass a folder of images")
    if not folder.is_dir():
        raise UserError(f"{flag} {folder}: not a folder; pass the folder that holds the images")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not p.name.startswith("."))
    if not paths:
        raise UserError(
            f"{flag} {folder}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)}); "
            "point it at a folder that contains images"
        )
    return paths


def check_images(paths: list[Path], flag: str, skip_bad: bool) -> list[Path]:
    """Open every file's header; unreadable files stop the run with their paths, or are skipped
    (with a count on stderr) when ``skip_bad`` is set. Failing is the default because a silently
    shrinking dataset is worse than a clear error before training starts."""
    from PIL import Image

    good, bad = [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - reading the header is the check
            good.append(path)
        except Exception:
            bad.append(path)
    if bad and not skip_bad:
        shown = ", ".join(str(p) for p in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UserError(f"{flag}: {len(bad)} unreadable image(s): {shown}; delete or re-save them, "
                        "or pass --skip-bad-images")
    if bad:
        import sys

        print(f"warning: skipped {len(bad)} unreadable image(s) under {flag}", file=sys.stderr)
    if not good:
        raise UserError(f"{flag}: none of the {len(paths)} image files could be read")
    return good


@dataclass
class LoadedImage:
    pixels: np.ndarray  # H×W×C float32 in [0, 1], C = requested channels
    alpha: np.ndarray | None  # H×W float32 in [0, 1], or None
    bits: int  # 8 or 16


def decode_image(img, channels: int = 3) -> LoadedImage:
    """A PIL image as RGB (3) or grayscale (1) pixels in [0, 1]. 16-bit images keep their
    precision; an alpha channel is returned separately so ``apply`` can carry it through."""
    mode = img.mode
    alpha = None
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        img = rgba.convert("RGB") if channels == 3 else rgba.convert("L")
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        raw = np.asarray(img, dtype=np.float32) / 65535.0
        pixels = np.clip(raw, 0, 1)[..., None]
        if channels == 3:
            pixels = np.repeat(pixels, 3, axis=2)
        return LoadedImage(pixels, alpha, 16)
    img = img.convert("RGB" if channels == 3 else "L")
    pixels = np.asarray(img, dtype=np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return LoadedImage(pixels, alpha, 8)


def read_image(path: str | Path, channels: int = 3) -> LoadedImage:
    """Decode an image file (see :func:`decode_image`), or one line naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return decode_image(img, channels)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: cannot read image ({exc}); delete or re-save it") from None


def read_uint8(path: str | Path, channels: int = 3) -> np.ndarray:
    """H×W×C uint8, for augmentation pipelines."""
    return (read_image(path, channels).pixels * 255.0 + 0.5).astype(np.uint8)


def encode_image(pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8, suffix: str = ".png"):
    """An H×W×C array in [0, 1] (and optional alpha) as a PIL image; 16 bits for grayscale where
    the format ``suffix`` holds them, alpha where it holds one."""
    from PIL import Image

    pixels = np.clip(pixels, 0.0, 1.0)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if bits == 16 and pixels.ndim == 2 and suffix.lower() in (".png", ".tif", ".tiff") and alpha is None:
        return Image.fromarray((pixels * 65535.0 + 0.5).astype(np.uint16))
    img = Image.fromarray((pixels * 255.0 + 0.5).astype(np.uint8))
    if alpha is not None and suffix.lower() in (".png", ".webp", ".tif", ".tiff"):
        a = Image.fromarray((np.clip(alpha, 0, 1) * 255.0 + 0.5).astype(np.uint8))
        if a.size != img.size:
            a = a.resize(img.size, Image.BILINEAR)
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
        img.putalpha(a)
    return img


def write_image(path: str | Path, pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8) -> None:
    """Write an H×W×C array in [0, 1] atomically; the format follows the file extension."""
    path = Path(path)
    img = encode_image(pixels, alpha, bits, path.suffix)
    with atomic_path(path) as tmp:
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
