"""translate/stopping.py: Ctrl-C or SIGTERM saves a checkpoint at a step boundary and exits cleanly
(the run resumes from it); a run inside another program (pytest here) ends that program as Ctrl-C
would, after saving, and leaves its signal handlers as they were."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from safetensors import safe_open
from helpers import popen_translate as _popen, wait_for_steps as _wait_for_steps


def test_ctrl_c_saves_and_resumes(tmp_path, cli):
    run = tmp_path / "run"
    proc = _popen("train", "gan", "--data", "ring8", "--steps", "100000", "--batch-size", "16", "--log-every", "1",
                  "--sample-every", "0", "--out", run)
    log = run / "log.jsonl"
    _wait_for_steps(log, 3)
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


INNER_TEST = '''
import translate


def test_before():
    pass


def test_trains_until_stopped(tmp_path):
    translate.train("gan", data="ring8", steps=100000, batch_size=16, log_every=1, sample_every=0,
                    out={out!r}, progress=False, device="cpu")


def test_after():
    pass
'''


def test_ctrl_c_stops_pytest_during_in_process_training(tmp_path):
    """Ctrl-C while a test trains in-process ends the whole pytest session with its summary (the
    run saves first), instead of failing that one test and going on to the next."""
    run = tmp_path / "run"
    (tmp_path / "test_inner.py").write_text(INNER_TEST.format(out=str(run)))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             str(tmp_path / "test_inner.py")], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    _wait_for_steps(run / "log.jsonl", 2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest's exit code for an interrupted session
    summary = out.strip().splitlines()[-1]
    assert "1 passed" in summary and "interrupted" in out.lower(), out
    assert "test_after" not in out and (run / "model.safetensors").is_file(), out


def test_sigterm_checkpoints_once_and_exits_143(tmp_path, cli):
    run = tmp_path / "run"
    proc = _popen("train", "gan", "--data", "ring8", "--steps", "100000", "--batch-size", "16", "--log-every", "1",
                  "--sample-every", "0", "--out", run)
    _wait_for_steps(run / "log.jsonl", 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM: finishing this step, then saving" in err and "--resume" in err and "Traceback" not in err
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        saved = int(f.metadata()["step"])
    assert saved >= 3
    cli("train", "gan", "--resume", run, "--steps", saved + 1)
