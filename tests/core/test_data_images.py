"""translate/data/images.py: reading one image: EXIF orientation, float TIFFs, and a pixel limit
against decompression bombs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def test_exif_orientation_is_applied_in_apply_and_training(tmp_path, cli, tiny_cyclegan_run):
    from translate.data.images import read_image, read_uint8

    photo = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": a portrait photo stored landscape
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(photo, exif=exif)
    assert read_image(photo).pixels.shape[:2] == (40, 24) and read_uint8(photo).shape[:2] == (40, 24)
    cli("apply", tiny_cyclegan_run, photo, "-o", tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").size == (24, 40)  # the size the user sees


def test_a_decompression_bomb_is_one_line(tmp_path, cli, tiny_cyclegan_run, monkeypatch, error_line):
    big = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(big)
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "10000")  # stands for a 20000² PNG of a few KB
    text = error_line(cli("apply", tiny_cyclegan_run, big, "-o", tmp_path / "o.png", ok=False))
    assert "60,000 pixels" in text
    assert "TRANSLATE_MAX_PIXELS" in text and not (tmp_path / "o.png").exists()


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
