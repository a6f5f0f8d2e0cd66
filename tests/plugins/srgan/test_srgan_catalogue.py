"""Real-ESRGAN generators by name, against a loopback server standing in for GitHub's release
host: ``translate apply realesrnet-x4plus IMG`` fetches and imports a tiny BasicSR-format file, and a
file that does not match the sha256 the catalogue records for ``realesrgan-x4plus`` is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from translate_plugins.srgan.networks import RRDBNet

pytestmark = pytest.mark.usefixtures("one_thread")

RELEASES = "/xinntao/Real-ESRGAN/releases/download"


def basicsr_file() -> bytes:
    """A tiny RRDBNet saved as BasicSR saves it ({"params_ema": state dict})."""
    torch.manual_seed(0)
    out = io.BytesIO()
    torch.save({"params_ema": RRDBNet(4, n_blocks=1, features=8, growth=4).state_dict()}, out)
    return out.getvalue()


@pytest.fixture
def releases(tmp_path, monkeypatch):
    tiny = basicsr_file()
    files = {f"{RELEASES}/v0.1.1/RealESRNet_x4plus.pth": tiny, f"{RELEASES}/v0.1.0/RealESRGAN_x4plus.pth": tiny}
    with helpers.serve_files(files) as server:
        monkeypatch.setenv("TRANSLATE_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("TRANSLATE_MIRROR", server.base_url)
        monkeypatch.setenv("TRANSLATE_DOWNLOAD_BACKOFF", "0")
        monkeypatch.chdir(tmp_path)
        yield server


def test_apply_by_name_upscales_and_caches(cli, releases, tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (12, 10, 3), dtype=np.uint8)).save("small.png")
    cli("apply", "realesrnet-x4plus", "small.png", "-o", "big.png", "--device", "cpu")
    assert Image.open("big.png").size == (40, 48)
    assert (tmp_path / "home/models/srgan/realesrnet-x4plus/model.safetensors").is_file()
    cli("apply", "srgan/realesrnet-x4plus", "small.png", "-o", "big2.png", "--device", "cpu")  # qualified name
    assert releases.count == 1


def test_a_file_that_fails_the_published_checksum_is_refused(cli, releases, tmp_path, error_line):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save("small.png")
    line = error_line(cli("apply", "realesrgan-x4plus", "small.png", ok=False))
    assert "sha256" in line
    assert not (tmp_path / "home/models/srgan/realesrgan-x4plus/model.safetensors").exists()
    assert not (tmp_path / "home/models/srgan/realesrgan-x4plus/RealESRGAN_x4plus.pth").exists()


def test_init_takes_a_released_model_by_name(cli, releases, tmp_path):
    cli("train", "srgan", "--init", "realesrnet-x4plus", "--arch", "rrdb", "--value-range", "0,1", "--n-blocks", "1",
        "--features", "8", "--growth", "4", "--size", "32", "--batch-size", "2", "--data", "skimage", "--steps", "1",
        "--lr", "1e-5", "--sample-every", "0", "--device", "cpu", "--precision", "fp32", "--out", tmp_path / "tuned")
    config = (tmp_path / "tuned/config.toml").read_text()
    assert str(tmp_path / "home/models/srgan/realesrnet-x4plus/model.safetensors") in config
