"""``translate plugin new``: the scaffolded package installs, trains, samples and passes its own test."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from translate.errors import UserError
from translate.scaffold import write_scaffold


def _install(root, tmp_path):
    """pip-install the scaffolded package into its own folder; the environment that sees it."""
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(root)], check=True, capture_output=True)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))


def _runner(env):
    def translate(*args):
        proc = subprocess.run([sys.executable, "-m", "translate", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc
    return translate


def _entry_point_is_light(package, env):
    """The entry-point module must not import torch (translate train NAME --help stays instant)."""
    light = subprocess.run([sys.executable, "-c", f"import sys, {package}; print('torch' in sys.modules)"],
                           capture_output=True, text=True, env=env, check=True)
    assert light.stdout.strip() == "False"


def _own_tests_pass(root, env):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                          capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_gan_scaffold_installs_trains_and_samples(tmp_path, cli):
    root = tmp_path / "pkg"
    result = cli("plugin", "new", "tiny_gan", root, "--kind", "gan")
    assert str(root) in result.output
    for rel in ("pyproject.toml", "translate_tiny_gan/__init__.py", "translate_tiny_gan/networks.py",
                "translate_tiny_gan/training.py", "tests/test_tiny_gan.py"):
        assert (root / rel).is_file(), rel
    assert 'tiny_gan = "translate_tiny_gan:TinyGanPlugin"' in (root / "pyproject.toml").read_text()
    env = _install(root, tmp_path)
    translate = _runner(env)
    _entry_point_is_light("translate_tiny_gan", env)
    assert any(line.startswith("tiny_gan") for line in translate("plugins").stdout.splitlines())
    assert "--latent-dim" in translate("train", "tiny_gan", "--help").stdout
    run = tmp_path / "run"
    translate("train", "tiny_gan", "--data", "shapes", "--size", 32, "--features", 8, "--batch-size", 16,
              "--steps", 30, "--log-every", 5, "--sample-every", 0, "--out", run)
    assert (run / "model.safetensors").is_file() and len((run / "log.jsonl").read_text().splitlines()) == 6
    translate("sample", run, "-n", 4, "-o", tmp_path / "s.png")
    grid = np.asarray(Image.open(tmp_path / "s.png"), np.float32)
    assert grid.std() > 1.0  # images, not a blank grid
    _own_tests_pass(root, env)


@pytest.mark.slow  # ~31 s: trains the scaffolded plugin; the default run keeps the other scaffold checks
def test_image2image_scaffold_is_the_default_and_learns_its_mapping(tmp_path, cli):
    """The default kind: a paired translator that passes translate plugin check as written, and whose
    own quality test (held-out error < half the identity's) passes."""
    root = tmp_path / "pkg"
    result = cli("plugin", "new", "tiny_i2i", root)
    assert "image2image" in result.output
    for rel in ("translate_tiny_i2i/__init__.py", "translate_tiny_i2i/data.py", "translate_tiny_i2i/networks.py",
                "translate_tiny_i2i/training.py", "tests/test_tiny_i2i.py", "README.md"):
        assert (root / rel).is_file(), rel
    env = _install(root, tmp_path)
    translate = _runner(env)
    _entry_point_is_light("translate_tiny_i2i", env)
    help_text = translate("train", "tiny_i2i", "--help").stdout
    assert "--a " in help_text and "--b " in help_text
    _own_tests_pass(root, env)  # includes assert_plugin_conforms: train, reload, apply, export, resume


@pytest.mark.parametrize("name", ["Bad", "9lives", "with-dash", "class", "", "a b"])
def test_scaffold_rejects_bad_names(tmp_path, name):
    with pytest.raises(UserError, match="plugin name"):
        write_scaffold(name, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_scaffold_refuses_a_non_empty_directory(tmp_path, cli):
    (tmp_path / "keep.txt").write_text("mine")
    result = cli("plugin", "new", "ok_name", tmp_path, ok=False)
    assert result.exit_code != 0 and "not empty" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_scaffold("ok_name", empty) == empty and (empty / "pyproject.toml").is_file()
