"""Turning a ``--data``-style value (a folder, a points file or a built-in name) into data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import builtin
from .images import check_images, find_images, read_uint8


@dataclass
class ImageSource:
    """Images from a folder or a built-in set, with class labels when there are classes.

    In a folder whose images all sit in sub-folders, each immediate sub-folder is a class."""

    origin: str
    paths: list[Path] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    labels: list[int] | None = None
    classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths) or len(self.arrays)

    def load(self, index: int, channels: int) -> np.ndarray:
        """H×W×channels uint8."""
        if self.arrays:
            img = self.arrays[index]
            if channels == 1 and img.shape[2] == 3:
                img = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
                img = (img + 0.5).astype(np.uint8)
            return img
        return read_uint8(self.paths[index], channels)


def is_builtin(value: str) -> bool:
    return not Path(value).exists() and value in builtin.names()


def _unknown(value: str, flag: str) -> UserError:
    return UserError(f"{flag} {value}: no such folder, and not a built-in dataset "
                     f"({', '.join(builtin.names())}); pass a folder of images")


def open_images(value: str, flag: str = "--data", size: int = 64, seed: int = 0,
                skip_bad: bool = False) -> ImageSource:
    """Images for ``value``: an existing folder (scanned, headers checked) or a built-in set."""
    if not Path(value).exists():
        if value in builtin.IMAGE_SETS:
            data = builtin.IMAGE_SETS[value](size=size, seed=seed)
            return ImageSource(f"builtin:{value}", arrays=data.images, labels=data.labels, classes=data.classes)
        if value in builtin.POINT_SETS:
            raise UserError(f"{flag} {value}: a 2-D point set, not images; this model needs images")
        raise _unknown(value, flag)
    root = Path(value)
    paths = check_images(find_images(root, flag), flag, skip_bad)
    parents = {p.parent for p in paths}
    labels, classes = None, []
    if root not in parents:
        classes = sorted({p.relative_to(root).parts[0] for p in paths})
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[p.relative_to(root).parts[0]] for p in paths]
    return ImageSource(str(root), paths=paths, labels=labels, classes=classes)


@dataclass
class PointSource:
    """2-D points: a known mixture (sampled fresh) or a fixed array from a .npy/.csv file."""

    origin: str
    distribution: builtin.PointDistribution | None = None
    points: np.ndarray | None = None

    @property
    def modes(self) -> np.ndarray | None:
        return None if self.distribution is None else self.distribution.modes

    @property
    def sigma(self) -> float:
        """Standard deviation of each mixture component (0 for a points file)."""
        return 0.0 if self.distribution is None else float(self.distribution.sigma)


def open_points(value: str, flag: str = "--data") -> PointSource:
    path = Path(value)
    if path.is_file():
        try:
            pts = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
        except Exception as exc:
            raise UserError(f"{flag} {path}: cannot read points ({exc}); pass an N×2 .npy or .csv file") from None
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise UserError(f"{flag} {path}: expected an N×2 array of points, got shape {pts.shape}")
        return PointSource(str(path), points=pts.astype(np.float32))
    if value in builtin.POINT_SETS and not path.exists():
        return PointSource(f"builtin:{value}", distribution=builtin.POINT_SETS[value]())
    raise UserError(f"{flag} {value}: not a points file (.npy/.csv) nor a built-in point set "
                    f"({', '.join(builtin.POINT_SETS)})")


def is_points(value: str) -> bool:
    """Whether ``value`` names 2-D point data rather than images."""
    path = Path(value)
    if path.is_file() and path.suffix.lower() in (".npy", ".csv"):
        return True
    return not path.exists() and value in builtin.POINT_SETS
