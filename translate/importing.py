"""``translate import``: weights released by other projects as ordinary translate checkpoints.

    translate import horse2zebra.pth -o h2z.safetensors
    translate apply h2z.safetensors horse.jpg

1. The file is read without running any of its code: :func:`translate.weights.read_torch_weights`
   (``torch.load(weights_only=True)`` for .pth/.pt, safetensors otherwise), which also unwraps
   the usual containers and DataParallel's ``module.`` prefixes.
2. Every installed plugin that implements the ``import_weights`` hook is asked whether it
   recognises the tensor names and shapes (only the ``--plugin`` one when given). Exactly one
   must answer with a :class:`translate.plugin.Imported`; a plugin that recognises the layout but
   not every tensor raises a one-line error naming the first tensor that does not fit.
3. ``--set NAME=VALUE`` goes to the hook when its ``import_weights`` declares ``NAME`` as a keyword
   option (e.g. which direction a one-generator CycleGAN file is), and otherwise overrides a
   Config field or trainer option of the checkpoint; ``--arch X`` is ``--set arch=X``. During
   detection a plugin that knows none of a setting's names is not asked.
4. The request (config from the plugin's answer and the overrides, trainer options from the
   plugin's ``train_defaults`` and answer, no data) is validated like any other; the plugin builds
   its inference modules; each imported state dict is loaded strictly.
5. ``model.safetensors`` is written atomically with the usual metadata (the plugin, its version,
   config, options; step 0) and, under ``import``, where the weights came from: the file's name,
   size and sha256, the layout recognised, the notes, the hook options and the modules imported.
   Only the imported modules are written and listed, so a checkpoint may hold fewer modules than
   a trained one (e.g. one generator of a CycleGAN); ``translate apply`` loads what is there.

This module names no plugin: what a layout means is entirely the plugins' business.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import MODEL_FILE, MODEL_FORMAT, STATE_FILE, write_safetensors
from .config import coerce, field_types, from_plain
from .errors import PluginError, UserError
from .fileio import check_writable
from .nn.state import type_mismatch
from .options import TrainOptions
from .plugin import Imported, Plugin, call_hook, label, parse_options
from .request import TrainRequest, validate
from .weights import read_torch_weights, shape_text

HOOK = "import_weights"
SHOWN_TENSORS = 4  # tensors named in "not recognised" messages


@dataclass(frozen=True)
class ImportResult:
    """What ``translate import`` wrote, for the command's report."""

    out: Path
    plugin: str
    layout: str
    modules: tuple[str, ...]
    notes: tuple[str, ...]
    sha256: str


def import_weights(source: str | Path, out: str | Path | None = None, plugin: str | None = None,
                   arch: str | None = None, settings: tuple[str, ...] | list[str] = (),
                   overwrite: bool = False) -> ImportResult:
    """Turn the weights file ``source`` into a translate checkpoint at ``out`` (see the module
    docstring); ``settings`` are ``NAME=VALUE`` strings as given to ``--set``. A checkpoint already
    at ``out`` is replaced only with ``overwrite``."""
    source = Path(source)
    target = output_path(source, out, overwrite)
    values = parse_settings(settings, arch)
    tensors = read_torch_weights(source)
    chosen, imported, hook_options, overrides = detect(source, tensors, candidates(plugin), values,
                                                       forced=plugin is not None)
    request = make_request(chosen, imported, overrides, source)
    modules = load_modules(chosen, request, imported, source)
    digest = sha256_of(source)
    provenance = {"source": source.name, "sha256": digest, "bytes": source.stat().st_size,
                  "layout": imported.layout, "notes": list(imported.notes), "modules": list(modules),
                  "options": hook_options, "overrides": {k: str(v) for k, v in overrides.items()}}
    write_checkpoint(target, request, modules, provenance)
    return ImportResult(target, chosen.name, imported.layout, tuple(modules), tuple(imported.notes), digest)


# ---- arguments ----------------------------------------------------------------------------------

def output_path(source: Path, out: str | Path | None, overwrite: bool = False) -> Path:
    """``-o``: a .safetensors file, or a folder for its model.safetensors; default: the source's
    name with .safetensors, in the current folder. Checked before the weights are read: not the
    source, not a training run's model, not someone's file (without ``overwrite``), writable."""
    if out is None:
        target = Path(source.stem + ".safetensors")
    else:
        target = Path(out)
        if target.is_dir() or not target.suffix:
            target = target / MODEL_FILE
        elif target.suffix != ".safetensors":
            raise UserError(f"-o {out}: write a .safetensors file (or give a folder for its {MODEL_FILE})")
    if target.exists() and target.resolve() == source.resolve():
        raise UserError(f"-o {target}: would overwrite the file being imported; choose another -o")
    if (target.parent / STATE_FILE).exists() and target.name == MODEL_FILE:
        raise UserError(f"-o {target}: that folder holds a training run, whose model would be replaced; "
                        "choose another -o")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise UserError(f"-o {target}: the file already exists; pass --overwrite to replace it, or another -o")
    check_writable(target, "-o")
    return target


def parse_settings(pairs: tuple[str, ...] | list[str], arch: str | None) -> dict[str, str]:
    """``NAME=VALUE`` strings (names with - or _) as name → text; ``--arch X`` is ``arch=X``."""
    from .plugin import split_settings

    values = split_settings(pairs)
    if arch is not None:
        if values.get("arch", arch) != arch:
            raise UserError(f"--arch {arch} and --set arch={values['arch']} disagree; give one of them")
        values["arch"] = arch
    return values


def sha256_of(path: Path) -> str:
    from .download import file_sha256

    return file_sha256(path)


# ---- which plugin ---------------------------------------------------------------------------------

def candidates(name: str | None) -> list[Plugin]:
    """The plugin named by ``--plugin`` (it must implement the hook), or every installed plugin
    that implements it (broken ones are left out: they cannot run their hook)."""
    from .registry import discover, load_plugin

    if name is not None:
        plugin = load_plugin(name)
        if not plugin.can(HOOK):
            able = ", ".join(p.name for p in candidates(None)) or "none installed"
            raise UserError(f"--plugin {name}: plugin '{name}' does not import weights of other projects "
                            f"(no {HOOK} hook); plugins that do: {able}")
        return [plugin]
    found = []
    for info in discover().values():
        try:
            plugin = info.load()
        except PluginError as exc:  # the others can still recognise the file; say which was not asked
            print(f"warning: {exc}; not asked to recognise the file", file=sys.stderr)
            continue
        if plugin.can(HOOK):
            found.append(plugin)
    if not found:
        raise UserError(f"no installed plugin imports weights of other projects (none has an {HOOK} hook)")
    return found


def route(plugin: Plugin, values: dict[str, str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Split settings into (the hook's NAME=VALUE options, config/option overrides, names this
    plugin knows nowhere)."""
    accepted = plugin.accepted_options(HOOK)
    fields = {f.name for f in dataclasses.fields(plugin.Config)} | {f.name for f in dataclasses.fields(TrainOptions)}
    hook_pairs, overrides, unknown = [], {}, []
    for name, text in values.items():
        if (accepted is None and name not in fields) or (accepted is not None and name in accepted):
            hook_pairs.append(f"{name}={text}")
        elif name in fields:
            overrides[name] = text
        else:
            unknown.append(name)
    return hook_pairs, overrides, unknown


def detect(source: Path, tensors: dict[str, torch.Tensor], plugins: list[Plugin], values: dict[str, str],
           forced: bool) -> tuple[Plugin, Imported, dict[str, Any], dict[str, str]]:
    """The one plugin whose hook recognises ``tensors``, its answer, the hook options it was given
    and the overrides left for the config."""
    matches: list[tuple[Plugin, Imported, dict[str, Any], dict[str, str]]] = []
    failures: list[UserError] = []
    asked: list[str] = []
    for plugin in plugins:
        hook_pairs, overrides, unknown = route(plugin, values)
        if unknown:
            if forced:
                raise _unknown_setting(plugin, unknown[0])
            continue  # it cannot honour a setting it has never heard of
        asked.append(plugin.name)
        options = parse_options(plugin, HOOK, hook_pairs)
        try:
            imported = call_hook(plugin, HOOK, dict(tensors), **options)
        except PluginError:
            raise
        except UserError as exc:  # it recognised the layout, but not every tensor fits
            failures.append(UserError(f"{source}: {exc}"))
            continue
        if imported is not None:
            matches.append((plugin, imported, options, overrides))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = [p.name for p, *_ in matches]
        found = "; ".join(f"{p.name}: {imp.layout}" for p, imp, *_ in matches)
        raise UserError(f"{source}: recognised by several plugins ({found}); choose one with --plugin "
                        f"{' or --plugin '.join(names)}")
    if failures:
        raise failures[0]
    first = _first_tensors(tensors)
    if forced:
        raise UserError(f"{source}: plugin '{plugins[0].name}' does not recognise this layout"
                        f"{_asked_as(values)}; the file starts with {first}")
    if not asked:
        names = ", ".join(sorted(values))
        raise UserError(f"--set {names}: no installed plugin that imports weights takes "
                        f"{'this name' if len(values) == 1 else 'all of these names'} "
                        f"({', '.join(p.name for p in plugins)} were not asked)")
    raise UserError(f"{source}: no installed plugin recognises this layout{_asked_as(values)} (asked: "
                    f"{', '.join(asked)}); the file starts with {first}. If you know which plugin should "
                    "take it, pass --plugin NAME (and --arch) to see which tensor does not fit")


def _asked_as(values: dict[str, str]) -> str:
    return f" as --arch {values['arch']}" if "arch" in values else ""


def _first_tensors(tensors: dict[str, torch.Tensor]) -> str:
    shown = [f"'{name}' {shape_text(t.shape)}" for name, t in list(tensors.items())[:SHOWN_TENSORS]]
    more = len(tensors) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def _unknown_setting(plugin: Plugin, name: str) -> UserError:
    takes = sorted(plugin.accepted_options(HOOK) or ())
    hook = f"its import takes {', '.join(takes)}; " if takes else ""
    return UserError(f"--set {name}: plugin '{plugin.name}' has no import option, config field or trainer option "
                     f"'{name}' ({hook}its config fields are the flags of 'translate train {plugin.name} --help')")


# ---- the checkpoint -------------------------------------------------------------------------------

def make_request(plugin: Plugin, imported: Imported, overrides: dict[str, str], source: Path) -> TrainRequest:
    """Config = the plugin's answer, then ``--set``; options = ``train_defaults``, the answer,
    then ``--set``; validated as every request is."""
    config = from_plain(plugin.Config, imported.config, f"{label(plugin)}: {HOOK}() config")
    options = from_plain(TrainOptions, {**plugin.train_defaults, **imported.options},
                         f"{label(plugin)}: {HOOK}() options")
    config_types, option_types = field_types(plugin.Config), field_types(TrainOptions)
    config_changes = {k: coerce(v, config_types[k], f"--set {k}") for k, v in overrides.items() if k in config_types}
    option_changes = {k: coerce(v, option_types[k], f"--set {k}") for k, v in overrides.items()
                      if k in option_types and k not in config_types}
    request = TrainRequest(plugin, dataclasses.replace(options, **option_changes),
                           dataclasses.replace(config, **config_changes), {})
    return validate(request)


def load_modules(plugin: Plugin, request: TrainRequest, imported: Imported, source: Path) -> dict[str, torch.nn.Module]:
    """The plugin's inference modules with the imported weights, loaded strictly, in the order of
    ``inference_modules``; a tensor that does not fit is one line naming it."""
    unknown = [name for name in imported.modules if name not in plugin.inference_modules]
    if unknown or not imported.modules:
        raise PluginError(f"{label(plugin)}: {HOOK}() returned modules {sorted(imported.modules)}; they must be "
                          f"some of its inference_modules {list(plugin.inference_modules)}")
    built = call_hook(plugin, "build", request.config, request.options, training=False)
    modules = {}
    for name in plugin.inference_modules:
        if name in imported.modules:
            module = built[name]
            _check_fit(module, imported.modules[name], name, source)
            module.load_state_dict(imported.modules[name], strict=True)
            modules[name] = module.eval()
    return modules


def _check_fit(module: torch.nn.Module, state: dict[str, torch.Tensor], name: str, source: Path) -> None:
    """The first tensor that the built module lacks, misses or shapes differently, in one line."""
    expected = module.state_dict()
    hint = "the file and the config (its --set values) describe different networks"
    for key, tensor in state.items():
        if key not in expected:
            raise UserError(f"{source}: tensor '{name}.{key}' ({shape_text(tensor.shape)}) has no place in the "
                            f"network the config describes; {hint}")
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise UserError(f"{source}: tensor '{name}.{key}' is {shape_text(tensor.shape)}, the network needs "
                            f"{shape_text(expected[key].shape)}; {hint}")
        wrong_type = type_mismatch(tensor, expected[key])
        if wrong_type:
            raise UserError(f"{source}: tensor '{name}.{key}' {wrong_type}; the file is damaged or another format")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(f"{source}: tensor '{name}.{key}' holds NaN or infinite values; the file is damaged")
    missing = [key for key in expected if key not in state]
    if missing:
        raise UserError(f"{source}: the network needs '{name}.{missing[0]}' "
                        f"({shape_text(expected[missing[0]].shape)}), which the file does not provide; {hint}")


def write_checkpoint(path: Path, request: TrainRequest, modules: dict[str, torch.nn.Module],
                     provenance: dict[str, Any]) -> None:
    """A ``model.safetensors`` as training writes it (step 0, no EMA), listing only ``modules``,
    plus the ``import`` provenance entry."""
    tensors = {f"{name}.{key}": value for name, module in modules.items()
               for key, value in module.state_dict().items()}
    metadata = dict(request.metadata(0), format=MODEL_FORMAT, ema="false", modules=json.dumps(list(modules)))
    metadata["import"] = json.dumps(provenance)
    write_safetensors(path, tensors, metadata)
