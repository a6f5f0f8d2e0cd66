"""Training pairs for super-resolution: random HR crops, and LR images made from them on the fly
by antialiased bicubic downscaling (the degradation of Ledig et al. 2017, §3.2), optionally
followed by real-world degradations (blur before, noise and JPEG after the downscale, in the
order of Wang et al. 2021, Real-ESRGAN)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from translate.data import augment  # imported first: it turns off albumentations' online version check
from translate.data.datasets import uint8_to_tensor
from translate.data.sources import ImageSource, open_images
from translate.errors import UserError
from translate.interfaces import Dataset

from .networks import bicubic_up

# Photos shipped with scikit-image (nothing to download): a small built-in training set, and two
# held-out photos for evaluation. ``cat`` is the same photo as ``chelsea``, so it is not used.
SKIMAGE_SETS = {
    "skimage": ("astronaut", "chelsea", "immunohistochemistry", "retina", "hubble_deep_field"),
    "skimage-test": ("coffee", "rocket"),
}
DEGRADATIONS = ("blur", "noise", "jpeg")
A, cv2 = augment.A, augment.cv2


def skimage_photos(name: str, size: int = 0, seed: int = 0) -> ImageSource:
    """A built-in photo set: scikit-image's bundled photos (nothing is downloaded)."""
    import skimage.data

    names = SKIMAGE_SETS[name]
    arrays = [np.ascontiguousarray(getattr(skimage.data, n)()[..., :3]) for n in names]
    return ImageSource(f"builtin:{name}", paths=[], arrays=arrays, classes=list(names))


def open_hr(value: str, flag: str = "--data", skip_bad: bool = False) -> ImageSource:
    """HR images: a folder, or a built-in scikit-image photo set (skimage, skimage-test)."""
    photos = {name: functools.partial(skimage_photos, name) for name in SKIMAGE_SETS}
    return open_images(value, flag, skip_bad=skip_bad, builtins=photos)


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """N×C×H×W in [0, 1] (H, W multiples of ``scale``) → antialiased bicubic LR, rounded to
    8-bit levels like an LR image read from disk."""
    lr = F.interpolate(hr.float(), scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    return (lr.clamp(0, 1) * 255).round() / 255


def upscale_bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic baseline: N×C×h×w in [0, 1] → ×``scale``, clamped to [0, 1]."""
    return bicubic_up(lr, scale).clamp(0, 1)


def crop_transform(crop: int, flip: bool) -> A.Compose:
    """Random ``crop``² HR patch (reflect-padded when an image is smaller), with optional
    flips and 90° rotations (which keep the pixel grid, so the LR/HR relation is unchanged)."""
    steps: list = [A.PadIfNeeded(crop, crop, border_mode=cv2.BORDER_REFLECT_101), A.RandomCrop(crop, crop)]
    if flip:
        steps += [A.HorizontalFlip(p=0.5), A.RandomRotate90(p=0.5)]
    return A.Compose(steps)


def degradation_transforms(degrade: tuple[str, ...]) -> tuple[A.Compose | None, A.Compose | None]:
    """(on HR before downscaling, on LR after it). Strengths are those of Real-ESRGAN's first
    stage, milder where the second-order model would compound them."""
    unknown = [d for d in degrade if d not in DEGRADATIONS]
    if unknown:
        raise UserError(f"--degrade {','.join(unknown)}: unknown; choose from {', '.join(DEGRADATIONS)}")
    before = [A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.2, 2.0), p=0.7)] if "blur" in degrade else []
    after = []
    if "noise" in degrade:
        after.append(A.GaussNoise(std_range=(0.0, 0.08), p=0.7))
    if "jpeg" in degrade:
        after.append(A.ImageCompression(quality_range=(30, 95), p=0.7))
    return (A.Compose(before) if before else None), (A.Compose(after) if after else None)


def _seeded(transform: A.Compose, seed: int, image: np.ndarray) -> np.ndarray:
    transform.set_random_seed(seed)
    return transform(image=image)["image"]


# Decoded photos kept in memory, up to this many bytes per dataset: every item is a small crop of a
# whole photo, and decoding a 5-MP JPEG for each crop took longer than the training step itself.
DECODED_CACHE_BYTES = 2 << 30


def detail(patch: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: how much texture a crop holds."""
    x = patch.astype(np.int16)
    return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())


class SRDataset(Dataset):
    """Items ``{"hr": 3×crop×crop, "lr": 3×(crop/scale)×(crop/scale)}``, both in [-1, 1].
    ``crop_tries`` > 1 draws that many random crops of the photo and keeps the one with the most
    detail, so fewer training crops are flat sky or out-of-focus background. ``zoom_out`` > 1 takes
    each crop from a square window of a random side between ``crop`` and ``zoom_out`` × ``crop``
    (uniform in log scale) and area-downscales it to ``crop``: the photo seen at a random smaller
    scale, where each pixel holds more detail. ``zoom_target`` > 0 bounds that zoom per photo: at most
    what brings the photo's detail to ``zoom_target`` (and never more than ``zoom_out``), so a 5-MP
    photo of soft focus is seen smaller while one already at display scale keeps its own pixels."""

    def __init__(self, source: ImageSource, crop: int, scale: int, flip: bool = True,
                 degrade: tuple[str, ...] = (), crop_tries: int = 1, zoom_out: float = 1.0,
                 zoom_target: float = 0.0):
        if crop % scale:
            raise UserError(f"--size {crop}: the HR crop must be a multiple of --scale {scale}")
        self.source, self.scale, self.crop_tries = source, scale, max(1, crop_tries)
        self.side, self.zoom_out, self.zoom_target = crop, max(1.0, zoom_out), zoom_target
        self._zoom_limits: dict[int, float] = {}
        self.crop = crop_transform(crop, flip)
        self.before, self.after = degradation_transforms(degrade)
        self._decoded: dict[int, np.ndarray] = {}
        self._decoded_bytes = 0

    def __len__(self) -> int:
        return len(self.source)

    def _photo(self, index: int) -> np.ndarray:
        if index in self._decoded:
            return self._decoded[index]
        image = self.source.load(index, 3)
        if self.source.paths and self._decoded_bytes + image.nbytes <= DECODED_CACHE_BYTES:
            self._decoded[index] = image
            self._decoded_bytes += image.nbytes
        return image

    def _hr_crop(self, index: int, seed: int) -> np.ndarray:
        photo = self._photo(index)
        zoom = self._zoom_limit(index, photo)
        crops = [_seeded(self.crop, seed + 1000 * k, self._window(photo, seed + 1000 * k, zoom))
                 for k in range(self.crop_tries)]
        return max(crops, key=detail) if len(crops) > 1 else crops[0]

    def _zoom_limit(self, index: int, photo: np.ndarray) -> float:
        """The largest zoom-out for this photo: ``zoom_out``, or (``zoom_target``) the zoom that brings
        its detail to the target, assuming detail grows in proportion to the zoom (it does for photos
        whose finest texture is softer than a pixel, the ones that need it)."""
        if not self.zoom_target or self.zoom_out == 1:
            return self.zoom_out
        if index not in self._zoom_limits:
            own = detail(photo)  # once per photo: a 5-MP photo's takes ~0.1 s
            self._zoom_limits[index] = float(np.clip(self.zoom_target / max(own, 1e-3), 1.0, self.zoom_out))
        return self._zoom_limits[index]

    def _window(self, photo: np.ndarray, seed: int, zoom: float) -> np.ndarray:
        """The whole photo, or (``zoom`` > 1) a random window of it area-downscaled to the crop side."""
        if zoom == 1:
            return photo
        rng = np.random.default_rng([seed, 7])
        side = min(round(self.side * zoom ** rng.uniform()), *photo.shape[:2])
        if side <= self.side:
            return photo
        y, x = (int(rng.integers(0, n - side + 1)) for n in photo.shape[:2])
        return cv2.resize(photo[y:y + side, x:x + side], (self.side, self.side), interpolation=cv2.INTER_AREA)

    def get(self, index: int, seed: int) -> dict[str, Any]:
        hr = self._hr_crop(index, seed)
        blurred = _seeded(self.before, seed + 1, hr) if self.before else hr
        lr = downscale(uint8_to_tensor(blurred).add(1).div(2)[None], self.scale)[0]
        if self.after:
            lr_u8 = (lr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            lr = uint8_to_tensor(_seeded(self.after, seed + 2, lr_u8)).add(1).div(2)
        return {"hr": uint8_to_tensor(hr), "lr": lr * 2 - 1}
