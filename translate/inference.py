"""Apply and sample with a checkpoint from the command line: files around :class:`translate.model.Model`."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_model
from .data.images import read_image, to_array, to_tensor, write_image
from .errors import UserError
from .exported import is_exported, load_exported
from .plugin import parse_options


def apply_files(checkpoint, jobs: list[tuple[Path, Path]], direction: str | None = None, tile: int | None = None,
                overlap: int | None = None, batch_size: int = 8, use_ema: bool = True, device: str = "auto",
                precision: str = "auto", extra: tuple[str, ...] = ()) -> int:
    """Translate each (input, output) file pair; images of equal size are batched together.
    Options left at None take the core's defaults where the plugin's apply declares them."""
    model = load_exported(checkpoint) if is_exported(checkpoint) else load_model(checkpoint, device, use_ema, precision)
    model.require("apply")  # before reading any file
    options = {"tile": tile, "overlap": overlap, "direction": direction,
               **parse_options(model.plugin, "apply", extra)}
    pending: list[tuple[Path, object]] = []

    def flush() -> None:
        if not pending:
            return
        y = model.apply_tensor(torch.cat([to_tensor(img.pixels) for _, img in pending]), **options)
        for (dst, img), out in zip(pending, y):
            write_image(dst, to_array(out), img.alpha, img.bits)
        pending.clear()

    for src, dst in jobs:
        img = read_image(src, model.channels)
        if pending and (pending[0][1].pixels.shape != img.pixels.shape or len(pending) >= batch_size):
            flush()
        pending.append((dst, img))
    flush()
    return len(jobs)


def sample_to(checkpoint, count: int, out: str | None, seed: int = 0, label: str | None = None,
              use_ema: bool = True, device: str = "auto", precision: str = "auto") -> Path:
    """Draw ``count`` samples and write them as the plugin writes samples (a grid, a folder, ...)."""
    if count < 1:
        raise UserError("-n must be at least 1")
    model = load_model(checkpoint, device, use_ema, precision)
    return model.write_samples(count, Path(out or "samples.png"), seed, label=label)
