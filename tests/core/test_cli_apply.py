"""``translate apply``: same-named inputs are kept apart and nothing is overwritten without
``--overwrite``; each bad combination of inputs and flags is one "Error:" line naming the file or flag
and the fix, given before any output exists; ``--grid`` puts the input beside its output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from helpers import random_images as _images


def _image(path: Path, size: int = 24, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def run(tiny_cyclegan_run):
    return tiny_cyclegan_run


def test_two_inputs_with_one_output_name_are_refused(tmp_path, cli, run, error_line):
    png, jpg = _image(tmp_path / "in" / "x.png"), _image(tmp_path / "in" / "x.jpg", seed=1)
    out = tmp_path / "out"
    text = error_line(cli("apply", run, tmp_path / "in", "--format", "png", "-o", out, ok=False))
    assert str(png) in text and str(jpg) in text and "--format" in text
    assert not out.exists()
    cli("apply", run, tmp_path / "in", "-o", out)  # each keeps its own format: no collision
    assert sorted(p.name for p in out.iterdir()) == ["x.jpg", "x.png"]


def test_an_output_over_another_input_is_refused_even_with_overwrite(tmp_path, cli, run, error_line):
    folder = tmp_path / "in"
    png, jpg = _image(folder / "x.png"), _image(folder / "x.jpg", seed=1)
    before = png.read_bytes()
    text = error_line(cli("apply", run, jpg, png, "-o", folder, "--suffix", "", "--format", "png", "--overwrite",
                         ok=False))
    assert f"the output of {jpg} would overwrite the input {png}" in text
    assert png.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["x.jpg", "x.png"]


@pytest.mark.parametrize("suffix", ["/x", "../x", "_a/b"])
def test_a_suffix_with_a_path_separator_is_refused(tmp_path, cli, run, suffix, error_line):
    src = _image(tmp_path / "in" / "x.png")
    out = tmp_path / "sub" / "out"
    text = error_line(cli("apply", run, src, tmp_path / "in", "-o", out, "--suffix", suffix, ok=False))
    assert f"--suffix {suffix!r}" in text and "path separator" in text
    assert not (tmp_path / "sub").exists() and not (tmp_path / "x.png").exists()


def test_several_inputs_need_a_folder_not_a_file_name(tmp_path, cli, run, error_line):
    a, b = _image(tmp_path / "a.png"), _image(tmp_path / "b.png", seed=1)
    out = tmp_path / "one.png"
    text = error_line(cli("apply", run, a, b, "-o", out, ok=False))
    assert f"-o {out} looks like an image file name" in text and "2 inputs" in text and "give a folder" in text
    assert not out.exists()
    cli("apply", run, a, b, "-o", f"{out}/")  # a trailing slash says "a folder of that name"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    cli("apply", run, tmp_path / "a.png", "-o", out, "--suffix", "_again")  # an existing folder stays a folder
    assert (out / "a_again.png").is_file()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_batch_size_below_one_is_refused(tmp_path, cli, run, value, error_line):
    out = tmp_path / "out"
    text = error_line(cli("apply", run, _image(tmp_path / "x.png"), "-o", out, "--batch-size", value, ok=False))
    assert f"--batch-size must be at least 1 (got {value})" in text
    assert not out.exists()


def test_every_unreadable_input_is_named_before_anything_is_written(tmp_path, cli, run, error_line):
    folder = tmp_path / "in"
    _image(folder / "a.png")
    _image(folder / "b.png", size=32)  # another size: "a" would be written before the bad files were reached
    bad = [folder / f"c{i}.png" for i in range(6)]
    for path in bad:
        path.write_bytes(b"not an image")
    out = tmp_path / "out"
    text = error_line(cli("apply", run, folder, "-o", out, "--batch-size", "1", ok=False))
    assert "6 input images cannot be read" in text and "and 1 more" in text
    assert all(str(path) in text for path in bad[:5]) and "delete or re-save" in text
    assert not out.exists()
    text = error_line(cli("apply", run, bad[0], "-o", tmp_path / "one.png", ok=False))
    assert text.startswith(f"Error: {bad[0]}: cannot read image") and not (tmp_path / "one.png").exists()


def test_apply_keeps_same_named_inputs_apart_and_never_overwrites(tmp_path, cli, run, error_line):
    a, b = _images(tmp_path / "a", 1, seed=1), _images(tmp_path / "b", 1, seed=2)
    out = tmp_path / "out"
    result = cli("apply", run, a / "00.png", b / "00.png", "-o", out)
    assert "wrote 2" in result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["a/00.png", "b/00.png"]
    first = (out / "a" / "00.png").read_bytes()
    text = error_line(cli("apply", run, a / "00.png", b / "00.png", "-o", out, "--direction", "b2a",
                         ok=False))
    assert "already exist" in text and "--overwrite" in text
    assert (out / "a" / "00.png").read_bytes() == first
    cli("apply", run, a, "-o", out, "--direction", "b2a", "--suffix", "_b2a", "--format", "jpg")
    assert (out / "00_b2a.jpg").is_file()
    cli("apply", run, a / "00.png", b / "00.png", "-o", out, "--direction", "b2a", "--overwrite")
    assert (out / "a" / "00.png").read_bytes() != first


def test_an_output_another_process_wrote_meanwhile_is_kept_without_overwrite(tmp_path, run, monkeypatch):
    """Two `apply -o` into one folder at once: both pass the up-front check; the one that writes
    second keeps the other's file and says so, unless --overwrite."""
    from translate.data import images
    from translate.errors import UserError
    from translate.inference import apply_files

    src, dst = _image(tmp_path / "in.png"), tmp_path / "out" / "in.png"
    real_encode = images.encode_image

    def encode_while_another_writes(*args, **kwargs):
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(b"the other process's output")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(images, "encode_image", encode_while_another_writes)
    with pytest.raises(UserError, match="another process wrote this file") as info:
        apply_files(run, [(src, dst)], device="cpu", progress=False, overwrite=False)
    assert "\n" not in str(info.value)
    assert dst.read_bytes() == b"the other process's output" and sorted(dst.parent.iterdir()) == [dst]
    apply_files(run, [(src, dst)], device="cpu", progress=False, overwrite=True)
    assert dst.read_bytes().startswith(b"\x89PNG")


def test_apply_output_errors_are_one_line(tmp_path, cli, run, error_line):
    a = _images(tmp_path / "a", 2)
    assert "not an image format" in error_line(cli("apply", run, a / "00.png", "-o", tmp_path / "x.xyz",
                                                  ok=False))
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep")
    assert "is a file" in error_line(cli("apply", run, a, "-o", existing, ok=False))
    assert "is a file, not a folder" in error_line(cli("apply", run, a, "-o", existing / "sub", ok=False))
    assert existing.read_bytes() == b"keep"
    assert "--tile must be at least 16" in error_line(cli("apply", run, a, "-o", tmp_path / "t",
                                                        "--tile", "0", ok=False))


def test_apply_grid_puts_input_beside_output(tmp_path, cli):
    """--grid: input | output side by side, the input scaled to an SR output's size."""
    import translate

    run = tmp_path / "sr"
    translate.train("srgan", data="skimage", scale=2, size=24, steps=2, batch_size=2, n_blocks=1, features=8,
                    stage="pretrain", sample_every=0, out=run, progress=False)
    src = tmp_path / "in.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(src)
    cli("apply", run, src, "-o", tmp_path / "plain.png")
    cli("apply", run, src, "-o", tmp_path / "grid.png", "--grid")
    plain, grid = np.asarray(Image.open(tmp_path / "plain.png")), np.asarray(Image.open(tmp_path / "grid.png"))
    assert plain.shape == (40, 60, 3) and grid.shape == (40, 120, 3)
    assert np.array_equal(grid[:, 60:], plain)
    assert np.array_equal(grid[::2, :60:2], np.asarray(Image.open(src)))  # nearest-scaled input


def test_backend_onnxruntime_writes_what_torch_writes(tmp_path, cli, run, error_line):
    pytest.importorskip("onnxruntime")
    src = _image(tmp_path / "in" / "x.png", size=40)
    cli("apply", run, src, "-o", tmp_path / "torch", "--device", "cpu", "--precision", "fp32")
    cli("apply", run, src, "-o", tmp_path / "ort", "--backend", "onnxruntime", "--direction", "b2a")
    cli("apply", run, src, "-o", tmp_path / "torch_b2a", "--device", "cpu", "--precision", "fp32", "--direction", "b2a")
    ours, theirs = (np.asarray(Image.open(tmp_path / d / "x.png"), dtype=int) for d in ("torch_b2a", "ort"))
    assert np.abs(ours - theirs).max() <= 1  # float rounding in another runtime: at most one 8-bit step
    assert not np.array_equal(ours, np.asarray(Image.open(tmp_path / "torch" / "x.png"), dtype=int))
    text = error_line(cli("apply", run, src, "-o", tmp_path / "x", "--backend", "onnxruntime", "--precision", "bf16",
                          ok=False))
    assert "--backend onnxruntime" in text and "fp32" in text
