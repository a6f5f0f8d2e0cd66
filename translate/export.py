"""``translate export``: a checkpoint's network as an ONNX or TorchScript file, checked against
``translate apply``.

The plugin's ``export_module`` hook gives the module to export (usually its generator inside
:class:`translate.nn.padding.PadToMultiple`); the core does the rest, for every plugin alike:

1. trace it on an example input (``torch.jit.trace``, which both formats are made from: the
   TorchScript-based ONNX exporter, ``torch.onnx.export(..., dynamo=False)``, runs the same
   tracer), with batch, height and width as dynamic axes;
2. write it with its metadata (:data:`translate.exported.METADATA_KEYS`) to a temporary file;
3. parity check: run that file (onnxruntime, or ``torch.jit.load``) on a random input of another,
   odd size and batch than the trace's, so a size baked into the graph shows, and compare with
   the checkpoint through ``Model.apply_tensor`` with a tile that holds the whole image;
4. rename it into place only if the check passed (or was skipped with ``check=False``).

Tolerance: the largest absolute difference may be ``1e-4`` × max(1, largest |output|). Outputs
are images in [-1, 1], so this is 1e-4 absolute there: 1/40 of an 8-bit grey level, against fp32
round-off of 1e-7-1e-5 from a different convolution order (onnxruntime, TorchScript). fp32 error
is relative, so the bound grows with outputs that are not clamped (SRResNet's linear output).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from .version import __version__
from .errors import UserError
from .exported import (EXPORT_FORMAT, IMAGE, METADATA_FILE, NOISE, format_of, open_runner, require_onnx,
                       torch_deprecations_silenced)
from .fileio import atomic_path, check_writable
from .nn.padding import PadToMultiple
from .plugin import call_hook, filter_options, label, parse_options

DEFAULT_OPSET = 17  # Resize, InstanceNormalization and Gather as every current runtime runs them
OPSETS = range(11, 21)  # what the TorchScript-based exporter writes (11: dynamic Gather/Slice; ≤ 20)
TOLERANCE = 1e-4
TRACE_SIZE = (1, 40, 56)  # N, H, W of the example input the graph is traced with
CHECK_SIZE = (2, 37, 45)  # odd sides and another batch than the trace's
NOISE_BATCH = (2, 3)  # batch of the trace and of the check for noise-to-image models
WHOLE = 1 << 16  # a tile that holds any checked image: the reference is one whole-image pass
SEED = 0


@dataclass
class ExportSpec:
    """What is traced: the module, example inputs, the graph's names and axes, the metadata, and
    the options that the reference ``apply`` takes."""

    module: nn.Module
    kind: str
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    meta: dict[str, str]
    apply_options: dict[str, Any] = field(default_factory=dict)  # with a whole-image tile where apply tiles
    tracer_warnings: list[str] = field(default_factory=list)


@dataclass
class Exported:
    """What :func:`export_model` wrote and how it compared with apply (None: not checked)."""

    path: Path
    format: str
    meta: dict[str, str]
    max_diff: float | None
    tolerance: float
    checked_shape: tuple[int, ...] = ()

    def summary(self) -> str:
        kind = "ONNX opset " + self.meta["opset"] if self.format == "onnx" else "TorchScript"
        size = self.path.stat().st_size / 1e6
        m = self.meta
        if m["kind"] == IMAGE:
            s = "" if m["scale"] == "1" else m["scale"]
            what = (f"N×{m['channels']}×H×W → N×{m['channels']}×{s}H×{s}W, any H and W"
                    + (f" (padded to multiples of {m['multiple']} inside the graph)" if int(m["multiple"]) > 1 else ""))
            checked = "images " + "×".join(map(str, self.checked_shape))
        else:
            what = f"{m['inputs']} → {m['output_shape']}"
            checked = "z " + "×".join(map(str, self.checked_shape))
        check = ("not checked (--no-check)" if self.max_diff is None else
                 f"parity with PyTorch: max |diff| {self.max_diff:.2g} on {checked} (tolerance {self.tolerance:.0e})")
        return f"wrote {self.path} ({kind}, {size:.1f} MB): {m['plugin']} step {m['step']}, {what}; {check}"


def output_format(out: Path, fmt: str | None) -> str:
    """The format of ``-o out``: ``fmt`` if given (and not contradicted by a known extension),
    else from the extension."""
    from_suffix = format_of(out)
    if fmt is None:
        if from_suffix is None:
            raise UserError(f"-o {out}: name the file .onnx (ONNX) or .pt (TorchScript), or give --format")
        return from_suffix
    if fmt not in ("onnx", "torchscript"):
        raise UserError(f"--format {fmt}: choose onnx or torchscript")
    if from_suffix not in (None, fmt):
        raise UserError(f"-o {out} with --format {fmt}: name the file {'.onnx' if fmt == 'onnx' else '.pt'}")
    return fmt


# ---- what to export ---------------------------------------------------------------------------

def export_spec(model, options: dict[str, Any] | None = None) -> ExportSpec:
    """The plugin's export module for ``model`` (a :class:`translate.model.Model`), its example
    inputs and its metadata; one line if the plugin cannot or will not be exported."""
    plugin, config = model.plugin, model.config
    if not plugin.can("export_module"):
        raise UserError(f"{label(plugin)} does not implement export_module(), so its models cannot be exported; "
                        "its author can add the hook (docs/plugins.md)")
    options = filter_options(plugin, "export_module", {}, {k: v for k, v in (options or {}).items() if v is not None})
    module = call_hook(plugin, "export_module", model.modules, config, **options)
    if module is None:
        raise UserError(f"{label(plugin)} opts out of export (its export_module returned None)")
    module.eval()  # dropout off and batch-norm running statistics, as apply runs
    if plugin.can("apply"):
        return _image_spec(model, module, options)
    if plugin.latent_dim(config) > 0:
        return _noise_spec(model, module, options)
    raise UserError(f"{label(plugin)} neither translates images (apply) nor has a latent space; nothing to export")


def _common_meta(model, kind: str, options: dict[str, Any]) -> dict[str, str]:
    plugin = model.plugin
    return {
        "format": EXPORT_FORMAT, "kind": kind, "plugin": plugin.name, "plugin_version": plugin.version,
        "translate_version": __version__, "source": str(model.path or ""),
        "step": str(model.step), "direction": _direction(plugin, model.config, options) or "none",
        "layout": "NCHW", "dtype": "float32", "input_range": "-1,1", "output_range": "-1,1",
    }


def _direction(plugin, config, options: dict[str, Any]) -> str:
    """The direction the export translates: the option given, the hook's default, or the config's."""
    if options.get("direction"):
        return str(options["direction"])
    param = inspect.signature(plugin.export_module).parameters.get("direction")
    if param is not None and isinstance(param.default, str):
        return param.default
    return str(getattr(config, "direction", "") or "")


def _image_spec(model, module: nn.Module, options: dict[str, Any]) -> ExportSpec:
    from .tiling import pad_to_multiple

    c = model.channels
    x = torch.rand(TRACE_SIZE[0], c, *TRACE_SIZE[1:], generator=torch.Generator().manual_seed(SEED)) * 2 - 1
    multiple = int(getattr(module, "multiple", 1))
    padded = isinstance(module, PadToMultiple)
    if multiple > 1 and not padded:  # a graph that needs multiples is traced on one
        x = pad_to_multiple(x, multiple)[0]
    n, _, h, w = x.shape
    with torch.no_grad():
        y = module(x)
    if y.dim() != 4 or y.shape[-1] % w or y.shape[-2] % h or y.shape[-1] // w != y.shape[-2] // h:
        raise UserError(f"{label(model.plugin)}: export_module's module gave {tuple(y.shape)} for a {n}×{c}×{h}×{w} "
                        "input; it must return N×C×(s·H)×(s·W)")
    meta = _common_meta(model, IMAGE, options) | {
        "inputs": "images", "outputs": "output", "channels": str(c), "channel_order": "RGB" if c == 3 else "gray",
        "scale": str(y.shape[-1] // w), "multiple": str(multiple),
        "min_side": str(int(getattr(module, "min_side", 1))),
        # inside: the graph takes any H and W; caller: sides must be multiples of `multiple`.
        "padding": "inside" if padded or multiple == 1 else "caller",
        "dynamic_axes": "N,H,W",
        "tta": model.plugin.tta or "none",  # what --tta may run on the file: the plugin's declaration
    }
    accepted = model.plugin.accepted_options("apply")
    apply_options = {k: v for k, v in {"tile": WHOLE, **options}.items() if accepted is None or k in accepted}
    axes = {"images": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H_out", 3: "W_out"}}
    return ExportSpec(module, IMAGE, (x,), ["images"], axes, meta, apply_options)


def _noise_spec(model, module: nn.Module, options: dict[str, Any]) -> ExportSpec:
    plugin, config = model.plugin, model.config
    inputs = _noise_inputs(plugin.latent_dim(config), len(plugin.class_names(config)), NOISE_BATCH[0])
    with torch.no_grad():
        y = module(*inputs)
    names = ["z", "labels"][: len(inputs)]
    meta = _common_meta(model, NOISE, options) | {
        "inputs": ",".join(names), "outputs": "output", "input_range": "z ~ N(0, 1)",
        "latent_dim": str(plugin.latent_dim(config)),
        "classes": json.dumps(list(plugin.class_names(config))),
        "output_shape": "×".join(["N", *map(str, y.shape[1:])]), "dynamic_axes": "N",
    }
    if y.dim() == 4:
        meta |= {"channels": str(y.shape[1]), "channel_order": "RGB" if y.shape[1] == 3 else "gray"}
    axes = {name: {0: "N"} for name in [*names, "output"]}
    return ExportSpec(module, NOISE, inputs, names, axes, meta)


def _noise_inputs(latent_dim: int, classes: int, n: int) -> tuple[torch.Tensor, ...]:
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(SEED))
    return (z, torch.arange(n) % classes) if classes else (z,)


# ---- writing ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _tracing(spec: ExportSpec) -> Iterator[None]:
    """Keep the tracer's warnings (a size turned into a constant, say) for a failed check's
    message instead of printing them, and silence torch's notices that jit.trace and the
    TorchScript-based ONNX exporter are deprecated: they are chosen on purpose (module docstring)."""
    with torch_deprecations_silenced(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        yield
    for w in caught:
        if issubclass(w.category, torch.jit.TracerWarning):
            spec.tracer_warnings.append(str(w.message).splitlines()[0])
        else:  # anything else the plugin's module says is the user's to see
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def write_torchscript(spec: ExportSpec, path: Path) -> None:
    with _tracing(spec), torch.no_grad():
        traced = torch.jit.trace(spec.module, spec.inputs, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(spec.meta, indent=1)})


def write_onnx(spec: ExportSpec, path: Path, opset: int) -> None:
    onnx, _ = require_onnx()
    buffer = io.BytesIO()
    # torch ≥ 2.5 defaults to the torch.export-based exporter; older ones only have this one.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with _tracing(spec), torch.no_grad():
        # The exporter's own notes (constant folding skipped for dynamic slices, instance norm
        # exported with input statistics, which is what it computes) are not the user's concern.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(spec.module, spec.inputs, buffer, input_names=spec.input_names, output_names=["output"],
                          dynamic_axes=spec.dynamic_axes, opset_version=opset, do_constant_folding=True, **legacy)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, spec.meta)
    onnx.save(proto, str(path))


# ---- the parity check -------------------------------------------------------------------------

def reference_and_input(model, spec: ExportSpec) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """A random input of the check size, and what the PyTorch model makes of it: ``apply`` with
    one whole-image tile, or ``generate`` (the export module itself if the plugin has none)."""
    rng = torch.Generator().manual_seed(SEED + 1)
    if spec.kind == IMAGE:
        n, h, w = CHECK_SIZE
        x = torch.rand(n, model.channels, h, w, generator=rng) * 2 - 1
        return (x,), model.apply_tensor(x, **spec.apply_options)
    plugin = model.plugin
    inputs = _noise_inputs(plugin.latent_dim(model.config), len(plugin.class_names(model.config)), NOISE_BATCH[1])
    with torch.no_grad():
        if plugin.can("generate"):
            ref = call_hook(plugin, "generate", model.modules, model.config, *inputs)
        else:
            ref = spec.module(*inputs)
    return inputs, ref.float().cpu()


def check_file(model, spec: ExportSpec, path: Path, shown: Path) -> tuple[float, float, tuple[int, ...]]:
    """Max |exported - PyTorch| on a fresh input, the tolerance, and the input's shape; raises a
    UserError naming ``shown`` (the destination) when the difference exceeds the tolerance."""
    from .tiling import run_padded

    inputs, ref = reference_and_input(model, spec)
    run = open_runner(path, trust_code=True)  # the program translate has just written itself
    if spec.meta.get("padding") == "caller":  # the graph needs multiples: pad as apply pads
        out = run_padded(run, inputs[0], int(spec.meta["multiple"]), int(spec.meta["scale"]))
    else:
        out = run(*inputs)
    shape = tuple(inputs[0].shape)
    if tuple(out.shape) != tuple(ref.shape):
        raise UserError(f"{shown}: parity check failed: the exported model gave {tuple(out.shape)} for a "
                        f"{'×'.join(map(str, shape))} input where PyTorch gives {tuple(ref.shape)}; nothing written"
                        + _hint(spec))
    diff = float((out.float() - ref).abs().max())
    tolerance = TOLERANCE * max(1.0, float(ref.abs().max()))
    if not diff <= tolerance:  # also catches NaN
        raise UserError(f"{shown}: parity check failed: max |exported - PyTorch| = {diff:.3g} on a "
                        f"{'×'.join(map(str, shape))} input (tolerance {tolerance:.1g}); nothing written "
                        "(--no-check writes it anyway)" + _hint(spec))
    return diff, tolerance, shape


def _hint(spec: ExportSpec) -> str:
    return f" [the tracer warned: {spec.tracer_warnings[0]}]" if spec.tracer_warnings else ""


# ---- the whole path ---------------------------------------------------------------------------

def export_model(model, out: str | Path, fmt: str | None = None, options: dict[str, Any] | None = None,
                 opset: int = DEFAULT_OPSET, check: bool = True) -> Exported:
    """Write ``model``'s export module to ``out`` (.onnx or .pt, or ``fmt``), checked against
    apply unless ``check`` is False; a failed check leaves nothing at ``out``."""
    out = Path(out)
    fmt = output_format(out, fmt)
    if model.device.type != "cpu" or model.runtime.precision != "fp32":
        raise UserError(f"export traces on the CPU in fp32, and this model is on {model.device} in "
                        f"{model.runtime.precision}: load it with device='cpu', precision='fp32'")
    if fmt == "onnx":
        require_onnx()
        if opset not in OPSETS:
            raise UserError(f"--opset {opset}: choose {OPSETS.start}..{OPSETS.stop - 1} (default {DEFAULT_OPSET})")
    spec = export_spec(model, options)
    if fmt == "onnx":
        spec.meta["opset"] = str(opset)
    diff, tolerance, shape = None, TOLERANCE, ()
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            write_onnx(spec, tmp, opset)
        else:
            write_torchscript(spec, tmp)
        if check:
            diff, tolerance, shape = check_file(model, spec, tmp, out)
    return Exported(out, fmt, spec.meta, diff, tolerance, shape)


def export_checkpoint(checkpoint: str | Path, out: str | Path, fmt: str | None = None, direction: str | None = None,
                      extra: tuple[str, ...] = (), opset: int = DEFAULT_OPSET, check: bool = True,
                      use_ema: bool = True) -> Exported:
    """``translate export``: load a checkpoint on the CPU in fp32 and export it. ``extra`` are
    ``NAME=VALUE`` options of the plugin's export_module hook (``--set``)."""
    from .loading import load_model

    fmt = output_format(Path(out), fmt)  # before the (slow) load: a bad -o is one line at once
    check_writable(out, "-o")
    model = load_model(checkpoint, "cpu", use_ema, "fp32")
    options = {"direction": direction, **parse_options(model.plugin, "export_module", extra)}
    return export_model(model, out, fmt, options, opset, check)
