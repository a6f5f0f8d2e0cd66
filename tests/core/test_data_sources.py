"""translate/data/sources.py: an image folder is scanned before training (corrupt files named,
skipped by name with --skip-bad-images), and large images are decoded once, already reduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import translate
from translate.errors import DataError
from helpers import random_images as _images

TINY = {"size": 16, "features": 8, "latent_dim": 8, "batch_size": 4, "sample_every": 0, "device": "cpu"}


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


def _write_images(folder, n=4, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_corrupt_image_is_named(tmp_path, cli, error_line):
    _write_images(tmp_path / "data")
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG not really")
    line = error_line(cli("train", "gan", "--data", tmp_path / "data", "--steps", "1", "--out", tmp_path / "run",
                          ok=False))
    assert "broken.png" in line and "--skip-bad-images" in line
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_corrupt_image_can_be_skipped(tmp_path, cli):
    _write_images(tmp_path / "data")
    (tmp_path / "data" / "broken.png").write_bytes(b"garbage")
    cli("train", "gan", "--data", tmp_path / "data", "--steps", "1", "--size", "16", "--batch-size", "2",
        "--features", "4", "--skip-bad-images", "--out", tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_empty_folder(tmp_path, cli, error_line):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    line = error_line(cli("train", "gan", "--data", tmp_path / "empty", "--out", tmp_path / "r", ok=False))
    assert "no images found" in line and str(tmp_path / "empty") in line


def test_missing_folder_lists_builtins(tmp_path, cli, error_line):
    line = error_line(cli("train", "gan", "--data", tmp_path / "nope", ok=False))
    assert "no such file or folder" in line and "shapes" in line
