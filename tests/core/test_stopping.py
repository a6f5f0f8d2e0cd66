"""translate/stopping.py: Ctrl-C or SIGTERM saves a checkpoint at a step boundary and exits cleanly
(the run resumes from it); a run inside another program (pytest here) ends that program as Ctrl-C
would, after saving, and leaves its signal handlers as they were."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
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


@pytest.mark.slow  # a pytest in a subprocess: ~9 s
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


SLOW_EVALUATION = '''
import sys, time
from pathlib import Path
from translate_plugins.gan import GanPlugin


def evaluate(self, modules, config, out_dir, **options):
    Path(out_dir, "started").write_text("")
    while True:  # batch after batch, never done
        time.sleep(0.05)


GanPlugin.evaluate = evaluate
from translate.cli import main
sys.argv = ["translate", *sys.argv[1:]]
main()
'''


@pytest.mark.parametrize("steps", [100000, pytest.param(1, marks=pytest.mark.slow)],  # ~5 s each
                         ids=["during-the-loop", "at-the-end"])
def test_sigterm_during_an_evaluation_drops_it_saves_and_exits_at_once(tmp_path, steps):
    """docker stop waits 10 s and torchrun 30 s before they kill: a stop must not wait for an
    evaluation, whether it runs every --eval-every steps or after the last step."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EVALUATION, "train", "gan", "--data", "ring8", "--steps",
                             str(steps), "--batch-size", "16", "--eval-every", "1", "--sample-every", "0",
                             "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 60
    while not (run / "eval" / "started").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    signalled = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert time.time() - signalled < 8, err  # the checkpoint and the report, not the evaluation
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert "SIGTERM: stopping the evaluation, then saving" in err and "--resume" in err
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        assert int(f.metadata()["step"]) >= 1
    assert not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text().strip()


SLOW_SAVE = '''
import sys, time
from pathlib import Path
from PIL import Image

save, marker = Image.Image.save, Path(sys.argv[1])


def save_then_hang(self, fp, *args, **kwargs):
    save(self, fp, *args, **kwargs)  # the temporary file is written; the rename is yet to come
    marker.write_text("")
    time.sleep(60)


Image.Image.save = save_then_hang
from translate.cli import main
sys.argv = ["translate", *sys.argv[2:]]
main()
'''


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, tiny_gan_run, sig=signal.SIGTERM, code=143):
    """A command other than train (sample, apply, eval, import) stopped by SIGTERM or SIGHUP
    unwinds, so the temporary file beside its output is removed instead of left half-written."""
    marker, out = tmp_path / "writing", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(marker), "sample", str(tiny_gan_run), "-n", "2",
                             "-o", str(out) + "/"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in err, err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], list(out.iterdir())
