"""Mode-collapse diagnostics for 2-D mixtures of Gaussians (ring8, grid25).

The protocol of Srivastava et al. 2017 (VEEGAN, §5.1) and Lin et al. 2018 (PacGAN, §5.1):

* each sample is assigned to its nearest mode centre;
* a sample is *high quality* (HQ) when it lies within 3σ of that centre;
* a mode is *captured* when at least one HQ sample is assigned to it;
* reverse KL is KL(p ‖ u) where p is the histogram of the HQ samples over the K modes and u the
  uniform distribution of the data: Σ_k p_k log(p_k K), with empty bins contributing 0 (the limit
  of p log p). It is 0 for perfectly balanced HQ samples and log K when they all fall in one mode.
  With no HQ sample at all p is undefined and the value is reported as +inf.
"""

from __future__ import annotations

import math

import numpy as np


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
