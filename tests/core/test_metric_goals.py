"""translate.metric_goals: one table of which way each metric improves, extended by plugins."""

from __future__ import annotations

import math

import pytest

from translate.errors import UserError
from translate.metric_goals import CORE_GOALS, goal_table, is_better, metric_goal, parse_metric
from translate.plugin import Plugin, contract_problems
from translate.registry import load_plugin


def test_core_goals_resolve_by_prefix_and_unknown_ones_must_be_named():
    assert parse_metric("fid")[1] == parse_metric("fid_a2b")[1] == parse_metric("kid_b2a")[1] == "min"
    assert parse_metric("psnr_y")[1] == parse_metric("ssim")[1] == "max" and parse_metric("lpips")[1] == "min"
    assert parse_metric("max:accuracy") == ("accuracy", "max") and parse_metric("min:fid") == ("fid", "min")
    for name in ("accuracy", "kid_std", "max:", "best:fid"):
        with pytest.raises(UserError):
            parse_metric(name)
    with pytest.raises(UserError, match="max:accuracy or min:accuracy"):
        parse_metric("accuracy")
    assert metric_goal("kid_std") is None and metric_goal("accuracy") is None and metric_goal("psnr_y") == "max"
    assert is_better("min", 10.0, 12.0) and not is_better("min", 12.0, 10.0) and not is_better("min", 10.0, 10.0)
    assert is_better("max", 30.0, 29.0) and is_better("min", 50.0, None) and is_better("min", 50.0, math.nan)
    assert not is_better("min", math.nan, 50.0) and not is_better("min", None, 50.0)


def test_plugins_declare_the_goals_of_their_own_metrics():
    gan = goal_table(load_plugin("gan"))
    assert parse_metric("modes", gan)[1] == parse_metric("hq_percent", gan)[1] == "max"
    assert parse_metric("reverse_kl", gan)[1] == "min" and parse_metric("fid", gan)[1] == "min"
    with pytest.raises(UserError, match="not a quality"):
        parse_metric("modes_total", gan)
    with pytest.raises(UserError, match="no known goal"):
        parse_metric("modes")  # the core alone does not know the gan plugin's metrics
    sr = goal_table(load_plugin("srgan"))
    assert metric_goal("psnr_y", sr) == "max" and metric_goal("bicubic_psnr_y", sr) is None
    assert set(CORE_GOALS) <= set(gan)


def test_a_plugin_declaring_bad_goals_breaks_the_contract():
    class Bad(Plugin):
        description = "bad goals"
        metric_goals = {"accuracy": "up", "fid": "max", "score": "min"}

    problems = "; ".join(contract_problems(Bad))
    assert "metric_goals['accuracy'] is 'up'" in problems and "the core's fid is 'min'" in problems
    assert "score" not in problems
