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
