"""Looking at a run: log reading that survives a killed run, the curves PNG, RUN/index.html (inline
SVG curves, samples, metrics, escaped config), ``translate plot``, TensorBoard logging, and a real
tiny training run plotted end to end."""

from __future__ import annotations

import builtins
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from translate import report
from translate.cli import cli as translate_cli
from translate.errors import UserError

STEPS = list(range(10, 1010, 10))  # 100 logged steps


def _loss_g(step: int) -> float:
    return 20.0 * math.exp(-step / 150) + 0.01  # decreasing, spans > 2 decades: log y


def _loss_d(step: int) -> float:
    return 1.5 - step / 2000 + 0.05 * math.sin(step)  # decreasing, noisy, one decade: linear y


METRICS = [  # fid best (lowest) at step 600, psnr best (highest) at 1000
    {"step": 200, "fid": 80.5, "psnr": 18.25, "protocol": "clean-fid <bicubic>"},
    {"step": 400, "fid": 41.75, "psnr": 20.5},
    {"step": 600, "fid": 12.375, "psnr": 21.0},
    {"step": 800, "fid": 19.5, "psnr": 21.5},
    {"step": 1000, "fid": 23.125, "psnr": 22.75, "protocol": "clean-fid <bicubic>"},
]


def make_run(root: Path) -> Path:
    run = root / "run"
    (run / "samples").mkdir(parents=True)
    lines = [json.dumps({"step": s, "loss_g": _loss_g(s), "loss_d": _loss_d(s), "images_per_s": 12.5,
                         "seconds": s / 10}) for s in STEPS]
    lines.insert(40, "Traceback (most recent call last): junk a tool printed into the log")
    lines.insert(60, "[1, 2, 3]")  # JSON but not an object
    text = "\n".join(lines) + "\n" + '{"step": 1010, "loss_g": 0.0'  # killed while writing the last line
    (run / "log.jsonl").write_text(text)
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in METRICS))
    (run / "config.toml").write_text('# Resolved config of this run\n[run]\nplugin = "gan"\nplugin_version = "1"\n\n'
                                     '[data]\ndata = "<script>alert(1)</script>"\n\n[train]\nsteps = 1000\n')
    for step, colour in ((500, (255, 0, 0)), (1000, (0, 0, 255))):
        Image.new("RGB", (32, 32), colour).save(run / "samples" / f"step-{step:07d}.png")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(run / "samples.png")
    return run


@pytest.fixture
def run(tmp_path) -> Path:
    return make_run(tmp_path)


def polyline_points(svg: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in pts.split()]
            for pts in re.findall(r'<polyline[^>]*points="([^"]*)"', svg)]


def charts(page: str) -> dict[str, str]:
    """The inline SVG charts of a page, by their key."""
    return {key: svg for svg, key in re.findall(r'(<svg class="chart" data-key="([^"]*)".*?</svg>)', page, re.S)}


# ---- reading -------------------------------------------------------------------------------------
def test_read_log_skips_junk_and_a_truncated_last_line(run):
    records = report.read_log(run / "log.jsonl")
    assert [r["step"] for r in records] == STEPS
    assert report.read_log(run / "missing.jsonl") == []
    # Appending completes the cut line; a second read (from where the first stopped) sees it.
    with open(run / "log.jsonl", "a") as f:
        f.write(', "loss_d": 0.5, "images_per_s": 12.5, "seconds": 101.0}\n{"step": 10')
    records = report.read_log(run / "log.jsonl")
    assert [r["step"] for r in records] == STEPS + [1010] and records[-1]["loss_g"] == 0.0
    # A rewritten file is read afresh, not appended to what was cached.
    (run / "log.jsonl").write_text('{"step": 1, "loss_g": 2.0}\n' * 3 + "x" * 5000 + "\n")
    assert [r["step"] for r in report.read_log(run / "log.jsonl")] == [1, 1, 1]


def test_steps_that_are_no_number_are_skipped(run):
    """A received metrics.jsonl may hold NaN, 1e400 (infinity to JSON), strings or NUL bytes."""
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 1e400, "fid": 1.0}\n{"step": NaN, "fid": 2.0}\n{"step": "9", "fid": 3.0}\n\x00\x00\n')
    data = report.curves(run)
    assert data.metrics["fid"].steps == [200, 400, 600, 800, 1000]


def test_curves_losses_metrics_and_resumed_runs(run):
    data = report.curves(run)
    assert list(data.losses) == ["loss_g", "loss_d"]  # images_per_s and seconds are not curves
    assert data.losses["loss_g"].steps == STEPS
    assert data.losses["loss_g"].values == pytest.approx([_loss_g(s) for s in STEPS])
    assert list(data.metrics) == ["fid", "psnr"]  # the protocol string is no curve
    assert data.metrics["fid"].steps == [200, 400, 600, 800, 1000]
    assert report.best(data.metrics["fid"], "fid") == (600, 12.375)
    assert report.best(data.metrics["psnr"], "psnr") == (1000, 22.75)
    assert data.step == 1000 and data.seconds_per_step == pytest.approx(0.1)
    # A run killed after logging step 1000 but checkpointed at 900 logs 910... again on resume:
    # the newer records replace the older ones from there on.
    with open(run / "log.jsonl", "a") as f:
        f.write("\n" + "".join(json.dumps({"step": s, "loss_g": 7.0, "loss_d": 7.0}) + "\n" for s in (910, 920)))
    series = report.curves(run).losses["loss_g"]
    assert series.steps == [s for s in STEPS if s <= 900] + [910, 920] and series.values[-2:] == [7.0, 7.0]
    assert report.use_log_scale([0.01, 5.0]) and not report.use_log_scale([0.5, 5.0])
    assert not report.use_log_scale([-1.0, 500.0])


def test_smoothing_follows_the_trend():
    assert report.ema([3.0, 3.0, 3.0], span=9) == pytest.approx([3.0, 3.0, 3.0])  # no pull towards 0
    noisy = [10 - i / 100 + (1 if i % 2 else -1) for i in range(1000)]
    smooth = report.ema(noisy, span=20)
    assert max(abs(s - (10 - i / 100)) for i, s in enumerate(smooth) if i > 100) < 0.3
    assert report.ema([1.0, float("nan"), 1.0], span=3)[2] == 1.0


# ---- the PNG -------------------------------------------------------------------------------------
def test_write_plot_makes_a_png(run, tmp_path):
    path = report.write_plot(run)
    assert path == run / "curves.png" and path.stat().st_size > 20_000
    with Image.open(path) as im:
        im.load()
        width, height = im.size
    assert width > 800 and height > 250  # 4 panels: 2 losses and 2 metrics, 3 columns, 2 rows
    other = report.write_plot(run, tmp_path / "elsewhere.png")
    assert other == tmp_path / "elsewhere.png" and other.stat().st_size > 20_000
    assert not list(run.glob(".*.tmp*"))  # written atomically, nothing left over


def test_write_plot_without_matplotlib_is_one_line(run, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UserError) as err:
        report.write_plot(run)
    assert str(err.value) == 'translate plot needs matplotlib: pip install "translate-gan[plot]"'
    result = CliRunner().invoke(translate_cli, ["plot", str(run)])
    assert result.exit_code == 1 and 'pip install "translate-gan[plot]"' in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (run / "index.html").is_file()  # the page needs no matplotlib


# ---- the page ------------------------------------------------------------------------------------
def test_index_html(run):
    path = report.write_index(run)
    assert path == run / "index.html"
    page = path.read_text(encoding="utf-8")
    assert "<title>gan · step 1000</title>" in page
    # Images by relative links, newest sample first, each with its step.
    assert 'src="samples.png"' in page
    assert page.index('src="samples/step-0001000.png"') < page.index('src="samples/step-0000500.png"')
    assert "step 500</figcaption>" in page and "step 1000</figcaption>" in page
    assert str(run) not in page.replace(f"--logdir {run}", "")  # no absolute paths in links
    # One chart per loss key and per metric, each with polylines monotone in x.
    svgs = charts(page)
    assert set(svgs) == {"loss_g", "loss_d", "fid", "psnr"}
    for key in ("loss_g", "loss_d"):
        lines = polyline_points(svgs[key])
        assert len(lines) == 2  # raw and smoothed
        for points in lines:
            xs = [x for x, _ in points]
            assert len(points) == len(STEPS) and xs == sorted(xs) and xs[0] < xs[-1]
        raw = lines[0]
        assert raw[0][1] < raw[-1][1]  # the loss falls: SVG y grows downwards
    assert ">log</text>" in svgs["loss_g"] and ">log</text>" not in svgs["loss_d"]
    fid_points = polyline_points(svgs["fid"])[0]
    assert len(fid_points) == 5 and min(fid_points, key=lambda p: -p[1])[0] == fid_points[2][0]  # best at 600
    # The metric table: latest and best.
    table = re.search(r'<table class="metrics">.*?</table>', page, re.S).group(0)
    fid_row = re.search(r"<tr><td>fid</td>.*?</tr>", table).group(0)
    cells = re.findall(r"<td>(.*?)</td>", fid_row)
    assert cells == ["fid", "23.12", "1000", "<strong>12.38</strong>", "600", "lower"]
    psnr_cells = re.findall(r"<td>(.*?)</td>", re.search(r"<tr><td>psnr</td>.*?</tr>", table).group(0))
    assert psnr_cells[3:] == ["<strong>22.75</strong>", "1000", "higher"]
    assert "protocol: clean-fid &lt;bicubic&gt;" in page
    # Everything is escaped: the config is shown, never run.
    assert "<script>" not in page
    assert 'data = &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;' in page
    assert '<a href="model.safetensors">' not in page  # only files that exist are linked
    assert not list(run.glob(".*.tmp*"))


def test_index_html_of_a_run_with_nothing_yet(tmp_path):
    run = tmp_path / "fresh"
    run.mkdir()
    (run / "log.jsonl").write_text("")
    page = report.write_index(run).read_text(encoding="utf-8")
    assert "no steps logged yet" in page and "<svg" not in page and "<table" not in page


def test_index_html_stays_small_for_a_long_log(tmp_path):
    """Curves are thinned (min and max of each bucket), so the page of a 10k-step run stays small;
    its speed is measured by benchmarks, not here."""
    run = tmp_path / "long"
    run.mkdir()
    with open(run / "log.jsonl", "w") as f:
        for s in range(1, 10_001):
            f.write(json.dumps({"step": s, "loss_g": 1 + (s % 7) / 10, "loss_d": 0.5 + (s % 3) / 10,
                                "loss_gp": 0.01 * s, "images_per_s": 300.1, "seconds": s * 0.05}) + "\n")
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "fid": 1e4 / s}) + "\n"
                                               for s in range(1000, 10_001, 1000)))
    page = report.write_index(run).read_text(encoding="utf-8")
    for points in polyline_points(charts(page)["loss_g"]):
        assert len(points) <= report.MAX_POINTS + 2
        assert max(x for x, _ in points) > min(x for x, _ in points)
    assert len(page) < 200_000


# ---- the command ---------------------------------------------------------------------------------
def test_plot_command(run, tmp_path):
    result = CliRunner().invoke(translate_cli, ["plot", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [str(run / "curves.png"), str(run / "index.html")]
    assert (run / "curves.png").stat().st_size > 20_000
    out = tmp_path / "c.png"
    result = CliRunner().invoke(translate_cli, ["plot", str(run / "samples.png"), "-o", str(out)])
    assert result.exit_code == 0 and out.is_file()  # a file inside the run stands for its folder
    for folder, why in ((tmp_path / "nowhere", "no such run folder"), (tmp_path, "no log.jsonl")):
        result = CliRunner().invoke(translate_cli, ["plot", str(folder)])
        assert result.exit_code == 1 and str(folder) in result.output and why in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_plot_module_and_help_import_no_torch():
    code = ("import sys; import translate.cli.plot, translate.report, translate.tensorboard_log; "
            "from translate.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0 and 'plot' in r.output; "
            "r = CliRunner().invoke(cli, ['plot', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'tensorboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- TensorBoard ---------------------------------------------------------------------------------
def test_tensorboard_log(tmp_path):
    pytest.importorskip("tensorboard")
    import numpy as np
    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from translate.tensorboard_log import TensorboardLog

    log = TensorboardLog.for_run(tmp_path)
    assert not (tmp_path / "tensorboard").exists()  # nothing until the first write
    for step in (1, 2, 3):
        log.scalars(step, {"loss_g": 1.0 / step, "loss_d": torch.tensor(0.5), "note": "x", "bad": float("nan")})
    log.scalars(3, {"fid": 12.5}, prefix="eval/")
    log.image("samples", 3, torch.rand(4, 3, 8, 8) * 2 - 1)  # a batch in [-1, 1] becomes a grid
    log.image("pil", 3, Image.new("RGB", (10, 6), (255, 0, 0)))
    log.image("gray", 3, np.zeros((5, 7), dtype=np.uint8))
    log.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss_g", "loss_d", "eval/fid"}
    assert [e.value for e in acc.Scalars("loss_g")] == pytest.approx([1.0, 0.5, 1 / 3])
    images = {tag: acc.Images(tag)[0] for tag in acc.Tags()["images"]}
    assert (images["samples"].width, images["samples"].height) == (2 + 2 * 10, 2 + 2 * 10)
    assert (images["pil"].width, images["pil"].height) == (10, 6)
    assert (images["gray"].width, images["gray"].height) == (7, 5)


def test_tensorboard_missing_is_one_line(tmp_path, monkeypatch):
    from translate import tensorboard_log

    monkeypatch.setattr(tensorboard_log.TensorboardLog, "available", staticmethod(lambda: False))
    log = tensorboard_log.TensorboardLog.for_run(tmp_path)
    with pytest.raises(UserError, match=re.escape('pip install "translate-gan[tensorboard]"')):
        log.scalars(1, {"loss": 1.0})
    log.close()  # closing an unused log is fine


# ---- a real run ----------------------------------------------------------------------------------
def test_plot_a_real_training_run(tmp_path):
    import translate

    out = tmp_path / "real"
    translate.train("gan", data="shapes", size=16, features=8, latent_dim=8, batch_size=4, steps=6,
                    log_every=1, sample_every=2, checkpoint_every=3, device="cpu", precision="fp32",
                    out=out, progress=False)
    result = CliRunner().invoke(translate_cli, ["plot", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with Image.open(out / "curves.png") as im:
        assert im.size[0] > 400
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<title>gan · step 6</title>" in page
    assert 'src="samples/step-0000002.png"' in page and 'src="samples/step-0000004.png"' in page
    losses = [k for k in report.curves(out).losses]
    assert losses and set(charts(page)) == set(losses)
    for key in losses:
        xs = [x for x, _ in polyline_points(charts(page)[key])[0]]
        assert len(xs) == 6 and xs == sorted(xs)
    assert "[model]" in page and "latent_dim = 8" in page


def test_plot_of_a_file_outside_a_run_names_it(tmp_path, cli, monkeypatch, error_line):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("hi")
    text = error_line(cli("plot", "afile", ok=False))
    assert "afile" in text and "run folder" in text and "log.jsonl" in text
    assert "Error: .:" not in text


def test_plot_still_takes_a_file_in_a_run(cli, tiny_gan_run):
    pytest.importorskip("matplotlib")
    result = cli("plot", tiny_gan_run / "log.jsonl")
    assert (tiny_gan_run / "curves.png").is_file() and "curves.png" in result.output


def test_plot_of_a_received_run_never_reads_through_a_link_nor_opens_a_fifo(run, tmp_path, cli, error_line):
    import os

    secret = tmp_path / "secret.txt"
    secret.write_text("a private key")
    (run / "config.toml").unlink()
    (run / "config.toml").symlink_to(secret)  # its text would be copied into index.html
    text = error_line(cli("plot", run, ok=False))
    assert "config.toml is a symbolic link" in text and not (run / "index.html").exists()
    (run / "config.toml").unlink()
    (run / "metrics.jsonl").unlink()
    os.mkfifo(run / "metrics.jsonl")  # reading it would wait for ever
    assert "metrics.jsonl is a FIFO" in error_line(cli("plot", run, ok=False))
