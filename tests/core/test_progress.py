"""translate/progress.py: a measured estimate and a shorter alternative for long runs, progress
that never goes quiet, and readable rates and durations."""

from __future__ import annotations

import io

from translate import progress
from translate.progress import Progress, format_duration, format_rate


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _progress(monkeypatch, total, device="cpu"):
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    stream = io.StringIO()
    return Progress(total, 0, stream=stream, device=device), clock, stream


def test_a_long_cpu_run_is_estimated_early_and_gets_a_short_alternative(monkeypatch):
    bar, clock, stream = _progress(monkeypatch, 200_000)
    for step in range(1, 7):
        clock.now += 7.0  # a CycleGAN step at 256² on this CPU
        bar.update(step, {"loss_g": 1.5}, 0.14)
    text = stream.getvalue()
    assert "measured 7.0 s/step on cpu: 200,000 steps take about 16 d 4 h" in text
    assert "that is long for a cpu: --steps 257 gives a short run of about 30 min" in text
    assert text.count("measured") == 1  # said once


def test_progress_lines_come_after_the_first_step_and_every_30_s(monkeypatch):
    bar, clock, stream = _progress(monkeypatch, 1000)
    lines = []
    for step in range(1, 200):
        clock.now += 0.5
        bar.update(step, {"loss_d": 0.7, "loss_g": 2.0}, 32.0)
        lines = [ln for ln in stream.getvalue().splitlines() if ln.startswith("step")]
    assert lines[0].startswith("step 1/1000")
    assert len(lines) == 1 + int(199 * 0.5 // 30)  # the first step, then one per 30 s
    assert "2.0 steps/s" in lines[-1] and "loss_g 2" in lines[-1] and "eta" in lines[-1]


def test_rates_and_durations_are_readable_at_any_speed():
    assert format_rate(7.04) == "7.0 s/step" and format_rate(0.02) == "50.0 steps/s"
    assert format_duration(42) == "42 s" and format_duration(3725) == "1 h 02 min"
    assert format_duration(90000) == "1 d 1 h"


def test_a_short_run_gets_no_suggestion(monkeypatch):
    bar, clock, stream = _progress(monkeypatch, 100)
    for step in range(1, 20):
        clock.now += 1.0
        bar.update(step, {}, 10.0)
    assert "measured 1.0 s/step" in stream.getvalue() and "long for" not in stream.getvalue()


def test_apply_reports_tiles_of_a_large_image_and_goes_quiet_on_short_jobs(monkeypatch):
    """Progress within one big image (tiles), plain lines only after 30 s without a terminal."""
    import torch

    from translate.progress import ItemProgress
    from translate.tiling import on_tiles, tiled

    seen = []
    with on_tiles(lambda done, total: seen.append((done, total))):
        out = tiled(lambda t: t * 2, torch.ones(1, 3, 100, 70), tile=32, overlap=8)
    assert torch.allclose(out, torch.full_like(out, 2.0))
    assert seen[-1][0] == seen[-1][1] == len(seen) > 4
    tiled(lambda t: t, torch.ones(1, 3, 100, 70), tile=32, overlap=8)  # no listener left behind
    assert len(seen) == seen[-1][1]

    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    stream = io.StringIO()
    bar = ItemProgress(3, stream=stream)
    bar.advance()
    assert stream.getvalue() == ""  # a short job prints nothing extra
    clock.now += 31
    bar.note("tile 5/12 of big.jpg")
    assert stream.getvalue().strip() == "1/3 image(s) in 31 s, eta 1 min 02 s (tile 5/12 of big.jpg)"
