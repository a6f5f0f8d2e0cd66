"""gan plugin: paper defaults per loss, TTUR, spectral norm, DiffAugment, and a few steps of every loss."""

from __future__ import annotations

import pytest
import torch

from translate.request import TrainRequest
from translate.request import new_request
from translate.errors import UserError
from translate.registry import load_plugin
from translate.trainer import train

def resolve(plugin, values, config_file=None):
    """(options, config, data) of a new run, resolved as translate.train does."""
    request = new_request(plugin, values, config_file)
    return request.options, request.config, request.data



@pytest.fixture(scope="module")
def gan():
    return load_plugin("gan")


def test_wgan_brings_its_paper_defaults(gan):
    _, config, _ = resolve(gan, {"data": "ring8", "loss": "wgan"}, None)
    assert (config.optimizer, config.lr, config.clip, config.d_steps) == ("rmsprop", 5e-5, 0.01, 5)


def test_wgan_gp_brings_its_paper_defaults_and_layer_norm(gan):
    _, config, _ = resolve(gan, {"data": "shapes", "loss": "wgan-gp"}, None)
    assert (config.optimizer, config.lr, config.beta1, config.beta2) == ("adam", 1e-4, 0.0, 0.9)
    assert (config.gp_weight, config.d_steps, config.d_norm) == (10.0, 5, "layer")


def test_explicit_settings_beat_loss_defaults(gan, tmp_path):
    _, config, _ = resolve(gan, {"data": "ring8", "loss": "wgan-gp", "lr": "3e-4", "d_steps": "2"}, None)
    assert (config.lr, config.d_steps, config.beta2) == (3e-4, 2, 0.9)
    file = tmp_path / "c.toml"
    file.write_text('loss = "wgan"\nd_steps = 3\n')
    _, config, _ = resolve(gan, {"data": "ring8"}, str(file))
    assert (config.d_steps, config.lr, config.optimizer) == (3, 5e-5, "rmsprop")


def test_point_data_get_the_2d_recipe_and_images_do_not(gan):
    _, config, _ = resolve(gan, {"data": "grid25"}, None)
    assert (config.latent_dim, config.hidden, config.g_leak, config.lr, config.decay_fraction) == (
        2, (256, 256, 256), 0.0, 2e-4, 0.5)
    assert config.point_scale == pytest.approx(2.83, abs=0.01)  # std of the grid {-4..4}²
    _, config, _ = resolve(gan, {"data": "grid25", "latent_dim": "8", "loss": "wgan-gp"}, None)
    assert (config.latent_dim, config.lr, config.beta1) == (8, 1e-4, 0.0)  # flag, then the loss's paper
    _, config, _ = resolve(gan, {"data": "shapes"}, None)
    assert (config.latent_dim, config.g_leak, config.lr, config.decay_fraction) == (100, 0.2, 2e-4, 0.0)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # no optimiser steps: only the schedule
def test_decay_fraction_schedules_both_networks(gan):
    options, config, _ = resolve(gan, {"data": "ring8", "hidden": "8"}, None)
    optimizers = gan.optimizers(config, gan.build(config, options))
    schedulers = gan.schedulers(config, optimizers, 100)
    for _ in range(75):
        for s in schedulers.values():
            s.step()
    assert [o.param_groups[0]["lr"] for o in optimizers.values()] == pytest.approx([1e-4, 1e-4])
    with pytest.raises(UserError, match="decay-fraction"):
        resolve(gan, {"data": "ring8", "decay_fraction": "1.5"}, None)


def test_separate_learning_rates(gan):
    _, config, _ = resolve(gan, {"data": "ring8", "lr_d": "4e-4", "lr_g": "1e-4"}, None)
    opts = gan.optimizers(config, gan.build(config, resolve(gan, {"data": "ring8"}, None)[0]))
    assert opts["generator"].param_groups[0]["lr"] == 1e-4
    assert opts["discriminator"].param_groups[0]["lr"] == 4e-4


def test_bad_options_are_one_line_errors(gan):
    with pytest.raises(UserError, match="unknown policy"):
        resolve(gan, {"data": "shapes", "diffaugment": "color,blur"}, None)
    with pytest.raises(UserError, match="labelled"):
        resolve(gan, {"data": "ring8", "conditional": True}, None)


def test_spectral_norm_bounds_each_layer(gan):
    options, config, _ = resolve(gan, {"data": "shapes", "spectral_norm": True, "features": "8"}, None)
    assert config.d_norm == "none"
    d = gan.build(config, options)["discriminator"]
    for _ in range(30):  # power iterations run in training-mode forward passes
        d(torch.randn(4, 3, 32, 32))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_diffaugment_is_differentiable_and_does_what_it_says():
    from translate_plugins.gan.diffaugment import color, cutout, diff_augment, translation

    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, ("color", "translation", "cutout"))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        plain = torch.rand(8, 3, 16, 16) + 1.0  # no zeros, so cut-out pixels are recognisable
        holes = (cutout(plain) == 0).all(1).flatten(1).sum(1)
        assert holes.max() <= 8 * 8 and holes.min() >= 4 * 4  # half-size square, possibly clipped
        shifted = translation(plain)
        # integer shifts of at most 2 pixels: every kept value is an original pixel value
        kept = shifted[shifted != 0]
        assert torch.isin(kept, plain).all()
        assert ((shifted == 0).all(1).flatten(1).sum(1) <= 16 * 16 - 14 * 14).all()
        c = color(plain)
        assert not torch.allclose(c[0] - plain[0], c[1] - plain[1])  # drawn per sample


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan", "hinge", "wgan", "wgan-gp"])
def test_every_loss_trains_a_few_steps(gan, tmp_path, loss):
    extra = {"r1": "1.0"} if loss == "hinge" else {}
    options, config, data = resolve(gan, {"data": "ring8", "loss": loss, "hidden": "32,32", "steps": "8",
                                          "batch_size": "32", "sample_every": "0", "log_every": "1", **extra}, None)
    result = train(TrainRequest(gan, options, config, data), tmp_path / loss, progress=False)
    assert all(torch.isfinite(torch.tensor(v)) for v in result.last_logs.values())
    assert ("gp" in result.last_logs) == (loss == "wgan-gp")
    if loss == "wgan":
        from translate.checkpoint import STATE_FILE, load_state

        d = gan.build(config, options)["discriminator"]
        modules = {"generator": gan.build(config, options)["generator"], "discriminator": d}
        load_state(tmp_path / loss / STATE_FILE, modules, None, {}, {}, {})
        assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-7


def test_packing_shows_d_whole_packs(gan, tmp_path):
    from translate_plugins.gan.training import pack

    x = torch.arange(24.0).view(6, 2, 1, 2)  # 6 "images" of 2 channels
    packed = pack(x, 3)
    assert packed.shape == (2, 6, 1, 2)
    assert torch.equal(packed[1, 2:4], x[4]) and torch.equal(packed[0, :2], x[0])  # consecutive samples
    with pytest.raises(UserError, match="multiple of 4"):
        pack(x, 4)

    # WGAN-GP and R1 see the packed input, so their gradients are per pack; a run trains and resumes.
    for loss, extra in (("wgan-gp", {}), ("nonsaturating", {"r1": "1.0"})):
        options, config, data = resolve(gan, {"data": "ring8", "loss": loss, "hidden": "16,16", "pack": "4",
                                              "steps": "4", "batch_size": "16", "sample_every": "0", **extra}, None)
        assert gan.build(config, options)["discriminator"].body[0].in_features == 8
        result = train(TrainRequest(gan, options, config, data), tmp_path / loss, progress=False)
        assert all(torch.isfinite(torch.tensor(v)) for v in result.last_logs.values())
    with pytest.raises(UserError, match="multiple"):
        resolve(gan, {"data": "ring8", "pack": "3", "batch_size": "16"}, None)
    with pytest.raises(UserError, match="pack"):
        resolve(gan, {"data": "shapes", "pack": "2", "conditional": True}, None)
