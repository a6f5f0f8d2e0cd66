"""Bad input gets a one-line error naming the file and the fix, with no traceback, and leaves
nothing half-written."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _write_images(folder, n=4, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_corrupt_image_is_named(tmp_path, cli_subprocess):
    _write_images(tmp_path / "data")
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG not really")
    proc = cli_subprocess("train", "gan", "--data", tmp_path / "data", "--steps", "1", "--out", tmp_path / "run",
                          ok=False)
    line = _one_line_error(proc)
    assert "broken.png" in line and "--skip-bad-images" in line
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_corrupt_image_can_be_skipped(tmp_path, cli):
    _write_images(tmp_path / "data")
    (tmp_path / "data" / "broken.png").write_bytes(b"garbage")
    cli("train", "gan", "--data", tmp_path / "data", "--steps", "1", "--size", "16", "--batch-size", "2",
        "--features", "4", "--skip-bad-images", "--out", tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_empty_folder(tmp_path, cli_subprocess):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    line = _one_line_error(cli_subprocess("train", "gan", "--data", tmp_path / "empty", "--out", tmp_path / "r",
                                          ok=False))
    assert "no images found" in line and str(tmp_path / "empty") in line


def test_missing_folder_lists_builtins(tmp_path, cli_subprocess):
    line = _one_line_error(cli_subprocess("train", "gan", "--data", tmp_path / "nope", ok=False))
    assert "no such file or folder" in line and "shapes" in line


def test_non_checkpoint_file(tmp_path, cli_subprocess):
    bogus = tmp_path / "model.safetensors"
    bogus.write_text("hello")
    line = _one_line_error(cli_subprocess("sample", bogus, "-o", tmp_path / "s.png", ok=False))
    assert str(bogus) in line and "not a safetensors checkpoint" in line
    assert not (tmp_path / "s.png").exists()
    img = tmp_path / "x.png"
    _write_images(tmp_path / "imgs", 1)
    line = _one_line_error(cli_subprocess("apply", bogus, tmp_path / "imgs" / "0.png", "-o", img, ok=False))
    assert "not a safetensors checkpoint" in line


def test_unknown_plugin(cli_subprocess):
    line = _one_line_error(cli_subprocess("train", "cyclegna", "--help", ok=False))
    assert "unknown plugin 'cyclegna'" in line and "gan" in line


def test_missing_data_flag(cli_subprocess, tmp_path):
    line = _one_line_error(cli_subprocess("train", "gan", "--out", tmp_path / "r", ok=False))
    assert "--data" in line
