"""The gan plugin's data: labelled or unlabelled images (class names read from the folder), and
2-D points: the mixtures ring8 and grid25, points files, their dataset, writing and plotting them.

Mixtures (Srivastava et al. 2017, VEEGAN §5.1; Lin et al. 2018, PacGAN §5.1):
  ring8    8 Gaussians on a circle of radius 1 at angles 2πk/8, σ = 0.01.
  grid25   25 Gaussians at {-4, -2, 0, 2, 4}², σ = 0.05.

The mode-collapse diagnostics on these mixtures are in evaluation.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from translate.errors import UserError
from translate.fileio import atomic_path
from translate.interfaces import Dataset


@dataclass
class PointDistribution:
    """A mixture of isotropic Gaussians with equal weights."""

    name: str
    modes: np.ndarray  # K×2
    sigma: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        which = rng.integers(0, len(self.modes), size=n)
        return (self.modes[which] + rng.normal(0.0, self.sigma, size=(n, 2))).astype(np.float32)


def ring8() -> PointDistribution:
    angles = 2 * np.pi * np.arange(8) / 8
    return PointDistribution("ring8", np.stack([np.cos(angles), np.sin(angles)], 1), 0.01)


def grid25() -> PointDistribution:
    xs = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return PointDistribution("grid25", np.array([(x, y) for x in xs for y in xs]), 0.05)


POINT_SETS: dict[str, Callable[[], PointDistribution]] = {"ring8": ring8, "grid25": grid25}


@dataclass
class PointSource:
    """2-D points: a known mixture (sampled fresh) or a fixed array from a .npy/.csv file."""

    origin: str
    distribution: PointDistribution | None = None
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
            pts = np.load(path) if path.suffix == ".npy" else _read_csv(path)
            pts = np.asarray(pts, dtype=np.float32)
        except Exception as exc:
            raise UserError(f"{flag} {path}: cannot read points ({exc}); pass an N×2 .npy or .csv file") from None
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise UserError(f"{flag} {path}: expected an N×2 array of points, got shape {pts.shape}")
        bad = int((~np.isfinite(pts).all(axis=1)).sum())
        if bad:
            verb = "holds" if bad == 1 else "hold"
            raise UserError(f"{flag} {path}: {bad} of its {len(pts)} points {verb} NaN/inf values (or values too "
                            "large for float32); remove or fix those rows")
        return PointSource(str(path), points=pts)
    if value in POINT_SETS and not path.exists():
        return PointSource(f"builtin:{value}", distribution=POINT_SETS[value]())
    raise UserError(f"{flag} {value}: not a points file (.npy/.csv) nor a built-in point set "
                    f"({', '.join(POINT_SETS)})")


def _read_csv(path: Path) -> np.ndarray:
    """x,y rows, after one optional header line that is not numbers (such as the ``x,y`` that
    ``translate sample`` writes)."""
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    try:
        [float(v) for v in first.split(",")]
        skip = 0
    except ValueError:
        skip = 1
    return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip, encoding="utf-8-sig")


def is_points(value: str) -> bool:
    """Whether ``value`` names 2-D point data rather than images."""
    path = Path(value)
    if path.is_file() and path.suffix.lower() in (".npy", ".csv"):
        return True
    return not path.exists() and value in POINT_SETS


def data_classes(value: str) -> list[str]:
    """Class names of labelled image data (``--data``), without reading the images."""
    from translate.data import builtin
    from translate.data.images import find_images
    from translate.data.sources import folder_or_builtin

    found = folder_or_builtin(value, "--data", builtin.IMAGE_SETS)
    if not isinstance(found, Path):
        return list(found(size=8, count=1).classes)
    if not found.is_dir():
        return []
    root = found
    paths = find_images(root, "--data")
    if any(p.parent == root for p in paths):
        return []  # some images are not in a class folder: unlabelled, as open_images decides
    return sorted({p.relative_to(root).parts[0] for p in paths})


def points_std(value: str) -> float:
    """Standard deviation of the point data (over both coordinates), rounded to 3 digits."""
    source = open_points(value)
    pts = source.points if source.points is not None else source.distribution.sample(
        20000, np.random.default_rng(0))
    return float(f"{max(float(np.std(pts)), 1e-6):.3g}")


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


def draw_scatter(points: np.ndarray, modes: np.ndarray | None = None, size: int = 512, radius: float = 0.0):
    """N×2 points as a PIL scatter plot over optional mode centres (red crosses), each with a circle
    of ``radius`` (e.g. the 3σ of a high-quality sample) drawn under the points."""
    from PIL import Image, ImageDraw

    pts = np.asarray(points, dtype=np.float64)
    ref = np.concatenate([pts, modes]) if modes is not None and len(modes) else pts
    finite = ref[np.isfinite(ref).all(axis=1)]
    lo, hi = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2) - 1, np.zeros(2) + 1)
    span = float(max(hi - lo)) * 1.1 + 1e-6
    centre = (lo + hi) / 2

    def px(p: np.ndarray) -> np.ndarray:
        xy = (p - centre) / span * (size - 20) + size / 2
        return np.stack([xy[..., 0], size - xy[..., 1]], axis=-1)  # image rows grow downwards

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    if modes is not None:  # under the points, so tight clusters stay visible
        r = max(radius / span * (size - 20), 0.0)
        for x, y in px(np.asarray(modes, dtype=np.float64)):
            if r >= 2:
                draw.ellipse((x - r, y - r, x + r, y + r), outline=(240, 160, 160))
            draw.line((x - 5, y, x + 5, y), fill=(220, 30, 30), width=1)
            draw.line((x, y - 5, x, y + 5), fill=(220, 30, 30), width=1)
    for x, y in px(pts[np.isfinite(pts).all(axis=1)]):
        draw.rectangle((x - 0.5, y - 0.5, x + 0.5, y + 0.5), fill=(30, 90, 200))
    return img


def scatter_image(points: np.ndarray, point_set: str = ""):
    """The preview of a point model: its samples over the modes of its built-in mixture, if any,
    with the 3σ circle of a high-quality sample around each."""
    mixture = POINT_SETS[point_set]() if point_set in POINT_SETS else None
    if mixture is None:
        return draw_scatter(points)
    return draw_scatter(points, mixture.modes, radius=3 * mixture.sigma)


def save_scatter(path: str | Path, points: np.ndarray, point_set: str = "") -> None:
    with atomic_path(path) as tmp:
        scatter_image(points, point_set).save(tmp, format="PNG")


def write_points(points: np.ndarray, path: Path) -> Path:
    """Samples of a point model as a .npy or .csv file (x,y per row)."""
    if path.suffix not in (".npy", ".csv"):
        raise UserError(f"-o {path}: this model makes 2-D points; write them to a .npy or .csv file")
    with atomic_path(path) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, points)
        else:
            np.savetxt(tmp, points, delimiter=",", header="x,y", comments="")
    return path
