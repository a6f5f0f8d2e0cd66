"""Tiled processing equals whole-image processing for local operators; padding crops back."""

from __future__ import annotations

import numpy as np
import pytest
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


# ---- the 8-bit output path: rows quantised as they finish, equal to the float path bit for bit --

class _TiledModel:
    """What an apply hook and Model.apply_tensor do around tiled(): an optional ensemble over
    flips and rotations per tile (TTA), a clamp in place, a crop, float32 on the CPU."""

    def __init__(self, net, scale, multiple):
        self.net, self.scale, self.multiple = net, scale, multiple

    def apply_tensor(self, x, tile=512, overlap=32, tta=None):
        from translate.tta import ensemble

        fn = self.net if tta is None else (lambda t: ensemble(self.net, t, tta))
        out = tiled(fn, x, tile=tile, overlap=overlap, multiple=self.multiple, scale=self.scale).clamp_(-1, 1)
        return out[..., : x.shape[-2] * self.scale, :].float().cpu()


def _sr_net(scale):
    torch.manual_seed(0)
    shuffle = [nn.Conv2d(3, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale)] if scale > 1 else \
        [nn.Conv2d(3, 3, 3, padding=1)]
    return nn.Sequential(*shuffle, nn.Tanh()).eval()


@pytest.mark.parametrize("scale, multiple, tta", [(1, 1, None), (4, 2, None), (4, 2, "dihedral"), (1, 4, "flips")])
def test_rows_quantised_as_they_finish_equal_the_float_output_quantised(scale, multiple, tta):
    from translate.data.images import to_pixels
    from translate.inference import apply_in_8_bits

    model = _TiledModel(_sr_net(scale), scale, multiple)
    x = torch.rand(2, 3, 45, 62) * 2.4 - 1.2  # beyond [-1, 1]: the clamp and the rounding both matter
    options = {"tile": 20, "overlap": 6, "tta": tta}  # 3×4 tiles, odd sides padded to the multiple
    with torch.no_grad():
        floats = model.apply_tensor(x, **options)
        eight = apply_in_8_bits(model, x, options)
    assert [p.dtype for p in eight] == [np.uint8] * 2 and eight[0].shape == (45 * scale, 62 * scale, 3)
    for image, pixels in zip(floats, eight):
        assert np.array_equal(pixels, to_pixels(image))


def test_an_apply_that_changes_the_tiled_values_falls_back_to_the_float_path():
    from translate.inference import apply_in_8_bits
    from translate.tiling import PixelSink, rows_into

    class Brightened(_TiledModel):
        def apply_tensor(self, x, **options):
            return super().apply_tensor(x, **options) * 0.5

    assert apply_in_8_bits(Brightened(_sr_net(1), 1, 1), torch.rand(1, 3, 40, 40), {"tile": 16}) is None
    with rows_into(PixelSink(lambda rows: rows.permute(1, 2, 0).numpy())):  # a hook without tiles: floats
        plain = tiled(lambda t: t, torch.zeros(1, 3, 8, 8), tile=4, overlap=0)
        second = tiled(lambda t: t, torch.zeros(1, 3, 8, 8), tile=4, overlap=0)  # the sink takes only one
    assert type(plain).__name__ == "StreamedImage" and type(second) is torch.Tensor


def test_apply_writes_the_same_pixels_as_the_float_path(tmp_path, tiny_cyclegan_run):
    from PIL import Image

    from translate.data.images import read_image, to_pixels, to_tensor
    from translate.inference import apply_files, apply_in_8_bits, open_model

    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 50, 3), dtype=np.uint8)).save(src)
    model = open_model(tiny_cyclegan_run, "cpu")  # apply_files takes an opened model as it is
    for tta in (False, True):
        dst = tmp_path / f"out_{tta}.png"
        apply_files(model, [(src, dst)], tile=16, overlap=6, tta=tta, progress=False)
        floats = model.apply_tensor(to_tensor(read_image(src, 3).pixels), tile=16, overlap=6, tta=tta)
        assert np.array_equal(np.asarray(Image.open(dst)), to_pixels(floats[0]))
    x = to_tensor(read_image(src, 3).pixels)
    assert isinstance(apply_in_8_bits(model, x, {"tile": 16, "overlap": 6})[0], np.ndarray)  # no fallback


def test_the_default_tile_bounds_an_upscaling_networks_output_side_and_a_given_tile_is_kept():
    from translate.tiling import DEFAULT_TILE_OUTPUT, default_tile

    seen: list[tuple[int, int]] = []

    def upscale4(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape[-2:]))
        return t.repeat_interleave(4, -2).repeat_interleave(4, -1)

    x = torch.rand(1, 3, 600, 40)
    expected = upscale4(x)
    seen.clear()
    with default_tile():
        out = tiled(upscale4, x, tile=512, overlap=16, scale=4)
    assert max(h for h, _ in seen) * 4 <= DEFAULT_TILE_OUTPUT and torch.allclose(out, expected)
    seen.clear()
    tiled(upscale4, x, tile=512, overlap=16, scale=4)  # a tile the caller chose
    assert max(h for h, _ in seen) == 512
    seen.clear()
    with default_tile():
        tiled(lambda t: seen.append(tuple(t.shape[-2:])) or t, x, tile=512, overlap=16)  # scale 1: as given
    assert max(h for h, _ in seen) == 512
