"""TensorBoard scalars and images of a run (``translate train --tensorboard``), in ``RUN/tensorboard/``.

The writer (torch's ``SummaryWriter``) is created on first use, so a run without ``--tensorboard``
never imports tensorboard, and a missing package is one line saying what to install.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError
from .run_folder import TENSORBOARD_DIR
TENSORBOARD_MISSING = 'TensorBoard logging (--tensorboard) needs tensorboard: pip install "translate-gan[tensorboard]"'


class TensorboardLog:
    """Scalars and images for TensorBoard in ``log_dir`` (``TensorboardLog.for_run(RUN)`` uses
    ``RUN/tensorboard``); view with ``tensorboard --logdir RUN/tensorboard``. Usable as a context
    manager; :meth:`close` flushes."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self._writer = None

    @classmethod
    def for_run(cls, run_dir: str | Path) -> TensorboardLog:
        return cls(Path(run_dir) / TENSORBOARD_DIR)

    @staticmethod
    def available() -> bool:
        import importlib.util

        return importlib.util.find_spec("tensorboard") is not None

    @property
    def writer(self):
        if self._writer is None:
            if not self.available():
                raise UserError(TENSORBOARD_MISSING)
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # torch refuses a tensorboard it cannot use
                raise UserError(TENSORBOARD_MISSING) from None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def scalars(self, step: int, values: Mapping[str, Any], prefix: str = "") -> None:
        """One scalar per numeric entry of ``values`` (e.g. the losses of a step, or the metrics of
        an evaluation, with ``prefix="eval/"``); strings, booleans and non-finite values are left out."""
        writer = self.writer
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:  # 0-d tensors and NumPy scalars
                    value = float(value.item())
                except (AttributeError, TypeError, ValueError, RuntimeError):
                    continue
            if math.isfinite(value):
                writer.add_scalar(f"{prefix}{key}", float(value), int(step))

    def image(self, tag: str, step: int, image: Any, value_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        """Log ``image``: a PIL image, an H×W(×C) uint8 NumPy array, or a tensor C×H×W or N×C×H×W
        (a batch becomes a grid) with values in ``value_range`` ([-1, 1], as the toolkit's images)."""
        self.writer.add_image(tag, _to_hwc_uint8(image, value_range), int(step), dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorboardLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _to_hwc_uint8(image: Any, value_range: tuple[float, float]):
    import numpy as np

    lo, hi = value_range
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        return np.asarray(image)[..., None] if image.mode == "L" else np.asarray(image.convert("RGB"))
    if hasattr(image, "detach"):  # a tensor
        import torch

        tensor = image.detach().float().cpu()
        if tensor.dim() == 4:
            from torchvision.utils import make_grid

            tensor = make_grid(tensor, nrow=max(1, math.ceil(math.sqrt(tensor.shape[0]))), padding=2, pad_value=hi)
        if tensor.dim() == 2:
            tensor = tensor[None]
        array = ((tensor.clamp(lo, hi) - lo) / (hi - lo) * 255).round().to(torch.uint8)
        return array.permute(1, 2, 0).numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype != np.uint8:
        array = ((np.clip(array.astype(np.float32), lo, hi) - lo) / (hi - lo) * 255).round().astype(np.uint8)
    return array
