"""Datasets shared by plugins: one folder of images (optionally labelled) and 2-D points."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..interfaces import Dataset
from . import augment
from .sources import ImageSource, PointSource


def uint8_to_tensor(img: np.ndarray) -> torch.Tensor:
    """H×W×C uint8 → C×H×W float in [-1, 1]."""
    return torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


class ImageDataset(Dataset):
    """Items: ``{"image": C×H×W in [-1, 1], "label": class index (0 if unlabelled)}``."""

    def __init__(self, source: ImageSource, size: int, channels: int = 3, resize: int | None = None,
                 crop: str = "random", flip: bool = True):
        self.source, self.channels = source, channels
        self.transform = augment.train_transform(size, resize=resize, crop=crop, flip=flip)

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


class PointDataset(Dataset):
    """Items: ``{"point": (2,)}``. A known mixture is sampled afresh from each item's seed, so the
    data are unlimited; a points file is used as is."""

    NOMINAL_LENGTH = 1 << 20

    def __init__(self, source: PointSource):
        self.source = source

    def __len__(self) -> int:
        return len(self.source.points) if self.source.points is not None else self.NOMINAL_LENGTH

    def get(self, index: int, seed: int) -> dict[str, Any]:
        return self.__getitems__([(index, seed)])[0]

    def __getitems__(self, keys: list) -> list[dict[str, Any]]:
        # Vectorised batch fetch: one numpy call per batch instead of one per point.
        keys = [k if isinstance(k, tuple) else (k, k) for k in keys]
        if self.source.points is not None:
            pts = self.source.points[[i for i, _ in keys]]
        else:
            rng = np.random.default_rng([s for _, s in keys])
            pts = self.source.distribution.sample(len(keys), rng)
        tensor = torch.from_numpy(np.ascontiguousarray(pts, dtype=np.float32))
        return [{"point": row} for row in tensor]
