"""The README's main job, shortened: train the gan plugin on the built-in shapes set through the CLI
in a subprocess, sample from the checkpoint, and check the samples resemble the data.

Metric: squared MMD (Gaussian kernel, bandwidth = median pairwise distance of the data) between
256 samples and 256 training images, both downsampled to 16×16. A trained model must halve the
untrained model's MMD."""

from __future__ import annotations

import pytest

import torch
import torch.nn.functional as F


def mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.flatten(1).double(), y.flatten(1).double()
    bandwidth = torch.cdist(x, x).median()
    k = lambda a, b: torch.exp(-torch.cdist(a, b) ** 2 / (2 * bandwidth**2))  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def _real_images(n: int) -> torch.Tensor:
    from translate.data.datasets import ImageDataset
    from translate.data.sources import open_images

    dataset = ImageDataset(open_images("shapes", size=32, seed=0), 32, 3, flip=False)
    return torch.stack([dataset[(i, i)]["image"] for i in range(n)])


@pytest.mark.slow
def test_train_then_sample_through_the_cli(tmp_path, cli_subprocess):
    run = tmp_path / "run"
    # Half the width and batch of the README's command: the same recipe at a quarter of the cost
    # (measured here: MMD 0.29 against 1.09 untrained, in 28 s on 2 cores).
    cli_subprocess("train", "gan", "--data", "shapes", "--steps", "300", "--features", "32", "--batch-size", "32",
                   "--sample-every", "150", "--out", run)
    for name in ("model.safetensors", "state.safetensors", "config.toml", "log.jsonl", "samples.png",
                 "samples/step-0000150.png", "samples/step-0000300.png"):
        assert (run / name).exists(), name
    proc = cli_subprocess("sample", run / "model.safetensors", "-n", "16", "-o", tmp_path / "grid.png",
                          "--seed", "1")
    assert (tmp_path / "grid.png").exists() and "wrote 16" in proc.stderr
    cli_subprocess("sample", run, "-n", "3", "-o", tmp_path / "each")
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["00000.png", "00001.png", "00002.png"]

    from translate.loading import load_model

    trained = load_model(run / "model.safetensors")
    untrained_modules = trained.plugin.build(trained.config, trained.options)
    for m in untrained_modules.values():
        m.eval()
    real = F.avg_pool2d(_real_images(256), 2)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        fake_trained = F.avg_pool2d(trained.plugin.sample(trained.modules, trained.config, 256, gen), 2)
        gen = torch.Generator().manual_seed(0)
        fake_untrained = F.avg_pool2d(trained.plugin.sample(untrained_modules, trained.config, 256, gen), 2)
    after, before = mmd2(real, fake_trained), mmd2(real, fake_untrained)
    assert after < 0.5 * before, (after, before)


def _readme_first_command() -> list[str]:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    first = block.strip().splitlines()[0]
    assert first.startswith('python -m pip install -e ".[dev]" && translate '), first
    return first.split(" && translate ", 1)[1].split()


def test_readme_first_command_runs_shortened_and_learns(tmp_path, cli, monkeypatch):
    """The README's first command as written (its config file, from the repository root), with fewer
    steps: it writes what the README says it leaves, and the model already beats an untrained one."""
    from pathlib import Path

    from translate.loading import load_model
    from translate_plugins.pix2pix.data import shapes2shaded

    args = _readme_first_command()
    assert args[:2] == ["train", "pix2pix"] and "--out" in args
    args[args.index("--out") + 1] = str(tmp_path / "first")
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the config path is relative to the repo
    cli(*args, "--steps", "60", "--sample-every", "30")
    run = tmp_path / "first"
    for name in ("samples.png", "model.safetensors", "index.html", "log.jsonl", "config.toml",
                 "samples/step-0000030.png"):
        assert (run / name).exists(), name
    model = load_model(run)
    untrained = {name: m.eval() for name, m in model.plugin.build(model.config, model.options, training=False).items()}
    pairs = [shapes2shaded(32, 10_000 + i, 7) for i in range(8)]  # pairs the run never drew
    a = torch.stack([torch.from_numpy(p[0]).permute(2, 0, 1).float() / 127.5 - 1 for p in pairs])
    b = torch.stack([torch.from_numpy(p[1]).permute(2, 0, 1).float() / 127.5 - 1 for p in pairs])
    with torch.no_grad():
        trained_error = (model.apply_tensor(a) - b).abs().mean()
        untrained_error = (model.plugin.apply(untrained, model.config, a) - b).abs().mean()
    assert trained_error < 0.5 * untrained_error, (trained_error, untrained_error)
