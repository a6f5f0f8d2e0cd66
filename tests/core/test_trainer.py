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
