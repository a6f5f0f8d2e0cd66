"""Turning a ``--data``-style value (a folder or a built-in name) into images."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TypeVar

import numpy as np

from ..errors import DataError, UserError
from . import builtin
from .images import check_images, find_images, read_uint8_reduced

T = TypeVar("T")


@dataclass
class ImageSource:
    """Images from a folder or a built-in set, with class labels when there are classes.

    In a folder whose images all sit in sub-folders, each immediate sub-folder is a class."""

    origin: str
    paths: list[Path] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    labels: list[int] | None = None
    classes: list[str] = field(default_factory=list)
    skip_bad: bool = False  # a file that fails to decode while training is replaced, not fatal
    min_side: int = 0  # decode large files reduced to this shorter side (what the transform needs)
    _reduced: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    _skipped: set[int] = field(default_factory=set, repr=False)

    def __len__(self) -> int:
        return len(self.paths) or len(self.arrays)

    def load(self, index: int, channels: int) -> np.ndarray:
        """H×W×channels uint8. Under ``skip_bad`` a file that cannot be decoded is reported once
        and replaced by the next good one; otherwise it is a DataError naming it."""
        if self.arrays:
            img = self.arrays[index]
            if channels == 1 and img.shape[2] == 3:
                img = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
                img = (img + 0.5).astype(np.uint8)
            return img
        for offset in range(len(self.paths)):
            candidate = (index + offset) % len(self.paths)
            if candidate in self._skipped:
                continue
            try:
                return self._decode(candidate, channels)
            except DataError as exc:
                if not self.skip_bad:
                    raise
                self._skipped.add(candidate)
                print(f"warning: skipping {exc} ({len(self._skipped)} skipped in this process)", file=sys.stderr)
        raise DataError(f"{self.origin}: none of its {len(self.paths)} images can be decoded")

    def _decode(self, index: int, channels: int) -> np.ndarray:
        """Decode a file; one that had to be reduced (a large image) is kept, so its costly decode
        happens once per process instead of once per sample."""
        key = (index, channels)
        if key in self._reduced:
            return self._reduced[key]
        img, reduced = read_uint8_reduced(self.paths[index], channels, self.min_side)
        if reduced:
            self._reduced[key] = img
        return img


# A built-in data set: (size, seed) → ImageSource. Plugins add their own (e.g. a set of photos).
BuiltinImages = Callable[[int, int], ImageSource]


def core_builtins() -> dict[str, BuiltinImages]:
    """The image sets every plugin can train on: shapes, digits (generated, labelled)."""
    def make(name: str) -> BuiltinImages:
        def load(size: int, seed: int) -> ImageSource:
            data = builtin.IMAGE_SETS[name](size=size, seed=seed)
            return ImageSource(f"builtin:{name}", arrays=data.images, labels=data.labels, classes=data.classes)
        return load

    return {name: make(name) for name in builtin.IMAGE_SETS}


def folder_or_builtin(value: str, flag: str, builtins: Mapping[str, T], what: str = "a folder of images") -> Path | T:
    """``value`` as an existing path, else the built-in it names, else one line that lists the
    built-ins and says what to pass. An existing path always wins over a built-in name."""
    path = Path(value)
    if path.exists():
        return path
    if value in builtins:
        return builtins[value]
    names = ", ".join(sorted(builtins)) or "none"
    raise UserError(f"{flag} {value}: no such file or folder, and not a built-in data set ({names}); pass {what}")


def open_images(value: str, flag: str = "--data", size: int = 64, seed: int = 0, skip_bad: bool = False,
                builtins: Mapping[str, BuiltinImages] | None = None) -> ImageSource:
    """Images for ``value``: a folder (scanned, decode-checked) or a built-in set, the core's
    (shapes, digits) or one of ``builtins`` that the calling plugin adds."""
    found = folder_or_builtin(value, flag, {**core_builtins(), **(builtins or {})})
    if not isinstance(found, Path):
        return found(size, seed)
    paths = check_images(find_images(found, flag), flag, skip_bad)
    extra = {"skip_bad": skip_bad}
    parents = {p.parent for p in paths}
    labels, classes = None, []
    if found not in parents:
        classes = sorted({p.relative_to(found).parts[0] for p in paths})
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[p.relative_to(found).parts[0]] for p in paths]
    return ImageSource(str(found), paths=paths, labels=labels, classes=classes, **extra)
