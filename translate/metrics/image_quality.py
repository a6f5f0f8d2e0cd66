"""PSNR and SSIM between paired images: on RGB, or on the Y (luma) channel after cropping a border,
as super-resolution papers report them (e.g. Ledig et al. 2017, §3.1).

Inputs are N×C×H×W tensors in [0, 1] (C = 1 or 3); both metrics are computed in float64 on the
8-bit scale (peak 255), which gives the same PSNR and SSIM as [0, 1] with peak 1 and keeps the
Y channel on its usual 16-235 range.

* Y is ITU-R BT.601 studio range (16-235), as MATLAB's ``rgb2ycbcr`` computes it for benchmark
  tables (and scikit-image's ``rgb2ycbcr``); kornia's ``rgb_to_ycbcr`` is the full-range JPEG
  variant (no 16 offset, other gains), so it is not used.
* SSIM is Wang et al. 2004: 11×11 Gaussian window with σ 1.5, K1 0.01, K2 0.03, L 255, the mean
  of the SSIM map over 'valid' positions (per channel, then averaged over channels).
  ``kornia.metrics.ssim(..., padding="valid")`` computes exactly that; it matches scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
  (tests/core/test_metrics.py). kornia's default ``padding="same"`` also scores the reflect-padded
  border and gives different numbers.
* Images smaller than the window: :func:`ssim_window` gives the largest odd window that fits
  (down to 3×3, same σ 1.5, kornia's kernel truncated and renormalised) for callers that score
  any size (``translate compare``); ``ssim`` itself keeps the 11×11 window unless told otherwise,
  so a figure is never silently measured another way.
"""

from __future__ import annotations

import torch

from ..errors import UserError

BT601 = (65.481, 128.553, 24.966)  # RGB in [0, 1] → Y in [16, 235]: ITU-R BT.601, studio range
PEAK = 255.0  # metrics on the 8-bit scale
SSIM_WINDOW = 11  # Wang et al. 2004, §III-C: 11×11 Gaussian window, σ = 1.5 (kornia's fixed σ)
SSIM_MIN_WINDOW = 3  # below 3×3 a "window" is one pixel: no local statistics left to compare


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats rounded to 8-bit levels, as the images would be written to disk."""
    return (x.clamp(0, 1) * 255).round() / 255


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W luma in [16, 235] (float64, for exact metrics)."""
    r, g, b = rgb.double().unbind(1)
    return (16 + BT601[0] * r + BT601[1] * g + BT601[2] * b).unsqueeze(1)


def crop_border(x: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels on each side (SR papers crop the scale factor)."""
    return x[..., border:-border, border:-border] if border > 0 else x


def levels(x: torch.Tensor, y_channel: bool) -> torch.Tensor:
    """N×C×H×W in [0, 1] → float64 on the 8-bit scale, or its Y channel (16-235) with ``y_channel``."""
    if not y_channel:
        return x.double() * PEAK
    if x.shape[1] != 3:
        raise UserError("the Y channel needs RGB images")
    return rgb_to_y(x)


def _prepare(a: torch.Tensor, b: torch.Tensor, border: int, y_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise UserError(f"paired images differ in size: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = levels(a, y_channel), levels(b, y_channel)
    height, width = a.shape[-2:]
    if 2 * border >= min(height, width):  # report the size before the crop: after it there is nothing
        raise UserError(f"a border crop of {border} px leaves nothing of {width}×{height} images; use a crop border "
                        f"of {(min(height, width) - 1) // 2} or less")
    return crop_border(a, border), crop_border(b, border)


def ssim_window(height: int, width: int) -> int | None:
    """The SSIM window for an image of ``height``×``width`` pixels (after any border crop): the
    standard 11, or for a smaller image the largest odd size that fits, down to 3; None when not
    even 3×3 fits (SSIM cannot be measured)."""
    side = min(height, width, SSIM_WINDOW)
    side -= 1 - side % 2  # odd: the window needs a centre pixel
    return side if side >= SSIM_MIN_WINDOW else None


def psnr(a: torch.Tensor, b: torch.Tensor, *, border: int = 0, y_channel: bool = False,
         min_mse: float = 0.0) -> torch.Tensor:
    """Per-image PSNR in dB (N values, float64) of images in [0, 1], peak 255 on the 8-bit scale.
    Identical images give +inf, as scikit-image does, unless ``min_mse`` floors the error."""
    x, y = _prepare(a, b, border, y_channel)
    mse = (x - y).pow(2).flatten(1).mean(1)
    if min_mse > 0:
        mse = mse.clamp_min(min_mse)
    return 10 * torch.log10(PEAK ** 2 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, *, border: int = 0, y_channel: bool = False,
         window: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-image SSIM (N values, float64) of images in [0, 1]: Wang et al. 2004 with a Gaussian
    window (``window``×``window``, σ 1.5), averaged over the valid map and over channels."""
    from kornia.metrics import ssim as ssim_map

    if window < SSIM_MIN_WINDOW or window % 2 == 0:
        raise ValueError(f"SSIM window {window}: give an odd size of at least {SSIM_MIN_WINDOW}")
    x, y = _prepare(a, b, border, y_channel)
    if min(x.shape[-2:]) < window:
        raise UserError(f"SSIM needs images of at least {window}×{window} pixels after the border "
                        f"crop (got {x.shape[-1]}×{x.shape[-2]})")
    return ssim_map(x, y, window, max_val=PEAK, eps=0.0, padding="valid").flatten(1).mean(1)


def ssim_sum(x: torch.Tensor, y: torch.Tensor, window: int = SSIM_WINDOW) -> tuple[float, int]:
    """The sum and count of the SSIM map of :func:`ssim` over 'valid' positions, for inputs
    already on the 8-bit scale (:func:`levels`), so callers can add strips of a large image.
    The Gaussian is applied as two 1-D passes (kornia's 2-D kernel is their outer product):
    the same map at a fraction of the work and memory."""
    import torch.nn.functional as F
    from kornia.filters import get_gaussian_kernel1d

    channels = x.shape[1]
    taps = get_gaussian_kernel1d(window, 1.5, device=x.device, dtype=x.dtype).reshape(1, 1, 1, window)
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    stacked = F.conv2d(stacked, taps.expand(5 * channels, 1, 1, window), groups=5 * channels)
    stacked = F.conv2d(stacked, taps.reshape(1, 1, window, 1).expand(5 * channels, 1, window, 1), groups=5 * channels)
    mu_x, mu_y, xx, yy, xy = stacked.split(channels, dim=1)
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    mu_xy, mu_xx, mu_yy = mu_x * mu_y, mu_x * mu_x, mu_y * mu_y
    values = ((2 * mu_xy + c1) * (2 * (xy - mu_xy) + c2)) / ((mu_xx + mu_yy + c1) * (xx - mu_xx + yy - mu_yy + c2))
    return float(values.sum()), values.numel()


def luma_psnr(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image PSNR on Y with ``border`` pixels dropped; the error is floored at 1e-10 (on the
    8-bit scale) so identical images give a finite 148 dB, as the SRGAN evaluation always has."""
    return psnr(sr, hr, border=border, y_channel=True, min_mse=1e-10)


def luma_ssim(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image SSIM on Y with ``border`` pixels dropped."""
    return ssim(sr, hr, border=border, y_channel=True)
