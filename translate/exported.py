"""Files written by ``translate export``: their metadata, and running them like a checkpoint.

An exported file is self-describing. ONNX files keep the metadata in ``metadata_props``,
TorchScript files in the extra file ``translate.json``; both hold the same string pairs
(:data:`METADATA_KEYS`). :func:`load_exported` makes an object that ``translate apply`` uses
exactly as it uses a :class:`translate.model.Model`: ``require``, ``apply_tensor``, ``channels``
and ``plugin.name``. It runs the graph (onnxruntime on the CPU, or ``torch.jit.load``) through
the same tiling as the plugin's own apply, so outputs, alpha and colour handling are the same.

Inputs and outputs of the graphs (float32):
    image-to-image  ``images`` N×C×H×W in [-1, 1] → ``output`` N×C×(s·H)×(s·W) in [-1, 1]
    noise-to-image  ``z`` N×latent_dim (and, for class-conditional models, ``labels``: N int64
                    class indices, in the order of the ``classes`` entry) → ``output`` images
"""

from __future__ import annotations

import contextlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import UserError

EXPORT_FORMAT = "translate.export/1"
METADATA_FILE = "translate.json"  # the TorchScript extra file
FORMATS = {".onnx": "onnx", ".pt": "torchscript"}
IMAGE, NOISE = "image-to-image", "noise-to-image"
INSTALL_HINT = 'pip install "translate-gan[export]"'

# What the metadata records, in the order --info prints it.
METADATA_KEYS = (
    "format", "kind", "plugin", "plugin_version", "translate_version", "source", "step", "direction",
    "inputs", "outputs", "layout", "dtype", "input_range", "output_range", "channels", "channel_order",
    "scale", "multiple", "min_side", "padding", "dynamic_axes", "latent_dim", "classes", "output_shape",
    "opset",
)


def require_onnx() -> tuple[Any, Any]:
    """The optional packages ``onnx`` and ``onnxruntime``, or one line saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        missing = exc.name or "onnx/onnxruntime"
        raise UserError(f"ONNX export and inference need the optional package {missing}: "
                        f"{INSTALL_HINT}") from None
    return onnx, onnxruntime


@contextlib.contextmanager
def torch_deprecations_silenced():
    """torch ≥ 2.9 calls jit.trace/save/load and the TorchScript-based ONNX exporter deprecated
    on every use; translate uses them on purpose (translate.export says why)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def format_of(path: str | Path) -> str | None:
    """'onnx' or 'torchscript' from the file extension (None for anything else)."""
    return FORMATS.get(Path(path).suffix.lower())


def is_exported(path: str | Path) -> bool:
    """Whether ``translate apply`` should treat ``path`` as an exported model, not a checkpoint."""
    return format_of(path) is not None


# ---- metadata ---------------------------------------------------------------------------------

def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of an exported file, or one line saying why ``path`` is not one."""
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise UserError(f"{path}: not an exported model; translate export writes .onnx and .pt files")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    meta = _onnx_metadata(path) if fmt == "onnx" else _torchscript_metadata(path)
    if meta.get("format") != EXPORT_FORMAT:
        raise UserError(f"{path}: no '{EXPORT_FORMAT}' metadata, so it was not written by 'translate export'; "
                        "export the checkpoint with it, or pass the model.safetensors")
    return meta


def _onnx_metadata(path: Path) -> dict[str, str]:
    onnx, _ = require_onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is at fault
        raise UserError(f"{path}: not an ONNX model ({type(exc).__name__}); export it again") from None
    return {p.key: p.value for p in model.metadata_props}


def _torchscript_metadata(path: Path) -> dict[str, str]:
    # Read from the archive itself: loading the module would run its code just to print metadata.
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            return json.loads(archive.read(names[0])) if names else {}
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError):
        raise UserError(f"{path}: not a TorchScript archive written by 'translate export'") from None


def describe(meta: dict[str, str]) -> list[str]:
    """``key  value`` lines for ``translate export --info``, known keys first."""
    keys = [k for k in METADATA_KEYS if k in meta] + sorted(k for k in meta if k not in METADATA_KEYS)
    width = max(map(len, keys), default=0)
    return [f"{k:<{width}}  {meta[k]}" for k in keys]


def same_direction(a: str, b: str) -> bool:
    """a2b == AtoB == a_to_b, and so on (CycleGAN and pix2pix spell directions differently)."""
    def norm(value: str) -> str:
        return value.lower().replace("_", "").replace("-", "").replace("to", "2")

    return norm(a) == norm(b)


# ---- running ----------------------------------------------------------------------------------

class OnnxRunner:
    """An ONNX file in onnxruntime on the CPU, called with tensors like a module."""

    def __init__(self, path: Path):
        _, ort = require_onnx()
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # share the cores as torch does
        options.log_severity_level = 3  # errors only: its warnings are about graph fusions
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UserError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feed = {name: x.detach().cpu().contiguous().numpy() for name, x in zip(self.names, inputs)}
        return torch.from_numpy(self.session.run(None, feed)[0])


class TorchScriptRunner:
    """A TorchScript file from ``torch.jit.load``, on the CPU, without autograd."""

    def __init__(self, path: Path):
        try:
            with torch_deprecations_silenced():
                self.module = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as exc:
            raise UserError(f"{path}: torch.jit.load cannot load it ({str(exc).splitlines()[0]})") from None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(*inputs).float()


def open_runner(path: str | Path) -> Callable[..., torch.Tensor]:
    path = Path(path)
    return OnnxRunner(path) if format_of(path) == "onnx" else TorchScriptRunner(path)


class ExportedPlugin:
    """Stands in for the plugin of an exported file: its name and version, and an ``apply``
    whose keyword parameters are the options ``translate apply`` takes for it."""

    def __init__(self, meta: dict[str, str]):
        self.name, self.version, self.meta = meta.get("plugin", "?"), meta.get("plugin_version", "?"), meta

    def can(self, hook: str) -> bool:
        return hook == "apply" and self.meta.get("kind") == IMAGE

    def apply(self, run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, tile: int = 512,
              overlap: int = 32, direction: str = "") -> torch.Tensor:
        """Tiles as the plugin's apply does: images padded to the network's multiple (reflect or
        replicate, as the graph would) and tiles of a multiple of it, so a large image is split
        into the same tiles; images that fit in a tile go through whole. ``direction`` is here for
        its type (``--set direction=...``); ExportedModel checks it against the recorded one."""
        from .tiling import tiled

        if tile < 1 or overlap < 0:
            raise UserError("--tile must be at least 1 and --overlap at least 0")
        meta = self.meta
        return tiled(run, images, tile=max(tile, int(meta["min_side"])), overlap=overlap,
                     multiple=int(meta["multiple"]), scale=int(meta["scale"]))


class ExportedModel:
    """An exported file with the interface ``translate apply`` uses from a Model."""

    def __init__(self, path: Path, meta: dict[str, str], run: Callable[..., torch.Tensor]):
        self.path, self.meta, self.run = path, meta, run
        self.plugin = ExportedPlugin(meta)

    @property
    def channels(self) -> int:
        return int(self.meta.get("channels", 3))

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))

    def __repr__(self) -> str:
        return f"<translate exported {self.meta.get('kind')} model of plugin {self.plugin.name} from {self.path}>"

    def require(self, hook: str) -> None:
        if self.plugin.can(hook):
            return
        if self.meta.get("kind") == NOISE:
            raise UserError(f"{self.path}: an exported noise-to-image generator (inputs {self.meta.get('inputs')}), "
                            "not an image translator; run it with onnxruntime or torch.jit.load")
        raise UserError(f"{self.path}: exported models can only be applied to images; for '{hook}' pass the "
                        "checkpoint (model.safetensors)")

    def apply_tensor(self, images: torch.Tensor, **options: Any) -> torch.Tensor:
        """N×C×H×W in [-1, 1] through the exported graph, tiled; float32 on the CPU out."""
        self.require("apply")
        options = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(options) - {"tile", "overlap", "direction"})
        if unknown:
            raise UserError(f"{self.path}: an exported model takes --tile, --overlap and --direction, not "
                            f"{', '.join('--' + k.replace('_', '-') for k in unknown)}")
        direction, recorded = options.pop("direction", ""), self.meta.get("direction", "none")
        if direction and recorded == "none":
            raise UserError(f"{self.path}: this model has one direction only; leave out --direction")
        if direction and not same_direction(direction, recorded):
            raise UserError(f"{self.path} translates {recorded}; export the checkpoint again with --direction "
                            f"{direction}")
        return self.plugin.apply(self.run, images.float().cpu(), **options)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The graph itself on whole inputs (images, or z and labels), without tiling."""
        return self.run(*inputs)


def load_exported(path: str | Path) -> ExportedModel:
    """An exported .onnx or .pt file, ready for ``translate apply``."""
    path = Path(path)
    meta = read_metadata(path)
    return ExportedModel(path, meta, open_runner(path))
