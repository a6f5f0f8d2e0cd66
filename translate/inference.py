"""Apply and sample with a checkpoint from the command line: files around :class:`translate.model.Model`."""

from __future__ import annotations

from pathlib import Path

import torch

from .data.images import read_image, to_array, to_tensor, write_image
from .errors import UserError
from .exported import is_exported, load_exported
from .loading import load_model
from .plugin import parse_options


def apply_files(checkpoint, jobs: list[tuple[Path, Path]], direction: str | None = None, tile: int | None = None,
                overlap: int | None = None, batch_size: int = 8, use_ema: bool = True, device: str = "auto",
                precision: str = "auto", extra: tuple[str, ...] = (), grid: bool = False,
                progress: bool = True) -> int:
    """Translate each (input, output) file pair; images of equal size are batched together.
    Options left at None take the core's defaults where the plugin's apply declares them.
    ``grid``: write input|output side by side instead of the output alone. ``progress``: a bar
    over files (and the tiles of a large one) on a terminal, plain lines after 30 s elsewhere."""
    from .progress import ItemProgress
    from .tiling import on_tiles

    model = load_exported(checkpoint) if is_exported(checkpoint) else load_model(checkpoint, device, use_ema, precision)
    model.require("apply")  # before reading any file
    options = {"tile": tile, "overlap": overlap, "direction": direction,
               **parse_options(model.plugin, "apply", extra)}
    pending: list[tuple[Path, object]] = []

    def flush() -> None:
        if not pending:
            return
        x = torch.cat([to_tensor(img.pixels) for _, img in pending])
        with on_tiles(lambda done, total: bar.note(f"tile {done}/{total} of {pending[0][0].name}")):
            y = model.apply_tensor(x, **options)
        for (dst, img), out, inp in zip(pending, y, x):
            if grid:
                write_image(dst, side_by_side(inp, out), None, img.bits)
            else:
                write_image(dst, to_array(out), img.alpha, img.bits)
        bar.advance(len(pending))
        pending.clear()

    bar = ItemProgress(len(jobs), enabled=progress)
    try:
        for src, dst in jobs:
            img = read_image(src, model.channels)
            if pending and (pending[0][1].pixels.shape != img.pixels.shape or len(pending) >= batch_size):
                flush()
            pending.append((dst, img))
        flush()
    finally:
        bar.close()
    return len(jobs)


def side_by_side(inp: torch.Tensor, out: torch.Tensor) -> "np.ndarray":
    """Input | output as one H×2W×C array in [0, 1]; the input is scaled (nearest) to the
    output's size so a super-resolved output sits beside its input pixel for pixel."""
    import torch.nn.functional as F

    inp = inp.float()
    if inp.shape[0] != out.shape[0]:  # grayscale input beside a colour output, or the reverse
        channels = max(inp.shape[0], out.shape[0])
        inp, out = inp.expand(channels, -1, -1), out.float().expand(channels, -1, -1)
    if inp.shape[-2:] != out.shape[-2:]:
        inp = F.interpolate(inp[None], size=out.shape[-2:], mode="nearest")[0]
    return to_array(torch.cat([inp, out.float()], dim=-1))


def sample_to(checkpoint, count: int, out: str | Path, seed: int = 0, label: str | None = None,
              use_ema: bool = True, device: str = "auto", precision: str = "auto") -> Path:
    """Draw ``count`` samples and write them as the plugin writes samples (a grid, a folder, ...)."""
    if count < 1:
        raise UserError("-n must be at least 1")
    model = load_model(checkpoint, device, use_ema, precision)
    return model.write_samples(count, Path(out), seed, label=label)
