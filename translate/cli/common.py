"""Helpers shared by the commands: dataclass fields → click options, device flags."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args, get_origin

import click

from ..config import _unwrap_optional, describe_type, field_types, flag_name


def _click_type(tp: Any):
    tp, _ = _unwrap_optional(tp)
    if get_origin(tp) is Literal:
        return click.Choice([str(c) for c in get_args(tp)])
    if tp in (int, float, str):
        return tp
    return str  # tuples and optionals are parsed by translate.config.coerce


def dataclass_options(cls: type, defaults: dict[str, Any] | None = None, group: str = "") -> list[click.Option]:
    """One option per field. Values stay as strings where the field needs parsing; the caller
    coerces only the options the user actually gave (click's parameter source tells)."""
    defaults = defaults or {}
    hints = field_types(cls)
    options = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = defaults.get(f.name, f.default)
        help_text = f.metadata.get("help", "")
        if group:
            help_text = f"[{group}] {help_text}"
        base, _ = _unwrap_optional(tp)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        # a field whose default the plugin resolves per run (finalize_config) says so in words
        help_text = f"{help_text}  [default: {f.metadata.get('shown_default', shown)}]"
        if base is bool:
            opt = click.Option([f"{flag_name(f.name)}/--no-{f.name.replace('_', '-')}"], default=default,
                               help=help_text)
        else:
            opt = click.Option([flag_name(f.name)], type=_click_type(tp), default=None, help=help_text,
                               metavar=describe_type(tp))
        options.append(opt)
    return options


def explicit_params(ctx: click.Context) -> dict[str, Any]:
    """Parameters given on the command line (or by environment), not left at their default."""
    out = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
            out[name] = value
    return out


device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto",
                             show_default=True, help="where to run")
precision_option = click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
                                default="auto", show_default=True, help="autocast precision")


def refuse_existing_file(out: Any, overwrite: bool) -> None:
    """A one-line error, before any model is loaded, when the file at ``-o`` exists and
    ``--overwrite`` was not given: a command never replaces someone's file silently."""
    from pathlib import Path

    from ..errors import UserError

    if Path(out).is_file() and not overwrite:
        raise UserError(f"-o {out}: the file already exists; pass --overwrite to replace it, or another -o")


overwrite_option = click.option("--overwrite", is_flag=True, help="replace the file at -o if it already exists")
