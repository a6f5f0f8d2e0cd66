"""Apply and sample with a checkpoint: file handling around the plugin's apply/sample hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model
from .data.images import read_image, save_grid, to_array, to_tensor, write_image
from .errors import UserError
from .fileio import atomic_path
from .runtime import make_runtime


def _runtime(model, device: str, precision: str):
    rt = make_runtime(device, precision, model.plugin.channels_last,
                      model.plugin.preferred_precision(model.config, model.options))
    for name, module in model.modules.items():
        model.modules[name] = rt.module(module)
    return rt


def apply_files(checkpoint, jobs: list[tuple[Path, Path]], direction: str | None = None, tile: int = 512,
                overlap: int = 32, batch_size: int = 8, use_ema: bool = True, device: str = "auto",
                precision: str = "auto") -> int:
    """Translate each (input, output) file pair; images of equal size are batched together."""
    model = load_model(checkpoint, "cpu", use_ema)
    plugin = model.plugin
    if not plugin.can("apply"):
        raise UserError(f"plugin '{plugin.name}' does not translate images (no apply); "
                        + ("use 'translate sample'" if plugin.can("sample") else "see its documentation"))
    rt = _runtime(model, device, precision)
    channels = int(getattr(model.config, "channels", 3))
    options = {"tile": tile, "overlap": overlap}
    if direction is not None:
        options["direction"] = direction

    pending: list[tuple[Path, object]] = []

    def flush() -> None:
        if not pending:
            return
        x = torch.cat([to_tensor(img.pixels) for _, img in pending])
        with torch.no_grad(), rt.autocast():
            y = plugin.apply(model.modules, model.config, rt.tensor(x), **options)
        for (dst, img), out in zip(pending, y):
            write_image(dst, to_array(out), img.alpha, img.bits)
        pending.clear()

    for src, dst in jobs:
        img = read_image(src, channels)
        if pending and (pending[0][1].pixels.shape != img.pixels.shape or len(pending) >= batch_size):
            flush()
        pending.append((dst, img))
    flush()
    return len(jobs)


def sample_to(checkpoint, count: int, out: str | None, seed: int = 0, label: str | None = None,
              use_ema: bool = True, device: str = "auto", precision: str = "auto") -> Path:
    """Draw ``count`` samples and write a grid, a folder of PNGs, or a points file."""
    if count < 1:
        raise UserError("-n must be at least 1")
    model = load_model(checkpoint, "cpu", use_ema)
    plugin = model.plugin
    if not plugin.can("sample"):
        raise UserError(f"plugin '{plugin.name}' does not sample from noise; use 'translate apply'")
    rt = _runtime(model, device, precision)
    options = {} if label is None else {"label": label}
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad(), rt.autocast():
        samples = plugin.sample(model.modules, model.config, count, generator, **options).float().cpu()
    if samples.dim() == 2:  # 2-D points
        path = Path(out or "samples.npy")
        if path.suffix not in (".npy", ".csv"):
            raise UserError(f"-o {path}: this model makes 2-D points; write them to a .npy or .csv file")
        with atomic_path(path) as tmp:
            if path.suffix == ".npy":
                with open(tmp, "wb") as f:
                    np.save(f, samples.numpy())
            else:
                np.savetxt(tmp, samples.numpy(), delimiter=",", header="x,y", comments="")
        return path
    path = Path(out or "samples.png")
    if path.suffix.lower() == ".png":
        save_grid(path, samples)
    elif path.suffix:
        raise UserError(f"-o {path}: write a .png grid, or give a folder for one PNG per sample")
    else:
        for i, img in enumerate(samples):
            write_image(path / f"{i:05d}.png", to_array(img))
    return path
