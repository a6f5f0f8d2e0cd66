"""Lose nothing, crash never: a regression test for each fault the 129-case sweep found (issue 17).

Data loss first (concurrent runs, SIGTERM, corrupt files, someone's folder, apply collisions, EXIF),
then inputs that used to give tracebacks, then unsafe behaviour (decompression bombs, crafted
checkpoint metadata, a plugin name claimed twice, file modes, TOML types, stale temporaries)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import translate
from translate.errors import DataError, UserError

TINY = {"size": 16, "features": 8, "latent_dim": 8, "batch_size": 4, "sample_every": 0, "device": "cpu"}




def _images(folder: Path, n: int = 6, size: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "translate", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _wait_for_steps(log: Path, steps: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= steps):
        time.sleep(0.2)


# ---- data loss ----------------------------------------------------------------------------------

def test_a_run_folder_is_locked_against_a_second_training(tmp_path):
    from translate.runlock import run_lock

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


def _truncated_jpeg(path: Path) -> None:
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a valid header, half the data


def _png_with_bad_idat(path: Path) -> None:
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start: start + 40] = bytes(40)  # corrupt the compressed pixels, keep the header
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make", [_truncated_jpeg, _png_with_bad_idat])
def test_corrupt_pixel_data_is_found_by_the_scan_and_skipped_by_name(tmp_path, cli, make, error_line):
    data = _images(tmp_path / "data")
    bad = tmp_path / "data" / ("bad.jpg" if make is _truncated_jpeg else "bad.png")
    make(bad)
    with Image.open(bad) as img:
        img.size  # the header alone passes: this is what the old check looked at
    out = tmp_path / "run"
    text = error_line(cli("train", "gan", "--data", data, "--steps", 2, "--out", out, "--size", 16, ok=False))
    assert bad.name in text and "--skip-bad-images" in text and not out.exists()
    result = cli("train", "gan", "--data", data, "--steps", 2, "--out", out, "--size", 16, "--features", 8,
                 "--batch-size", 2, "--skip-bad-images")
    assert bad.name in result.output and (out / "model.safetensors").is_file()


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


def test_skip_bad_images_skips_a_file_that_fails_while_training(tmp_path, monkeypatch, capfd):
    from translate.data import sources

    decode = sources.ImageSource._decode

    def one_bad(self, index, channels):
        if self.paths[index].name == "03.png":
            raise DataError(f"{self.paths[index]}: cannot read image (broken data stream)")
        return decode(self, index, channels)

    monkeypatch.setattr(sources.ImageSource, "_decode", one_bad)
    data = _images(tmp_path / "data", 8)
    model = translate.train("gan", data=data, steps=6, out=tmp_path / "run", progress=False, skip_bad_images=True,
                            **dict(TINY, batch_size=2))
    assert model.step == 6 and "skipping" in capfd.readouterr().err


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


@pytest.fixture(scope="module")
def cyclegan_run(tiny_cyclegan_run):
    return tiny_cyclegan_run


def test_apply_keeps_same_named_inputs_apart_and_never_overwrites(tmp_path, cli, cyclegan_run, error_line):
    a, b = _images(tmp_path / "a", 1, seed=1), _images(tmp_path / "b", 1, seed=2)
    out = tmp_path / "out"
    result = cli("apply", cyclegan_run, a / "00.png", b / "00.png", "-o", out)
    assert "wrote 2" in result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["a/00.png", "b/00.png"]
    first = (out / "a" / "00.png").read_bytes()
    text = error_line(cli("apply", cyclegan_run, a / "00.png", b / "00.png", "-o", out, "--direction", "b2a",
                         ok=False))
    assert "already exist" in text and "--overwrite" in text
    assert (out / "a" / "00.png").read_bytes() == first
    cli("apply", cyclegan_run, a, "-o", out, "--direction", "b2a", "--suffix", "_b2a", "--format", "jpg")
    assert (out / "00_b2a.jpg").is_file()
    cli("apply", cyclegan_run, a / "00.png", b / "00.png", "-o", out, "--direction", "b2a", "--overwrite")
    assert (out / "a" / "00.png").read_bytes() != first


def test_exif_orientation_is_applied_in_apply_and_training(tmp_path, cli, cyclegan_run):
    from translate.data.images import read_image, read_uint8

    photo = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": a portrait photo stored landscape
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(photo, exif=exif)
    assert read_image(photo).pixels.shape[:2] == (40, 24) and read_uint8(photo).shape[:2] == (40, 24)
    cli("apply", cyclegan_run, photo, "-o", tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").size == (24, 40)  # the size the user sees


# ---- one-line errors instead of tracebacks ------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--log-every", "0"], "--log-every must be at least 1"),
    (["--seed", "-1"], "--seed -1"),
    (["--seed", "12345678901234567890123"], "--seed"),
    (["--workers", "-1"], "--workers must be at least 0"),
    (["--lr", "-1"], "--lr -1.0: must be > 0"),
    (["--lr", "nan"], "--lr nan: must be a finite number"),
    (["--steps", "1e400"], "--steps"),
    (["--ema", "1.5"], "--ema must be in [0, 1)"),
])
def test_bad_numbers_are_one_line_and_write_nothing(tmp_path, cli, flags, message, error_line):
    out = tmp_path / "run"
    text = error_line(cli("train", "gan", "--data", "shapes", "--out", out, *flags, ok=False))
    assert message in text and not out.exists()


def test_unwritable_out_is_refused_before_reading_the_data(tmp_path, cli, monkeypatch, error_line):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    import translate.data.sources as sources

    monkeypatch.setattr(sources, "open_images", lambda *a, **k: pytest.fail("the data were read first"))
    text = error_line(cli("train", "gan", "--data", "shapes", "--out", blocker / "run", ok=False))
    assert "is a file, not a folder" in text


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno

    import translate.fileio as fileio

    out = tmp_path / "run"
    translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)
    before = (out / "model.safetensors").read_bytes()
    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith(".safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", full)
    with pytest.raises(UserError, match="disk is full.*previous version is unchanged") as info:
        translate.train("gan", resume=out, steps=4, progress=False)
    assert "\n" not in str(info.value)
    assert (out / "model.safetensors").read_bytes() == before
    assert not list(out.glob(".*.tmp*"))


def test_apply_output_errors_areerror_line(tmp_path, cli, cyclegan_run, error_line):
    a = _images(tmp_path / "a", 2)
    assert "not an image format" in error_line(cli("apply", cyclegan_run, a / "00.png", "-o", tmp_path / "x.xyz",
                                                  ok=False))
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep")
    assert "is a file" in error_line(cli("apply", cyclegan_run, a, "-o", existing, ok=False))
    assert "is a file, not a folder" in error_line(cli("apply", cyclegan_run, a, "-o", existing / "sub", ok=False))
    assert existing.read_bytes() == b"keep"
    assert "--tile must be at least 16" in error_line(cli("apply", cyclegan_run, a, "-o", tmp_path / "t",
                                                        "--tile", "0", ok=False))


def test_a_decompression_bomb_iserror_line(tmp_path, cli, cyclegan_run, monkeypatch, error_line):
    big = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(big)
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "10000")  # stands for a 20000² PNG of a few KB
    text = error_line(cli("apply", cyclegan_run, big, "-o", tmp_path / "o.png", ok=False))
    assert "60,000 pixels" in text
    assert "TRANSLATE_MAX_PIXELS" in text and not (tmp_path / "o.png").exists()


def _edit_metadata(src: Path, dst: Path, **changes) -> Path:
    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    meta.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        meta.pop(key)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "gan"
    translate.train("gan", data="shapes", steps=2, out=out, progress=False, **TINY)
    return out


@pytest.mark.parametrize("changes, message", [
    ({"config": None}, "no 'config' entry"),
    ({"modules": '["generator", "oracle"]'}, "'oracle', which plugin 'gan' does not build"),
    ({"step": "NaN"}, "no valid"),
    ({"config": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ({"config": json.dumps({"features": 10**7})}, "the file and its metadata do not match"),
])
def test_crafted_checkpoint_metadata_iserror_line(tmp_path, gan_run, changes, message):
    crafted = _edit_metadata(gan_run / "model.safetensors", tmp_path / "m.safetensors", **changes)
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=message):
        translate.load(crafted)
    assert time.perf_counter() - t0 < 10  # a width of 10^7 is refused before anything is allocated


def test_a_training_state_with_a_wrong_shape_is_one_line_on_resume(tmp_path, gan_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(gan_run, run)
    tensors = load_file(str(run / "state.safetensors"))
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        meta = f.metadata()
    key = next(k for k in tensors if k.startswith("module.generator.") and tensors[k].dim() == 4)
    tensors[key] = torch.zeros(3, 3, 3, 3)
    save_file(tensors, str(run / "state.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="does not fit this run"):
        translate.train("gan", resume=run, steps=4, progress=False)


def test_nan_weights_are_refused_when_loading(tmp_path, gan_run):
    tensors = load_file(str(gan_run / "model.safetensors"))
    with safe_open(str(gan_run / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    nan = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(nan, str(tmp_path / "nan.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="not finite"):
        translate.load(tmp_path / "nan.safetensors")


# ---- unsafe behaviour -----------------------------------------------------------------------------

def test_large_training_images_are_decoded_once_reduced(tmp_path, monkeypatch):
    from translate.data import images, sources
    from translate.data.datasets import ImageDataset

    folder = tmp_path / "big"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(folder / "x.png")
    source = sources.open_images(str(folder))
    dataset = ImageDataset(source, 32, resize=36)
    decodes = []
    real = images.read_uint8_reduced
    monkeypatch.setattr(sources, "read_uint8_reduced", lambda *a: decodes.append(a) or real(*a))
    first = source.load(0, 3)
    assert min(first.shape[:2]) < 1200 and min(first.shape[:2]) >= 36  # reduced to what the transform keeps
    for seed in range(3):
        assert dataset.get(0, seed)["image"].shape == (3, 32, 32)
    assert len(decodes) == 1  # the costly decode happened once


def test_written_files_honour_the_umask(tmp_path):
    from translate.fileio import write_text_atomic

    from safetensors.torch import save_file

    from translate.fileio import atomic_path

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f.txt", "x")
        with atomic_path(tmp_path / "m.safetensors") as tmp:  # save_file replaces the file, mode 0600
            save_file({"w": torch.zeros(1)}, str(tmp))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644


def test_toml_tables_and_types_name_the_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[steps]\na = 1\n")
    with pytest.raises(UserError, match=f"{config}: steps is a table; write steps = VALUE"):
        translate.train("gan", data="shapes", config=config, out=tmp_path / "x")
    config.write_text('[train]\nbatch_size = "many"\n')
    with pytest.raises(UserError, match=f"{config}: batch-size: invalid value 'many'"):
        translate.train("gan", data="shapes", config=config, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_of_a_disabled_plugin_says_so(gan_run, monkeypatch):
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGINS", "gan")
    with pytest.raises(UserError, match="TRANSLATE_DISABLE_PLUGINS switches off"):
        translate.load(gan_run)


def test_stale_temporaries_of_a_killed_writer_are_removed_on_the_next_start(tmp_path, gan_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(gan_run, run)
    stale = run / ".model.safetensors.k1ll3d.tmp.safetensors"
    stale.write_bytes(b"")  # what kill -9 during a checkpoint leaves
    translate.train("gan", resume=run, steps=3, progress=False)
    assert not stale.exists()


def test_the_same_folder_for_both_domains_warns(tmp_path, capfd):
    data = _images(tmp_path / "data", 2)
    translate.train("cyclegan", a=data, b=data, size=16, steps=1, gen_features=4, disc_features=4, disc_layers=2,
                    n_blocks=1, sample_every=0, out=tmp_path / "run", progress=False, device="cpu")
    assert "--a and --b are the same" in capfd.readouterr().err


@pytest.mark.parametrize("plugin, data", [("cyclegan", {"a": "shapes", "b": "shapes"}),
                                          ("pix2pix", {"aligned": "shapes2shaded"})])
def test_an_image_too_small_for_the_patchgan_iserror_line(tmp_path, plugin, data):
    with pytest.raises(UserError, match="--size 16 is too small for the PatchGAN.*needs at least 24"):
        translate.train(plugin, **data, size=16, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_float_tiffs_in_0_1_are_read_and_other_ranges_named(tmp_path):
    """Mode-F (32-bit float) TIFFs: [0, 1] pixels are read as they are (PIL's convert would turn them
    black); other ranges are one line naming the file."""
    from PIL import Image

    from translate.data.images import DataError, read_image, read_uint8

    ramp = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    Image.fromarray(ramp, mode="F").save(tmp_path / "f.tif")
    loaded = read_image(tmp_path / "f.tif")
    assert np.allclose(loaded.pixels[..., 0], ramp) and loaded.pixels.shape == (48, 64, 3)
    assert np.abs(read_uint8(tmp_path / "f.tif")[..., 1] / 255 - ramp).max() <= 0.5 / 255 + 1e-6
    Image.fromarray(ramp * 300, mode="F").save(tmp_path / "g.tif")
    with pytest.raises(DataError, match=f"{tmp_path / 'g.tif'}: .*from 0 to 300, not in \\[0, 1\\]"):
        read_image(tmp_path / "g.tif")
