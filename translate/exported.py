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
import functools
import json
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import UserError
from .limits import MAX_METADATA_BYTES, read_bounded, too_large

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
    "opset", "tta",
)
# Numbers that size what apply allocates (padding, tiles, the output), with the range a real export
# has: a file that says multiple=10^6 would pad every image to a million pixels a side.
BOUNDED_NUMBERS = {"scale": (1, 8), "multiple": (1, 1024), "min_side": (1, 1024)}
CHANNELS = ("1", "3")  # what apply reads images as: gray or RGB
NEEDED_FOR_IMAGES = ("channels", "scale", "multiple", "min_side")
TRUST_HINT = ("a TorchScript file is a program, and translate runs one only when told to: pass --trust-code "
              "(Python: trust_code=True) if you trust where it came from, or use the .onnx export, which is data")


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

def read_metadata(path: str | Path, trust_code: bool = False) -> dict[str, str]:
    """The metadata of an exported file, checked, or one line saying why ``path`` is not one. A
    TorchScript file is refused unless ``trust_code``: translate's policy is that a program is
    opened only on the user's word (docs/security.md)."""
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise UserError(f"{path}: not an exported model; translate export writes .onnx and .pt files")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if fmt == "torchscript" and not trust_code:
        raise UserError(f"{path}: {TRUST_HINT}")
    return checked_metadata(_onnx_metadata(path) if fmt == "onnx" else _torchscript_metadata(path), path)


def checked_metadata(meta: object, path: Path) -> dict[str, str]:
    """``meta`` if it is what 'translate export' writes: a table of strings with the format
    marker, and for an image translator the numbers apply sizes its work by, each in range."""
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        kind = type(meta).__name__ if not isinstance(meta, dict) else "table with values that are not text"
        raise UserError(f"{path}: its metadata is a {kind}, not the names and texts 'translate export' writes; "
                        "export the checkpoint again")
    if meta.get("format") != EXPORT_FORMAT:
        raise UserError(f"{path}: no '{EXPORT_FORMAT}' metadata, so it was not written by 'translate export'; "
                        "export the checkpoint with it, or pass the model.safetensors")
    needed = NEEDED_FOR_IMAGES if meta.get("kind") == IMAGE else ()
    for key in needed:
        if key not in meta:
            raise UserError(f"{path}: its metadata lacks '{key}', which an image model needs; it was edited or "
                            "written by another tool: export the checkpoint again")
    if meta.get("channels", "3") not in CHANNELS:
        raise UserError(f"{path}: its metadata says channels = {meta['channels'][:20]!r}, not 1 or 3; it was edited "
                        "or written by another tool: export the checkpoint again")
    for key, (low, high) in BOUNDED_NUMBERS.items():
        if key in meta:
            _bounded_int(meta[key], key, low, high, path)
    if "step" in meta:
        _bounded_int(meta["step"], "step", 0, 2**63 - 1, path)
    return meta


def _bounded_int(text: str, key: str, low: int, high: int, path: Path) -> int:
    value = int(text) if text.strip().isdigit() and len(text) < 20 else None
    if value is None or not low <= value <= high:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise UserError(f"{path}: its metadata says {key} = {shown!r}, not a whole number from {low} to {high}; "
                        "it was edited or written by another tool: export the checkpoint again")
    return value


# Operator sets that onnxruntime implements itself; any other domain names code that has to be
# registered from a shared library, which is a program, not data.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "com.microsoft"})


def _onnx_metadata(path: Path) -> dict[str, str]:
    onnx, _ = require_onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is at fault
        raise UserError(f"{path}: not an ONNX model ({type(exc).__name__}); export it again") from None
    _check_onnx_is_data(model, path)
    if sum(len(p.key) + len(p.value) for p in model.metadata_props) > MAX_METADATA_BYTES:
        raise UserError(f"{path}: its metadata is over translate's limit of {MAX_METADATA_BYTES:,} bytes; the file "
                        "is damaged or was made to exhaust memory")
    return {p.key: p.value for p in model.metadata_props}


def _check_onnx_is_data(model: Any, path: Path) -> None:
    """Refuse what would make onnxruntime reach outside the file: operators of a custom domain
    (native code from a library) and weights stored in other files (which name arbitrary paths)."""
    custom = sorted({o.domain for o in model.opset_import if o.domain not in STANDARD_DOMAINS}
                    | {n.domain for n in _onnx_nodes(model.graph) if n.domain not in STANDARD_DOMAINS})
    if custom:
        raise UserError(f"{path}: uses operators of the custom domain '{custom[0]}', which need code from outside "
                        "the file; translate runs ONNX files with the standard operators only (export it again)")
    external = next((t.name for t in _onnx_initializers(model.graph) if t.data_location == 1), None)
    if external is not None:  # onnx.TensorProto.EXTERNAL
        raise UserError(f"{path}: tensor '{external[:80]}' is stored in another file; translate runs ONNX files that "
                        "hold all their weights (export it again)")


def _onnx_graphs(graph: Any, depth: int = 0) -> Any:
    """A graph and the subgraphs of its If/Loop/Scan nodes (to a sane depth)."""
    yield graph
    if depth > 16:
        return
    for node in graph.node:
        for attribute in node.attribute:
            for sub in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                yield from _onnx_graphs(sub, depth + 1)


def _onnx_nodes(graph: Any) -> Any:
    return (node for g in _onnx_graphs(graph) for node in g.node)


def _onnx_initializers(graph: Any) -> Any:
    return (tensor for g in _onnx_graphs(graph) for tensor in g.initializer)


def _torchscript_metadata(path: Path) -> object:
    # Read from the archive itself: loading the module would run its code just to print metadata.
    # The member is read through the size limit: its compressed form may inflate a thousandfold.
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not names:
                return {}
            member = archive.getinfo(names[0])
            if member.file_size > MAX_METADATA_BYTES:
                raise too_large(path, member.file_size, METADATA_FILE)
            with archive.open(member) as stream:
                raw = read_bounded(stream, path, METADATA_FILE)
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: its {METADATA_FILE} is not UTF-8 text; export the checkpoint again") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError, RecursionError, OSError, EOFError,
            zlib.error, NotImplementedError, RuntimeError, ValueError):
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
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
    """A TorchScript file from ``torch.jit.load``, on the CPU, without autograd. Loading and
    calling it runs the program inside (which may do anything Python's torch can: read, write and
    map files), so it is built only with ``trust_code``."""

    def __init__(self, path: Path, trust_code: bool = False):
        if not trust_code:
            raise UserError(f"{path}: {TRUST_HINT}")
        try:
            with torch_deprecations_silenced():
                self.module = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as exc:
            raise UserError(f"{path}: torch.jit.load cannot load it ({str(exc).splitlines()[0]})") from None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(*inputs).float()


def open_runner(path: str | Path, trust_code: bool = False) -> Callable[..., torch.Tensor]:
    path = Path(path)
    return OnnxRunner(path) if format_of(path) == "onnx" else TorchScriptRunner(path, trust_code)


class ExportedPlugin:
    """Stands in for the plugin of an exported file: its name and version, and an ``apply``
    whose keyword parameters are the options ``translate apply`` takes for it."""

    def __init__(self, meta: dict[str, str]):
        from .plugin import TTA_MODES

        self.name, self.version, self.meta = meta.get("plugin", "?"), meta.get("plugin_version", "?"), meta
        # the plugin's declaration, recorded at export; files from before it (or saying anything
        # else) get none, so --tta is refused on them rather than guessed
        self.tta = meta.get("tta") if meta.get("tta") in TTA_MODES else None

    def can(self, hook: str) -> bool:
        return hook == "apply" and self.meta.get("kind") == IMAGE

    def apply(self, run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, tile: int = 512,
              overlap: int = 32, direction: str = "", tta: str | None = None) -> torch.Tensor:
        """Tiles as the plugin's apply does: images padded to the network's multiple (reflect or
        replicate, as the graph would) and tiles of a multiple of it, so a large image is split
        into the same tiles; images that fit in a tile go through whole. ``direction`` is here for
        its type (``--set direction=...``); ExportedModel checks it against the recorded one.
        ``tta``: the transforms each tile is averaged over, as a checkpoint's modules are (translate.tta)."""
        from .tiling import tiled
        from .tta import ensemble

        if tile < 1 or overlap < 0:
            raise UserError("--tile must be at least 1 and --overlap at least 0")
        meta = self.meta
        if tta is not None:
            run = functools.partial(ensemble, run, mode=tta)
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

    def apply_tensor(self, images: torch.Tensor, tta: bool | str = False, **options: Any) -> torch.Tensor:
        """N×C×H×W in [-1, 1] through the exported graph, tiled; float32 on the CPU out. ``tta`` as
        for :meth:`translate.model.Model.apply_tensor`, from the plugin's declaration recorded at export."""
        self.require("apply")
        mode = self.tta_mode(tta)
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
        return self.plugin.apply(self.run, images.float().cpu(), tta=mode, **options)

    def tta_mode(self, tta: bool | str) -> str | None:
        """The transforms ``tta`` asks for (None when off), or one line when the file records none."""
        from .tta import mode_of

        if tta and self.plugin.tta is None:
            raise UserError(f"{self.path}: the file records no test-time augmentation (exported before --tta "
                            "existed, or its plugin declares none); export the checkpoint again, or leave out --tta")
        return mode_of(self.plugin, tta)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The graph itself on whole inputs (images, or z and labels), without tiling."""
        return self.run(*inputs)


def load_exported(path: str | Path, trust_code: bool = False) -> ExportedModel:
    """An exported .onnx or .pt file, ready for ``translate apply``. A .pt (TorchScript) file is a
    program: refused in one line unless ``trust_code``."""
    path = Path(path)
    meta = read_metadata(path, trust_code)
    return ExportedModel(path, meta, open_runner(path, trust_code))
