"""A trained model in Python: what :func:`translate.load` and :func:`translate.train` return.

    model = translate.load("runs/h2z")
    zebra = model(Image.open("horse.jpg"))          # PIL in → PIL out
    horse = model(zebra, direction="b2a")           # the plugin's apply options as keywords
    grid = translate.load("runs/gan").sample(16, seed=0)

Inputs may be PIL images, file paths, NumPy arrays (H×W or H×W×C; uint8, uint16 or float in
[0, 1]) or tensors (C×H×W or N×C×H×W in [-1, 1]); each comes back as the same kind. Images are
converted to the model's channels (RGB or grayscale) as ``translate apply`` does, and an alpha
channel is carried through.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .data.images import LoadedImage, decode_image, encode_image, read_image, to_array, to_tensor
from .errors import UserError
from .plugin import call_hook, filter_options
from .request import TrainRequest
from .runtime import Runtime, make_runtime

APPLY_DEFAULTS = {"tile": 512, "overlap": 32}
MIN_TILE = 16  # smaller tiles are all seam: no network here is useful on less context
FIRST_SAMPLE_BATCH = 16  # drawn first, to learn what one sample weighs
SAMPLE_BATCH_BYTES = 16 * 2**20  # output per generator call; its activations are some tens of times that
SAMPLE_MEMORY = 512 * 2**20  # bytes of float32 samples one call may hold (and grid or write after)


def sample_batch_size(first: torch.Tensor) -> int:
    """Samples per generator call after the first: up to 256, fewer for large samples, so the
    activations stay bounded whatever -n is."""
    each = max(1, first[0].numel() * first.element_size())
    return max(1, min(256, SAMPLE_BATCH_BYTES // each))


def check_seed(seed: Any) -> int:
    """A seed torch accepts (-2**63 ≤ seed < 2**64), or one line naming the range."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**64:
        raise UserError(f"--seed {seed!r}: give a whole number from -2**63 to 2**64 - 1")
    return seed


def check_sample_memory(n: int, samples: torch.Tensor) -> None:
    """One line before ``n`` samples are drawn when they would take more than SAMPLE_MEMORY."""
    each = samples[0].numel() * samples.element_size() if n else 0
    if n * each > SAMPLE_MEMORY:
        most = max(1, SAMPLE_MEMORY // max(each, 1))
        raise UserError(f"-n {n}: {n:,} samples of shape {tuple(samples.shape[1:])} take {n * each / 2**30:.1f} GiB, "
                        f"over the {SAMPLE_MEMORY // 2**20} MiB one command holds; draw at most {most:,} at a time "
                        "(another --seed for each further set)")


@dataclass
class Model:
    """The inference modules of a trained model (EMA weights when the run kept them), in eval
    mode, with the request that trained it."""

    request: TrainRequest
    step: int
    modules: dict[str, torch.nn.Module]
    path: Path | None = None
    runtime: Runtime = field(default_factory=lambda: Runtime(torch.device("cpu"), "fp32", False))

    # ---- what it is ---------------------------------------------------------------------------
    @property
    def plugin(self):
        return self.request.plugin

    @property
    def config(self) -> Any:
        return self.request.config

    @property
    def options(self) -> Any:
        return self.request.options

    @property
    def data(self) -> dict[str, str]:
        return self.request.data

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def channels(self) -> int:
        return int(getattr(self.config, "channels", 3))

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return (f"<translate.Model {self.plugin.name} step {self.step}{where}: {', '.join(self.modules)} "
                f"on {self.device} ({self.runtime.precision})>")

    def to(self, device: str | torch.device = "auto", precision: str = "auto") -> "Model":
        """Move to ``device`` (auto: CUDA when available) with ``precision`` (auto: bf16 where the
        hardware runs it fast, unless the plugin vetoes it); returns the model itself."""
        self.runtime = make_runtime(str(device), precision, self.plugin.channels_last,
                                    call_hook(self.plugin, "preferred_precision", self.config, self.options))
        self.modules = {name: self.runtime.module(m) for name, m in self.modules.items()}
        return self

    def require(self, hook: str) -> None:
        """One line when the plugin cannot ``apply`` or ``sample``, naming what it can do."""
        if self.plugin.can(hook):
            return
        if hook == "apply":
            raise UserError(f"plugin '{self.plugin.name}' does not translate images (no apply); "
                            + ("sample from it instead" if self.plugin.can("sample") else "see its documentation"))
        raise UserError(f"plugin '{self.plugin.name}' does not sample from noise (no {hook}); "
                        + ("translate images with it" if self.plugin.can("apply") else "see its documentation"))

    # ---- image to image ---------------------------------------------------------------------
    def tta_mode(self, tta: bool | str) -> str | None:
        """The transforms ``tta`` asks for (None when off), or one line when the plugin declares none."""
        from .tta import mode_of

        return mode_of(self.plugin, tta)

    def apply_tensor(self, images: torch.Tensor, tta: bool | str = False, **options: Any) -> torch.Tensor:
        """N×C×H×W in [-1, 1] through the plugin's ``apply``; float32 on the CPU out. Options are
        the hook's keyword parameters (``direction``, ``tile``, ...); others are refused. ``tta``:
        average over the flips and rotations the plugin declares (True), or name them
        ("flips", "dihedral"); 8 or 2 passes (:mod:`translate.tta`)."""
        from .tiling import default_tile
        from .tta import ensembled

        self.require("apply")
        modules = ensembled(self.plugin, self.modules, tta)
        options = {k: v for k, v in options.items() if v is not None}
        if options.get("tile", MIN_TILE) < MIN_TILE or options.get("overlap", 0) < 0:
            raise UserError(f"--tile must be at least {MIN_TILE} and --overlap at least 0 "
                            f"(got {options.get('tile')} and {options.get('overlap')})")
        chosen = default_tile() if options.get("tile") is None else contextlib.nullcontext()
        options = filter_options(self.plugin, "apply", APPLY_DEFAULTS, options)
        with torch.no_grad(), self.runtime.autocast(), chosen:
            out = call_hook(self.plugin, "apply", modules, self.config, self.runtime.tensor(images), **options)
        return out.float().cpu()

    def __call__(self, image: Any, **options: Any) -> Any:
        """Translate one image (or a list of them); the result is of the input's kind."""
        if isinstance(image, (list, tuple)):
            return [self(item, **options) for item in image]
        if isinstance(image, torch.Tensor):
            batch = image[None] if image.dim() == 3 else image
            if batch.dim() != 4:
                raise UserError(f"expected a C×H×W or N×C×H×W tensor in [-1, 1], got shape {tuple(image.shape)}")
            if batch.numel() == 0:
                raise UserError(f"the image tensor is empty (shape {tuple(image.shape)}): give at least 1×1 pixels")
            out = self.apply_tensor(batch.float(), **options)
            return out[0] if image.dim() == 3 else out
        loaded, kind = self._load_input(image)
        out = to_array(self.apply_tensor(to_tensor(loaded.pixels), **options)[0])
        return self._like_input(out, loaded, kind, image)

    apply = __call__

    def _load_input(self, image: Any) -> tuple[LoadedImage, str]:
        from PIL import Image

        if isinstance(image, (str, Path)):
            return read_image(image, self.channels), "pil"
        if isinstance(image, Image.Image):
            return decode_image(image, self.channels), "pil"
        if isinstance(image, np.ndarray):
            return _array_input(image, self.channels), "numpy"
        raise UserError(f"cannot translate a {type(image).__name__}: pass a PIL image, a path, a NumPy array "
                        "or a tensor")

    @staticmethod
    def _like_input(out: np.ndarray, loaded: LoadedImage, kind: str, original: Any) -> Any:
        if kind == "pil":
            return encode_image(out, loaded.alpha, loaded.bits)
        if original.dtype == np.uint8:
            out = (out * 255.0 + 0.5).astype(np.uint8)
        elif original.dtype == np.uint16:
            out = (out * 65535.0 + 0.5).astype(np.uint16)
        else:
            out = out.astype(original.dtype, copy=False)
        return out[..., 0] if original.ndim == 2 else out

    # ---- noise to image -----------------------------------------------------------------------
    def sample_tensor(self, n: int, seed: int = 0, **options: Any) -> torch.Tensor:
        """``n`` samples from the plugin's ``sample`` with noise seeded by ``seed`` (float32, CPU)."""
        batches = self._sample_batches(n, seed, **options)
        first = next(batches)
        check_sample_memory(n, first)  # what one sample weighs, checked before the whole is made
        out = first.new_empty((n, *first.shape[1:]))
        out[:len(first)] = first
        start = len(first)
        for batch in batches:
            out[start:start + len(batch)] = batch
            start += len(batch)
        return out

    def _sample_batches(self, n: int, seed: int = 0, **options: Any) -> Iterator[torch.Tensor]:
        """The ``n`` samples in batches from one seeded noise stream: a small first batch, then as
        many as SAMPLE_BATCH_BYTES of output allows (the same split for the same model and ``n``,
        so a seed gives the same samples in a grid, a folder or a list)."""
        self.require("sample")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"-n {n!r}: give a whole number of samples, at least 1")
        options = filter_options(self.plugin, "sample", {}, {k: v for k, v in options.items() if v is not None})
        generator = torch.Generator().manual_seed(check_seed(seed))
        start, size = 0, min(n, FIRST_SAMPLE_BATCH)
        while start < n:
            with torch.no_grad(), self.runtime.autocast():
                batch = call_hook(self.plugin, "sample", self.modules, self.config, size, generator,
                                  **options).float().cpu()
            if start == 0:
                size = sample_batch_size(batch)
            start += len(batch)
            size = min(size, n - start)
            yield batch

    def sample(self, n: int = 16, seed: int = 0, grid: bool = True, **options: Any) -> Any:
        """``n`` samples as one PIL grid (``grid=True``) or a list of PIL images; models of
        other data (e.g. 2-D points) return a NumPy array. Options: the hook's, e.g. ``label``."""
        samples = self.sample_tensor(n, seed, **options)
        if samples.dim() != 4:
            return samples.numpy()
        if grid:
            return encode_image(to_array(_grid(samples)))
        return [encode_image(to_array(img)) for img in samples]

    def write_samples(self, n: int, path: str | Path, seed: int = 0, **options: Any) -> Path:
        """Draw ``n`` samples and write them as the plugin writes its samples (a grid, a folder, ...).
        Images into a folder stream batch by batch when the plugin's ``write_samples`` takes
        ``start`` (the default does), so ``-n 50000`` for FID holds one batch at a time."""
        path = Path(path)
        if path.suffix or "start" not in (self.plugin.accepted_options("write_samples") or ()):
            return call_hook(self.plugin, "write_samples", self.sample_tensor(n, seed, **options), path)
        start = 0
        for batch in self._sample_batches(n, seed, **options):
            if batch.dim() != 4:  # not images (e.g. 2-D points): written whole
                return call_hook(self.plugin, "write_samples", self.sample_tensor(n, seed, **options), path)
            call_hook(self.plugin, "write_samples", batch, path, start=start)
            start += len(batch)
        return path


def _grid(samples: torch.Tensor) -> torch.Tensor:
    import math

    from torchvision.utils import make_grid

    nrow = max(1, int(math.ceil(math.sqrt(samples.shape[0]))))
    return make_grid(samples.clamp(-1, 1), nrow=nrow, padding=2, pad_value=1.0)


def _array_input(array: np.ndarray, channels: int) -> LoadedImage:
    """H×W or H×W×C (C = 1, 3 or 4) uint8, uint16 or float in [0, 1] → the model's channels."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise UserError(f"expected an H×W or H×W×C image array (C = 1, 3 or 4), got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise UserError(f"the image array is empty (shape {array.shape}): give at least 1×1 pixels")
    if array.dtype.kind not in "uif":
        raise UserError(f"image arrays must be uint8, uint16 or float in [0, 1] (got dtype {array.dtype})")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise UserError("the image array holds NaN or infinite values: give floats in [0, 1]")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(array.dtype, 1.0)
    pixels = array.astype(np.float32) / scale
    alpha = None
    if pixels.shape[2] == 4:
        pixels, alpha = pixels[..., :3], pixels[..., 3]
    if channels == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 1 and pixels.shape[2] == 3:
        pixels = (pixels @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return LoadedImage(np.clip(pixels, 0, 1), alpha, 16 if scale == 65535.0 else 8)
