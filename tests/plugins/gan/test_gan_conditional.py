"""Conditional gan and the latent tools: the model draws the class asked for; CLI paths of sample
--class, interpolate, neighbours and attribute on small models of a colour-labelled folder."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from translate.request import TrainRequest
from translate.loading import load_model
from translate.request import new_request
from translate.registry import load_plugin
from translate.trainer import train

CLASSES = ("blue", "green", "red")  # sorted folder names = label order
CHANNEL = {"red": 0, "green": 1, "blue": 2}

def resolve(plugin, values, config_file=None):
    """(options, config, data) of a new run, resolved as translate.train does."""
    request = new_request(plugin, values, config_file)
    return request.options, request.config, request.data



def make_colour_folder(root, per_class: int = 48) -> None:
    """16×16 images whose class is their dominant colour, with noise and a random bright patch."""
    rng = np.random.default_rng(0)
    for name, ch in CHANNEL.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 70, (16, 16, 3))
            img[..., ch] = rng.integers(140, 256)
            y, x = rng.integers(0, 11, 2)
            img[y:y + 5, x:x + 5, ch] = 255
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i:03d}.png")


def train_small(root, out, conditional: bool):
    """150 steps: every class then drawn right (100 % of 64 per class, fp32 on an AVX2 CPU) and the
    red vector takes the unconditional samples from 56 % to 100 % red, far inside the bounds below."""
    gan = load_plugin("gan")
    flags = {"data": str(root), "arch": "mlp", "hidden": "128,256", "latent_dim": "16", "size": "16",
             "steps": "150", "batch_size": "32", "sample_every": "0", "precision": "fp32", "lr": "5e-4",
             "conditional": conditional, "embed_dim": "8"}
    options, config, data = resolve(gan, flags, None)
    train(TrainRequest(gan, options, config, data), out, progress=False)
    return out


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    make_colour_folder(root)
    return root


@pytest.fixture(scope="module")
def conditional_run(colours, tmp_path_factory):
    return train_small(colours, tmp_path_factory.mktemp("cond") / "run", conditional=True)


@pytest.fixture(scope="module")
def unconditional_run(colours, tmp_path_factory):
    return train_small(colours, tmp_path_factory.mktemp("uncond") / "run", conditional=False)


def dominant(images: torch.Tensor) -> torch.Tensor:
    return images.float().mean(dim=(2, 3)).argmax(dim=1)


def test_conditional_model_draws_the_requested_class(conditional_run):
    model = load_model(conditional_run)
    assert model.config.classes == CLASSES  # the checkpoint knows its class names
    for name in CLASSES:
        with torch.no_grad():
            x = model.plugin.sample(model.modules, model.config, 64, torch.Generator().manual_seed(1), label=name)
        accuracy = (dominant(x) == CHANNEL[name]).float().mean().item()
        assert accuracy >= 0.9, (name, accuracy)


def test_sample_class_cli(cli, conditional_run, tmp_path):
    out = tmp_path / "green.png"
    cli("sample", conditional_run, "--class", "green", "-n", "16", "-o", out)
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
    assert pixels.mean(axis=(0, 1)).argmax() == CHANNEL["green"]
    bad = cli("sample", conditional_run, "--class", "purple", "-o", tmp_path / "x.png", ok=False)
    assert bad.exit_code != 0 and "blue, green, red" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x.png").exists()


def test_interpolate_cli(cli, conditional_run, tmp_path):
    cli("interpolate", conditional_run, "--seeds", "0,1,2", "--frames", "4", "--class", "red", "-o", tmp_path / "s.png")
    strip = Image.open(tmp_path / "s.png")
    # 2 segments × 4 steps + 1 = 9 columns, one row each for linear and slerp, 16 px + 2 px padding
    assert strip.size == (2 + 9 * 18, 2 + 2 * 18)
    cli("interpolate", conditional_run, "--seeds", "0,1", "--frames", "3", "--mode", "slerp", "-o", tmp_path / "w.gif")
    gif = Image.open(tmp_path / "w.gif")
    assert gif.n_frames == 4
    bad = cli("interpolate", conditional_run, "--seeds", "3", "-o", tmp_path / "y.png", ok=False)
    assert "at least two seeds" in bad.output
    # an existing file is never replaced silently: refused (and left as it was) unless --overwrite
    before = (tmp_path / "s.png").read_bytes()
    again = cli("interpolate", conditional_run, "--seeds", "0,1", "-o", tmp_path / "s.png", ok=False)
    assert "already exists; pass --overwrite" in again.output and (tmp_path / "s.png").read_bytes() == before
    cli("interpolate", conditional_run, "--seeds", "0,1", "--frames", "2", "-o", tmp_path / "s.png", "--overwrite")
    assert Image.open(tmp_path / "s.png").size == (2 + 3 * 18, 2 + 2 * 18)


def test_slerp_keeps_the_norm_and_ends_at_the_seeds():
    from translate.cli.latent import lerp, path_latents, seed_latent, slerp

    a, b = seed_latent(0, 64), seed_latent(1, 64)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid_s, mid_l = slerp(a, b, 0.5), lerp(a, b, 0.5)
    # Two independent Gaussian latents are nearly orthogonal: the linear midpoint shrinks by ≈ 1/√2,
    # the spherical one keeps a norm between the two endpoints'.
    assert mid_l.norm() < 0.8 * min(a.norm(), b.norm())
    assert min(a.norm(), b.norm()) - 1e-4 <= mid_s.norm() <= max(a.norm(), b.norm()) + 1e-4
    walk = path_latents([0, 1, 2], 64, 4, "slerp")
    assert walk.shape == (9, 64) and torch.allclose(walk[4], b, atol=1e-5)
    # seed S is the first latent of 'translate sample --seed S'
    assert torch.equal(seed_latent(5, 64), torch.randn(3, 64, generator=torch.Generator().manual_seed(5))[0])


def test_neighbours_cli(cli, unconditional_run, colours, tmp_path):
    result = cli("neighbours", unconditional_run, "-n", "3", "-k", "4", "-o", tmp_path / "nn.png")
    assert "generated→train" in result.output
    grid = Image.open(tmp_path / "nn.png")
    assert grid.size == (2 + 5 * 18, 2 + 3 * 18)
    again = cli("neighbours", unconditional_run, "-n", "2", "-o", tmp_path / "nn.png", ok=False)
    assert "already exists; pass --overwrite" in again.output and Image.open(tmp_path / "nn.png").size == grid.size
    # the nearest training image of a red sample is red: neighbours are found in pixel space
    from translate.cli.latent import nearest

    probe = torch.zeros(1, 3 * 16 * 16)
    rows = torch.stack([torch.full((3 * 16 * 16,), v) for v in (-1.0, 0.5, 0.1)])
    dist, idx = nearest(probe, iter([(0, rows[:2]), (2, rows[2:])]), 2)
    assert idx.tolist() == [[2, 1]] and dist[0, 0].item() == pytest.approx(0.1, abs=1e-6)


def test_attribute_cli(cli, unconditional_run, colours, tmp_path):
    result = cli("attribute", unconditional_run, "--attribute", "red", "--data", colours, "-n", "256",
                 "--scales", "0,1,2,3", "--rows", "3", "-o", tmp_path / "a.png")
    shares = [float(v) for v in re.findall(r"^\s*[\d.]+\s+([\d.]+)%$", result.output, flags=re.M)]
    assert len(shares) == 4
    assert shares[-1] > shares[0] + 20, result.output  # adding the vector makes samples red
    assert Image.open(tmp_path / "a.png").size == (2 + 4 * 18, 2 + 3 * 18)
    bad = cli("attribute", unconditional_run, "--attribute", "purple", "--data", colours, ok=False)
    assert "choose one of blue, green, red" in bad.output
    again = cli("attribute", unconditional_run, "--attribute", "red", "--data", colours, "-o", tmp_path / "a.png",
                ok=False)
    assert "already exists; pass --overwrite" in again.output
