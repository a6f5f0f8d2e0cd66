"""``translate eval`` of a 2-D model: mode coverage against the known mixture (points.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from translate.errors import UserError

from .points import POINT_SETS, mode_stats, save_scatter
from .training import sample


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
                    inception_weights: str | None = None, from_training: bool = False) -> dict[str, float]:
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
    held_out = data in builtin.IMAGE_SETS and not Path(data).exists()
    source = open_images(data, "--data", size=size, seed=seed + (ev.BUILTIN_EVAL_SEED_OFFSET if held_out else 0))
    indices = ev.pick(len(source), n, seed, spread=True)
    for names, images in ev.source_batches(source, config.channels, size, indices, batch_size=64):
        ev.write_images(real_dir, images, names)
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
