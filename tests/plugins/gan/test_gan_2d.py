"""2-D mode-collapse diagnostics: the metrics by hand, and a short grid25 run that captures clearly
more modes than the untrained generator, through the CLI (train, eval, sample)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from translate.request import new_request
from translate_plugins.gan.data import grid25, ring8
from translate_plugins.gan.evaluation import mode_stats, reverse_kl


def resolve(plugin, values, config_file=None):
    """(options, config, data) of a new run, resolved as translate.train does."""
    request = new_request(plugin, values, config_file)
    return request.options, request.config, request.data


def test_mode_stats_by_hand():
    ring = ring8()
    sigma = ring.sigma
    points = np.array([
        ring.modes[0] + [2 * sigma, 0],      # HQ, mode 0 (2σ away)
        ring.modes[0] - [0, 2.9 * sigma],    # HQ, mode 0
        ring.modes[3],                       # HQ, mode 3
        ring.modes[5] + [4 * sigma, 0],      # nearest mode 5, but 4σ away: not HQ
        [np.nan, 0.0],                       # a broken sample is never HQ
    ])
    stats = mode_stats(points, ring.modes, sigma)
    assert stats["modes"] == 2 and stats["modes_total"] == 8
    assert stats["hq_percent"] == pytest.approx(100 * 3 / 5)
    # HQ histogram (2, 1, 0, ...) → p = (2/3, 1/3): Σ p log(p·8), empty bins add 0
    assert stats["reverse_kl"] == pytest.approx(2 / 3 * math.log(16 / 3) + 1 / 3 * math.log(8 / 3))


def test_reverse_kl_edge_cases():
    assert reverse_kl(np.full(25, 7)) == pytest.approx(0.0)
    assert reverse_kl(np.eye(25)[0] * 100) == pytest.approx(math.log(25))
    assert reverse_kl(np.zeros(8)) == math.inf


def test_real_data_scores_perfectly():
    mix = grid25()
    stats = mode_stats(mix.sample(2500, np.random.default_rng(0)), mix.modes, mix.sigma)
    assert stats["modes"] == 25 and stats["hq_percent"] > 99 and stats["reverse_kl"] < 0.02


STEPS = "2500"


@pytest.mark.slow
def test_short_grid25_run_beats_the_untrained_generator(cli, tmp_path):
    from translate.registry import load_plugin
    from translate_plugins.gan.evaluation import evaluate_points

    # The 2-D defaults, unpacked and cut short (configs/gan-grid25.toml packs 2 and runs 50,000 steps of 512).
    run = tmp_path / "run"
    cli("train", "gan", "--data", "grid25", "--steps", STEPS, "--batch-size", "256", "--sample-every", "0",
        "--out", run)
    result = cli("eval", run, "-o", tmp_path / "eval")
    trained = {line.split()[0]: float(line.split()[1]) for line in result.output.splitlines() if line.strip()}
    assert (tmp_path / "eval" / "scatter.png").stat().st_size > 0
    assert trained["samples"] == 2500 and trained["modes_total"] == 25

    gan = load_plugin("gan")
    options, config, _ = resolve(gan, {"data": "grid25"}, None)
    torch.manual_seed(options.seed)
    untrained = gan.build(config, options)["generator"].eval()
    before = evaluate_points(untrained, config, tmp_path, None, 2500, 0)
    assert trained["modes"] >= before["modes"] + 8, (before, trained)
    assert trained["hq_percent"] >= before["hq_percent"] + 10, (before, trained)
    assert trained["reverse_kl"] < before["reverse_kl"] - 0.5, (before, trained)

    cli("sample", run, "-n", "100", "-o", tmp_path / "p.csv")
    assert np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1).shape == (100, 2)
    bad = cli("eval", run, "--data", "ring8x", "-o", tmp_path / "e2", ok=False)
    assert "ring8, grid25" in bad.output
