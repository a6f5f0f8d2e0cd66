"""Differentiable augmentation (DiffAugment, Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training", §3 and their reference code): the same random transforms are applied
to real *and* fake images before D, in both the D and the G step, and are differentiable, so G's
gradients pass through them. This keeps D from memorising a small training set.

Policies (images in [-1, 1], parameters drawn per sample):
  color        brightness + U(-0.5, 0.5); saturation × U(0, 2) around the per-pixel channel mean;
               contrast × U(0.5, 1.5) around the image mean.
  translation  integer shift of up to 1/8 of the image size, zero (mid-grey) padding, done with
               kornia's differentiable warp.
  cutout       one square of half the image size, at a random centre, set to 0.
The colour ops are written out rather than taken from kornia.enhance, whose versions clamp to
[0, 1] and would zero the gradient of every saturated pixel.
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _rand(x: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_rand(x, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    from kornia.geometry.transform import translate

    h, w = x.shape[2:]
    limit = torch.tensor([w, h], device=x.device) * ratio
    shift = torch.round((torch.rand(x.shape[0], 2, device=x.device) * 2 - 1) * limit)
    # Integer shifts with nearest sampling move pixels exactly; the warp stays differentiable in x.
    return translate(x, shift.to(x.dtype), mode="nearest", padding_mode="zeros", align_corners=True)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2  # the square may stick out of the image, as in the paper
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    for name in policy:
        x = OPS[name](x)
    return x
