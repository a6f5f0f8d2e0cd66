"""``translate train PLUGIN``: one sub-command per installed plugin, its flags made from the
plugin's config dataclass, the trainer's options and the plugin's data flags."""

from __future__ import annotations

from typing import Any

import click

from ..config import flag_name
from ..options import TrainOptions
from ..request import RUN_KEYS
from .common import dataclass_options, explicit_params


def run_training(plugin, values: dict[str, Any], run: dict[str, Any]) -> None:
    """Resolve and train exactly as :func:`translate.train` does, printing what it prints."""
    from ..api import prepare, run_prepared
    from ..stopping import Interrupted

    request, out_dir, resuming = prepare(plugin, **run, **values)
    try:
        run_prepared(request, out_dir, resuming)
    except Interrupted as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(exc.exit_code) from None


def _paper_help(plugin) -> str:
    if not plugin.paper:
        return f"[train] the published recipe; {plugin.name}'s defaults are already the paper's"

    def flag(name: str, value: Any) -> str:
        if isinstance(value, bool):
            return flag_name(name) if value else f"--no-{name.replace('_', '-')}"
        return f"{flag_name(name)} {value}"

    values = " ".join(flag(k, v) for k, v in plugin.paper.items())
    return (f"[train] the published recipe where {plugin.name}'s defaults depart from it: {values}; "
            "your own flags and --config override it")


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
    for flag in plugin.data_flags:
        params.append(click.Option([f"--eval-{flag.replace('_', '-')}"], default=None, metavar="DIR",
                                   help=f"held-out data like --{flag.replace('_', '-')}, for --eval-every"))
    params += dataclass_options(TrainOptions, plugin.train_defaults, group="train")
    params += dataclass_options(plugin.Config, group=plugin.name)
    for param in params:
        if param.name == "paper":  # say what --paper sets for this plugin
            param.help = _paper_help(plugin)

    @click.pass_context
    def callback(ctx: click.Context, **_: Any) -> None:
        given = explicit_params(ctx)
        run = {k: given.pop(k, None) for k in RUN_KEYS}
        run_training(plugin, given, run)

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
    translate train PLUGIN --help        its data flags and config fields
    translate train gan --resume runs/shapes --steps 4000
    """
