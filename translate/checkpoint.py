"""Self-describing safetensors checkpoints (never pickle).

``model.safetensors``  what apply/sample need: the inference modules' weights (``name.param``),
                       their EMA (``ema.name.param``) when EMA is on, and metadata naming the plugin
                       and its version, the toolkit version, the step and the full resolved config.
``state.safetensors``  the training state for ``--resume``: every module, optimiser, scheduler,
                       grad scaler, plugin buffer, the data position and the RNG states.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import UserError
from .fileio import atomic_path
from .limits import safetensors_header_problem
from .nn.state import sub_state
from .optim import keep_kernel
from .run_folder import MODEL_FILE, STATE_FILE

MODEL_FORMAT = "translate.model/1"
STATE_FORMAT = "translate.state/1"


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or strided storage; cloning costs little next to the disk write.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        save_file(_contiguous(tensors), str(tmp), metadata=metadata)


def save_model(path: Path, names: tuple[str, ...], meta: dict[str, str], modules: dict[str, torch.nn.Module],
               ema: dict[str, torch.nn.Module] | None) -> None:
    """The inference modules ``names`` (and their EMA) with the run's metadata (``TrainRequest.metadata``)."""
    tensors: dict[str, torch.Tensor] = {}
    for name in names:
        tensors.update({f"{name}.{k}": v for k, v in modules[name].state_dict().items()})
        if ema:
            tensors.update({f"ema.{name}.{k}": v for k, v in ema[name].state_dict().items()})
    write_safetensors(path, tensors, dict(meta, format=MODEL_FORMAT, ema="true" if ema else "false",
                                          modules=json.dumps(list(names))))


def read_model_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a ``model.safetensors`` (or its run folder) without its tensors: which
    plugin wrote it, and the recorded request."""
    return read_safetensors(path, MODEL_FORMAT, with_tensors=False)[1]


def read_safetensors(path: str | Path, expected_format: str,
                     with_tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (none with ``with_tensors=False``) and metadata, or a one-line error if this is not a
    checkpoint of this toolkit."""
    path = Path(path)
    if path.is_dir():
        path = path / (MODEL_FILE if expected_format == MODEL_FORMAT else STATE_FILE)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file; pass a run folder or its {MODEL_FILE}")
    if path.suffix.lower() in (".onnx", ".pt"):
        raise UserError(f"{path}: an exported model, not a checkpoint; this needs the {MODEL_FILE} it was exported "
                        "from (translate apply takes exported files)")
    problem = safetensors_header_problem(path)  # before safetensors parses a header of any size
    if problem:
        raise UserError(f"{path}: not a safetensors checkpoint ({problem}); pass the {MODEL_FILE} written by "
                        "'translate train'")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != expected_format:
                raise UserError(f"{path}: not a translate checkpoint (no '{expected_format}' metadata); "
                                f"pass the {MODEL_FILE} written by 'translate train'")
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a safetensors checkpoint ({str(exc).splitlines()[0]}); "
                        f"pass the {MODEL_FILE} written by 'translate train'") from None
    return tensors, meta


# ---- training state ---------------------------------------------------------------------------

def checkpoint_states(path: str | Path, use_ema: bool = True) -> tuple[dict[str, dict[str, torch.Tensor]],
                                                                        dict[str, str]]:
    """The state dict of every module a ``model.safetensors`` lists (its EMA weights when
    ``use_ema`` and it has them), and its metadata: the module list and step count checked, and
    the weights finite."""
    tensors, meta = read_safetensors(path, MODEL_FORMAT)
    try:
        names = json.loads(meta.get("modules", ""))
        step = int(meta.get("step", ""))
        if step < 0:
            raise ValueError(step)
    except (ValueError, RecursionError):
        raise UserError(f"{path}: its metadata has no valid 'modules' list or 'step' count; it was not written "
                        "by translate, or was edited") from None
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise UserError(f"{path}: its metadata 'modules' is not a list of module names; it was not written by "
                        "translate, or was edited")
    prefix = "ema." if use_ema and meta.get("ema") == "true" else ""
    states = {name: sub_state(tensors, f"{prefix}{name}") for name in names}
    for name, state in states.items():
        if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
            raise UserError(f"{path}: the weights of '{name}' are not finite (the run diverged by step {step}); "
                            "use an earlier checkpoint, or retrain with a lower learning rate")
    return states, meta


def _flatten_optimizer(prefix: str, state_dict: dict, tensors: dict, plain: dict) -> None:
    plain[prefix] = {"param_groups": state_dict["param_groups"], "scalars": {}}
    for idx, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                plain[prefix]["scalars"][f"{idx}.{key}"] = value


def _unflatten_optimizer(prefix: str, tensors: dict, plain: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for key, value in plain[prefix]["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": plain[prefix]["param_groups"]}


def _match_parameter_layout(opt: torch.optim.Optimizer) -> None:
    """Give restored optimiser moments the memory layout of their parameters. Safetensors stores
    them contiguous; a fresh run creates them like the (channels_last) parameters, and fused
    kernels index both buffers alike, so a layout mismatch would silently corrupt the update."""
    for group in opt.param_groups:
        for p in group["params"]:
            if p.dim() != 4 or not p.is_contiguous(memory_format=torch.channels_last) or p.is_contiguous():
                continue
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    opt.state[p][key] = value.contiguous(memory_format=torch.channels_last)


def save_state(path: Path, meta: dict[str, str], step: int, consumed: int, modules, ema, optimizers,
               schedulers, scalers, buffers: dict[str, torch.Tensor]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"schedulers": {}, "scalers": {}}
    for name, module in modules.items():
        tensors.update({f"module.{name}.{k}": v for k, v in module.state_dict().items()})
    for name, module in (ema or {}).items():
        tensors.update({f"ema.{name}.{k}": v for k, v in module.state_dict().items()})
    for name, opt in optimizers.items():
        _flatten_optimizer(f"optim.{name}", opt.state_dict(), tensors, plain)
    for name, sched in schedulers.items():
        plain["schedulers"][name] = {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}
    for name, scaler in scalers.items():
        plain["scalers"][name] = {k: (v.item() if isinstance(v, torch.Tensor) else v)
                                  for k, v in scaler.state_dict().items()}
    tensors.update({f"buffer.{k}": v for k, v in buffers.items()})
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    full = dict(meta, format=STATE_FORMAT, step=str(step), consumed=str(consumed), plain=json.dumps(plain))
    write_safetensors(path, tensors, full)


def load_state(path: Path, modules, ema, optimizers, schedulers, scalers) -> tuple[int, int, dict]:
    """Restore everything saved by :func:`save_state`; returns (step, consumed, buffers). A file
    that does not fit the run (edited, or another run's) is one line, never a traceback."""
    tensors, meta = read_safetensors(path, STATE_FORMAT)
    try:
        plain = json.loads(meta["plain"])
        return _restore(tensors, meta, plain, modules, ema, optimizers, schedulers, scalers)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise UserError(f"{path}: the training state does not fit this run ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); it was edited or belongs to "
                        "another run") from None


def _restore(tensors, meta, plain, modules, ema, optimizers, schedulers, scalers) -> tuple[int, int, dict]:
    step, consumed = int(meta["step"]), int(meta["consumed"])
    if step < 0 or consumed < 0:  # before anything is restored: a negative count would train "past" --steps
        raise ValueError(f"step {step} and consumed {consumed} must not be negative")
    for name, module in modules.items():
        module.load_state_dict(sub_state(tensors, f"module.{name}"))
    for name, module in (ema or {}).items():
        module.load_state_dict(sub_state(tensors, f"ema.{name}"))
    for name, opt in optimizers.items():
        built_with = [dict(g) for g in opt.param_groups]
        opt.load_state_dict(_unflatten_optimizer(f"optim.{name}", tensors, plain))
        keep_kernel(opt, built_with)
        _check_moment_shapes(opt)
        _match_parameter_layout(opt)
    for name, sched in schedulers.items():
        state = dict(plain["schedulers"][name])
        if hasattr(sched, "lr_lambdas"):
            # LambdaLR's load_state_dict requires the key; its lambdas are code the plugin rebuilds
            # (None = nothing to restore), which is why save_state leaves them out.
            state.setdefault("lr_lambdas", [None] * len(sched.lr_lambdas))
        sched.load_state_dict(state)
    for name, scaler in scalers.items():
        if name in plain["scalers"]:
            scaler.load_state_dict(plain["scalers"][name])
    buffers = sub_state(tensors, "buffer")
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_keys = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    cuda_states = [tensors[k] for k in cuda_keys]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return step, consumed, buffers


def _check_moment_shapes(opt: torch.optim.Optimizer) -> None:
    """Optimiser state of another shape than its parameter would fail mid-step, much later."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != p.shape:
                    raise ValueError(f"optimiser state '{key}' is {tuple(value.shape)} for a parameter of "
                                     f"{tuple(p.shape)}")


def read_run_metadata(path: Path) -> dict[str, str]:
    """Metadata of a training-state file (plugin, config, options, data) without its tensors."""
    path = Path(path)
    file = path / STATE_FILE if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"--resume {path}: no {STATE_FILE} there; pass the --out folder of an earlier run")
    problem = safetensors_header_problem(file)
    if problem:
        raise UserError(f"{file}: not a safetensors file ({problem}); pass the --out folder of an earlier run")
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{file}: not a safetensors file ({exc})") from None
    if meta.get("format") != STATE_FORMAT:
        raise UserError(f"{file}: not a translate training state; pass the --out folder of an earlier run")
    return meta
