"""The first hour of a new user (issue 19): a measured estimate and a suggestion for long runs,
progress that never goes quiet, the data doctor, and converting between the paired layouts."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

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


def test_training_says_what_it_is_doing_before_the_first_step(tmp_path, cli_subprocess):
    proc = cli_subprocess("train", "gan", "--data", "shapes", "--steps", "3", "--size", "16", "--features", "8",
                          "--out", tmp_path / "run")
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("training gan") and lines[1].startswith("reading data (--data shapes)")
    assert "building networks on cpu" in lines[2] and lines[3].startswith("step 1/3")


# ---- the data doctor ------------------------------------------------------------------------------

def _folder(path, sizes, seed=0, mode="RGB"):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
        img.save(path / f"{i:02d}.png")
    return path


def test_data_check_reports_counts_modes_problems_and_what_training_does(tmp_path, cli):
    data = _folder(tmp_path / "data", [(40, 30), (64, 48), (20, 20)])
    Image.new("I;16", (50, 50)).save(data / "deep.png")
    shutil.copy(data / "00.png", data / "again.png")
    (data / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = cli("data", "check", data, "--size", 32, ok=False)
    out = result.output
    assert result.exit_code == 1
    assert "6 image file(s), 5 readable" in out and "I;16 1" in out
    assert "UNREADABLE" in out and "broken.jpg" in out
    assert "DUPLICATE content: 00.png, again.png" in out
    assert "16-bit image(s) are reduced to 8 bits" in out
    assert "a 32×32 RGB crop" in out and "smaller than 32" in out
    (data / "broken.jpg").unlink()
    assert "no problems found" in cli("data", "check", data).output


def test_data_check_finds_pairing_problems(tmp_path, cli):
    a = _folder(tmp_path / "a", [(32, 32), (32, 32), (32, 32)])
    b = _folder(tmp_path / "b", [(32, 32), (32, 24)])
    out = cli("data", "check", a, "--b", b, "--paired", ok=False).output
    assert "1 name(s) only in A: 02" in out and "1 pair(s) differ in size: 01 (32×32 vs 32×24)" in out
    aligned = _folder(tmp_path / "aligned", [(33, 16)])
    assert "odd width" in cli("data", "check", aligned, "--aligned", ok=False).output


def test_pair_and_split_are_inverse(tmp_path, cli):
    a = _folder(tmp_path / "A", [(24, 16), (30, 20)], seed=1)
    b = _folder(tmp_path / "B", [(24, 16), (30, 20)], seed=2)
    cli("data", "pair", a, b, "-o", tmp_path / "aligned")
    joined = np.asarray(Image.open(tmp_path / "aligned" / "01.png"))
    assert joined.shape == (20, 60, 3)
    cli("data", "split", tmp_path / "aligned", "-o", tmp_path / "back")
    for side, folder in (("A", a), ("B", b)):
        for name in ("00.png", "01.png"):
            assert np.array_equal(np.asarray(Image.open(tmp_path / "back" / side / name)),
                                  np.asarray(Image.open(folder / name)))
    result = cli("data", "pair", a, b, "-o", tmp_path / "aligned", ok=False)
    assert "already exist" in result.output  # never overwritten silently
    b2 = _folder(tmp_path / "B2", [(24, 16), (31, 20)], seed=2)
    assert "differ in size" in cli("data", "pair", a, b2, "-o", tmp_path / "x", ok=False).output


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
    assert stream.getvalue().strip() == "1/3 image(s) in 31 s (tile 5/12 of big.jpg)"


def test_apply_grid_puts_input_beside_output(tmp_path, cli):
    """--grid: input | output side by side, the input scaled to an SR output's size."""
    import translate

    run = tmp_path / "sr"
    translate.train("srgan", data="skimage", scale=2, size=24, steps=2, batch_size=2, n_blocks=1, features=8,
                    stage="pretrain", sample_every=0, out=run, progress=False)
    src = tmp_path / "in.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(src)
    cli("apply", run, src, "-o", tmp_path / "plain.png")
    cli("apply", run, src, "-o", tmp_path / "grid.png", "--grid")
    plain, grid = np.asarray(Image.open(tmp_path / "plain.png")), np.asarray(Image.open(tmp_path / "grid.png"))
    assert plain.shape == (40, 60, 3) and grid.shape == (40, 120, 3)
    assert np.array_equal(grid[:, 60:], plain)
    assert np.array_equal(grid[::2, :60:2], np.asarray(Image.open(src)))  # nearest-scaled input
