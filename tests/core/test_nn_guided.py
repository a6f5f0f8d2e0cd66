"""The guided output (translate.nn.guided): a local affine colour map of the input passes, texture
the network invents does not, gradients reach both images, and bf16 autocast leaves the solve in
float32."""

from __future__ import annotations

import torch

from translate.nn.guided import guided


def _photo_like(seed: int = 0) -> torch.Tensor:
    """Smooth regions with edges and fine detail, in [-1, 1] (not white noise: the filter's colour
    fit needs the colours inside a window to vary, as in a photo)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8, generator=g), size=48, mode="bilinear")
    return (0.8 * low + 0.2 * torch.rand(2, 3, 48, 48, generator=g)) * 2 - 1


def test_a_colour_map_of_the_input_passes_and_invented_texture_does_not():
    x = _photo_like()
    mix = torch.tensor([[0.9, 0.15, 0.0], [0.05, 0.8, 0.1], [0.1, 0.0, 0.7]])  # a grade that mixes channels
    graded = torch.einsum("ij,njhw->nihw", mix, x) + torch.tensor([0.05, 0.0, -0.1]).view(1, 3, 1, 1)
    assert (guided(x, graded, 4, 1e-4) - graded).abs().mean() < 0.01
    blotches = 0.3 * torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    kept = (guided(x, graded + blotches, 4, 1e-4) - graded).abs().mean()
    assert kept < 0.25 * blotches.abs().mean(), kept


def test_gradients_reach_the_network_output_and_bf16_autocast_solves_in_float32():
    x = _photo_like(2)
    y = (0.5 * x + 0.1).requires_grad_()
    guided(x, y, 3, 1e-3).square().mean().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = guided(x, (0.5 * x + 0.1).bfloat16(), 3, 1e-3)
    assert low.dtype == torch.bfloat16
    assert (low.float() - guided(x, 0.5 * x + 0.1, 3, 1e-3)).abs().max() < 0.02


def test_an_image_smaller_than_the_window_is_filtered_with_a_window_that_fits():
    x = _photo_like()[:, :, :6, :5]
    out = guided(x, x * 0.5, 8, 1e-4)
    assert out.shape == x.shape and (out - x * 0.5).abs().max() < 0.05


def test_equals_kornias_guided_filter_for_colour_and_grey_guides():
    """Our closed form (average pools and an adjugate, so it exports to ONNX) is He et al.'s filter
    as kornia computes it, in kornia's eps units ([-1, 1]² = 4 × [0, 1]²)."""
    from kornia.filters import guided_blur

    g = torch.Generator().manual_seed(3)
    guide, image = torch.rand(2, 3, 30, 41, generator=g) * 2 - 1, torch.rand(2, 3, 30, 41, generator=g) * 2 - 1
    for radius in (1, 5, 14):
        ours = guided(guide, image, radius, 1e-3)
        assert torch.allclose(ours, guided_blur(guide, image, 2 * radius + 1, 4e-3).clamp(-1, 1), atol=1e-5)
    grey = guided(guide[:, :1], image, 3, 1e-2)
    assert torch.allclose(grey, guided_blur(guide[:, :1], image, 7, 4e-2).clamp(-1, 1), atol=1e-5)
