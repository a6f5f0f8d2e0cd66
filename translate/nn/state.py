"""State dicts: the pieces every loader needs, written once (no torch import needed)."""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def sub_state(tensors: Mapping[str, T], prefix: str) -> dict[str, T]:
    """The entries under ``prefix`` (a dot is added when missing), with the prefix removed:
    ``sub_state({"g.w": 1, "d.w": 2}, "g") == {"w": 1}``."""
    prefix = prefix if prefix.endswith(".") or not prefix else prefix + "."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def strip_prefix(tensors: Mapping[str, T], prefix: str) -> dict[str, T]:
    """Every entry, with ``prefix`` removed where a key starts with it (e.g. DataParallel's
    ``module.``); keys without it are kept as they are."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in tensors.items()}


def type_mismatch(stored: Any, built: Any) -> str:
    """Why the tensor ``stored`` cannot go into ``built`` although the shapes agree ('' if it can): integer
    or boolean values for floating-point weights (torch would convert them silently, e.g. float
    bits read as int32, giving a network of huge whole numbers), or the reverse."""
    if built.is_floating_point() != stored.is_floating_point() or built.is_complex() != stored.is_complex():
        return f"holds {str(stored.dtype).removeprefix('torch.')} values where the network has " \
               f"{str(built.dtype).removeprefix('torch.')} ones"
    return ""
