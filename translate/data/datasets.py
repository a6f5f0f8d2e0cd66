"""Datasets shared by plugins: one folder of images (optionally labelled)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..interfaces import Dataset
from . import augment
from .sources import ImageSource


def uint8_to_tensor(img: np.ndarray) -> torch.Tensor:
    """H×W×C uint8 → C×H×W float in [-1, 1]."""
    return torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


class ImageDataset(Dataset):
    """Items: ``{"image": C×H×W in [-1, 1], "label": class index (0 if unlabelled)}``."""

    def __init__(self, source: ImageSource, size: int, channels: int = 3, resize: int | None = None,
                 crop: str = "random", flip: bool = True):
        self.source, self.channels = source, channels
        self.transform = augment.train_transform(size, resize=resize, crop=crop, flip=flip)
        source.min_side = resize or size  # large files are decoded reduced to what the transform keeps

    def __len__(self) -> int:
        return len(self.source)

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    def get(self, index: int, seed: int) -> dict[str, Any]:
        img = augment.run(self.transform, seed, image=self.source.load(index, self.channels))["image"]
        if img.ndim == 2:
            img = img[..., None]
        label = self.source.labels[index] if self.source.labels else 0
        return {"image": uint8_to_tensor(img), "label": torch.tensor(label)}
