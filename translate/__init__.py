"""translate: image-to-image translation and GAN toolkit for PyTorch.

    import translate
    model = translate.train("gan", data="shapes", steps=300, out="runs/shapes")
    grid = translate.load("runs/shapes").sample(16, seed=0)

Importing this package is cheap (no torch): ``train``, ``load`` and ``Model`` are imported on
first use, so the CLI and plugin listing stay instant.
"""

from __future__ import annotations

from typing import Any

from .version import __version__
__all__ = ["train", "load", "Model", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("train", "load"):
        from . import api

        return getattr(api, name)
    if name == "Model":
        from .model import Model

        return Model
    raise AttributeError(f"module 'translate' has no attribute {name!r}")
