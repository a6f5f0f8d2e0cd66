"""Paired data for pix2pix: the two layouts of the public datasets and a built-in synthetic task.

``--aligned DIR``      A|B side-by-side images (the layout of the facades, maps, edges2shoes...
                       archives): the left half is A, the right half B.
``--a DIR --b DIR``    two folders whose images pair up by file name (relative path without the
                       extension, so ``a/x.png`` pairs with ``b/x.jpg``).
``--aligned NAME``     a built-in task generated on the fly from the seed (nothing downloaded),
                       recognised only when no folder of that name exists:
                       ``shapes2shaded``  flat label map of circles, squares and triangles (A) →
                       the same shapes coloured by class, shaded as lit domes, with drop shadows (B).

Both images of a pair get exactly the same jitter (resize, crop, flip) through albumentations'
additional targets. Problems with the pairing are reported before training, with file names.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from translate.data import augment
from translate.data.datasets import uint8_to_tensor
from translate.data.images import check_images, find_images, image_size, read_uint8
from translate.data.sources import folder_or_builtin
from translate.errors import UserError, listing
from translate.interfaces import Dataset

SYNTHETIC_COUNT = 2048  # pairs per synthetic task, like the core's built-in image sets
Pair = tuple[np.ndarray, np.ndarray]  # (A, B), each H×W×C uint8


# ---- the synthetic task ------------------------------------------------------------------------

LABEL_COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.float32)  # bg, ○, □, △
SHADED_COLOURS = np.array([[0, 0, 0], [250, 190, 60], [70, 170, 230], [190, 90, 220]], np.float32)
BACKGROUND = np.array([52, 56, 66], np.float32)
LIGHT = np.array([-1.0, -1.0, 1.5]) / math.sqrt(4.25)  # from the top left, towards the viewer


def _label_map(canvas: int, rng: np.random.Generator) -> np.ndarray:
    """1-3 shapes of random class, size, position and rotation; later ones cover earlier ones."""
    from PIL import Image, ImageDraw

    layer = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(1, 4))
        radius = canvas * (0.14 + 0.14 * rng.random())
        cx, cy = radius + (canvas - 2 * radius) * rng.random(2)
        if kind == 1:
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=kind)
        else:
            corners = 4 if kind == 2 else 3
            start = rng.random() * 2 * math.pi
            draw.polygon([(cx + radius * math.cos(start + 2 * math.pi * k / corners),
                           cy + radius * math.sin(start + 2 * math.pi * k / corners)) for k in range(corners)],
                         fill=kind)
    return np.asarray(layer)


def _shade(labels: np.ndarray) -> np.ndarray:
    """B from the label map alone (so A determines B): each region is a dome whose height grows
    with the distance to its border, lit by a Lambertian light from the top left, over a flat
    background with a drop shadow down and to the right."""
    from scipy import ndimage

    canvas = labels.shape[0]
    distance = np.zeros(labels.shape, np.float64)
    for k in range(1, 4):
        if (labels == k).any():
            distance += ndimage.distance_transform_edt(labels == k)
    scale = 0.06 * canvas
    height = scale * (1.0 - np.exp(-distance / scale))  # steep at the border, flat in the middle
    gy, gx = np.gradient(height)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = np.clip(0.35 + 0.65 * (normal @ LIGHT), 0.0, 1.0)[..., None]
    shaded = SHADED_COLOURS[labels] * light
    shift = max(1, int(round(0.04 * canvas)))
    shadow = np.zeros(labels.shape, bool)
    shadow[shift:, shift:] = labels[:-shift, :-shift] > 0
    background = np.where(shadow[..., None], BACKGROUND * 0.45, BACKGROUND)
    return np.where((labels > 0)[..., None], shaded, background).astype(np.float32)


def _downsample(img: np.ndarray, factor: int) -> np.ndarray:
    h, w, c = img.shape
    small = img.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))
    return (small + 0.5).clip(0, 255).astype(np.uint8)


def shapes2shaded(size: int, index: int, seed: int) -> Pair:
    """Pair ``index`` of the task for ``seed``: rendered at 2× and area-averaged (anti-aliased)."""
    ss = 2
    labels = _label_map(size * ss, np.random.default_rng([seed, index, 4]))
    return _downsample(LABEL_COLOURS[labels], ss), _downsample(_shade(labels), ss)


SYNTHETIC: dict[str, Callable[[int, int, int], Pair]] = {"shapes2shaded": shapes2shaded}


# ---- pair sources ------------------------------------------------------------------------------

@dataclass
class PairSource:
    """``load(i)`` gives pair i as (A, B) uint8 arrays of equal size."""

    origin: str
    count: int
    load: Callable[[int], Pair]


def _sizes(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    # As the reader returns them (EXIF-rotated): a rotated A|B photo splits along its upright width.
    return {path: image_size(path) for path in paths}


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """An H×W×3 uint8 image as ``channels`` channels (1: BT.601 luma, rounded)."""
    if channels == 1 and img.shape[2] == 3:
        gray = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return (gray + 0.5).astype(np.uint8)[..., None]
    return img


def _synthetic_source(name: str, size: int, seed: int, channels: int) -> PairSource:
    make = SYNTHETIC[name]
    # Rendering a pair costs more than reading it back: keep the pairs once made, while they fit in 256 MB.
    cache: list[Pair | None] | None = None
    if SYNTHETIC_COUNT * size * size * 6 <= 256 << 20:
        cache = [None] * SYNTHETIC_COUNT

    def load(i: int) -> Pair:
        if cache is not None and cache[i] is not None:
            return cache[i]
        a, b = make(size, i, seed)
        pair = to_channels(a, channels), to_channels(b, channels)
        if cache is not None:
            cache[i] = pair
        return pair

    return PairSource(f"builtin:{name}", SYNTHETIC_COUNT, load)


def aligned_source(value: str, size: int, seed: int, channels: int, skip_bad: bool) -> PairSource:
    """A folder of A|B images, or a synthetic task named ``value`` when no such folder exists."""
    if not isinstance(folder_or_builtin(value, "--aligned", SYNTHETIC, "a folder of A|B side-by-side images"), Path):
        return _synthetic_source(value, size, seed, channels)
    paths = check_images(find_images(value, "--aligned"), "--aligned", skip_bad)
    root = Path(value)
    sizes = _sizes(paths)
    odd = [f"{p.relative_to(root)} ({w}×{h})" for p, (w, h) in sizes.items() if w % 2 or w < 2]
    if odd:
        raise UserError(f"--aligned {value}: {len(odd)} image(s) cannot be split into equal A|B halves "
                        f"(odd width): {listing(odd)}; each image must be A and B side by side")
    # A|B pairs are about twice as wide as tall; a folder of plain (square or portrait) photos
    # splits into meaningless halves, which trains without complaint: say so.
    narrow = [f"{p.relative_to(root)} ({w}×{h})" for p, (w, h) in sizes.items() if w <= h]
    if len(narrow) * 2 > len(sizes):
        print(f"warning: --aligned {value}: {len(narrow)} of {len(sizes)} images are not wider than tall "
              f"({listing(narrow)}); --aligned expects A and B side by side (e.g. 512×256); for two folders "
              "of images with matching names use --a DIR --b DIR", file=sys.stderr)

    def load(i: int) -> Pair:
        img = read_uint8(paths[i], channels)
        half = img.shape[1] // 2
        return img[:, :half], img[:, half:]

    return PairSource(value, len(paths), load)


def _by_name(paths: list[Path], root: Path, flag: str) -> dict[str, Path]:
    """Relative path without extension → file; two files with one name is ambiguous."""
    named: dict[str, Path] = {}
    clashes = []
    for p in paths:
        key = p.relative_to(root).with_suffix("").as_posix()
        if key in named:
            clashes.append(f"{named[key].relative_to(root)} / {p.relative_to(root)}")
        named[key] = p
    if clashes:
        raise UserError(f"{flag} {root}: {len(clashes)} name(s) appear with two extensions, so their pair "
                        f"is ambiguous: {listing(clashes)}; keep one file per name")
    return named


def folder_pair_source(a: str, b: str, channels: int, skip_bad: bool) -> PairSource:
    """Two folders paired by file name; every image needs a counterpart of the same size."""
    a_root, b_root = Path(a), Path(b)
    a_named = _by_name(check_images(find_images(a_root, "--a"), "--a", skip_bad), a_root, "--a")
    b_named = _by_name(check_images(find_images(b_root, "--b"), "--b", skip_bad), b_root, "--b")
    only_a, only_b = sorted(set(a_named) - set(b_named)), sorted(set(b_named) - set(a_named))
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} in --a {a} have none in --b: {listing(only_a)}")
        if only_b:
            parts.append(f"{len(only_b)} in --b {b} have none in --a: {listing(only_b)}")
        raise UserError(f"--a/--b: images must pair up by file name; {'; '.join(parts)}; "
                        "add the missing files or remove the unpaired ones")
    keys = sorted(a_named)
    a_sizes, b_sizes = _sizes([a_named[k] for k in keys]), _sizes([b_named[k] for k in keys])
    mismatched = [f"{k} ({a_sizes[a_named[k]][0]}×{a_sizes[a_named[k]][1]} vs "
                  f"{b_sizes[b_named[k]][0]}×{b_sizes[b_named[k]][1]})"
                  for k in keys if a_sizes[a_named[k]] != b_sizes[b_named[k]]]
    if mismatched:
        raise UserError(f"--a/--b: {len(mismatched)} pair(s) differ in size: {listing(mismatched)}; "
                        "resize one side so both images of a pair have the same size")

    def load(i: int) -> Pair:
        return read_uint8(a_named[keys[i]], channels), read_uint8(b_named[keys[i]], channels)

    return PairSource(f"{a} + {b}", len(keys), load)


def open_pairs(data: dict[str, str], size: int, seed: int, channels: int, skip_bad: bool) -> PairSource:
    aligned, a, b = data.get("aligned"), data.get("a"), data.get("b")
    if aligned and (a or b):
        raise UserError("pix2pix: give either --aligned DIR or --a DIR --b DIR, not both")
    if aligned:
        return aligned_source(aligned, size, seed, channels, skip_bad)
    if not (a and b):
        given = "--a" if a else "--b" if b else "no data"
        raise UserError(f"pix2pix needs paired data: --aligned DIR (A|B side-by-side images, or the built-in "
                        f"{', '.join(SYNTHETIC)}) or both --a DIR and --b DIR; got {given}")
    return folder_pair_source(a, b, channels, skip_bad)


# ---- the dataset -------------------------------------------------------------------------------

class PairedDataset(Dataset):
    """Items: ``{"input": C×H×W, "target": C×H×W}`` in [-1, 1], the same jitter on both."""

    def __init__(self, source: PairSource, size: int, load_size: int, flip: bool, swap: bool):
        self.source, self.swap = source, swap
        self.transform = augment.train_transform(size, resize=load_size, crop="random", flip=flip,
                                                 extra_targets={"target": "image"})

    def __len__(self) -> int:
        return self.source.count

    def get(self, index: int, seed: int) -> dict[str, Any]:
        a, b = self.source.load(index)
        if self.swap:  # --direction BtoA
            a, b = b, a
        out = augment.run(self.transform, seed, image=a, target=b)
        return {"input": to_tensor(out["image"]), "target": to_tensor(out["target"])}


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """An H×W(×C) uint8 image as a C×H×W tensor in [-1, 1]."""
    return uint8_to_tensor(img[..., None] if img.ndim == 2 else img)
