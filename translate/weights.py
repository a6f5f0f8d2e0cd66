"""Weights released by other projects: read them without running their code, and match their
tensor names against the layout a converter expects.

``.pth`` / ``.pt`` files are pickles. A pickle can name any Python callable and have it called
while loading, so they are read only through ``torch.load(weights_only=True)``, whose unpickler
admits tensors, plain containers and numbers and refuses everything else before calling it.
``.safetensors`` files hold tensors only and are read with safetensors.

Released files wrap their state dict in a few common ways; :func:`read_torch_weights` unwraps
them and returns one flat ``name → tensor`` dict in the file's order. The converters of the
plugins (``translate_plugins.*.reference``) turn such a dict into a translate generator's state
dict with :func:`remap`, which names the first tensor that does not fit.
"""

from __future__ import annotations

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
            return _flatten(_read_safetensors(path), path)
        return _flatten(_unwrap(_load_pickle(path), path), path)
    except UserError as exc:
        if not (flag or what):
            raise
        raise UserError(" ".join(filter(None, [flag, str(exc)])) + (f"; pass {what}" if what else "")) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None


def _load_pickle(path: Path) -> Any:
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notices are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever the unpickler raises, the file is at fault
        raise UserError(f"{path}: not a weights file that can be read safely ({_why(exc)}); "
                        "translate reads only tensors from .pth files, never code") from None


def _why(exc: BaseException) -> str:
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # the file names a Python object or opcode outside the weights-only set
        detail = text.split(marker, 1)[1].strip().split("\n")[0].split(". ")[0]
        return f"it holds more than tensors: {detail}"
    if "TorchScript" in text:
        return "a TorchScript archive: compiled code, not plain weights"
    if "central directory" in text or "unexpected EOF" in text or isinstance(exc, EOFError):
        return "truncated or corrupt"
    return f"not a PyTorch file: {type(exc).__name__} {_first_line(exc)}".rstrip()


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
        if isinstance(value, torch.Tensor):  # counters and options stored beside the tensors are dropped
            flat[name.removeprefix(DATA_PARALLEL)] = value
    if not flat:
        raise UserError(f"{path}: no tensors found")
    return flat


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
