"""``translate train PLUGIN``: one sub-command per installed plugin, its flags made from the
plugin's config dataclass, the trainer's options and the plugin's data flags."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from ..config import coerce, field_types, read_config_file
from ..errors import UserError
from ..options import RESUMABLE_OVERRIDES, TrainOptions
from .common import dataclass_options, explicit_params

RUN_FLAGS = ("out", "resume", "config")


def _default_out_dir(plugin_name: str) -> Path:
    base = Path("runs") / plugin_name
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate


def _route(plugin, values: dict[str, Any], where: str) -> tuple[dict, dict, dict]:
    """Split flat key/values into (train options, data, model config), rejecting unknown keys."""
    import difflib

    option_names = {f.name for f in dataclasses.fields(TrainOptions)}
    config_names = {f.name for f in dataclasses.fields(plugin.Config)}
    train, data, model = {}, {}, {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name in ("plugin_version",):
            continue
        if name == "plugin":
            if value != plugin.name:
                raise UserError(f"{where}: written for plugin '{value}', not '{plugin.name}'")
            continue
        if name in option_names:
            train[name] = value
        elif name in plugin.data_flags:
            data[name] = str(value)
        elif name in config_names:
            model[name] = value
        else:
            known = sorted(option_names | config_names | set(plugin.data_flags))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UserError(f"{where}: unknown key '{key}' for plugin '{plugin.name}'{hint}")
    return train, data, model


def _build(cls: type, base: dict[str, Any], values: dict[str, Any], where: str):
    hints = field_types(cls)
    kwargs = dict(base)
    kwargs.update({k: coerce(v, hints[k], f"{where} {k.replace('_', '-')}") for k, v in values.items()})
    return cls(**kwargs)


def resolve(plugin, cli_values: dict[str, Any], config_file: str | None):
    """(options, config, data) from dataclass defaults < plugin defaults < file < flags."""
    file_train, file_data, file_model = ({}, {}, {})
    if config_file:
        file_train, file_data, file_model = _route(plugin, read_config_file(config_file), config_file)
    cli_train, cli_data, cli_model = _route(plugin, cli_values, "command line")
    options = _build(TrainOptions, {}, {**plugin.train_defaults, **file_train, **cli_train}, "--")
    config = _build(plugin.Config, {}, {**file_model, **cli_model}, "--")
    data = {**file_data, **cli_data}
    config = plugin.finalize_config(config, set(file_model) | set(cli_model), data)
    _check_options(options)
    return options, config, data


def _check_options(options: TrainOptions) -> None:
    for name in ("steps", "batch_size", "size"):
        if getattr(options, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 <= options.ema < 1.0:
        raise UserError("--ema must be in [0, 1): the decay of the moving average, 0 to turn it off")


def resume_settings(plugin, resume_dir: Path, cli_values: dict[str, Any]):
    """The saved run's settings, with only the harmless flags (steps, device...) overridable."""
    from ..checkpoint import read_run_metadata
    from ..config import from_plain

    meta = read_run_metadata(resume_dir)
    if meta.get("plugin") != plugin.name:
        raise UserError(f"--resume {resume_dir}: that run trained plugin '{meta.get('plugin')}', "
                        f"not '{plugin.name}'; use 'translate train {meta.get('plugin')} --resume {resume_dir}'")
    saved_options = json.loads(meta["options"])
    cli_train, cli_data, cli_model = _route(plugin, cli_values, "command line")
    fixed = sorted(set(cli_model) | set(cli_data) | (set(cli_train) - RESUMABLE_OVERRIDES))
    if fixed:
        raise UserError(f"--resume keeps the run's settings; cannot change {', '.join(fixed)} "
                        "(start a new run with --out instead)")
    options = _build(TrainOptions, {}, {**saved_options, **cli_train}, "--")
    config = from_plain(plugin.Config, json.loads(meta["config"]), f"{resume_dir} config")
    _check_options(options)
    return options, config, json.loads(meta["data"])


def run_training(plugin, cli_values: dict[str, Any], out: str | None, resume: str | None,
                 config_file: str | None) -> None:
    from ..trainer import Interrupted, train

    if resume:
        if config_file:
            raise UserError("--resume and --config cannot be combined: a resumed run keeps its config")
        out_dir = Path(resume)
        if out and Path(out) != out_dir:
            raise UserError("--resume continues in the run's own folder; leave out --out")
        options, config, data = resume_settings(plugin, out_dir, cli_values)
    else:
        options, config, data = resolve(plugin, cli_values, config_file)
        if not data:
            flags = " ".join(f"--{k.replace('_', '-')} ..." for k in plugin.data_flags)
            raise UserError(f"plugin '{plugin.name}' needs data: {flags}")
        out_dir = Path(out) if out else _default_out_dir(plugin.name)
        from ..checkpoint import STATE_FILE

        if (out_dir / STATE_FILE).exists():
            raise UserError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir}, "
                            "or choose another --out")
    click.echo(f"training {plugin.name} → {out_dir}", err=True)
    try:
        result = train(plugin, config, options, data, out_dir, resume=bool(resume))
    except Interrupted as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(130) from None
    click.echo(f"done: {result.step} steps in {result.seconds:.1f}s ({result.images_per_second:.0f} img/s); "
               f"checkpoint {out_dir / 'model.safetensors'}, samples {out_dir / 'samples.png'}", err=True)


def make_plugin_command(name: str) -> click.Command:
    from ..registry import load_plugin

    plugin = load_plugin(name)
    params: list[click.Parameter] = [
        click.Option(["--out", "-o"], type=click.Path(file_okay=False), default=None,
                     help="run folder for checkpoints, samples and logs [default: runs/PLUGIN]"),
        click.Option(["--resume"], type=click.Path(file_okay=False), default=None,
                     help="continue the run in this folder (same step, optimiser and RNG state)"),
        click.Option(["--config"], type=click.Path(dir_okay=False), default=None,
                     help="TOML file of defaults (e.g. from configs/); flags override it"),
    ]
    for flag, help_text in plugin.data_flags.items():
        params.append(click.Option([f"--{flag.replace('_', '-')}"], default=None, metavar="DIR", help=help_text))
    params += dataclass_options(TrainOptions, plugin.train_defaults, group="train")
    params += dataclass_options(plugin.Config, group=plugin.name)

    @click.pass_context
    def callback(ctx: click.Context, **_: Any) -> None:
        given = explicit_params(ctx)
        run = {k: given.pop(k, None) for k in RUN_FLAGS}
        run_training(plugin, given, run["out"], run["resume"], run["config"])

    doc = (plugin.Config.__doc__ or "").strip().split("\n\n")[0]
    return click.Command(name, params=params, callback=callback,
                         help=f"{plugin.description}\n\n{doc}" if doc else plugin.description,
                         context_settings={"max_content_width": 110})


class TrainGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..registry import discover

        return list(discover())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from ..registry import get_info

        get_info(name)  # unknown names: a one-line error listing the installed plugins
        return make_plugin_command(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ..registry import discover

        rows = [(n, f"{i.distribution} {i.version}") for n, i in discover().items()]
        with formatter.section("Plugins (translate train PLUGIN --help for its flags)"):
            formatter.write_dl(rows or [("(none)", "no plugin is installed")])


@click.group(cls=TrainGroup, invoke_without_command=False, subcommand_metavar="PLUGIN [FLAGS]...")
def train() -> None:
    """Train a plugin's model. Its config fields are flags; see translate train PLUGIN --help.

    \b
    translate train gan --data shapes --out runs/shapes
    translate train cyclegan --a horses/ --b zebras/
    translate train gan --resume runs/shapes --steps 4000
    """
