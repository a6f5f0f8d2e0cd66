"""The Python API is the CLI's twin: the same request gives the same config and checkpoint
metadata through either door, for every built-in; models take and return PIL, paths, NumPy and
tensors; the README's Python example runs as written."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import translate
from translate.errors import UserError

REPO = Path(__file__).resolve().parents[2]

# One tiny request per built-in, as flags; the API gets the same as keywords.
REQUESTS = {
    "gan": {"data": "shapes", "size": 16, "features": 8, "latent_dim": 8, "batch_size": 4},
    "pix2pix": {"aligned": "shapes2shaded", "size": 32, "features": 8, "d_features": 8, "batch_size": 2},
    "cyclegan": {"a": "shapes", "b": "shapes-inverted", "size": 32, "gen_features": 8, "disc_features": 8,
                 "batch_size": 1},
    "srgan": {"data": "skimage", "size": 32, "features": 8, "n_blocks": 1, "batch_size": 2},
}
COMMON = {"steps": 2, "sample_every": 0, "device": "cpu", "precision": "fp32"}


def _metadata(run: Path) -> dict[str, str]:
    with safe_open(str(run / "model.safetensors"), "pt") as f:
        return dict(f.metadata())


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_api_and_cli_write_identical_config_and_metadata(name, tmp_path, cli):
    values = {**REQUESTS[name], **COMMON}
    flags = [part for k, v in values.items() for part in (f"--{k.replace('_', '-')}", str(v))]
    cli("train", name, *flags, "--out", tmp_path / "cli")
    model = translate.train(name, **values, out=tmp_path / "api", progress=False)
    cli_meta, api_meta = _metadata(tmp_path / "cli"), _metadata(tmp_path / "api")
    assert cli_meta == api_meta
    assert (tmp_path / "cli" / "config.toml").read_text() == (tmp_path / "api" / "config.toml").read_text()
    # ... and the config is the resolved one, automatic values filled in.
    assert json.loads(api_meta["config"]) == json.loads(json.dumps(model.config.__dict__))
    if name == "cyclegan":
        toml = tomllib.loads((tmp_path / "api" / "config.toml").read_text())
        assert toml["model"]["n_blocks"] == 6 and toml["model"]["resize"] == 36  # 32·286/256, rounded


@pytest.fixture(scope="module")
def cyclegan_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return translate.train("cyclegan", **REQUESTS["cyclegan"], **COMMON, out=out, progress=False)


def test_model_takes_and_returns_pil_paths_numpy_and_tensors(cyclegan_model, tmp_path):
    model = translate.load(cyclegan_model.path)
    assert model.plugin.name == "cyclegan" and set(model.modules) == {"g_ab", "g_ba"}  # no discriminators
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 45, 3), dtype=np.uint8))
    out = model(rgb)
    assert isinstance(out, Image.Image) and out.size == (45, 37) and out.mode == "RGB"
    rgb.save(tmp_path / "in.png")
    assert np.array_equal(np.asarray(model(tmp_path / "in.png")), np.asarray(out))  # a path: the same
    array = model(np.asarray(rgb))
    assert array.dtype == np.uint8 and np.array_equal(array, np.asarray(out))
    tensor = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float() / 127.5 - 1
    assert model(tensor).shape == (3, 37, 45) and model(tensor[None]).shape == (1, 3, 37, 45)
    back = model(out, direction="b2a")
    assert back.size == out.size
    assert not np.array_equal(np.asarray(back), np.asarray(model(out)))  # the other generator
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    assert model(rgba).mode == "RGBA"  # alpha carried through
    gray = model(rgb.convert("L"))
    assert gray.mode == "RGB"  # converted to the model's channels
    assert model.to("cpu") is model and "cyclegan" in repr(model)
    with pytest.raises(UserError, match="direction"):
        model(out, direction="sideways")
    with pytest.raises(UserError, match="does not sample"):
        model.sample(4)


def test_gan_model_samples_a_grid_and_a_list(tmp_path):
    model = translate.train("gan", **REQUESTS["gan"], **COMMON, out=tmp_path / "run", progress=False)
    grid = translate.load(tmp_path / "run").sample(16, seed=0)
    assert isinstance(grid, Image.Image) and grid.size == (4 * 16 + 5 * 2,) * 2
    assert np.array_equal(np.asarray(grid), np.asarray(model.sample(16, seed=0)))  # seeded
    images = model.sample(3, seed=1, grid=False)
    assert len(images) == 3 and images[0].size == (16, 16)
    with pytest.raises(UserError, match="does not translate images"):
        model(images[0])


def test_resume_through_the_api(tmp_path):
    translate.train("gan", **REQUESTS["gan"], **dict(COMMON, steps=2), out=tmp_path / "run", progress=False)
    model = translate.train("gan", resume=tmp_path / "run", steps=4, progress=False)
    assert model.step == 4
    with pytest.raises(UserError, match="cannot change latent_dim"):
        translate.train("gan", resume=tmp_path / "run", steps=6, latent_dim=4)


def test_train_prints_what_the_cli_prints_and_nothing_when_not_verbose(tmp_path, cli, capsys):
    points = {"data": "ring8", "batch_size": 8, "steps": 1, "sample_every": 0, "device": "cpu"}
    translate.train("gan", **points, out=tmp_path / "quiet", verbose=False)
    assert capsys.readouterr() == ("", "")
    translate.train("gan", **points, out=tmp_path / "api")
    api = capsys.readouterr().err.splitlines()
    flags = [str(a) for k, v in points.items() for a in (f"--{k.replace('_', '-')}", v)]
    shell = cli("train", "gan", *flags, "--out", tmp_path / "cli").stderr.splitlines()

    def shape(lines: list[str], out: str) -> list[str]:  # paths and timings differ between the two runs
        return [re.sub(r"\d[\d.,]*", "#", line.replace(str(tmp_path / out), "RUN")) for line in lines]

    assert shape(api, "api")[0] == "training gan → RUN" and shape(api, "api")[-1].startswith("done: # steps in")
    assert shape(api, "api") == shape(shell, "cli")


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "shapes2inverted" / "model.safetensors").is_file()


@pytest.mark.parametrize("call, message", [
    (lambda path: translate.load(path, device="tpu"), "device='tpu': give one of auto, cpu, cuda, mps"),
    (lambda path: translate.load(path, precision="fp8"), "precision='fp8': give one of auto, fp32, bf16, fp16"),
    (lambda path: translate.load(path, ema="yes"), "ema='yes': give True"),
    (lambda path: translate.load(123), "path 123: give a run folder"),
    (lambda path: translate.train(123), "plugin 123: give a plugin's name"),
])
def test_bad_api_arguments_are_one_line_naming_the_argument(tiny_gan_run, call, message):
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        call(tiny_gan_run)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("image, message", [
    (np.zeros((0, 0, 3)), "empty"),
    (np.zeros((5, 0), np.uint8), "empty"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.zeros((4, 4, 3), bool), "dtype bool"),
    (torch.zeros(1, 3, 0, 8), "empty"),
])
def test_model_refuses_empty_and_non_numeric_arrays(tiny_cyclegan_run, image, message):
    model = translate.load(tiny_cyclegan_run)
    with pytest.raises(UserError, match=message):
        model(image)
