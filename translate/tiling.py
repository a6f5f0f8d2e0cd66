"""Run an image network on inputs of any size: pad to the size it needs, and process large
images in overlapping tiles blended with linear ramps, so memory is bounded by the tile size
(plus the output image itself, which is kept on the CPU)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

Fn = Callable[[torch.Tensor], torch.Tensor]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad bottom/right to a multiple of ``multiple`` (reflect where possible); returns the
    padded tensor and the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def run_padded(fn: Fn, x: torch.Tensor, multiple: int = 1, scale: int = 1) -> torch.Tensor:
    """``fn`` on ``x`` padded to ``multiple``, output cropped back to ``scale`` × the input size."""
    padded, (h, w) = pad_to_multiple(x, multiple)
    return fn(padded)[..., : h * scale, : w * scale]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    w = torch.ones(length)
    n = min(overlap, length // 2)
    if n > 0:
        ramp = torch.linspace(0, 1, n + 2)[1:-1]
        if not at_start:
            w[:n] = ramp
        if not at_end:
            w[-n:] = ramp.flip(0)
    return w


_tile_listeners: list[Callable[[int, int], None]] = []


@contextlib.contextmanager
def on_tiles(listener: Callable[[int, int], None]) -> Iterator[None]:
    """Call ``listener(done, total)`` after each tile of every tiled image inside the block: how
    ``translate apply`` shows progress within one large image, whatever plugin runs it."""
    _tile_listeners.append(listener)
    try:
        yield
    finally:
        _tile_listeners.remove(listener)


def tiled(fn: Fn, x: torch.Tensor, tile: int = 512, overlap: int = 32, multiple: int = 1,
          scale: int = 1) -> torch.Tensor:
    """Apply ``fn`` (N×C×h×w → N×C'×(h·scale)×(w·scale), h and w multiples of ``multiple``) to
    ``x`` of any size. Images that fit in one tile go through whole; larger ones in overlapping
    tiles whose seams are blended. The result is on the CPU in float32."""
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    padded, (h, w) = pad_to_multiple(x, multiple)
    H, W = padded.shape[-2:]
    if H <= tile and W <= tile:
        return fn(padded)[..., : h * scale, : w * scale].float().cpu()
    out = None
    ys, xs = _starts(H, tile, overlap), _starts(W, tile, overlap)
    th, tw = min(tile, H), min(tile, W)
    # The blend weights of the rows still open (from ``top`` on): once a row of tiles is done, the
    # rows above the next one are final and are normalised in place, so neither a whole-image
    # weight map nor a second whole-image float copy is ever held (a 4000×3000 photo ×4 makes a
    # 2.3 GB float output; each of those would be another 2.3 GB or 0.8 GB).
    top, weight = 0, torch.zeros(1, 1, 0, W * scale)
    done, total = 0, len(ys) * len(xs)
    for i, y in enumerate(ys):
        grow = (y + th) * scale - top - weight.shape[-2]
        weight = torch.cat([weight, torch.zeros(1, 1, grow, W * scale)], dim=-2) if grow > 0 else weight
        for x0 in xs:
            patch = fn(padded[..., y: y + th, x0: x0 + tw]).float().cpu()
            if out is None:
                out = torch.zeros(patch.shape[0], patch.shape[1], H * scale, W * scale)
            wy = _ramp(th * scale, overlap * scale, y == 0, y + th >= H)
            wx = _ramp(tw * scale, overlap * scale, x0 == 0, x0 + tw >= W)
            w2 = (wy[:, None] * wx[None, :])[None, None]
            out[..., y * scale: (y + th) * scale, x0 * scale: (x0 + tw) * scale] += patch * w2
            weight[..., y * scale - top: (y + th) * scale - top, x0 * scale: (x0 + tw) * scale] += w2
            done += 1
            for listener in _tile_listeners:
                listener(done, total)
        final = (ys[i + 1] if i + 1 < len(ys) else H) * scale  # no later tile reaches above this row
        out[..., top:final, :].div_(weight[..., : final - top, :].clamp_min(1e-8))
        top, weight = final, weight[..., final - top:, :]
    return out[..., : h * scale, : w * scale]
