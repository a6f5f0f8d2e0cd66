"""translate/run_folder.py: a run folder is checked before the data are read (not a run already,
not someone's files, writable), claimed by one training process at a time, started again when a
run stopped before its first checkpoint, and cleared of a killed writer's temporaries."""

from __future__ import annotations

import json
import signal

import pytest

import translate
from translate.errors import UserError
from helpers import random_images as _images, popen_translate as _popen, wait_for_steps as _wait_for_steps


TINY = {"size": 16, "features": 8, "latent_dim": 8, "batch_size": 4, "sample_every": 0, "device": "cpu"}


def test_a_run_folder_is_locked_against_a_second_training(tmp_path):
    from translate.run_folder import run_lock

    out = tmp_path / "run"
    with run_lock(out):  # what a first 'translate train' holds while it runs
        with pytest.raises(UserError, match="already using this run folder"):
            translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)
    assert not (out / "log.jsonl").exists() and not (out / "model.safetensors").exists()
    translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)  # free again


@pytest.mark.slow
def test_concurrent_cli_runs_on_one_folder_refuse_the_second(tmp_path, cli_subprocess):
    run = tmp_path / "run"
    first = _popen("train", "gan", "--data", "ring8", "--steps", "100000", "--batch-size", "16", "--log-every", "1",
                   "--sample-every", "0", "--out", run)
    try:
        _wait_for_steps(run / "log.jsonl", 2)
        second = cli_subprocess("train", "gan", "--data", "ring8", "--steps", "5", "--out", run, ok=False)
        assert second.returncode == 1 and "already using this run folder" in second.stderr
        assert "Traceback" not in second.stderr and first.poll() is None  # the first one runs on
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130


def test_out_holding_someones_files_or_the_data_is_refused(tmp_path, cli, error_line):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.safetensors").write_bytes(b"someone's model")
    text = error_line(cli("train", "gan", "--data", "shapes", "--out", mine, ok=False))
    assert "model.safetensors" in text and "no training state" in text
    assert (mine / "model.safetensors").read_bytes() == b"someone's model"
    data = _images(tmp_path / "data")
    text = error_line(cli("train", "gan", "--data", data, "--out", data, ok=False))
    assert "into the training data" in text
    error_line(cli("train", "gan", "--data", data, "--out", data / "run", ok=False))
    assert sorted(p.name for p in data.iterdir()) == [f"{i:02d}.png" for i in range(6)]


def test_a_run_that_failed_before_its_first_checkpoint_can_start_again_in_its_folder(tmp_path, capfd):
    """A diverged (or killed) start leaves config.toml, log.jsonl and samples/ but no state: the same
    command with a fixed flag starts there again rather than refusing the folder as someone's."""
    out = tmp_path / "run"
    with pytest.raises(UserError, match="diverged") as failed:
        translate.train("gan", data="ring8", steps=30, lr=1e12, precision="fp32", out=out, progress=False)
    assert "--precision fp32" not in str(failed.value)  # it already was: suggest only the learning rate
    assert (out / "config.toml").exists() and not (out / "model.safetensors").exists()
    (out / "samples" / "step-0000010.png").write_bytes(b"a preview of the failed start")
    capfd.readouterr()
    translate.train("gan", data="ring8", steps=3, out=out, progress=False)
    assert "stopped before its first checkpoint" in capfd.readouterr().err
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 3  # the failed start's log is gone
    assert not (out / "samples" / "step-0000010.png").exists() and (out / "state.safetensors").exists()
    # A config.toml that a run did not write is still someone's file.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.toml").write_text("[train]\nsteps = 5\n")
    with pytest.raises(UserError, match="no training state"):
        translate.train("gan", data="ring8", steps=3, out=mine, progress=False)
    assert (mine / "config.toml").read_text() == "[train]\nsteps = 5\n"


def test_unwritable_out_is_refused_before_reading_the_data(tmp_path, cli, monkeypatch, error_line):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    import translate.data.sources as sources

    monkeypatch.setattr(sources, "open_images", lambda *a, **k: pytest.fail("the data were read first"))
    text = error_line(cli("train", "gan", "--data", "shapes", "--out", blocker / "run", ok=False))
    assert "is a file, not a folder" in text


def test_stale_temporaries_of_a_killed_writer_are_removed_on_the_next_start(tmp_path, tiny_gan_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    stale = run / ".model.safetensors.k1ll3d.tmp.safetensors"
    stale.write_bytes(b"")  # what kill -9 during a checkpoint leaves
    translate.train("gan", resume=run, steps=3, progress=False)
    assert not stale.exists()


def test_out_dir_with_a_run_is_not_overwritten(cli, tiny_gan_run):
    result = cli("train", "gan", "--data", "shapes", "--out", tiny_gan_run, ok=False)
    assert "already holds a run" in result.output and "--resume" in result.output


def _copy(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy, symlinks=True)
    return copy


@pytest.mark.parametrize("name", [".lock", "log.jsonl", "metrics.jsonl", "model.safetensors", "state.safetensors"])
def test_a_link_in_a_received_run_is_refused_and_its_target_untouched(tmp_path, tiny_gan_run, cli, error_line, name):
    run = _copy(tiny_gan_run, tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("someone's file\n")
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(outside)
    text = error_line(cli("train", "gan", "--resume", run, "--steps", 2, ok=False))
    assert f"{run / name} is a symbolic link" in text and "outside.txt" in text
    assert outside.read_text() == "someone's file\n"


def test_a_new_run_refuses_links_and_odd_files_among_its_own_entries(tmp_path, cli, error_line):
    import os

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for name, make, words in [
        ("eval", lambda p: p.symlink_to(outside), "is a symbolic link"),
        ("tensorboard", lambda p: p.symlink_to(outside), "is a symbolic link"),
        (".lock", lambda p: p.symlink_to(outside / "lock"), "is a symbolic link"),
        ("log.jsonl", lambda p: os.mkfifo(p), "is a FIFO"),  # opening it would block for ever
        ("samples", lambda p: p.write_text("x"), "where the run keeps a folder"),
    ]:
        out = tmp_path / f"run-{name.strip('.')}"
        out.mkdir()
        make(out / name)
        text = error_line(cli("train", "gan", "--data", "shapes", "--steps", 1, "--out", out, ok=False))
        assert f"{out / name} " in text and words in text, text
    assert not any(outside.iterdir())


def test_a_link_deep_inside_the_runs_folders_is_refused(tmp_path, tiny_gan_run, cli, error_line):
    run = _copy(tiny_gan_run, tmp_path)
    (run / "eval" / "fake").mkdir(parents=True)
    (run / "eval" / "fake" / "00.png").symlink_to(tmp_path / "photo.png")
    text = error_line(cli("train", "gan", "--resume", run, "--steps", 2, ok=False))
    assert "00.png is a symbolic link" in text
    (run / "eval" / "fake" / "00.png").unlink()
    (run / "model.safetensors").unlink()
    (run / "model.safetensors").mkdir()
    assert "is a folder where the run keeps a file" in error_line(cli("train", "gan", "--resume", run, "--steps", 2,
                                                                      ok=False))


def test_the_lock_never_follows_a_link_written_after_the_checks(tmp_path):
    from translate.run_folder import run_lock

    out = tmp_path / "run"
    out.mkdir()
    target = tmp_path / "target.txt"
    target.write_text("keep")
    (out / ".lock").symlink_to(target)
    with pytest.raises(UserError, match="symbolic link"):
        with run_lock(out):
            pass
    assert target.read_text() == "keep"


def test_a_run_stopped_after_its_first_evaluation_but_before_its_first_checkpoint_starts_again(tmp_path, capfd):
    out = tmp_path / "run"
    translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)
    for name in ("model.safetensors", "state.safetensors"):  # what a kill before the first checkpoint leaves
        (out / name).unlink()
    (out / "metrics.jsonl").write_text('{"step": 1, "fid": 300.0}\n')
    (out / "best.safetensors").write_bytes(b"the best model of the killed start")
    (out / "eval" / "fake").mkdir(parents=True)
    capfd.readouterr()
    translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)
    assert "stopped before its first checkpoint" in capfd.readouterr().err
    assert not (out / "metrics.jsonl").exists() and not (out / "eval").exists()
    assert (out / "state.safetensors").exists()


def test_resuming_a_read_only_run_is_one_line(tmp_path, tiny_gan_run, cli, error_line, monkeypatch):
    import os

    run = _copy(tiny_gan_run, tmp_path)
    real_access = os.access  # root ignores permission bits: pretend it is a read-only mount
    monkeypatch.setattr(os, "access", lambda p, mode, **k: (False if str(p) == str(run) and mode & os.W_OK
                                                            else real_access(p, mode)))
    text = error_line(cli("train", "gan", "--resume", run, "--steps", 2, ok=False))
    assert "not writable" in text and "copy the run" in text


def test_a_newline_in_a_run_folders_name_keeps_the_error_on_one_line(tmp_path, tiny_gan_run, cli, error_line):
    import shutil

    run = tmp_path / "two\nlines"
    shutil.copytree(tiny_gan_run, run)
    (run / "log.jsonl").unlink()
    (run / "log.jsonl").symlink_to(tmp_path / "outside.txt")
    text = error_line(cli("train", "gan", "--resume", run, "--steps", 2, ok=False))
    assert "two\\nlines/log.jsonl is a symbolic link" in text


@pytest.mark.parametrize("name", ["log.jsonl", ".lock"])
def test_a_log_or_lock_hard_linked_to_another_file_is_refused(tmp_path, tiny_gan_run, cli, error_line, name):
    import os

    run = _copy(tiny_gan_run, tmp_path)
    victim = tmp_path / "victim.txt"  # appended to, or truncated to "pid N", through the shared inode
    victim.write_text("someone's file\n")
    (run / name).unlink()
    os.link(victim, run / name)
    text = error_line(cli("train", "gan", "--resume", run, "--steps", 2, ok=False))
    assert f"{run / name} has 2 hard links" in text
    assert victim.read_text() == "someone's file\n"
