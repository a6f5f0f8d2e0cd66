"""``translate eval`` of a pix2pix model: held-out pairs through the generator as apply runs it,
scored against their targets (PSNR/SSIM, LPIPS, FID/KID; ``translate.evaluation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from translate import evaluation as ev
from translate.data import augment
from translate.errors import UserError

from . import PAPER_SIZE
from .data import SYNTHETIC, SYNTHETIC_COUNT, PairSource, open_pairs, to_channels, to_tensor
from .training import apply

def evaluate(G: torch.nn.Module, config: Any, out_dir: Any, data: dict[str, str | None], n: int | None = None,
             seed: int = 0, size: int | None = None, inception_weights: str | None = None,
             lpips_weights: str | None = None, lpips_heads: str | None = None, tile: int = 512,
             progress=None) -> dict[str, float]:
    """The plugin's ``evaluate`` (its docstring has the protocol); ``data`` maps aligned, a and b to
    the values given."""
    aligned = data.get("aligned")
    if not any(data.values()):
        raise UserError("pix2pix evaluation needs paired test data: translate eval CKPT --aligned DIR (A|B "
                        f"side-by-side images, or the built-in {', '.join(SYNTHETIC)}) or --a DIR --b DIR")
    if aligned in SYNTHETIC and not Path(aligned).exists():
        make, side = SYNTHETIC[aligned], size or PAPER_SIZE
        source = PairSource(f"builtin:{aligned}, held-out pairs {SYNTHETIC_COUNT}.. (seed {seed})",
                            n or ev.BUILTIN_EVAL_COUNT,
                            lambda i: tuple(to_channels(x, config.channels)
                                            for x in make(side, SYNTHETIC_COUNT + i, seed)))
    else:
        source = open_pairs(data, size or PAPER_SIZE, seed, config.channels, skip_bad=False)
    indices = ev.pick(source.count, n)
    transform = (augment.train_transform(size, crop="center", flip=False, extra_targets={"target": "image"})
                 if size else None)
    folders = {name: ev.output_folder(out_dir, name) for name in ("input", "fake", "real")}
    device = ev.device_of(G)
    progress = progress or ev.no_progress
    step = 16 if size else 1
    for first in range(0, len(indices), step):
        inputs, targets, names = [], [], []
        for i in indices[first:first + step]:
            x, y = source.load(i)
            if config.direction == "BtoA":
                x, y = y, x
            if transform is not None:
                out = augment.run(transform, 0, image=x, target=y)
                x, y = out["image"], out["target"]
            inputs.append(to_tensor(x))
            targets.append(to_tensor(y))
            names.append(f"{i:05d}")
        x = torch.stack(inputs)
        fake = apply(G, config, x.to(device), tile=tile).float().cpu()
        ev.write_images(folders["input"], x, names)
        ev.write_images(folders["fake"], fake, names)
        ev.write_images(folders["real"], torch.stack(targets), names)
        progress("translating", min(first + step, len(indices)), len(indices))
    ev.add_protocol("data", f"{len(indices)} pairs of {source.origin} ({config.direction}), "
                    + (f"resized (shorter side, area filter) and centre-cropped to {size}×{size}" if size
                       else "at their own sizes")
                    + "; generator in eval mode (running batch-norm statistics, no dropout), as apply runs it")
    metrics = ev.folder_metrics(folders["real"], folders["fake"], inception_weights=inception_weights,
                                lpips_weights=lpips_weights, lpips_heads=lpips_heads, device=device, seed=seed)
    return {**metrics, "images": len(indices)}
