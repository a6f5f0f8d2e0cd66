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


def _blend_with_a_whole_weight_map(fn, x, tile, overlap, scale):
    """The blend written plainly: every tile weighted by its ramps into whole-image sums."""
    from translate.tiling import _ramp, _starts

    H, W = x.shape[-2:]
    out, weight = torch.zeros(x.shape[0], 3, H * scale, W * scale), torch.zeros(1, 1, H * scale, W * scale)
    th, tw = min(tile, H), min(tile, W)
    for y in _starts(H, tile, overlap):
        for x0 in _starts(W, tile, overlap):
            w2 = (_ramp(th * scale, overlap * scale, y == 0, y + th >= H)[:, None]
                  * _ramp(tw * scale, overlap * scale, x0 == 0, x0 + tw >= W)[None, :])
            rows, cols = slice(y * scale, (y + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
            out[..., rows, cols] += fn(x[..., y: y + th, x0: x0 + tw]) * w2
            weight[..., rows, cols] += w2
    return out / weight


def test_rows_normalised_as_they_finish_equal_the_whole_weight_map_bit_for_bit():
    # tiled() keeps only the weights of rows still open (a whole map of a 16000×12000 output is
    # 0.8 GB); the sums and the division are the same, so the result must be identical.
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1)
    for scale, (h, w, tile, overlap) in [(1, (129, 77, 40, 10)), (4, (50, 90, 16, 30)), (2, (64, 200, 48, 16))]:
        fn = lambda t, s=scale: torch.nn.functional.interpolate(conv(t), scale_factor=s) * 1.7  # noqa: E731
        x = torch.rand(2, 3, h, w) * 2 - 1
        with torch.no_grad():
            assert torch.equal(tiled(fn, x, tile=tile, overlap=overlap, scale=scale),
                               _blend_with_a_whole_weight_map(fn, x, tile, min(overlap, tile // 2), scale))
