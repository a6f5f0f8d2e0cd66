"""Tiled processing equals whole-image processing for local operators; padding crops back."""

from __future__ import annotations

import torch
from torch import nn

from translate.tiling import run_padded, tiled


def test_pointwise_function_is_exact():
    x = torch.rand(2, 3, 150, 97)
    fn = lambda t: t * 2 - 1  # noqa: E731
    assert torch.allclose(tiled(fn, x, tile=64, overlap=16), fn(x), atol=1e-6)


def test_local_conv_net_matches_within_tolerance():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()
    x = torch.rand(1, 3, 200, 130)
    with torch.no_grad():
        whole = net(x)
        parts = tiled(net, x, tile=64, overlap=16)
    # Only a 2-pixel border of each tile sees padding instead of neighbours; the blend ramps
    # down there, so the error stays small.
    assert (parts - whole).abs().max() < 0.05
    assert (parts - whole).abs().mean() < 1e-3


def test_scale_and_multiple():
    x = torch.rand(1, 1, 37, 53)
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    out = tiled(up, x, tile=16, overlap=4, multiple=4, scale=2)
    assert out.shape == (1, 1, 74, 106)
    assert torch.allclose(out, up(x), atol=1e-6)
    assert run_padded(lambda t: t[..., ::1, ::1], x, multiple=8).shape == x.shape
