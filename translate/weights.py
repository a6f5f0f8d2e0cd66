"""Weights released by other projects: read them without running their code, and match their
tensor names against the layout a converter expects.

``.pth`` / ``.pt`` files are pickles. A pickle can name any Python callable and have it called
while loading, so they are read only through ``torch.load(weights_only=True)``, whose unpickler
admits tensors, plain containers and numbers and refuses everything else before calling it.
``.safetensors`` files hold tensors only and are read with safetensors.

A pickle also says how each tensor lies in memory: a few bytes of storage can be declared as a
huge tensor by giving it zero or overlapping strides, and a converter would then build (and
``translate import`` write) a network of that size. So every tensor must own its values: no
repeated or overlapping elements, no two tensors over the same bytes, and all of them together at
most :data:`MAX_VALUES`. Memory is then bounded by the file's own size.

Released files wrap their state dict in a few common ways; :func:`read_torch_weights` unwraps
them and returns one flat ``name → tensor`` dict in the file's order. The converters of the
plugins (``translate_plugins.*.reference``) turn such a dict into a translate generator's state
dict with :func:`remap`, which names the first tensor that does not fit.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UserError

# Where trainers put the generator's state dict, most preferred first: BasicSR / Real-ESRGAN
# save {"params_ema": ..., "params": ...} and the EMA weights are the released ones; others use
# "state_dict", "model" or (CycleGAN-style trainers) "netG".
CONTAINERS = ("params_ema", "params", "state_dict", "model", "netG")
DATA_PARALLEL = "module."  # torch.nn.DataParallel prefixes every name with this
# 2^28 values (1 GiB in float32): 16 times Real-ESRGAN x4plus's 16.7 M parameters, far above any
# generator a plugin imports; a file declaring more was made to exhaust memory.
MAX_VALUES = 1 << 28


def read_torch_weights(path: str | Path, flag: str = "", what: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth``/``.pt`` (weights-only pickle) or ``.safetensors`` file, unwrapped
    from its container and with DataParallel's ``module.`` prefixes removed. Anything that is not
    such a file, including a pickle that would run code, is a one-line :class:`UserError`; ``flag``
    (the option that named the file) and ``what`` (what it should hold) go into the message."""
    path = Path(path)
    try:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        if path.suffix == ".safetensors":
            return checked_sizes(_flatten(_read_safetensors(path), path), path)
        return checked_sizes(_flatten(_unwrap(_load_pickle(path), path), path), path)
    except UserError as exc:
        if not (flag or what):
            raise
        raise UserError(" ".join(filter(None, [flag, str(exc)])) + (f"; pass {what}" if what else "")) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .limits import safetensors_header_problem

    problem = safetensors_header_problem(path)
    if problem:
        raise UserError(f"{path}: not a readable safetensors file ({problem})")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None


def _load_pickle(path: Path) -> Any:
    _check_archive(path)
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notices are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever the unpickler raises, the file is at fault
        raise UserError(f"{path}: not a weights file that can be read safely ({_why(exc)}); "
                        "translate reads only tensors from .pth files, never code") from None


def _check_archive(path: Path) -> None:
    """torch.save writes a zip whose tensor records are stored as they are; a compressed record
    (a rezipped file, or a bomb: 500 KB that inflate to gigabytes) is inflated whole by torch
    before it compares the size with the one the pickle declares. The pickle itself is metadata
    and gets the metadata limit."""
    import zipfile

    from .limits import MAX_METADATA_BYTES

    if not zipfile.is_zipfile(path):
        return  # the pre-1.6 format, or not a weights file: torch.load says which
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load says what is wrong
    for member in members:
        if member.filename.endswith("data.pkl") and member.file_size > MAX_METADATA_BYTES:
            raise UserError(f"{path}: its index of tensors (data.pkl) is {member.file_size:,} bytes, over translate's "
                            f"limit of {MAX_METADATA_BYTES:,} bytes for metadata; the file was made to exhaust memory")
        if "/data/" in member.filename and member.compress_type != zipfile.ZIP_STORED:
            raise UserError(f"{path}: its tensor data are compressed ({member.filename}), which torch.save never does; "
                            "the file was repacked or made to exhaust memory: save it again with torch.save")


def _why(exc: BaseException) -> str:
    """What is wrong with the file, in the file's terms. torch's own text is advice to its API's
    callers (load again with weights_only=False, which would run the file's code): never relayed."""
    text = str(exc)
    if "TorchScript" in text:
        return "a TorchScript archive: a program, not plain weights"
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:  # the pickle names a Python callable: calling it is how a pickle runs code
        return f"it names the Python object {named.group(1)}, so reading it would run code"
    if "central directory" in text or "unexpected EOF" in text or isinstance(exc, EOFError):
        return "truncated or corrupt"
    # torch's weights-only unpickler raises UnpicklingError; only its name is needed here, the
    # pickle module itself is never used to read a file
    if type(exc).__name__ == "UnpicklingError" or "weights_only" in text:
        detail = _torch_detail(text)
        return f"not a PyTorch weights file{f': {detail}' if detail else ''}"
    return f"not a PyTorch weights file: {type(exc).__name__} {_torch_detail(text)}".rstrip()


def _torch_detail(text: str) -> str:
    """The line of torch's message that describes the file (e.g. 'Unsupported operand 149'),
    without its advice, its invitation to file an issue or its documentation link."""
    advice = ("weights_only", "Weights only", "Check the documentation", "Please file an issue", "trusted source")
    for line in text.splitlines():
        line = line.replace("WeightsUnpickler error:", "").strip()
        if line and not any(word in line for word in advice):
            return line[:160].rstrip(".")
    return ""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _unwrap(obj: Any, path: Path) -> Mapping[str, Any]:
    """Descend through known containers until a mapping that holds tensors itself."""
    while isinstance(obj, Mapping):
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        inner = next((obj[k] for k in CONTAINERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            keys = ", ".join(map(str, list(obj)[:8])) or "none"
            raise UserError(f"{path}: no tensors found (top-level keys: {keys}); expected a state dict, "
                            f"possibly under one of {', '.join(CONTAINERS)}")
        obj = inner
    raise UserError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")


def _flatten(state: Mapping[str, Any], path: Path) -> dict[str, torch.Tensor]:
    flat = {}
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and not isinstance(name, str):
            raise UserError(f"{path}: a tensor is named {str(name)[:40]!r}, not by text; a state dict names "
                            "its tensors by strings")
        if isinstance(value, torch.Tensor):  # counters and options stored beside the tensors are dropped
            flat[name.removeprefix(DATA_PARALLEL)] = value
    if not flat:
        raise UserError(f"{path}: no tensors found")
    return flat


def checked_sizes(tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """``tensors`` if each owns its values (see the module docstring), else one line naming the
    first that does not, before anything is built from their shapes."""
    total, by_storage = 0, {}
    for name, tensor in tensors.items():
        if tensor.layout != torch.strided:
            raise UserError(f"{path}: tensor '{name}' is stored {tensor.layout}, not as plain values; weights files "
                            "hold dense tensors")
        if not owns_its_values(tensor):
            raise UserError(f"{path}: tensor '{name}' ({shape_text(tensor.shape)}) repeats or overlaps its values "
                            f"(strides {tuple(tensor.stride())}): it declares more values than the file stores; "
                            "the file was made to exhaust memory, or saved from a view: save it with .contiguous()")
        total += tensor.numel()
        if total > MAX_VALUES:
            raise UserError(f"{path}: its tensors declare more than {MAX_VALUES:,} values (translate's limit for "
                            "one weights file, 1 GiB in float32); no generator a plugin imports is this large")
        if tensor.numel():
            storage = tensor.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            by_storage[key] = by_storage.get(key, 0) + tensor.numel() * tensor.element_size()
            if by_storage[key] > storage.nbytes():
                raise UserError(f"{path}: tensor '{name}' shares its bytes with another tensor in the file; released "
                                "weights store each tensor once (save a copy of each with .clone())")
    return tensors


def owns_its_values(tensor: torch.Tensor) -> bool:
    """Whether no two elements of ``tensor`` share memory (no zero or overlapping strides); gaps,
    as in a slice, are fine: the storage holds them, so they cost what the file costs."""
    span = 1
    for stride, size in sorted((s, n) for s, n in zip(tensor.stride(), tensor.shape) if n > 1):
        if stride < span:
            return False
        span = stride * size
    return True


# ---- matching a layout --------------------------------------------------------------------------

@dataclass(frozen=True)
class Converted:
    """What a converter makes of a released state dict: values for the plugin's Config fields, the
    state dict of translate's generator, and one-line notes on what the conversion did."""

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Slot:
    """Where one source tensor goes in translate's state dict, and the shape it must have."""

    target: str
    shape: tuple[int, ...]
    optional: bool = False  # absent from some files (e.g. BatchNorm counters before torch 0.4.1)


def shape_text(shape: torch.Size | tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if len(shape) else "scalar"


def remap(state: Mapping[str, torch.Tensor], plan: Mapping[str, Slot], layout: str,
          drop: Callable[[str], bool] = lambda name: False) -> dict[str, torch.Tensor]:
    """``state`` renamed by ``plan`` (source name → :class:`Slot`). Names that ``drop`` accepts
    are skipped; any other tensor the plan lacks, or whose shape differs, and any required slot
    the file lacks, is a one-line UserError naming the first such tensor in the file's order."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if drop(name):
            continue
        slot = plan.get(name)
        if slot is None:
            raise UserError(f"{layout}: tensor '{name}' ({shape_text(tensor.shape)}) does not belong to this "
                            "layout; the file is another architecture or a modified one")
        if tuple(tensor.shape) != slot.shape:
            raise UserError(f"{layout}: tensor '{name}' is {shape_text(tensor.shape)}, the layout inferred from "
                            f"the other tensors needs {shape_text(slot.shape)}")
        out[slot.target] = tensor
    for name, slot in plan.items():
        if slot.target not in out and not slot.optional:
            raise UserError(f"{layout}: tensor '{name}' ({shape_text(slot.shape)}) is missing from the file")
    return out
