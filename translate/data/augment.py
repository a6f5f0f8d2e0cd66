"""Augmentation pipelines (albumentations). Paired data gets the same crop and flip on both
sides through ``additional_targets``."""

from __future__ import annotations

import os

# albumentations checks PyPI for a newer version on import; training must not touch the network.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402


def train_transform(size: int, resize: int | None = None, crop: str = "random", flip: bool = True,
                    extra_targets: dict[str, str] | None = None) -> A.Compose:
    """Resize the shorter side to ``resize`` (default ``size``), crop ``size``² (random or
    centre), optionally flip horizontally. ``extra_targets`` names paired images that must get
    exactly the same geometry, e.g. ``{"target": "image"}``."""
    resize = resize or size
    if resize < size:
        raise ValueError(f"resize ({resize}) must be at least the crop size ({size})")
    steps: list = [A.SmallestMaxSize(max_size=resize, interpolation=cv2.INTER_AREA)]
    steps.append(A.RandomCrop(size, size) if crop == "random" else A.CenterCrop(size, size))
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps, additional_targets=extra_targets or {})


def run(transform: A.Compose, seed: int, **images):
    """Apply ``transform`` with its randomness fixed by ``seed`` (reproducible and resumable)."""
    transform.set_random_seed(seed)
    return transform(**images)
