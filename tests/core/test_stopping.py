"""Ctrl-C saves a checkpoint at a step boundary and exits cleanly; the run resumes from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def test_ctrl_c_saves_and_resumes(tmp_path, cli):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "translate", "train", "gan", "--data", "ring8", "--steps", "100000",
         "--batch-size", "16", "--log-every", "1", "--sample-every", "0", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    log = run / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    meta_step = json.loads(log.read_text().splitlines()[-1])["step"]
    assert 3 <= meta_step < 100000
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), "pt") as f:
        saved = int(f.metadata()["step"])
    assert saved >= meta_step
    cli("train", "gan", "--resume", run, "--steps", saved + 2)
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["step"] == saved + 2
