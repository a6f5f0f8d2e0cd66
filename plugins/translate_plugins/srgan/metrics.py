"""PSNR and SSIM as super-resolution papers report them (Ledig et al. 2017, §3.1): on the Y
(luma) channel, after cropping ``scale`` pixels from each border, on 8-bit images.

Y is ITU-R BT.601 studio range (16–235), as MATLAB's ``rgb2ycbcr`` computes it for the benchmark
tables; kornia's ``rgb_to_ycbcr`` is the full-range JPEG variant (no 16 offset, other gains), so
it is not used here. SSIM is Wang et al. 2004 (11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03,
L 255, mean of the map over 'valid' positions): ``kornia.metrics.ssim(..., padding="valid")``
computes exactly that (checked against scikit-image's ``structural_similarity`` with
``gaussian_weights=True, use_sample_covariance=False`` in tests/test_srgan.py); kornia's default
``padding="same"`` also scores the reflect-padded border and gives different numbers.
"""

from __future__ import annotations

import torch

BT601 = (65.481, 128.553, 24.966)  # RGB in [0, 1] → Y in [16, 235]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats rounded to 8-bit levels, as the images would be written to disk."""
    return (x.clamp(0, 1) * 255).round() / 255


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W luma in [16, 235] (float64, for exact metrics)."""
    r, g, b = rgb.double().unbind(1)
    return (16 + BT601[0] * r + BT601[1] * g + BT601[2] * b).unsqueeze(1)


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border:-border, border:-border] if border > 0 else x


def psnr_y(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image PSNR (dB) on Y, images in [0, 1], ``border`` pixels dropped on each side."""
    a, b = _crop(rgb_to_y(sr), border), _crop(rgb_to_y(hr), border)
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def ssim_y(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image SSIM on Y (Wang et al. 2004), images in [0, 1], ``border`` pixels dropped."""
    from kornia.metrics import ssim

    a, b = _crop(rgb_to_y(sr), border), _crop(rgb_to_y(hr), border)
    return ssim(a, b, 11, max_val=255.0, eps=0.0, padding="valid").flatten(1).mean(1)
