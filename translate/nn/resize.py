"""Bicubic upscaling by an integer factor that exports to ONNX and equals PyTorch's
``F.interpolate(x, scale_factor=s, mode="bicubic", antialias=True, align_corners=False)``.

PyTorch's antialiased bicubic (PIL's filter: Keys' cubic with a = -0.5) has no ONNX export in
the TorchScript-based exporter, and the torch.export-based one maps it to a Resize that differs
near the borders. For an integer upscale the filter is a fixed polyphase convolution: output
``s·q + r`` weighs inputs ``q - 2 … q + 2`` with weights that depend only on the phase ``r``.
At the borders PyTorch drops the taps that fall outside the image and renormalises the rest;
that is the same filter run on the zero-padded image divided by the filter run on the image's
indicator (ones inside, zeros outside), which is what this module computes, one axis at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CUBIC_A = -0.5  # PIL's and PyTorch's antialiased bicubic (Keys 1981 with a = -0.5)
TAPS = 5  # inputs q-2 … q+2: the cubic's support is |x| < 2 input pixels when upscaling


def _cubic(x: float, a: float = CUBIC_A) -> float:
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def polyphase_weights(scale: int) -> torch.Tensor:
    """scale × TAPS weights: row r weighs inputs q-2 … q+2 for output s·q + r (pixel centres at
    +0.5, as align_corners=False)."""
    weights = torch.zeros(scale, TAPS, dtype=torch.float64)
    for r in range(scale):
        centre = (r + 0.5) / scale  # of output s·q + r, in input pixels from q
        for k in range(TAPS):
            weights[r, k] = _cubic(k - TAPS // 2 + 0.5 - centre)
    return weights


class BicubicUpsample(nn.Module):
    """N×C×H×W → N×C×(s·H)×(s·W), antialiased bicubic (see the module docstring)."""

    def __init__(self, scale: int):
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        self.scale = scale
        self.register_buffer("weights", polyphase_weights(scale).float()[:, None, :], persistent=False)

    def _along_width(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        rows = x.reshape(n * c * h, 1, w)
        pad = TAPS // 2
        total = F.conv1d(F.pad(rows, (pad, pad)), self.weights)  # (N·C·H)×s×W: one channel per phase
        inside = F.conv1d(F.pad(torch.ones_like(rows[:1]), (pad, pad)), self.weights)  # 1×s×W
        # Interleave the phases: output column s·q + r is phase r at q.
        return (total / inside).transpose(1, 2).reshape(n, c, h, w * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._along_width(x.float())
        return self._along_width(x.transpose(2, 3)).transpose(2, 3)


class PlusBicubic(nn.Module):
    """``net(x)`` plus the bicubic ×``scale`` upscaling of ``x`` (global residual learning, Kim
    et al. 2016), with the upscaling in exportable form: for super-resolution networks whose own
    forward calls ``F.interpolate(..., antialias=True)``."""

    def __init__(self, net: nn.Module, scale: int):
        super().__init__()
        self.net, self.upsample = net, BicubicUpsample(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float() + self.upsample(x)
