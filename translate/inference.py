"""Apply and sample with a checkpoint from the command line: files around :class:`translate.model.Model`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.images import quantise8, read_image, sixteen_bits, to_array, to_pixels, to_tensor, write_image
from .errors import UserError
from .exported import is_exported, load_exported
from .loading import load_model
from .plugin import parse_options


def open_model(checkpoint, device: str = "auto", use_ema: bool = True, precision: str = "auto",
               trust_code: bool = False):
    """What ``translate apply`` runs: a checkpoint, its run folder or a released model's name, or a
    file from translate export. A model opened already comes back as it is, so the demo page
    loads once and then applies through :func:`apply_files` like the command."""
    from .exported import ExportedModel
    from .model import Model

    if isinstance(checkpoint, (Model, ExportedModel)):
        return checkpoint
    return (load_exported(checkpoint, trust_code) if is_exported(checkpoint)
            else load_model(checkpoint, device, use_ema, precision))


def apply_files(checkpoint, jobs: list[tuple[Path, Path]], direction: str | None = None, tile: int | None = None,
                overlap: int | None = None, batch_size: int = 8, use_ema: bool = True, device: str = "auto",
                precision: str = "auto", extra: tuple[str, ...] = (), grid: bool = False,
                progress: bool = True, trust_code: bool = False, tta: bool = False,
                frames: slice | None = None, crf: int | None = None, overwrite: bool = True,
                backend: str = "torch") -> int:
    """Translate each (input, output) file pair; images of equal size are batched together.
    Videos and GIFs (translate.video) stream through in batches of ``batch_size`` frames; ``frames``
    picks a piece of each, ``crf`` sets the video encoder's quality.
    Options left at None take the core's defaults where the plugin's apply declares them.
    ``grid``: write input|output side by side instead of the output alone. ``progress``: a bar
    over files (and the tiles of a large one) on a terminal, plain lines after 30 s elsewhere.
    ``trust_code``: run a TorchScript ``checkpoint`` (a program); refused without it.
    ``tta``: average over the flips and rotations the plugin declares (translate.tta).
    ``backend``: "onnxruntime" exports the model to ONNX first (translate export's code, parity
    check included) and runs that on the CPU, which measured faster than PyTorch on CPUs.
    ``overwrite=False``: an output another process wrote meanwhile is kept (one-line error)."""
    from .progress import ItemProgress
    from .tiling import on_tiles
    from .video import is_clip, translate_clip

    if backend not in BACKENDS:
        raise UserError(f"--backend {backend}: choose {' or '.join(BACKENDS)}")
    model = open_model(checkpoint, device, use_ema, precision, trust_code) if backend == "torch" \
        else onnxruntime_model(checkpoint, direction, device, use_ema, precision, trust_code)
    model.require("apply")  # before reading any file
    model.tta_mode(tta)  # a model without test-time augmentation is refused before any file too
    options = {"tile": tile, "overlap": overlap, "direction": direction, "tta": tta,
               **parse_options(model.plugin, "apply", extra)}
    pending: list[tuple[Path, object]] = []

    def flush() -> None:
        if not pending:
            return
        x = torch.cat([to_tensor(img.pixels) for _, img in pending])
        for _, img in pending:
            img.pixels = None  # x holds them now (a 4000×3000 photo: 144 MB each)
        # files of 8 bits are made 8 bits a band of rows at a time as the tiles finish (a
        # 16000×12000 output: 0.6 GB, where its float32 is 2.3 GB); 16-bit ones and grids need floats
        eight_bits = not grid and not any(sixteen_bits((1, 1), img.bits, Path(dst).suffix, img.alpha)
                                          for dst, img in pending)
        if eight_bits and hasattr(model, "runtime"):
            x = model.runtime.tensor(x)  # its device and layout now, not a second copy during the tiles
        with on_tiles(lambda done, total: bar.note(f"tile {done}/{total} of {pending[0][0].name}")):
            outputs = apply_in_8_bits(model, x, options) if eight_bits else None
            if outputs is None:
                outputs = list(model.apply_tensor(x, **options))  # a view per image, freed one by one
        for i, ((dst, img), inp) in enumerate(zip(pending, x)):
            out, outputs[i] = outputs[i], None
            if grid:
                write_image(dst, side_by_side(inp, out), None, img.bits, replace=overwrite)
                continue
            # the float output is dropped before the file is encoded
            pixels = out if isinstance(out, np.ndarray) else to_pixels(out, img.bits, Path(dst).suffix, img.alpha)
            del out
            write_image(dst, pixels, img.alpha, img.bits, replace=overwrite)
        bar.advance(len(pending))
        pending.clear()

    def through_model(frames_pixels: list) -> list:
        x = torch.cat([to_tensor(pixels) for pixels in frames_pixels])
        y = model.apply_tensor(x, **options)
        return [side_by_side(inp, out) if grid else to_array(out) for inp, out in zip(x, y)]

    bar = ItemProgress(len(jobs), enabled=progress)
    try:
        for src, dst in jobs:
            if is_clip(src):  # a video or GIF: its frames stream through the same model and options
                flush()
                translate_clip(src, dst, through_model, model.channels, batch_size, frames, crf, progress)
                bar.advance()
                continue
            img = read_image(src, model.channels)
            if pending and (pending[0][1].pixels.shape != img.pixels.shape or len(pending) >= batch_size):
                flush()
            pending.append((dst, img))
        flush()
    finally:
        bar.close()
    return len(jobs)


BACKENDS = ("torch", "onnxruntime")


def apply_in_8_bits(model, x: torch.Tensor, options: dict) -> list[np.ndarray | torch.Tensor] | None:
    """``model.apply_tensor(x, **options)`` as 8-bit H×W×C arrays, one per image, rounded as
    :func:`translate.data.images.to_pixels` rounds: the tiler quantises each band of output rows
    as soon as no later tile reaches it, so no whole-image float output exists. A plugin whose
    apply does not tile gives its float images (C×H×W) as they are; None where it does more with
    the tiled image than crop or clamp it (the caller then runs the float path)."""
    from .tiling import NotStreamable, PixelSink, StreamedImage, rows_into, streamed_pixels

    try:
        with rows_into(PixelSink(lambda rows: quantise8(to_array(rows)))):
            y = model.apply_tensor(x, **options)
        if not isinstance(y, StreamedImage):
            return list(y)
        return list(streamed_pixels(y))
    except NotStreamable:
        return None


def onnxruntime_model(checkpoint, direction: str | None = None, device: str = "auto", use_ema: bool = True,
                      precision: str = "auto", trust_code: bool = False):
    """``checkpoint`` exported to ONNX and opened in onnxruntime (CPU, fp32): ``apply --backend
    onnxruntime``. An .onnx file is opened as it is; the export lives in a temporary folder only
    until the session has read it."""
    import tempfile

    from .export import export_model

    if device not in ("auto", "cpu") or precision not in ("auto", "fp32"):
        raise UserError(f"--backend onnxruntime runs on the CPU in fp32; drop --device {device} / --precision "
                        f"{precision}, or use --backend torch")
    if is_exported(checkpoint):
        if Path(checkpoint).suffix.lower() != ".onnx":
            raise UserError(f"--backend onnxruntime: {checkpoint} is a TorchScript file; give the checkpoint or "
                            "an .onnx file from translate export")
        return open_model(checkpoint, trust_code=trust_code)
    model = open_model(checkpoint, "cpu", use_ema, "fp32")
    with tempfile.TemporaryDirectory(prefix="translate-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_model(model, path, "onnx", {"direction": direction})
        return load_exported(path)


def side_by_side(inp: torch.Tensor, out: torch.Tensor) -> "np.ndarray":
    """Input | output as one H×2W×C array in [0, 1]; the input is scaled (nearest) to the
    output's size so a super-resolved output sits beside its input pixel for pixel."""
    import torch.nn.functional as F

    inp = inp.float()
    if inp.shape[0] != out.shape[0]:  # grayscale input beside a colour output, or the reverse
        channels = max(inp.shape[0], out.shape[0])
        inp, out = inp.expand(channels, -1, -1), out.float().expand(channels, -1, -1)
    if inp.shape[-2:] != out.shape[-2:]:
        inp = F.interpolate(inp[None], size=out.shape[-2:], mode="nearest")[0]
    return to_array(torch.cat([inp, out.float()], dim=-1))


def sample_to(checkpoint, count: int, out: str | Path, seed: int = 0, label: str | None = None,
              use_ema: bool = True, device: str = "auto", precision: str = "auto") -> Path:
    """Draw ``count`` samples and write them as the plugin writes samples (a grid, a folder, ...)."""
    if count < 1:
        raise UserError("-n must be at least 1")
    model = load_model(checkpoint, device, use_ema, precision)
    return model.write_samples(count, Path(out), seed, label=label)
