"""Run an image network on inputs of any size: pad to the size it needs, and process large
images in overlapping tiles blended with linear ramps, so memory is bounded by the tile size
(plus the output image itself, which is kept on the CPU: in float32, or inside
:func:`rows_into` in the smaller array of a :class:`PixelSink`, e.g. 8 bits)."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import numpy as np
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


# A tile's output side, at most, when the caller left the tile size to us (:func:`default_tile`):
# an upscaling network's largest activations are its tail at the output size (a ×4 RRDBNet holds
# 64 channels of (4·tile)² pixels, 1 GiB in float32 for a 512² tile), so a ×4 model gets 384² tiles.
DEFAULT_TILE_OUTPUT = 1536
_default_tile = threading.local()  # per thread, as the sinks below


@contextlib.contextmanager
def default_tile() -> Iterator[None]:
    """Inside the block, the tile size :func:`tiled` is given is the default, not the user's: it
    is lowered for networks that upscale, so a tile's output side stays within
    ``DEFAULT_TILE_OUTPUT`` (a tile size the user gives is used as it is)."""
    outer = getattr(_default_tile, "on", False)
    _default_tile.on = True
    try:
        yield
    finally:
        _default_tile.on = outer


def _tile_for(tile: int, scale: int, multiple: int) -> int:
    if scale > 1 and getattr(_default_tile, "on", False) and tile * scale > DEFAULT_TILE_OUTPUT:
        tile = DEFAULT_TILE_OUTPUT // scale
    return max(multiple, tile - tile % multiple)


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


# ---- rows into a smaller array instead of a whole float output ------------------------------

class PixelSink:
    """An (N, H, W, C) array that :func:`tiled` fills a band of rows at a time, each band turned
    into the array's values by ``convert`` (a C×r×W float tensor in [-1, 1] → an r×W×C array) as
    soon as no later tile changes it: ``translate apply`` makes 8-bit images this way, so a
    16000×12000 output needs its 0.6 GB of uint8 and never its 2.3 GB of float32. ``convert``
    must clamp to [-1, 1]: a hook's clamp to that range is skipped on the stand-in."""

    def __init__(self, convert: Callable[[torch.Tensor], np.ndarray], dtype: type = np.uint8,
                 chunk: int = 1 << 20):
        self.convert, self.dtype, self.chunk = convert, dtype, chunk
        self.pixels: np.ndarray | None = None

    def start(self, shape: tuple[int, ...]) -> None:
        n, c, h, w = shape
        self.pixels = np.empty((n, h, w, c), self.dtype)

    def write(self, top: int, rows: torch.Tensor) -> None:
        """Output rows ``top``… of every image (N×C×r×W); rows past the image's height are dropped.
        Converted a few rows at a time, so the conversion's float temporaries stay small."""
        n, c, r, w = rows.shape
        r = min(r, self.pixels.shape[1] - top)
        step = max(1, self.chunk // max(1, w * c))
        for i in range(n):
            for start in range(0, r, step):
                stop = min(r, start + step)
                self.pixels[i, top + start: top + stop] = self.convert(rows[i, :, start: stop])

    def stand_in(self) -> "StreamedImage":
        n, h, w, c = self.pixels.shape
        # the strides of the array's (N, H, W, C) layout: a view of the stand-in maps onto the array
        meta = torch.empty_strided((n, c, h, w), (h * w * c, 1, w * c, c), device="meta")
        image = meta.as_subclass(StreamedImage)
        image.sink = self
        return image


class NotStreamable(RuntimeError):
    """An apply hook did more with a :class:`StreamedImage` than it allows: run the float path."""


_sinks = threading.local()  # per thread: the demo page serves several requests at once


@contextlib.contextmanager
def rows_into(sink: PixelSink) -> Iterator[PixelSink]:
    """Inside the block, the first image :func:`tiled` makes goes into ``sink`` row band by row
    band, and tiled returns a :class:`StreamedImage` in its place (any plugin's apply, unchanged,
    as long as it only crops, clamps to the image range or wider, or moves the result to the
    CPU in float32; anything else raises :class:`NotStreamable`). Read the result with
    :func:`streamed_pixels`."""
    outer = getattr(_sinks, "current", None)
    _sinks.current = sink
    try:
        yield sink
    finally:
        _sinks.current = outer


def _claim_sink() -> PixelSink | None:
    sink = getattr(_sinks, "current", None)
    return sink if sink is not None and sink.pixels is None else None


def _keeps_image(func: Callable, args: tuple, kwargs: dict) -> bool:
    """Whether ``func`` leaves an image in [-1, 1] as the sink stores it: a move to the CPU in
    float32, or a clamp no tighter than [-1, 1] (the sink's conversion clamps to it anyway)."""
    name = getattr(func, "__name__", "")
    if name in ("float", "cpu", "detach", "contiguous"):
        return True
    if name == "to":
        return all(a in (torch.float32, "cpu", torch.device("cpu")) for a in (*args[1:], *kwargs.values()))
    if name in ("clamp", "clamp_", "clip", "clip_"):
        low = kwargs.get("min", args[1] if len(args) > 1 else None)
        high = kwargs.get("max", args[2] if len(args) > 2 else None)
        return all(isinstance(v, (int, float, type(None))) for v in (low, high)) \
            and (low is None or low <= -1) and (high is None or high >= 1)
    return False


_DESCRIBES = {torch.Tensor.size, torch.Tensor.dim, torch.Tensor.numel, torch.Tensor.stride,
              torch.Tensor.storage_offset, torch.Tensor.__len__, torch.Tensor.is_floating_point,
              torch.Tensor.__repr__, *(getattr(torch.Tensor, p).__get__ for p in (
                  "shape", "dtype", "device", "ndim", "layout", "requires_grad", "is_meta", "is_cuda"))}
_BASIC_INDEX = (int, slice, type(Ellipsis), type(None))


class StreamedImage(torch.Tensor):
    """What :func:`tiled` returns inside :func:`rows_into`: the output's shape without its data
    (a meta tensor), whose values are in the sink. Cropping it gives the matching part of the
    sink's array; moving it to the CPU in float32 or clamping it to [-1, 1] or wider returns it
    as it is; anything that would change values raises :class:`NotStreamable`."""

    sink: PixelSink

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _keeps_image(func, args, kwargs):
            return args[0]
        if func in _DESCRIBES:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        if func is torch.Tensor.__getitem__:
            key = args[1] if isinstance(args[1], tuple) else (args[1],)
            if all(isinstance(k, _BASIC_INDEX) for k in key):
                with torch._C.DisableTorchFunctionSubclass():
                    view = func(*args, **kwargs).as_subclass(StreamedImage)
                view.sink = args[0].sink
                return view
        raise NotStreamable(f"{getattr(func, '__name__', func)} on an image whose rows went to a sink")


def streamed_pixels(image: StreamedImage) -> np.ndarray:
    """The (N, H, W, C) part of the sink's array that ``image`` (a crop of the stand-in) stands for."""
    if image.dim() != 4:
        raise NotStreamable(f"an image of {image.dim()} dimensions, not N×C×H×W")
    pixels = image.sink.pixels
    item = pixels.itemsize
    n, c, h, w = image.shape
    view = np.lib.stride_tricks.as_strided(pixels.reshape(-1)[image.storage_offset():], (n, c, h, w),
                                           tuple(s * item for s in image.stride()), writeable=False)
    return view.transpose(0, 2, 3, 1)


def tiled(fn: Fn, x: torch.Tensor, tile: int = 512, overlap: int = 32, multiple: int = 1,
          scale: int = 1) -> torch.Tensor:
    """Apply ``fn`` (N×C×h×w → N×C'×(h·scale)×(w·scale), h and w multiples of ``multiple``) to
    ``x`` of any size. Images that fit in one tile go through whole; larger ones in overlapping
    tiles whose seams are blended. The result is on the CPU in float32; inside :func:`rows_into`
    its rows go to the sink instead, and a :class:`StreamedImage` stands for it."""
    sink = _claim_sink()
    tile = _tile_for(tile, scale, multiple)
    overlap = min(overlap, tile // 2)
    padded, (h, w) = pad_to_multiple(x, multiple)
    H, W = padded.shape[-2:]
    if H <= tile and W <= tile:
        whole = fn(padded)[..., : h * scale, : w * scale].float().cpu()
        if sink is None:
            return whole
        sink.start(tuple(whole.shape))
        sink.write(0, whole)
        return sink.stand_in()
    ys, xs = _starts(H, tile, overlap), _starts(W, tile, overlap)
    th, tw = min(tile, H), min(tile, W)
    # Only the rows a later tile may still reach are open (from ``top`` on, at most one tile
    # high): once a row of tiles is done, the rows above the next one are final and are
    # normalised in place, so no whole-image weight map is held (0.8 GB for a 4000×3000 photo
    # ×4). The sums are the whole output (returned), or into a sink the open band only, so no
    # whole-image float output exists either (2.3 GB there).
    weight = torch.zeros(1, 1, th * scale, W * scale)
    sums, top = None, 0
    done, total = 0, len(ys) * len(xs)
    for i, y in enumerate(ys):
        base = 0 if sink is None else top  # the output row that row 0 of ``sums`` holds
        for x0 in xs:
            patch = fn(padded[..., y: y + th, x0: x0 + tw]).float().cpu()
            if sums is None:
                sums = torch.zeros(*patch.shape[:2], (H if sink is None else th) * scale, W * scale)
                if sink is not None:
                    sink.start((*patch.shape[:2], h * scale, w * scale))
            wy = _ramp(th * scale, overlap * scale, y == 0, y + th >= H)
            wx = _ramp(tw * scale, overlap * scale, x0 == 0, x0 + tw >= W)
            w2 = (wy[:, None] * wx[None, :])[None, None]
            cols = slice(x0 * scale, (x0 + tw) * scale)
            sums[..., y * scale - base: (y + th) * scale - base, cols] += patch * w2
            weight[..., y * scale - top: (y + th) * scale - top, cols] += w2
            done += 1
            for listener in _tile_listeners:
                listener(done, total)
        final = (ys[i + 1] if i + 1 < len(ys) else H) * scale  # no later tile reaches above this row
        finished = sums[..., top - base: final - base, :]
        _normalise(finished, weight[..., : final - top, :])
        if sink is not None:
            sink.write(top, finished[..., : w * scale])
            _shift_up(sums, final - top)
        del finished
        _shift_up(weight, final - top)
        top = final
    return sums[..., : h * scale, : w * scale] if sink is None else sink.stand_in()


def _normalise(sums: torch.Tensor, weight: torch.Tensor, chunk: int = 1 << 20) -> None:
    """``sums /= weight`` in place, a few rows at a time: the clamped weights of a whole band
    would be another 120 MB at 16000 pixels wide."""
    step = max(1, chunk // max(1, sums.shape[-1]))
    for top in range(0, sums.shape[-2], step):
        sums[..., top: top + step, :].div_(weight[..., top: top + step, :].clamp_min(1e-8))


def _shift_up(band: torch.Tensor, rows: int) -> None:
    """Drop the first ``rows`` rows of ``band``: the others move up, zeros come in below."""
    kept = band[..., rows:, :].clone()
    band.zero_()
    band[..., : kept.shape[-2], :] = kept
