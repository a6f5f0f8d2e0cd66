"""Config dataclasses, their CLI flags and their files.

A plugin's config is a plain dataclass. Each field becomes a ``--flag`` (type, default and help
taken from the dataclass) and a key of a TOML config file. Precedence, lowest first:
dataclass default, the plugin's dependent defaults (``Plugin.finalize_config``), ``--config FILE``,
explicit command-line flags.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .errors import UserError
from .limits import read_bytes


def param(default: Any, help: str, *, min: float | None = None, max: float | None = None,
          positive: bool = False, **extra: Any) -> Any:
    """A config field with its help text: ``lr: float = param(2e-4, "Adam lr (Radford 2016 §4)", positive=True)``.
    ``min``/``max`` (inclusive) and ``positive`` (> 0) are checked on every path by :func:`check_bounds`.
    ``shown_default="..."`` replaces the value in ``--help`` where ``finalize_config`` resolves the default.
    ``absent=value``: what a checkpoint whose recorded config lacks this field meant (it was written
    before the field existed); give it when a new field's default is not the old behaviour, so old
    checkpoints still load as they were trained (:func:`absent_values`)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults, so configs stay immutable")
    bounds = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    if positive:
        bounds["positive"] = True
    return dataclasses.field(default=default, metadata={"help": help, **bounds, **extra})


def absent_values(cls: type, recorded: dict[str, Any]) -> dict[str, Any]:
    """``recorded`` (a checkpoint's config) with each field it lacks that declares ``absent=``
    set to that value: the behaviour of the code that wrote it, not today's default."""
    missing = {f.name: f.metadata["absent"] for f in dataclasses.fields(cls)
               if "absent" in f.metadata and f.name not in recorded}
    return {**recorded, **missing}


def check_bounds(config: Any) -> None:
    """Every numeric field within the bounds its ``param`` declares, or one line naming the flag."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"{flag_name(f.name)} {value}: must be a finite number")
        lo, hi, positive = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("positive")
        bad = ( (positive and not value > 0) or (lo is not None and value < lo)
               or (hi is not None and value > hi))
        if bad:
            rule = " and ".join(filter(None, ["> 0" if positive else "", f"≥ {lo}" if lo is not None else "",
                                              f"≤ {hi}" if hi is not None else ""]))
            raise UserError(f"{flag_name(f.name)} {value}: must be {rule}")


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a value read from a flag or a file into the field's type, or fail naming ``where``."""
    tp, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "")):
        if optional:
            return None
        raise UserError(f"{where}: a value is required")
    try:
        if get_origin(tp) is Literal:
            choices = get_args(tp)
            if value not in choices:
                raise ValueError(f"expected one of {', '.join(map(str, choices))}")
            return value
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError("expected true or false")
            return bool(value)
        if get_origin(tp) is tuple:
            args = get_args(tp)
            item_tp = args[0]
            items = value.split(",") if isinstance(value, str) else list(value)
            items = [coerce(v.strip() if isinstance(v, str) else v, item_tp, where) for v in items if v != ""]
            if len(args) != 2 or args[1] is not Ellipsis:
                if len(items) != len(args):
                    raise ValueError(f"expected {len(args)} values")
            return tuple(items)
        if tp in (int, float) and isinstance(value, bool):
            raise ValueError(f"expected a number, not {str(value).lower()}")
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"{where}: invalid value {value!r} ({exc})") from None
    raise TypeError(f"unsupported config field type {tp!r} ({where})")


def to_plain(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON/TOML-friendly plain values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def did_you_mean(name: str, choices: typing.Iterable[str], template: str = "'{}'") -> str:
    """``"; did you mean 'closest'?"`` for the closest of ``choices`` to a mistyped ``name`` (difflib),
    or "" when none is close; ``template`` formats the suggestion (e.g. ``"[{}]"`` for a section)."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {template.format(close[0])}?" if close else ""


def from_plain(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build ``cls`` from plain values, rejecting unknown keys with a close-match hint."""
    hints = field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in hints:
            raise UserError(f"{where}: unknown key '{key}'{did_you_mean(name, names)}")
        kwargs[name] = coerce(value, hints[name], f"{where}: {key}")
    return cls(**kwargs)


SECTIONS = ("run", "data", "train", "model")  # the tables config.toml writes; keys inside are flat


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a flat TOML (or JSON) config file into a dict, with a one-line error if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; pass a TOML file, e.g. one from configs/")
    try:
        text = read_bytes(path, "config file").decode("utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError) as exc:
        raise UserError(f"{path}: not a valid TOML/JSON config ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config file holds keys and values, not a {type(data).__name__}")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in SECTIONS:  # [model] / [train] tables group keys for readability
            for inner, inner_value in value.items():
                if isinstance(inner_value, dict):
                    raise UserError(f"{path}: [{key}] {inner} is a table; write {inner} = VALUE")
                flat[inner] = inner_value
        elif isinstance(value, dict) and did_you_mean(key, SECTIONS):
            raise UserError(f"{path}: [{key}] is not a known section{did_you_mean(key, SECTIONS, '[{}]')} "
                            f"(the sections are {', '.join(f'[{s}]' for s in SECTIONS)})")
        elif isinstance(value, dict):
            raise UserError(f"{path}: {key} is a table; write {key} = VALUE (only {', '.join(f'[{s}]' for s in SECTIONS)} "
                            "group keys)")
        else:
            flat[key] = value
    return flat


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # JSON string escaping is valid TOML basic-string escaping


def dumps_toml(sections: dict[str, dict[str, Any]], header: str = "") -> str:
    """Write flat tables of scalars and lists as TOML (None values are left out: TOML has no null)."""
    lines = [f"# {line}" for line in header.splitlines()] + ([""] if header else [])
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def describe_type(tp: Any) -> str:
    tp, optional = _unwrap_optional(tp)
    if get_origin(tp) is Literal:
        name = "|".join(map(str, get_args(tp)))
    elif get_origin(tp) is tuple:
        name = "LIST"
    else:
        name = getattr(tp, "__name__", str(tp)).upper()
    return name + ("|none" if optional else "")
