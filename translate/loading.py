"""A trained model from its checkpoint: the plugin that wrote it, the request it recorded and the
inference modules built and loaded (:func:`load_model`).

:mod:`translate.checkpoint` reads and writes the files; this module is the layer above it that
knows about plugins, requests and :class:`translate.model.Model`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from .checkpoint import checkpoint_states
from .errors import UserError
from .model import Model
from .nn.state import type_mismatch
from .plugin import call_hook
from .registry import DISABLE_ENV, disabled_names, get_info
from .request import recorded_request


def check_version(plugin, meta: dict[str, str], path: Path) -> None:
    """A checkpoint from another major version of its plugin may not load: warn, then try."""
    saved, installed = meta.get("plugin_version", "0"), plugin.version
    if saved.split(".")[0] != installed.split(".")[0]:
        print(f"warning: {path} was written by plugin '{plugin.name}' {saved}; installed is {installed} "
              "(different major version: outputs may differ or loading may fail)", file=sys.stderr)


def plugin_of(meta: dict[str, str], path: Path):
    """The installed plugin that wrote a checkpoint, or one line saying how to get it."""
    name = meta.get("plugin", "?")
    if name in disabled_names():
        raise UserError(f"{path}: written by plugin '{name}', which {DISABLE_ENV} switches off; "
                        f"remove it from {DISABLE_ENV} to use this checkpoint")
    try:
        info = get_info(name)
    except UserError:
        raise UserError(f"{path}: written by plugin '{name}' ({meta.get('plugin_distribution', '?')} "
                        f"{meta.get('plugin_version', '?')}), which is not installed; install it, "
                        "then run 'translate plugins' to check") from None
    plugin = info.load()
    check_version(plugin, meta, path)
    return plugin


def load_model(path: str | Path, device: torch.device | str = "cpu", use_ema: bool = True,
               precision: str = "fp32", plugin=None):
    """A :class:`translate.model.Model` from a ``model.safetensors`` (or its run folder): the
    recorded request, and only the inference modules built and loaded, in eval mode. ``plugin``
    skips the lookup of the installed plugin (for plugins under development). ``path`` may also
    be a released model's name (``translate models``): it is fetched and imported into the cache."""
    from .catalogue import resolve_checkpoint

    path = resolve_checkpoint(path)
    states, meta = checkpoint_states(path, use_ema)
    if plugin is None:
        plugin = plugin_of(meta, path)
    elif meta.get("plugin") != plugin.name:
        raise UserError(f"{path}: written by plugin '{meta.get('plugin')}', not '{plugin.name}'")
    request = recorded_request(plugin, meta, str(path))
    step = int(meta["step"])
    check_shapes(plugin, request, states, path)  # before allocating what the metadata asks for
    built = call_hook(plugin, "build", request.config, request.options, training=False)
    modules = {}
    for name, state in states.items():
        try:
            built[name].load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise UserError(f"{path}: weights of '{name}' do not fit plugin '{plugin.name}' {plugin.version} "
                            f"({str(exc).splitlines()[0]})") from None
        modules[name] = built[name].eval()
    return Model(request, step, modules, path).to(device, precision)


def check_shapes(plugin, request, states: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
    """Build the modules on the meta device (no memory) and compare every parameter's shape with
    the file's: a config in the metadata cannot make us allocate networks that its tensors do not
    fill (e.g. an edited width of 10^7)."""
    with torch.device("meta"):
        shapes = call_hook(plugin, "build", request.config, request.options, training=False)
    for name, state in states.items():
        if name not in shapes:
            raise UserError(f"{path}: names module '{name}', which plugin '{plugin.name}' does not build")
        expected = shapes[name].state_dict()
        for key, built in expected.items():
            if key not in state:
                raise UserError(f"{path}: weights of '{name}' lack {key}; the file and its metadata do not match")
            if tuple(state[key].shape) != tuple(built.shape):
                raise UserError(f"{path}: '{name}.{key}' is {tuple(state[key].shape)} in the file but the recorded "
                                f"config needs {tuple(built.shape)}; the file and its metadata do not match")
            wrong_type = type_mismatch(state[key], built)
            if wrong_type:
                raise UserError(f"{path}: '{name}.{key}' {wrong_type}; the file was edited or damaged")
