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
    # The newest grid shown, every step's grid linked for the slider (oldest first), all relative.
    assert 'id="shown" src="samples/step-0001000.png"' in page
    assert page.index('href="samples/step-0000500.png" data-step="500"') < page.index('data-step="1000"')
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
    assert page.count("<script>") == 1 and "<script>alert" not in page  # the page's own script alone
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


def _write_layout(run: Path, **record) -> None:
    (run / "samples" / "layout.json").write_text(json.dumps(record))


def test_the_grid_is_captioned_with_what_its_columns_and_rows_show(run):
    _write_layout(run, columns=["real", "translated <b>"], rows=["A → B", "B → A"], title="two directions",
                  grid=[2, 4])
    page = report.render_index(run)
    assert '<div class="colcaps"><span>real</span><span>translated &lt;b&gt;</span></div>' in page
    rows = re.search(r'<div class="rowcaps">(.*?)</div>', page).group(1)
    assert re.findall(r"<span>(.*?)</span>", rows) == ["A → B", "B → A"] * 2  # repeating, one per grid row
    assert "--cols:2;--rows:4" in page and "two directions" in page


def test_a_small_grid_is_shown_scaled_up_with_square_pixels(run):
    page = report.render_index(run)
    # 32 px wide: the largest whole factor within the target width and height, 8 at most
    scale = min(report.MAX_GRID_SCALE, report.GRID_TARGET_PX[0] // 32, report.GRID_TARGET_PX[1] // 32)
    assert f'width="{32 * scale}" height="{32 * scale}"' in page and "image-rendering:pixelated" in page
    assert report.png_size(run / "samples.png") == (32, 32) and report.png_size(run / "config.toml") is None
    Image.new("RGB", (2000, 900)).save(run / "samples" / "step-0002000.png")  # large: shown as it is
    assert 'width="2000" height="900"' in report.render_index(run)


def test_a_layout_from_anywhere_is_checked_before_it_is_shown(run):
    """A received run folder's layout.json is data: wrong types, junk and huge files give no captions,
    and whatever text is shown is escaped."""
    for text in ("not json", "[1, 2]", json.dumps({"columns": "abc", "rows": [3], "grid": [0, -1], "title": 7}),
                 json.dumps({"columns": ["x"] * 10, "junk": "y" * (report._MAX_LAYOUT_BYTES + 10)})):
        (run / "samples" / "layout.json").write_text(text)
        page = report.render_index(run)
        assert "colcaps" not in page.split("<style>")[1].split("</style>")[1]
    _write_layout(run, columns=["<script>alert(1)</script>"], title="<img src=x onerror=alert(1)>", grid=[1, 1])
    page = report.render_index(run)
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;script&gt;" in page


def test_a_live_page_reloads_itself_and_says_so(run):
    live, final = report.render_index(run, live=True), report.render_index(run)
    assert 'data-reload-s="15"' in live and "training · step 1,000 of 1,000" in live and "reloads itself" in live
    assert 'data-reload-s="0"' in final and "finished · step 1,000 of 1,000" in final
    (run / "config.toml").write_text('[run]\nplugin = "gan"\n[train]\nsteps = 5000\n')
    stopped = report.render_index(run)
    assert "stopped at step 1,000 of 5,000" in stopped and "translate train gan --resume run" in stopped


def test_translate_plot_of_a_run_in_training_writes_a_live_page(run, cli, monkeypatch):
    from translate import run_folder

    monkeypatch.setattr(report, "write_plot", lambda run_dir, out=None: run_dir / "curves.png")  # the page alone
    with run_folder.run_lock(run):
        assert run_folder.in_use(run)
        cli("plot", run)
        assert 'data-reload-s="15"' in (run / "index.html").read_text(encoding="utf-8")
    assert not run_folder.in_use(run)
    cli("plot", run)
    assert 'data-reload-s="0"' in (run / "index.html").read_text(encoding="utf-8")


def test_the_speed_is_the_terminals(tmp_path):
    """The page shows the s/step the progress line showed (logged as seconds_per_step), not the
    time between the last two logged steps, which a checkpoint or an evaluation inflates."""
    run = tmp_path / "run"
    run.mkdir()
    records = [{"step": 10, "loss": 1.0, "seconds": 50.0, "seconds_per_step": 4.7},
               {"step": 20, "loss": 1.0, "seconds": 120.0, "seconds_per_step": 4.7}]  # 7 s/step over the last 10
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert report.curves(run).seconds_per_step == 4.7
    assert "4.7 s/step" in report.render_index(run) and "6.9" not in report.render_index(run)
    # A log without the field (an older run): the mean over the last process's logged steps.
    records = [{"step": 10, "seconds": 100.0}, {"step": 20, "seconds": 5.0}, {"step": 30, "seconds": 25.0},
               {"step": 40, "seconds": 65.0}]  # resumed at step 20: seconds restart
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert report.curves(run).seconds_per_step == pytest.approx(3.0)


@pytest.mark.slow  # a headless browser
def test_the_page_script_steps_zooms_and_reloads_in_a_real_browser(run, tmp_path, monkeypatch):
    """The slider, the arrow keys, the step kept in the address, the full-resolution zoom and the
    live page's reload, in headless Chromium (skipped with a reason where it or its driver is absent)."""
    import shutil
    import time

    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if binary is None or shutil.which("chromedriver") is None:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    Image.new("RGB", (32, 32), (0, 255, 0)).save(run / "samples" / "step-0000750.png")
    page = report.write_index(run)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        browser.get(page.as_uri())
        shown = browser.find_element(By.ID, "shown")
        assert shown.get_attribute("src").endswith("samples/step-0001000.png")
        assert browser.find_element(By.ID, "steplabel").text == "step 1000 (latest) · 3 of 3"
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        assert shown.get_attribute("src").endswith("samples/step-0000750.png")
        assert browser.current_url.endswith("#step=750")
        browser.refresh()  # a reload (a live page's) keeps the step picked
        assert browser.find_element(By.ID, "shown").get_attribute("src").endswith("samples/step-0000750.png")
        browser.find_element(By.ID, "shown").click()
        zoomed = browser.find_element(By.ID, "zoomed")
        assert browser.find_element(By.ID, "zoom").is_displayed()
        browser.find_element(By.CSS_SELECTOR, 'button[data-zoom="8"]').click()
        assert zoomed.get_attribute("src").endswith("samples/step-0000750.png") and zoomed.size["width"] == 32 * 8
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        assert not browser.find_element(By.ID, "zoom").is_displayed()
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.END)
        assert browser.find_element(By.ID, "shown").get_attribute("src").endswith("samples/step-0001000.png")
        assert "#" not in browser.current_url  # the latest is followed again
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        (fresh / "log.jsonl").write_text("")
        monkeypatch.setattr(report, "RELOAD_S", 1)
        browser.get(report.write_index(fresh, live=True).as_uri())  # live, and no samples yet
        browser.execute_script("window.notReloaded = true")
        time.sleep(2.5)
        assert browser.execute_script("return window.notReloaded") is None
    finally:
        browser.quit()


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
    assert 'data-step="2"' in page and 'data-step="4"' in page and 'src="samples/step-0000006.png"' in page
    assert "samples from fixed noise" in page  # the gan plugin's caption
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
