"""``translate plugin new``: the scaffolded package installs, trains, samples and passes its own test."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow  # trains the scaffolded plugin; the default run keeps the other scaffold checks
def test_image2image_scaffold_is_the_default_and_learns_its_mapping(tmp_path, cli):
    """The default kind: a paired translator that passes translate plugin check as written, and whose
    own quality test (held-out error < half the identity's) passes."""
    root = tmp_path / "pkg"
    result = cli("plugin", "new", "tiny_i2i", root)
    assert "image2image" in result.output
    for module in ("__init__", "networks", "data", "training", "evaluation", "reference"):
        assert (root / "translate_tiny_i2i" / f"{module}.py").is_file(), module
    for rel in ("tests/test_tiny_i2i.py", "README.md"):
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


# ---- the import surface promised to plugin authors (docs/plugins.md) ---------------------------

REPO = Path(__file__).resolve().parents[2]


def documented_surface() -> dict[str, set[str]]:
    """Module → names of the table in docs/plugins.md's "What to import from translate"."""
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text.split("## What to import from translate", 1)[1].split("\n## ", 1)[0]
    surface = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and re.fullmatch(r"`translate[a-z_.]*`", cells[0]):
            surface[cells[0].strip("`")] = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1]))
    return surface


def translate_imports(folder: Path) -> set[tuple[str, str]]:
    """(module, name) of every ``from translate... import name`` in the .py files under ``folder``."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                    node.module == "translate" or node.module.startswith("translate.")):
                found |= {(node.module, alias.name) for alias in node.names}
    return found


def outside_surface(imports: set[tuple[str, str]], surface: dict[str, set[str]]) -> list[str]:
    """The imports that are neither a documented name nor a documented module (``from translate.data
    import augment``)."""
    return sorted(f"{m}.{n}" for m, n in imports if n not in surface.get(m, ()) and f"{m}.{n}" not in surface)


def test_every_documented_plugin_api_name_exists():
    surface = documented_surface()
    assert "translate.nn.layers" in surface and "Plugin" in surface["translate.plugin"]
    missing = [f"{module}.{name}" for module, names in surface.items() for name in sorted(names)
               if not hasattr(importlib.import_module(module), name)]
    assert not missing


@pytest.mark.parametrize("kind", ["image2image", "gan"])
def test_scaffold_imports_only_the_documented_surface(tmp_path, kind):
    surface = documented_surface()
    root = write_scaffold("surface_check", tmp_path / "pkg", kind=kind)
    outside = outside_surface(translate_imports(root), surface)
    assert not outside, f"not in docs/plugins.md's import surface: {outside}"


def test_vaegan_example_imports_only_the_documented_surface():
    surface = documented_surface()
    imports = translate_imports(REPO / "examples" / "vaegan")
    assert imports  # the parser sees the example's imports at all
    outside = outside_surface(imports, surface)
    assert not outside, f"not in docs/plugins.md's import surface: {outside}"
