"""CycleGAN's catalogue end to end, against a loopback server standing in for the publisher's host
(TRANSLATE_MIRROR keeps the catalogue's paths): ``translate data get horse2zebra`` then the printed
training command, ``translate apply horse2zebra IMG`` (fetched, imported, applied; then a cache hit
that sends no request), ``translate models`` / ``data list``, offline with an empty cache, and a
download whose connection drops half-way and is resumed."""

from __future__ import annotations

import io
import shlex
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import helpers

# The reference networks, written from the published code, live beside the importer's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))
from test_weights import JResnetGenerator, j_norm, randomise  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL_PATH = "/cyclegan/pretrained_models/horse2zebra.pth"
DATA_PATH = "/cyclegan/datasets/horse2zebra.zip"


def png_bytes(seed: int, size: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def reference_zip() -> bytes:
    """horse2zebra.zip as the publisher lays it out: one top folder with trainA/B, testA/B."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i, part in enumerate(("trainA", "trainB", "testA", "testB")):
            for j in range(3):
                z.writestr(f"horse2zebra/{part}/{part}_{j}.png", png_bytes(10 * i + j))
    return out.getvalue()


def reference_generator() -> bytes:
    """A tiny generator in the reference's format (BaseModel.save_networks: a plain state dict)."""
    torch.manual_seed(0)
    out = io.BytesIO()
    torch.save(randomise(JResnetGenerator(3, 3, 8, 2, j_norm("instance"))).state_dict(), out)
    return out.getvalue()


@pytest.fixture
def publisher(tmp_path, monkeypatch):
    with helpers.serve_files({MODEL_PATH: reference_generator(), DATA_PATH: reference_zip()}) as server:
        monkeypatch.setenv("TRANSLATE_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("TRANSLATE_MIRROR", server.base_url)
        monkeypatch.setenv("TRANSLATE_DOWNLOAD_BACKOFF", "0")
        monkeypatch.chdir(tmp_path)
        yield server


def requests_for(server, path: str) -> int:
    return sum(r["path"] == path for r in server.requests)


def test_data_get_then_the_printed_command_trains(cli, publisher, tmp_path):
    result = cli("data", "get", "horse2zebra")
    assert (tmp_path / "data/horse2zebra/trainA/trainA_0.png").is_file()
    command = next(line for line in result.output.splitlines() if line.startswith("next: "))[len("next: "):]
    assert command == ("translate train cyclegan --a data/horse2zebra/trainA --b data/horse2zebra/trainB "
                       "--eval-a data/horse2zebra/testA --eval-b data/horse2zebra/testB")
    args = shlex.split(command)[1:]
    cli(*args, "--steps", "2", "--size", "32", "--batch-size", "1", "--gen-features", "4", "--disc-features", "4",
        "--n-blocks", "1", "--sample-every", "0", "--device", "cpu", "--out", tmp_path / "run")
    assert (tmp_path / "run/model.safetensors").is_file()
    listing = cli("data", "list").output
    assert any(line.startswith("horse2zebra ") and "here: data/horse2zebra" in line for line in listing.splitlines())
    again = cli("data", "get", "horse2zebra", ok=False)  # the folder is there: refused, nothing replaced
    assert "--overwrite" in again.output and requests_for(publisher, DATA_PATH) == 1
    cli("data", "get", "horse2zebra", "-o", tmp_path / "second")  # from the cache: no request
    assert requests_for(publisher, DATA_PATH) == 1 and (tmp_path / "second/testB").is_dir()


def test_apply_by_name_imports_once_then_hits_the_cache(cli, publisher, tmp_path):
    (tmp_path / "horse.png").write_bytes(png_bytes(7, 36))
    started = time.perf_counter()
    first = cli("apply", "horse2zebra", "horse.png", "-o", "zebra.png", "--device", "cpu")
    cold = time.perf_counter() - started
    assert "imported cyclegan/horse2zebra" in first.output
    assert Image.open(tmp_path / "zebra.png").size == (36, 36)
    started = time.perf_counter()
    cli("apply", "horse2zebra", "horse.png", "-o", "zebra2.png", "--device", "cpu")
    warm = time.perf_counter() - started
    assert publisher.count == 1  # the second call sent no request at all
    assert np.array_equal(np.asarray(Image.open("zebra.png")), np.asarray(Image.open("zebra2.png")))
    models = cli("models").output
    assert any(line.startswith("horse2zebra ") and " yes " in line for line in models.splitlines())
    print(f"fixture fetch + import + apply {cold:.2f} s; cached apply {warm:.2f} s")


def test_offline_with_an_empty_cache_is_one_line_naming_url_and_place(cli, publisher, tmp_path, error_line,
                                                                       monkeypatch):
    monkeypatch.setenv("TRANSLATE_OFFLINE", "1")
    (tmp_path / "horse.png").write_bytes(png_bytes(7))
    line = error_line(cli("apply", "horse2zebra", "horse.png", ok=False))
    assert f"{publisher.base_url}{MODEL_PATH} by hand" in line
    assert str(tmp_path / "home/models/cyclegan/horse2zebra/horse2zebra.pth") in line
    line = error_line(cli("data", "get", "horse2zebra", "--offline", ok=False))
    assert "by hand" in line and str(tmp_path / "home/datasets/cyclegan/horse2zebra.zip") in line
    assert publisher.count == 0 and not (tmp_path / "data").exists()


def test_a_download_dropped_half_way_resumes_with_a_range_request(cli, publisher, tmp_path):
    size = len(publisher.files[DATA_PATH])
    publisher.drop_after, publisher.drops = size // 2, 1
    cli("data", "get", "horse2zebra")
    ranges = [r["range"] for r in publisher.requests if r["path"] == DATA_PATH]
    assert ranges[0] is None and ranges[-1] == f"bytes={size // 2}-"
    assert publisher.body_bytes == size  # nothing was sent twice
    assert len(list((tmp_path / "data/horse2zebra").rglob("*.png"))) == 12
