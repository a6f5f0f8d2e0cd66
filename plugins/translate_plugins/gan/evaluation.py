"""``translate eval`` of a gan model. 2-D point models: mode coverage against the known mixture,
the protocol of Srivastava et al. 2017 (VEEGAN §5.1) and Lin et al. 2018 (PacGAN §5.1):

* each sample is assigned to its nearest mode centre;
* a sample is *high quality* (HQ) when it lies within 3σ of that centre;
* a mode is *captured* when at least one HQ sample is assigned to it;
* reverse KL is KL(p ‖ u) where p is the histogram of the HQ samples over the K modes and u the
  uniform distribution of the data: Σ_k p_k log(p_k K), with empty bins contributing 0 (the limit
  of p log p). It is 0 for perfectly balanced HQ samples and log K when they all fall in one mode.
  With no HQ sample at all p is undefined and the value is reported as +inf.

Image models: FID/KID of samples against real images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from translate.errors import UserError

from .data import POINT_SETS, save_scatter
from .training import sample


def evaluate(modules, config, out_dir: Path, data: str | None, n: int | None, seed: int,
             train_data: dict[str, str] | None = None, inception_weights: str | None = None,
             progress=None) -> dict[str, float]:
    """Mode coverage of a point model, or FID/KID of an image model (see the plugin's ``evaluate``)."""
    if config.points:
        return evaluate_points(modules["generator"], config, out_dir, data, n or 2500, seed)
    value = data or (train_data or {}).get("data")
    if not value:
        raise UserError("gan evaluation of an image model compares samples with real images: translate eval "
                        "CKPT --data DIR (a folder, or built-in shapes/digits)")
    return evaluate_images(modules, config, out_dir, value, n or 1000, seed,
                           inception_weights=inception_weights, from_training=not data, progress=progress)


def evaluate_points(generator, config, out_dir: Path, data: str | None, n: int, seed: int) -> dict[str, float]:
    """Draw ``n`` samples (2,500 by default, as in Srivastava et al. 2017, §5.1), score them against the
    mixture's modes and write ``scatter.png`` of the samples over the mode centres and their 3σ
    high-quality circles."""
    name = data or config.point_set
    if name not in POINT_SETS:
        raise UserError(f"--data {name or '(none)'}: mode coverage needs a built-in mixture with known modes "
                        f"({', '.join(POINT_SETS)}); this model was trained on a points file")
    if n < 1:
        raise UserError("-n must be at least 1")
    mixture = POINT_SETS[name]()
    with torch.no_grad():
        points = sample(generator, config, n, torch.Generator().manual_seed(seed)).float().cpu().numpy()
    save_scatter(out_dir / "scatter.png", points, name)
    return mode_stats(points, mixture.modes, mixture.sigma)


def evaluate_images(modules, config, out_dir: Path, data: str, n: int, seed: int,
                    inception_weights: str | None = None, from_training: bool = False,
                    progress=None) -> dict[str, float]:
    """FID/KID of ``n`` samples (noise from ``seed``; a conditional model's classes in turn) against
    up to ``n`` images of ``data``: a seeded random choice of a folder's images, or a built-in set
    drawn with another seed than training's, resized (shorter side, area filter) and centre-cropped
    to the samples' size as for training. Samples go to OUT/fake, the real images to OUT/real."""
    from translate import evaluation as ev
    from translate.data import builtin
    from translate.data.sources import open_images

    from .training import generate

    if n < 2:
        raise UserError("-n must be at least 2: FID/KID compare sets of images")
    progress = progress or ev.no_progress
    G = modules["generator"]
    device = ev.device_of(G)
    fake_dir, real_dir = ev.output_folder(out_dir, "fake"), ev.output_folder(out_dir, "real")
    rng = torch.Generator().manual_seed(seed)
    size = 0
    for first in range(0, n, 64):
        count = min(64, n - first)
        z = torch.randn(count, G.latent_dim, generator=rng)
        labels = torch.arange(first, first + count) % len(config.classes) if config.conditional else None
        images = generate(G, z, labels).float().cpu().clamp(-1, 1)
        size = images.shape[-1]
        ev.write_images(fake_dir, images, [f"{i:05d}" for i in range(first, first + count)])
        progress("generating samples", first + count, n)
    held_out = data in builtin.IMAGE_SETS and not Path(data).exists()
    source = open_images(data, "--data", size=size, seed=seed + (ev.BUILTIN_EVAL_SEED_OFFSET if held_out else 0))
    indices = ev.pick(len(source), n, seed, spread=True)
    done = 0
    for names, images in ev.source_batches(source, config.channels, size, indices, batch_size=64):
        ev.write_images(real_dir, images, names)
        done += len(names)
        progress("reading real images", done, len(indices))
    if len(indices) < n:
        ev.add_note(f"{data} holds {len(indices)} images, fewer than the {n} samples: FID is biased by the "
                    "unequal counts; compare models with the same -n and data")
    recorded = " (the training data recorded in the checkpoint)" if from_training else ""
    ev.add_protocol("data", f"{n} samples (noise seed {seed}{', classes in turn' if config.conditional else ''}) "
                            f"vs {len(indices)} images of {source.origin}{recorded}"
                            f"{', held out (other seed than training)' if held_out else ''}, resized (shorter side, "
                            f"area filter) and centre-cropped to {size}×{size} as for training")
    metrics = ev.folder_metrics(real_dir, fake_dir, keys=("fid", "kid", "kid_std"), inception_weights=inception_weights,
                                device=device, seed=seed)
    return {**metrics, "samples": n, "real_images": len(indices)}


def assign_modes(points: np.ndarray, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest mode, distance to it) for each of the N×2 points."""
    d = np.linalg.norm(points[:, None, :].astype(np.float64) - modes[None, :, :], axis=2)
    nearest = d.argmin(axis=1)
    return nearest, d[np.arange(len(points)), nearest]


def reverse_kl(counts: np.ndarray) -> float:
    """KL(p ‖ uniform) of a histogram of counts over K bins; empty bins add 0; no mass → inf."""
    total = counts.sum()
    if total == 0:
        return math.inf
    p = counts[counts > 0] / total
    return float(np.sum(p * np.log(p * len(counts))))


def mode_stats(points: np.ndarray, modes: np.ndarray, sigma: float) -> dict[str, float]:
    """Modes captured, % high-quality samples and reverse KL (see the module docstring)."""
    points = np.asarray(points, dtype=np.float64)
    finite = np.isfinite(points).all(axis=1)
    nearest, dist = assign_modes(np.where(finite[:, None], points, 1e9), modes)
    hq = finite & (dist <= 3 * sigma)
    counts = np.bincount(nearest[hq], minlength=len(modes))
    return {
        "modes": int((counts > 0).sum()),
        "modes_total": int(len(modes)),
        "hq_percent": float(100.0 * hq.mean()) if len(points) else 0.0,
        "reverse_kl": reverse_kl(counts),
        "samples": int(len(points)),
    }
