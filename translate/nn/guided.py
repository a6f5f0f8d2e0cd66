"""A generator's output as a local affine colour map of its input: the guided filter of He et al.
2010 ("Guided Image Filtering", §3), with the input image as the guide and the network's output as
the image filtered, trained end to end through it as Wu et al. 2018 ("Fast End-to-End Trainable
Guided Filter", §3) do.

In every (2r + 1)² window the output is q = A·I + b, with I the input's colours, A a 3×3 (or 1×1)
matrix and b a vector fitted by ridge regression (weight ``eps``) to the network's raw output, then
averaged over the windows that cover each pixel (He et al. 2010, eq. 8 and the colour form §3.5).
So the output keeps the input's edges and detail and takes the network's colours, tones and local
contrast; texture the network invents that the input does not carry (a GAN's blotches and
checkerboards) cannot pass. That suits colour grades, tone curves, relighting, season and weather
changes; it rules out translations that draw new structure (horse → zebra stripes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def guided(guide: torch.Tensor, image: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """``image`` (N×C×H×W in [-1, 1]) filtered with ``guide`` (N×1×H×W or N×3×H×W, same size, [-1, 1]);
    the result in [-1, 1], of ``image``'s dtype. ``radius`` in pixels (window 2r + 1, reflected at
    the borders, shrunk to fit an image smaller than it); ``eps`` in [0, 1]² units as He et al. 2010
    state it (their 0.1², 0.2², 0.4²: larger is smoother, a flatter A). Runs in float32 whatever the
    autocast: the per-pixel 3×3 solve needs it. Written with elementwise operations and average
    pools only (no batched inverse), so it exports to ONNX."""
    radius = min(radius, (min(guide.shape[-2:]) - 1) // 2)  # a window that fits the image
    with torch.autocast(guide.device.type, enabled=False):
        # [-1, 1] is twice [0, 1]: eps, a variance, scales by 4.
        out = _colour_guided(guide.float(), image.float(), radius, 4.0 * eps) if guide.shape[1] == 3 else \
            _grey_guided(guide.float(), image.float(), radius, 4.0 * eps)
    return out.clamp(-1, 1).to(image.dtype)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Window means, (2r + 1)² windows, borders reflected; two 1-D passes."""
    side = 2 * radius + 1
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    return F.avg_pool2d(F.avg_pool2d(x, (side, 1), stride=1), (1, side), stride=1)


def _grey_guided(guide: torch.Tensor, image: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """He et al. 2010, eqs. 6-8: a = cov(I, p) / (var(I) + eps), b = mean(p) - a mean(I)."""
    mean_i, mean_p = _box(guide, radius), _box(image, radius)
    a = (_box(guide * image, radius) - mean_i * mean_p) / (_box(guide * guide, radius) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


def _colour_guided(guide: torch.Tensor, image: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """He et al. 2010, §3.5 (eqs. 19-21): per window a = (Σ + eps U)⁻¹ cov(I, p) for each output
    channel, with Σ the guide's 3×3 colour covariance (inverted by its adjugate), b = mean(p) − aᵀ mean(I)."""
    mean_i, mean_p = _box(guide, radius), _box(image, radius)
    r, g, b_ = guide[:, 0:1], guide[:, 1:2], guide[:, 2:3]
    mr, mg, mb = mean_i[:, 0:1], mean_i[:, 1:2], mean_i[:, 2:3]
    rr = _box(r * r, radius) - mr * mr + eps
    gg = _box(g * g, radius) - mg * mg + eps
    bb = _box(b_ * b_, radius) - mb * mb + eps
    rg = _box(r * g, radius) - mr * mg
    rb = _box(r * b_, radius) - mr * mb
    gb = _box(g * b_, radius) - mg * mb
    # The adjugate of the symmetric [[rr, rg, rb], [rg, gg, gb], [rb, gb, bb]], over its determinant.
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    cov_r = _box(r * image, radius) - mr * mean_p  # N×C×H×W each: cov(I_k, p_c)
    cov_g = _box(g * image, radius) - mg * mean_p
    cov_b = _box(b_ * image, radius) - mb * mean_p
    a_r = (inv_rr * cov_r + inv_rg * cov_g + inv_rb * cov_b) / det
    a_g = (inv_rg * cov_r + inv_gg * cov_g + inv_gb * cov_b) / det
    a_b = (inv_rb * cov_r + inv_gb * cov_g + inv_bb * cov_b) / det
    b = mean_p - a_r * mr - a_g * mg - a_b * mb
    return _box(a_r, radius) * r + _box(a_g, radius) * g + _box(a_b, radius) * b_ + _box(b, radius)
