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


def test_strip_reader_refuses_nan_float_pixels_and_reads_16_bit_and_cmyk(tmp_path):
    from translate.data.images import DataError, open_upright, pixel_rows

    floats = np.full((6, 5), 0.5, np.float32)
    floats[4, 3] = np.nan  # not in the first pixels: every strip is checked
    Image.fromarray(floats, "F").save(tmp_path / "nan.tif")
    with pytest.raises(DataError, match="nan.tif: cannot read image .*NaN"):
        open_upright(tmp_path / "nan.tif")
    Image.fromarray(np.full((4, 3), 65535, np.uint16)).save(tmp_path / "deep.png")
    Image.new("CMYK", (3, 2), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    deep, cmyk = open_upright(tmp_path / "deep.png"), open_upright(tmp_path / "cmyk.jpg")
    assert pixel_rows(deep).shape == (4, 3, 1) and pixel_rows(deep).max() == 1.0
    assert cmyk.mode == "RGB" and pixel_rows(cmyk, 1, 2).shape == (1, 3, 3)


def test_output_pixels_converted_in_bands_equal_the_whole_image_conversion():
    # translate apply turns its output to uint8 a band of rows at a time (a whole float copy of a
    # 16000×12000 output is 2.3 GB); the bytes written must be those of the whole-array path.
    import torch

    from translate.data.images import encode_image, to_array, to_pixels

    torch.manual_seed(0)
    for shape, bits in [((3, 37, 45), 8), ((1, 300, 7000), 8), ((1, 20, 30), 16), ((3, 20, 30), 16)]:
        t = torch.rand(*shape) * 2.4 - 1.2  # some values outside [-1, 1]
        t.view(-1)[:256] = torch.arange(256) / 255 * 2 - 1 + 1 / 255  # exactly on rounding boundaries
        whole = np.asarray(encode_image(to_array(t), bits=bits))
        banded = np.asarray(encode_image(to_pixels(t, bits, ".png"), bits=bits))
        assert whole.dtype == banded.dtype and np.array_equal(whole, banded)
