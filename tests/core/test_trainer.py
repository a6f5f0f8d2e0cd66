"""translate/trainer.py: the training loop (what a step costs when its data fail, what it says
before the first step)."""

from __future__ import annotations


import pytest
from safetensors import safe_open

import translate
from translate.errors import DataError, UserError
from helpers import random_images as _images


TINY = {"size": 16, "features": 8, "latent_dim": 8, "batch_size": 4, "sample_every": 0, "device": "cpu"}


def test_a_file_that_fails_while_training_costs_no_work(tmp_path, monkeypatch):
    from translate.data import sources

    decode, calls = sources.ImageSource._decode, {"n": 0}

    def failing_later(self, index, channels):
        calls["n"] += 1
        if calls["n"] > 40:  # after a few steps the disk returns garbage for this file
            raise DataError(f"{self.paths[index]}: cannot read image (broken data stream)")
        return decode(self, index, channels)

    monkeypatch.setattr(sources.ImageSource, "_decode", failing_later)
    data, out = _images(tmp_path / "data", 8), tmp_path / "run"
    with pytest.raises(UserError, match=r"cannot read image.*checkpoint of step \d+ saved.*--resume") as info:
        translate.train("gan", data=data, steps=50, out=out, progress=False, **dict(TINY, batch_size=2))
    with safe_open(str(out / "state.safetensors"), "pt") as f:
        step = int(f.metadata()["step"])
    assert step >= 5 and "\n" not in str(info.value)
    calls["n"] = -10**9  # the file is fixed: resume finishes the run
    assert translate.train("gan", resume=out, progress=False).step == 50


@pytest.mark.slow  # a subprocess run: ~6 s
def test_training_says_what_it_is_doing_before_the_first_step(tmp_path, cli_subprocess):
    proc = cli_subprocess("train", "gan", "--data", "shapes", "--steps", "3", "--size", "16", "--features", "8",
                          "--out", tmp_path / "run")
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("training gan") and lines[1].startswith("reading data (--data shapes)")
    assert "building networks on cpu" in lines[2] and lines[3].startswith("step 1/3")


@pytest.mark.slow  # a subprocess that trains with a worker process: ~10 s on 2 cores
def test_a_killed_data_loader_worker_saves_the_run_and_is_one_line(tmp_path):
    """The kernel's OOM killer (here kill -9) taking a DataLoader worker: torch raises from its
    SIGCHLD handler anywhere in the step; the run is saved and the error names --workers."""
    import os
    import signal
    import subprocess

    from helpers import popen_translate, wait_for_steps

    run = tmp_path / "run"
    proc = popen_translate("train", "gan", "--data", "shapes", "--size", "16", "--features", "4", "--steps", "100000",
                           "--batch-size", "4", "--workers", "1", "--sample-every", "0", "--out", run)
    wait_for_steps(run / "log.jsonl", 2)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    os.kill(int(workers[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("Error: DataLoader worker") and "--workers" in line and f"--resume {run}" in line
    assert (run / "state.safetensors").is_file()


def _page_spy(monkeypatch) -> list[dict]:
    """Each write of RUN/index.html as the trainer makes it: live or not, and the sample files that
    existed at that moment."""
    from translate import report

    pages, write = [], report.write_index

    def spy(run_dir, goals=None, live=False):
        samples = run_dir / "samples"
        pages.append({"live": live, "grids": sorted(p.name for p in samples.glob("step-*.png")),
                      "latest": (run_dir / "samples.png").is_file(), "layout": (samples / "layout.json").is_file()})
        return write(run_dir, goals, live)

    monkeypatch.setattr(report, "write_index", spy)
    return pages


def test_the_run_page_is_there_from_the_start_and_after_every_sample(tmp_path, monkeypatch):
    pages = _page_spy(monkeypatch)
    out = tmp_path / "run"
    translate.train("gan", data="shapes", steps=3, out=out, progress=False, **dict(TINY, sample_every=1))
    assert pages[0] == {"live": True, "grids": [], "latest": False, "layout": False}  # written when the run starts
    first = next(i for i, page in enumerate(pages) if page["grids"])
    assert pages[first] == {"live": True, "grids": ["step-0000001.png"], "latest": True, "layout": True}
    assert pages[-1] == {"live": False, "grids": [f"step-000000{s}.png" for s in (1, 2, 3)], "latest": True,
                         "layout": True}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-reload-s="0"' in page and 'src="samples/step-0000003.png"' in page


def test_an_interrupted_run_writes_its_page_after_its_last_samples(tmp_path, monkeypatch):
    """Ctrl-C (here ``until``, which stops the same way): checkpoint, last samples, and only then
    the page, which no longer reloads itself."""
    from translate.registry import load_plugin
    from translate.request import new_request
    from translate.stopping import Interrupted
    from translate.trainer import Trainer

    pages = _page_spy(monkeypatch)
    out = tmp_path / "run"
    request = new_request(load_plugin("gan"), {"data": "shapes", "steps": 50, **TINY})
    with pytest.raises(Interrupted):
        Trainer(request, out, progress=False, until=2).run()
    assert pages[-1] == {"live": False, "grids": ["step-0000002.png"], "latest": True, "layout": True}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="samples/step-0000002.png"' in page and "stopped at step 2 of 50" in page
    assert 'data-reload-s="0"' in page


def test_a_failed_run_leaves_a_page_that_stops_reloading(tmp_path, monkeypatch):
    from translate.registry import load_plugin

    def broken_preview(self, ctx, batch):
        raise RuntimeError("the preview hook broke")

    monkeypatch.setattr(type(load_plugin("gan")), "preview", broken_preview)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="preview hook broke"):
        translate.train("gan", data="shapes", steps=3, out=out, progress=False, **dict(TINY, sample_every=1))
    assert 'data-reload-s="0"' in (out / "index.html").read_text(encoding="utf-8")


def test_the_logged_speed_is_the_progress_lines(tmp_path):
    """log.jsonl's seconds_per_step is the figure the terminal shows (Progress.seconds_per_step),
    and the page shows it."""
    import json

    from translate import report
    from translate.progress import format_rate

    out = tmp_path / "run"
    translate.train("gan", data="shapes", steps=4, log_every=1, out=out, progress=False, **TINY)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert "seconds_per_step" not in records[0]  # one step done: nothing measured yet (the first is set-up)
    assert all(r["seconds_per_step"] > 0 for r in records[1:])
    page = report.render_index(out)
    assert format_rate(records[-1]["seconds_per_step"]) in page and "as the terminal shows" in page
