"""Padding inside an exported graph: any height and width in, cropped back out, exactly as
:func:`translate.tiling.pad_to_multiple` pads for ``apply``.

The padding amounts are computed from the input's runtime shape with tensor and shape operations
(``torch.jit.trace`` and the ONNX exporter record them as shape ops), never from Python
comparisons, which a trace would bake in as constants of the example input. Reflect or
replicate is chosen as ``pad_to_multiple`` chooses it (reflect when each pad is smaller than its
side), with ``torch.where`` on index vectors instead of an ``if``, and the padded image is a
gather of those indices, which every runtime supports with dynamic sizes.
"""

from __future__ import annotations

import torch
from torch import nn


def _max(a, b):
    """max(a, b) written as arithmetic, so that a traced size stays a traced size."""
    return (a + b + abs(a - b)) // 2


def _side_indices(n, multiple: int, min_side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source rows for one side of length ``n``: (reflect-padded, replicate-padded) indices of
    length ``max(n, min_side)`` rounded up to ``multiple``. Rows past ``max(n, min_side)`` are
    reflected or replicated from that length; rows past ``n`` then repeat the last row (the
    replicate padding an apply may do first for images under ``min_side``)."""
    grown = _max(n, min_side)
    i = torch.arange(grown + (-grown) % multiple, device=device)
    reflect = torch.where(i < grown, i, 2 * (grown - 1) - i)
    replicate = torch.where(i < grown, i, grown - 1)
    return reflect, replicate


class PadToMultiple(nn.Module):
    """``net`` on inputs of any height and width: pads the bottom and right to ``multiple``
    (after replicating up to ``min_side``), runs ``net``, and crops the output back to
    ``scale`` × the input size. For image networks that need sides divisible by a number."""

    def __init__(self, net: nn.Module, multiple: int = 1, scale: int = 1, min_side: int = 1):
        super().__init__()
        if multiple < 1 or scale < 1 or min_side < 1:
            raise ValueError(f"multiple, scale and min_side must be ≥ 1, got {multiple}, {scale}, {min_side}")
        self.net, self.multiple, self.scale, self.min_side = net, multiple, scale, min_side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        reflect_h, replicate_h = _side_indices(h, self.multiple, self.min_side, x.device)
        reflect_w, replicate_w = _side_indices(w, self.multiple, self.min_side, x.device)
        # pad_to_multiple reflects only when both pads are shorter than their sides; a reflected
        # index is then never negative, so "no negative index" is that condition, as a tensor.
        reflect = (reflect_h.min() >= 0) & (reflect_w.min() >= 0)
        rows = torch.where(reflect, reflect_h, replicate_h)
        cols = torch.where(reflect, reflect_w, replicate_w)
        rows = torch.where(rows < h, rows, h - 1)  # the min_side replication, composed
        cols = torch.where(cols < w, cols, w - 1)
        out = self.net(x.index_select(2, rows).index_select(3, cols))
        return out[..., : h * self.scale, : w * self.scale]


class ClampToImage(nn.Module):
    """``module``'s output clamped to the image range [-1, 1], as ``apply`` returns it (e.g. a
    bicubic skip overshoots at edges): an exported graph then gives what apply gives."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*inputs).clamp(-1.0, 1.0)
