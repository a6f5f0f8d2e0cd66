"""Which way each metric improves: one table, that plugins extend by declaring their own.

The core knows the goals of the metrics it computes itself (:mod:`translate.metrics`: FID, KID,
LPIPS, PSNR, SSIM); a plugin declares the goals of its own metrics in its ``metric_goals``
class attribute (see :mod:`translate.plugin`). ``--keep-best`` and the run page's "best" both
look a metric up in :func:`goal_table` of the run's plugin.

A goal is ``"min"`` or ``"max"``, or None for a figure that is not a quality to optimise (an
error bar, a count, a baseline that does not depend on the model). Names resolve by their longest
``_``-separated prefix in the table: ``fid_ema`` → ``fid``, ``psnr_rgb`` → ``psnr``. ``max:NAME`` or
``min:NAME`` give the goal of any other metric.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .errors import UserError

GOALS = ("min", "max")

# The metrics the core computes (translate.metrics and translate.evaluation.folder_metrics).
CORE_GOALS: dict[str, str | None] = {
    "fid": "min", "kid": "min", "lpips": "min", "psnr": "max", "ssim": "max",
    "kid_std": None,  # the error bar of kid
}


def goal_table(plugin: Any = None) -> dict[str, str | None]:
    """The core's goals and those that ``plugin`` (if any) declares in ``metric_goals``."""
    return {**CORE_GOALS, **dict(getattr(plugin, "metric_goals", None) or {})}


def declaration_problems(goals: Any) -> list[str]:
    """What is wrong with a plugin's ``metric_goals`` (empty when it is a valid declaration)."""
    if not isinstance(goals, Mapping):
        return [f"metric_goals is a {type(goals).__name__}; declare a dict of metric name → 'min', 'max' or None"]
    problems = []
    for name, goal in goals.items():
        if not isinstance(name, str) or not name:
            problems.append(f"metric_goals has a key {name!r}; metric names are non-empty strings")
        elif goal not in (*GOALS, None):
            problems.append(f"metric_goals['{name}'] is {goal!r}; use 'min', 'max' or None (not a quality)")
        elif name in CORE_GOALS and CORE_GOALS[name] != goal:
            problems.append(f"metric_goals['{name}'] is {goal!r}, but the core's {name} is {CORE_GOALS[name]!r}; "
                            "give your metric another name")
    return problems


def lookup(name: str, table: Mapping[str, str | None]) -> tuple[str, str | None] | None:
    """(table key, goal) of the longest ``_``-separated prefix of ``name`` in ``table``, else None."""
    parts = name.split("_")
    for end in range(len(parts), 0, -1):
        prefix = "_".join(parts[:end])
        if prefix in table:
            return prefix, table[prefix]
    return None


def parse_metric(spec: str, table: Mapping[str, str | None] = CORE_GOALS) -> tuple[str, str]:
    """``(name, goal)`` of a metric to optimise: ``fid_ema`` → (fid_ema, min); ``max:score`` →
    (score, max). A name with no goal in ``table`` is a one-line error saying how to give one."""
    goal, sep, key = spec.partition(":")
    if sep:
        if goal not in GOALS or not key:
            raise UserError(f"metric {spec!r}: write min:NAME or max:NAME (e.g. max:accuracy)")
        return key, goal
    known = ", ".join(k for k, v in table.items() if v)
    found = lookup(spec, table)
    if found is None:
        raise UserError(f"metric {spec!r}: no known goal (known: {known}, and names that start with them such as "
                        f"fid_ema); write max:{spec} or min:{spec}")
    if found[1] is None:
        raise UserError(f"metric {spec!r} is a count or an error bar, not a quality to optimise; choose one of {known}")
    return spec, found[1]


def metric_goal(name: str, table: Mapping[str, str | None] = CORE_GOALS) -> str | None:
    """'min', 'max', or None for a metric that is not a quality or whose goal nobody declared."""
    found = lookup(name, table)
    return found[1] if found else None


def is_better(goal: str, new: float | None, old: float | None) -> bool:
    """Whether ``new`` improves on ``old`` towards ``goal`` ('min' or 'max'). Anything finite beats a
    missing or NaN ``old``; a missing or NaN ``new`` never wins; ties do not count as better."""
    if new is None or math.isnan(new):
        return False
    if old is None or math.isnan(old):
        return True
    return new < old if goal == "min" else new > old
