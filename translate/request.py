"""A training request, resolved in one place whatever door it came through.

The CLI (``translate train``), the Python API (:func:`translate.train`), ``--resume`` and loading a
checkpoint all turn what they were given into a :class:`TrainRequest` here, so the same request
gives the same config, the same ``config.toml`` and the same checkpoint metadata everywhere.

Precedence for a new run, lowest first: dataclass defaults and the plugin's ``train_defaults``,
the plugin's ``paper`` values when ``--paper`` is given, ``--config FILE``, explicit values (flags or
keywords); then the plugin's ``finalize_config``
fills in the values that depend on other fields or on the data, for the fields not set
explicitly; then everything is validated (the trainer's options, field bounds, the plugin's
``check_config``). A resumed run and a loaded checkpoint take the recorded config as it is, and
are validated the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .version import __version__
from .config import (absent_values, check_bounds, coerce, did_you_mean, dumps_toml, field_types, from_plain,
                     read_config_file, to_plain)
from .errors import UserError
from .options import RESUMABLE_OVERRIDES, TrainOptions
from .plugin import Plugin, call_hook
from .starting_weights import resolve_init

# Keywords of translate.train / flags of translate train that are not part of the request itself.
RUN_KEYS = ("out", "resume", "config")
MAX_SEED = 2**63 - 1
EVAL_PREFIX = "eval_"  # --eval-data DIR: held-out data for the data flag --data


def split_eval(data: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(training data, held-out data) of routed data keys: "eval_data" goes to the second as "data"."""
    train = {k: v for k, v in data.items() if not k.startswith(EVAL_PREFIX)}
    held = {k[len(EVAL_PREFIX):]: v for k, v in data.items() if k.startswith(EVAL_PREFIX)}
    return train, held


@dataclass(frozen=True)
class TrainRequest:
    """What to train: the plugin, the trainer's options, the plugin's config and the data."""

    plugin: Plugin
    options: TrainOptions
    config: Any
    data: dict[str, str]
    # Held-out data for --eval-every, keyed like ``data`` (``--eval-data`` → "data"); empty: evaluate on ``data``.
    eval_data: dict[str, str] = field(default_factory=dict)

    def metadata(self, step: int) -> dict[str, str]:
        """What every checkpoint records, as safetensors metadata strings."""
        return {
            "plugin": self.plugin.name,
            "plugin_version": self.plugin.version,
            "plugin_distribution": self.plugin.distribution,
            "translate_version": __version__,
            "step": str(step),
            "config": json.dumps(to_plain(self.config)),
            "options": json.dumps(to_plain(self.options)),
            "data": json.dumps(self.data),
            "eval_data": json.dumps(self.eval_data),
        }

    def config_toml(self, runtime: str = "") -> str:
        """The resolved config as a TOML file that ``--config`` reads back."""
        note = f" (runtime: {runtime})" if runtime else ""
        held_out = {f"{EVAL_PREFIX}{k}": v for k, v in self.eval_data.items()}
        return dumps_toml(
            {"run": {"plugin": self.plugin.name, "plugin_version": self.plugin.version},
             "data": {**self.data, **held_out}, "train": to_plain(self.options), "model": to_plain(self.config)},
            header=f"Resolved config of this run{note}: every automatic value filled in.\n"
                   f"Re-run with: translate train {self.plugin.name} --config config.toml",
        )


def _unknown_key(plugin: Plugin, key: str, where: str) -> UserError:
    known = sorted(_option_names() | _config_names(plugin) | set(plugin.data_flags) | set(RUN_KEYS)
                   | {EVAL_PREFIX + f for f in plugin.data_flags})
    return UserError(f"{where}: unknown key '{key}' for plugin '{plugin.name}'{did_you_mean(key.replace('-', '_'), known)}")


def _option_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainOptions)}


def _config_names(plugin: Plugin) -> set[str]:
    return {f.name for f in dataclasses.fields(plugin.Config)}


def route(plugin: Plugin, values: Mapping[str, Any], where: str) -> tuple[dict, dict, dict]:
    """Split flat key/values into (trainer options, data, model config); unknown keys are an
    error with a did-you-mean. Keys may be written with dashes (flags) or underscores."""
    options, configs = _option_names(), _config_names(plugin)
    train: dict[str, Any] = {}
    data: dict[str, str] = {}
    model: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name == "plugin_version":
            continue
        if name == "plugin":
            if value != plugin.name:
                raise UserError(f"{where}: written for plugin '{value}', not '{plugin.name}'")
            continue
        if name in options:
            train[name] = value
        elif name in plugin.data_flags or (name.startswith(EVAL_PREFIX) and name[len(EVAL_PREFIX):] in plugin.data_flags):
            data[name] = str(value)
        elif name in configs:
            model[name] = value
        else:
            raise _unknown_key(plugin, key, where)
    return train, data, model


def _typed(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values`` coerced to the field types of ``cls``; an error names ``where`` and the key."""
    hints = field_types(cls)
    return {k: coerce(v, hints[k], f"{where}{k.replace('_', '-')}") for k, v in values.items()}


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    return cls(**_typed(cls, values, where))


def check_options(options: TrainOptions) -> None:
    """The trainer's options, each with the one-line fix."""
    for name in ("steps", "batch_size", "size", "log_every"):
        if getattr(options, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("checkpoint_every", "sample_every", "workers", "eval_every"):
        if getattr(options, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be at least 0 (0 turns it off)")
    if options.eval_images < 0:
        raise UserError(f"--eval-images {options.eval_images}: give 0 (the plugin's default count) or more images")
    if not 0 <= options.seed <= MAX_SEED:
        raise UserError(f"--seed {options.seed}: use a whole number from 0 to 2^63 - 1")
    if options.keep_best and not options.eval_every:
        raise UserError(f"--keep-best {options.keep_best} needs --eval-every N (how often to evaluate)")
    if not 0.0 <= options.ema < 1.0:
        raise UserError("--ema must be in [0, 1): the decay of the moving average, 0 to turn it off")


def warn_unused_eval_data(eval_data: Mapping[str, str], options: TrainOptions) -> None:
    """A warning when held-out data is given without --eval-every: nothing evaluates it in this
    run. Not an error: the run records it, and a --resume with --eval-every N uses it."""
    if eval_data and not options.eval_every:
        import sys

        flags = ", ".join(f"--{EVAL_PREFIX}{k}".replace("_", "-") for k in eval_data)
        print(f"warning: {flags} given without --eval-every N: nothing is evaluated during this run (the data is "
              "recorded for a --resume with --eval-every)", file=sys.stderr)


def validate(request: TrainRequest) -> TrainRequest:
    """Checks that every path runs: options, the config's declared bounds, the plugin's own."""
    check_options(request.options)
    check_bounds(request.config)
    call_hook(request.plugin, "check_config", request.config, request.options)
    return request


def paper_values(plugin: Plugin) -> dict[str, Any]:
    """The plugin's ``paper`` values (what ``--paper`` sets), or one line saying it has none."""
    if not plugin.paper:
        raise UserError(f"--paper: plugin '{plugin.name}' departs from no published recipe: its defaults are the "
                        "paper's; drop --paper")
    return dict(plugin.paper)


def new_request(plugin: Plugin, values: Mapping[str, Any], config_file: str | Path | None = None,
                where: str = "command line", find_checkpoint: Callable[[str], Path] = Path) -> TrainRequest:
    """A new run's request from explicit ``values`` (flag or keyword names) over a config file.
    ``find_checkpoint`` turns an ``--init`` value into a path (see :func:`translate.api.prepare`)."""
    file_train, file_data, file_model = ({}, {}, {})
    if config_file:
        file_train, file_data, file_model = route(plugin, read_config_file(config_file), str(config_file))
        file_train = _typed(TrainOptions, file_train, f"{config_file}: ")
        file_model = _typed(plugin.Config, file_model, f"{config_file}: ")
    train, data, model = route(plugin, values, where)
    options = _build(TrainOptions, {**plugin.train_defaults, **file_train, **train}, "--")
    paper = paper_values(plugin) if options.paper else {}
    config = _build(plugin.Config, {**paper, **file_model, **model}, "--")
    data, eval_data = (absolute_paths(d) for d in split_eval(_data_over_file(file_data, data)))
    if not data:
        flags = " ".join(f"--{k.replace('_', '-')} ..." for k in plugin.data_flags)
        raise UserError(f"plugin '{plugin.name}' needs data: {flags}")
    check_options(options)
    warn_unused_eval_data(eval_data, options)
    options = resolve_init(plugin, options, find_checkpoint)  # before any file is written
    config = call_hook(plugin, "finalize_config", config, set(paper) | set(file_model) | set(model), data, options)
    return validate(TrainRequest(plugin, options, config, data, eval_data))


def _data_over_file(file_data: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """Data flags given on the command line replace the config file's data as a whole (training and
    held-out data each): a file's ``aligned = ...`` must not stay beside a given ``--a/--b``, which
    the plugin would refuse as two layouts at once."""
    given_train, given_held = split_eval(given)
    file_train, file_held = split_eval(file_data)
    train = dict(given_train or file_train)
    held = dict(given_held or file_held)
    return {**train, **{EVAL_PREFIX + k: v for k, v in held.items()}}


def absolute_paths(data: Mapping[str, str]) -> dict[str, str]:
    """Data values that name existing files or folders, made absolute: the run records them, and
    --resume (or --config config.toml) must find the data from any working directory. Other values
    (built-in data set names) stay as given."""
    return {k: str(Path(v).absolute()) if Path(v).exists() else v for k, v in data.items()}


def moved_data(recorded: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """On --resume, data flags may point to where the run's data are now, but only from a recorded
    path that no longer exists to one that does (the data moved): a different folder beside an
    existing one, or a built-in data set (recorded as a bare name, not a path), would change the
    training."""
    changed = {k: v for k, v in given.items() if Path(v).absolute() != Path(recorded.get(k, "")).absolute()}
    for key, value in changed.items():
        was = recorded.get(key, "")
        if not _is_path(was) or Path(was).exists():
            raise UserError(f"--resume keeps the run's data (--{key} {was or 'unset'}); a data flag on --resume only "
                            "says where data that moved are now (start a new run with --out instead)")
        if not Path(value).exists():
            raise UserError(f"--{key} {value}: no such file or folder (the run's data were at {was})")
    return absolute_paths(changed)


def _is_path(value: str) -> bool:
    # What a run recorded as a path: absolute (every run since paths are made absolute) or with a
    # separator; a bare name may be a built-in data set.
    return Path(value).is_absolute() or "/" in value or "\\" in value


def recorded_request(plugin: Plugin, meta: Mapping[str, str], where: str) -> TrainRequest:
    """The request a checkpoint recorded (its metadata), validated as a new one would be."""
    try:
        config_values, option_values, data = (json.loads(meta[k]) for k in ("config", "options", "data"))
        eval_data = json.loads(meta.get("eval_data", "{}"))
    except RecursionError:
        raise UserError(f"{where}: its metadata is nested too deeply to be a translate config; it was "
                        "edited or crafted") from None
    except KeyError as exc:
        raise UserError(f"{where}: its metadata has no {exc} entry; it was not written by translate, or was "
                        "edited") from None
    except (TypeError, ValueError):
        raise UserError(f"{where}: its metadata entries config/options/data are not valid JSON; it was not "
                        "written by translate, or was edited") from None
    if not all(isinstance(v, dict) for v in (config_values, option_values, data, eval_data)):
        raise UserError(f"{where}: its metadata entries config/options/data must be JSON objects")
    config_values, option_values = moved_to_options(plugin, config_values, option_values)
    config = from_plain(plugin.Config, absent_values(plugin.Config, config_values), f"{where} config")
    options = from_plain(TrainOptions, option_values, f"{where} options")
    return validate(TrainRequest(plugin, options, config, {str(k): str(v) for k, v in data.items()},
                                 {str(k): str(v) for k, v in eval_data.items()}))


def moved_to_options(plugin: Plugin, config_values: dict[str, Any],
                     option_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Checkpoints recorded before a plugin's setting became a trainer option (e.g. ``init``) keep
    loading: such a key moves from the recorded config to the options."""
    fields = {f.name for f in dataclasses.fields(plugin.Config)}
    options = {f.name for f in dataclasses.fields(TrainOptions)}
    moved = {k: v for k, v in config_values.items() if k not in fields and k in options}
    if not moved:
        return config_values, option_values
    kept = {k: v for k, v in config_values.items() if k not in moved}
    return kept, {**{k: ("" if v is None else v) for k, v in moved.items()}, **option_values}


def resume_request(plugin: Plugin, run_dir: Path, values: Mapping[str, Any]) -> TrainRequest:
    """The saved run's request, with only the harmless options (steps, device, ...) overridable."""
    from .checkpoint import read_run_metadata

    meta = read_run_metadata(run_dir)
    if meta.get("plugin") != plugin.name:
        raise UserError(f"--resume {run_dir}: that run trained plugin '{meta.get('plugin')}', "
                        f"not '{plugin.name}'; use 'translate train {meta.get('plugin')} --resume {run_dir}'")
    train, data, model = route(plugin, values, "command line")
    data, eval_data = split_eval(data)  # held-out data may change: it does not alter the training
    fixed = sorted(set(model) | (set(train) - RESUMABLE_OVERRIDES))
    if fixed:
        raise UserError(f"--resume keeps the run's settings; cannot change {', '.join(fixed)} "
                        "(start a new run with --out instead)")
    recorded = recorded_request(plugin, meta, str(run_dir))
    moved = moved_data(recorded.data, {k: str(v) for k, v in data.items()})
    options = dataclasses.replace(recorded.options, **{
        k: coerce(v, field_types(TrainOptions)[k], f"--{k.replace('_', '-')}") for k, v in train.items()})
    done = str(meta.get("step", ""))
    if done.isdigit() and options.steps < int(done):  # else it would rewrite the run with a smaller --steps
        raise UserError(f"--resume {run_dir}: the run is at step {done} already, past --steps {options.steps}; "
                        f"pass a --steps above {done} to train on")
    return validate(dataclasses.replace(recorded, options=options, data={**recorded.data, **moved},
                                        eval_data={**recorded.eval_data, **absolute_paths(eval_data)}))
