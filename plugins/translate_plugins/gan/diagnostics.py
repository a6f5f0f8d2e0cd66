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
