"""``translate train PLUGIN --init CKPT``: a new run starts from a checkpoint's weights, in any plugin."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import translate
from translate.errors import UserError

TINY = dict(data="shapes", size=16, batch_size=2, features=4, latent_dim=8, sample_every=0, progress=False,
            device="cpu", precision="fp32")


def generator_weights(run) -> dict[str, torch.Tensor]:
    return translate.load(run, ema=False).modules["generator"].state_dict()


def test_a_new_run_starts_from_the_checkpoints_generator(tiny_gan_run, tmp_path):
    source = generator_weights(tiny_gan_run)
    out = tmp_path / "tuned"
    translate.train("gan", init=str(tiny_gan_run), steps=1, lr=1e-6, seed=7, out=out, **TINY)
    tuned = generator_weights(out)
    fresh = generator_weights(translate.train("gan", steps=1, lr=1e-6, seed=7, out=tmp_path / "fresh",
                                              **TINY).path)
    key = next(k for k in source if k.endswith("weight"))
    assert (tuned[key] - source[key]).abs().max() < 1e-4  # one tiny step away from the checkpoint
    assert (fresh[key] - source[key]).abs().max() > 1e-2  # a different seed's fresh start is far from it
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        options = json.loads(f.metadata()["options"])
    assert options["init"] == str((tiny_gan_run / "model.safetensors").absolute())  # recorded, resolved


def test_a_layout_that_does_not_fit_names_the_flags_to_pass(tiny_gan_run, tmp_path):
    with pytest.raises(UserError) as err:
        translate.train("gan", init=str(tiny_gan_run), steps=1, out=tmp_path / "wide", **{**TINY, "features": 8})
    message = str(err.value)
    assert "do not fit" in message and "--features 4" in message and "\n" not in message
    assert not (tmp_path / "wide" / "model.safetensors").exists()


def test_init_refuses_another_plugins_checkpoint_and_missing_names(tiny_cyclegan_run, tmp_path):
    with pytest.raises(UserError, match="plugin 'cyclegan', not 'gan'"):
        translate.train("gan", init=str(tiny_cyclegan_run), steps=1, out=tmp_path / "x", **TINY)
    with pytest.raises(UserError, match="translate models"):
        translate.train("gan", init="no-such-model-name", steps=1, out=tmp_path / "y", **TINY)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_checkpoint_that_recorded_init_in_its_config_still_loads(tiny_gan_run, tmp_path):
    """Before --init was a trainer option one plugin kept it in its config: such files still load."""
    with safe_open(str(tiny_gan_run / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = json.dumps({**json.loads(meta["config"]), "init": None})
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=meta)
    model = translate.load(old)
    assert model.request.options.init == ""
