"""Third-party plugins from the outside: the VAE-GAN example package and a broken package are
installed with pip (into a temporary --target folder put on PYTHONPATH, so the environment is
untouched) and driven through ``python -m translate`` in subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from translate.data import builtin

REPO = Path(__file__).resolve().parents[2]


def pip_install(package: Path, target: Path, work: Path) -> None:
    """Install a copy of ``package`` (so no build files land in the repository) into ``target``."""
    src = work / f"src-{package.name}"
    shutil.copytree(package, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(src)], check=True, capture_output=True)


def run(*args, paths=(), env=None, ok=True, cwd=None):
    """``python -m translate ARGS`` with ``paths`` (install targets) on PYTHONPATH."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-m", "translate", *map(str, args)], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Two install folders: the VAE-GAN example, and the broken example."""
    work = tmp_path_factory.mktemp("pkgs")
    vaegan, broken = work / "vaegan", work / "broken"
    pip_install(REPO / "examples" / "vaegan", vaegan, work)
    pip_install(REPO / "examples" / "broken_plugin", broken, work)
    return {"vaegan": vaegan, "broken": broken}


def _read(folder: Path, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / n).convert("RGB"), np.float32) / 255 for n in names])


@pytest.fixture(scope="module")
def vaegan_runs(installed, tmp_path_factory):
    """An untrained (1 step) and a trained (100 steps) VAE-GAN on built-in shapes at 32 px,
    with small networks (--features 8) so CPU training takes seconds. Already after 60 steps the
    held-out reconstruction error is 0.112 against the untrained 0.164 (and 0.131 against other
    images), well inside the bounds below (fp32 on an AVX2 CPU)."""
    work = tmp_path_factory.mktemp("vaegan")
    common = ["--data", "shapes", "--size", 32, "--features", 8, "--batch-size", 32, "--sample-every", 0,
              "--precision", "fp32"]
    runs = {}
    for name, steps in (("untrained", 1), ("trained", 100)):
        runs[name] = work / name
        run("train", "vaegan", *common, "--steps", steps, "--out", runs[name], paths=[installed["vaegan"]])
    heldout = work / "heldout"  # other seed: images the model never saw
    heldout.mkdir()
    for i, img in enumerate(builtin.shapes(32, seed=99, count=48).images):
        Image.fromarray(img).save(heldout / f"{i:03d}.png")
    runs["heldout"] = heldout
    runs["work"] = work
    return runs


def test_installed_plugin_is_listed_and_its_flags_appear(installed):
    listing = run("plugins", paths=[installed["vaegan"]]).stdout
    line = next(ln for ln in listing.splitlines() if ln.startswith("vaegan"))
    assert "1.0.0" in line and "translate-vaegan" in line and "Larsen" in line
    assert any(ln.startswith("gan ") for ln in listing.splitlines())
    helptext = run("train", "vaegan", "--help", paths=[installed["vaegan"]]).stdout
    for flag in ("--latent-dim", "--gamma", "--margin", "--equilibrium", "--features", "--data"):
        assert flag in helptext
    assert "[vaegan]" in helptext  # the flags come from the plugin's Config dataclass


@pytest.mark.slow  # trains the example package in subprocesses
def test_vaegan_reconstructs_held_out_images(installed, vaegan_runs):
    heldout = vaegan_runs["heldout"]
    names = sorted(p.name for p in heldout.glob("*.png"))
    originals = _read(heldout, names)
    errors = {}
    for name in ("untrained", "trained"):
        out = vaegan_runs["work"] / f"recon-{name}"
        run("apply", vaegan_runs[name], heldout, "-o", out, paths=[installed["vaegan"]])
        recon = _read(out, names)
        assert recon.shape == originals.shape
        own = ((recon - originals) ** 2).mean()
        # The same reconstructions scored against the other held-out images: a model that ignored
        # its input (a mean image, a fixed pattern) scores the same both ways.
        other = np.mean([((recon - np.roll(originals, k, 0)) ** 2).mean() for k in range(1, len(names))])
        errors[name] = (own, other)
    assert errors["trained"][0] < 0.85 * errors["untrained"][0], errors
    assert errors["trained"][0] < errors["trained"][1], errors  # reconstructions depend on the input
    log = (vaegan_runs["trained"] / "log.jsonl").read_text().splitlines()
    assert len(log) >= 10 and '"kl"' in log[-1] and '"llike"' in log[-1]


@pytest.mark.slow  # trains the example package in subprocesses
def test_vaegan_samples(installed, vaegan_runs, tmp_path):
    out = tmp_path / "grid.png"
    run("sample", vaegan_runs["trained"], "-n", 16, "-o", out, paths=[installed["vaegan"]])
    grid = np.asarray(Image.open(out), np.float32)
    assert grid.shape[0] > 4 * 32 and grid.std() > 5  # a 4×4 grid of 32 px images, not blank
    folder = tmp_path / "each"
    run("sample", vaegan_runs["trained"], "-n", 3, "-o", folder, "--seed", 1, paths=[installed["vaegan"]])
    again = tmp_path / "again"
    run("sample", vaegan_runs["trained"], "-n", 3, "-o", again, "--seed", 1, paths=[installed["vaegan"]])
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert np.array_equal(_read(folder, ["00001.png"]), _read(again, ["00001.png"]))  # seeded


@pytest.mark.slow  # several CLI subprocesses: ~8 s on 2 cores
def test_broken_plugin_is_reported_and_others_still_work(installed, tmp_path):
    paths = [installed["vaegan"], installed["broken"]]
    proc = run("plugins", paths=paths)
    lines = proc.stdout.splitlines()
    broken = next(ln for ln in lines if ln.startswith("BROKEN broken"))
    assert "translate-broken-example" in broken
    assert "not-installed-dependency" in broken  # the import error itself
    misspelt = next(ln for ln in lines if ln.startswith("BROKEN misspelt"))
    assert "evalute" in misspelt and "did you mean evaluate()" in misspelt  # a misspelt hook, named
    assert any(ln.startswith("vaegan") for ln in lines) and any(ln.startswith("gan ") for ln in lines)
    assert "2 broken plugin" in proc.stderr
    # Training a healthy plugin is unaffected.
    run("train", "gan", "--data", "shapes", "--size", 16, "--features", 8, "--batch-size", 8, "--steps", 5,
        "--sample-every", 0, "--out", tmp_path / "gan", paths=paths)
    assert (tmp_path / "gan" / "model.safetensors").is_file()
    # Asking for the broken one is a one-line error naming it, not a traceback.
    proc = run("train", "broken", "--help", paths=paths, ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "plugin 'broken'" in proc.stderr and "failed to import" in proc.stderr


@pytest.mark.slow  # two full conformance runs: ~10 s on 2 cores
def test_plugin_check_passes_the_example_and_fails_the_misspelt_hook(installed, tmp_path):
    paths = [installed["vaegan"], installed["broken"]]
    proc = run("plugin", "check", "vaegan", "--workdir", tmp_path / "vaegan", paths=paths)
    assert "8 of 8 checks passed" in proc.stderr, proc.stdout
    assert "resume" in proc.stdout and "bit for bit" in proc.stdout
    proc = run("plugin", "check", "misspelt", paths=paths, ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "evalute" in proc.stdout + proc.stderr and "did you mean evaluate()" in proc.stdout + proc.stderr


def test_disabled_plugins_are_skipped(installed):
    paths = [installed["vaegan"], installed["broken"]]
    env = {"TRANSLATE_DISABLE_PLUGINS": "broken, misspelt, vaegan"}
    proc = run("plugins", paths=paths, env=env)
    assert "BROKEN" not in proc.stdout and not any(ln.startswith("vaegan") for ln in proc.stdout.splitlines())
    assert "disabled broken" in proc.stdout and "disabled vaegan" in proc.stdout
    proc = run("train", "vaegan", "--help", paths=paths, env=env, ok=False)
    assert "disabled by TRANSLATE_DISABLE_PLUGINS" in proc.stderr and "Traceback" not in proc.stderr


def test_two_distributions_with_one_name_make_only_that_name_unusable(installed, tmp_path):
    clash = tmp_path / "clash"
    (clash / "other_vaegan").mkdir(parents=True)
    (clash / "other_vaegan" / "__init__.py").write_text("")
    (clash / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "other-vaegan"\nversion = "2.0"\n'
        '[project.entry-points."translate.plugins"]\nvaegan = "other_vaegan:Plugin"\n'
        '[tool.setuptools]\npackages = ["other_vaegan"]\n')
    target = tmp_path / "target"
    pip_install(clash, target, tmp_path)
    proc = run("plugins", paths=[installed["vaegan"], target])  # listing works, the clash is shown
    clash = next(line for line in proc.stdout.splitlines() if line.startswith("CLASH"))
    assert "'vaegan'" in clash and "translate-vaegan" in clash and "other-vaegan" in clash
    assert any(line.startswith("gan ") for line in proc.stdout.splitlines())
    proc = run("train", "vaegan", "--help", paths=[installed["vaegan"], target], ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert "'vaegan'" in message and "translate-vaegan" in message and "other-vaegan" in message


@pytest.mark.slow  # trains the example package in subprocesses
def test_checkpoint_of_a_missing_plugin_is_a_one_line_error(installed, vaegan_runs, tmp_path):
    proc = run("sample", vaegan_runs["trained"], "-n", 2, "-o", tmp_path / "s.png", ok=False)  # not on the path
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "plugin 'vaegan'" in lines[0] and "not installed" in lines[0]
    assert "translate-vaegan 1.0.0" in lines[0]
    assert not (tmp_path / "s.png").exists()


@pytest.mark.slow
def test_checkpoint_of_another_major_version_warns_and_loads(installed, vaegan_runs, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    source = vaegan_runs["trained"] / "model.safetensors"
    with safe_open(str(source), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=dict(meta, plugin_version="0.3.0"))
    proc = run("sample", old, "-n", 2, "-o", tmp_path / "s.png", paths=[installed["vaegan"]])
    assert "warning" in proc.stderr and "0.3.0" in proc.stderr and "different major version" in proc.stderr
    assert (tmp_path / "s.png").is_file()
    same = tmp_path / "same.safetensors"  # same major version: no warning
    save_file(tensors, str(same), metadata=dict(meta, plugin_version="1.4.2"))
    proc = run("sample", same, "-n", 2, "-o", tmp_path / "t.png", paths=[installed["vaegan"]])
    assert "warning" not in proc.stderr
