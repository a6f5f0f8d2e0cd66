"""Checkpoints (translate/checkpoint.py): self-describing safetensors, identical outputs after reload,
exact resume (Adam moments in the parameters' layout, either update kernel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from translate.loading import load_model
from translate.request import new_request, resume_request
from translate.errors import UserError
from translate.registry import load_plugin
from translate.trainer import train


def _train(out, steps, resume=False, **flags):
    plugin = load_plugin("gan")
    values = {"data": "shapes", "size": 16, "batch_size": 8, "features": 8, "latent_dim": 8,
              "precision": "fp32", "device": "cpu", "steps": steps, "sample_every": 0, "ema": 0.9, **flags}
    return train(new_request(plugin, {k: str(v) for k, v in values.items()}), out, resume=resume, progress=False)


def test_model_metadata_describes_the_run(tmp_path):
    _train(tmp_path / "run", 3)
    with safe_open(str(tmp_path / "run" / "model.safetensors"), "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["plugin"] == "gan" and meta["step"] == "3" and meta["format"] == "translate.model/1"
    assert json.loads(meta["config"])["latent_dim"] == 8
    assert json.loads(meta["options"])["batch_size"] == 8
    assert meta["translate_version"] and meta["plugin_version"]
    assert any(k.startswith("generator.") for k in keys) and any(k.startswith("ema.generator.") for k in keys)
    assert not any(k.startswith("discriminator.") for k in keys)  # training state lives elsewhere
    assert not list((tmp_path / "run").glob("*.tmp*"))  # atomic writes leave no temporaries


def test_reloaded_checkpoint_gives_identical_outputs(tmp_path):
    _train(tmp_path / "run", 5)
    first = load_model(tmp_path / "run" / "model.safetensors")
    second = load_model(tmp_path / "run")  # the run folder works too
    plugin = first.plugin
    with torch.no_grad():
        a = plugin.sample(first.modules, first.config, 6, torch.Generator().manual_seed(3))
        b = plugin.sample(second.modules, second.config, 6, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # the EMA weights are what apply/sample use; --raw gives the live weights
    raw = load_model(tmp_path / "run", use_ema=False)
    with torch.no_grad():
        c = plugin.sample(raw.modules, raw.config, 6, torch.Generator().manual_seed(3))
    assert not torch.equal(a, c)


def test_resume_is_exact(tmp_path):
    _train(tmp_path / "straight", 20, checkpoint_every=1000)
    _train(tmp_path / "split", 10)
    request = resume_request(load_plugin("gan"), tmp_path / "split", {"steps": "20"})
    train(request, tmp_path / "split", resume=True, progress=False)
    a = load_file(str(tmp_path / "straight" / "state.safetensors"))
    b = load_file(str(tmp_path / "split" / "state.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("module.", "ema.", "optim.")):
            assert torch.equal(a[key], b[key]), key
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 20


def test_non_checkpoint_files_are_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="not a safetensors checkpoint"):
        load_model(junk)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(UserError, match="not a translate checkpoint"):
        load_model(other)


def test_resume_is_exact_with_fused_adam_on_channels_last_weights(tmp_path, monkeypatch):
    """Restored Adam moments must take their parameters' channels_last layout: fused kernels
    index both alike, so a contiguous moment would silently corrupt every update after resume."""
    import translate_plugins.gan as gan

    def fused(self, config, modules):
        return {name: torch.optim.Adam(modules[name].parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
                for name in ("generator", "discriminator")}

    monkeypatch.setattr(gan.GanPlugin, "optimizers", fused)
    monkeypatch.setattr("translate.runtime.channels_last_pays", lambda device, precision: True)
    _train(tmp_path / "straight", 8, ema=0.0)
    _train(tmp_path / "split", 4, ema=0.0)
    request = resume_request(load_plugin("gan"), tmp_path / "split", {"steps": "8"})
    train(request, tmp_path / "split", resume=True, progress=False)
    a = load_file(str(tmp_path / "straight" / "state.safetensors"))
    b = load_file(str(tmp_path / "split" / "state.safetensors"))
    for key in a:
        if key.startswith(("module.", "optim.")):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("written, resumed", [("foreach", "fused"), ("fused", "foreach")])
def test_resumed_adam_keeps_the_kernel_it_was_built_with(tmp_path, written, resumed):
    """The update kernel belongs to the machine, not to the run: a state written with one kernel
    resumes on the other (e.g. written on a GPU, resumed where no fused kernel exists), with the
    same moments and the same next update to fp32 rounding."""
    from translate.checkpoint import load_state, save_state
    from translate.optim import adam

    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 4, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, **{written: True})
    for _ in range(3):
        net(torch.randn(2, 3, 8, 8)).square().mean().backward()
        opt.step()
        opt.zero_grad()
    save_state(tmp_path / "state.safetensors", {}, 3, 6, {"net": net}, {}, {"net": opt}, {}, {}, {})

    other = torch.nn.Conv2d(3, 4, 3)
    reopened = torch.optim.Adam(other.parameters(), lr=1e-2, **{resumed: True})
    step, consumed, _ = load_state(tmp_path / "state.safetensors", {"net": other}, {}, {"net": reopened}, {}, {})
    assert (step, consumed) == (3, 6)
    assert reopened.param_groups[0][resumed] is True and not reopened.param_groups[0].get(written)
    batch = torch.randn(2, 3, 8, 8)
    for model, o in ((net, opt), (other, reopened)):
        model(batch).square().mean().backward()
        o.step()
    for p, q in zip(net.parameters(), other.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    assert adam(net.parameters(), lr=1e-3).param_groups[0]["fused"] is True  # CPU has a fused Adam


def _write_images(folder, n=4, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_a_non_checkpoint_file_is_one_line_in_sample_and_apply(tmp_path, cli, error_line):
    bogus = tmp_path / "model.safetensors"
    bogus.write_text("hello")
    line = error_line(cli("sample", bogus, "-o", tmp_path / "s.png", ok=False))
    assert str(bogus) in line and "not a safetensors checkpoint" in line
    assert not (tmp_path / "s.png").exists()
    img = tmp_path / "x.png"
    _write_images(tmp_path / "imgs", 1)
    line = error_line(cli("apply", bogus, tmp_path / "imgs" / "0.png", "-o", img, ok=False))
    assert "not a safetensors checkpoint" in line


@pytest.mark.parametrize("step, consumed", [(-5, 10), (3, -1)])
def test_a_training_state_with_a_negative_count_is_refused_in_one_line(tmp_path, step, consumed):
    """An edited state.safetensors must not resume at step -5 (it would train "past" --steps)."""
    from translate.checkpoint import load_state, save_state
    from translate.errors import UserError

    net = torch.nn.Conv2d(3, 4, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    save_state(tmp_path / "state.safetensors", {}, step, consumed, {"net": net}, {}, {"net": opt}, {}, {}, {})
    with pytest.raises(UserError, match="must not be negative") as info:
        load_state(tmp_path / "state.safetensors", {"net": net}, {}, {"net": opt}, {}, {})
    assert "\n" not in str(info.value)


def test_ema_decay_warms_up_so_a_short_run_does_not_average_in_its_start(tmp_path):
    """At --ema 0.999 a constant decay would keep 99.7 % of the untrained generator after 3 steps;
    warmed up, the EMA weights after 3 steps are mostly the third step's (0.75 of it)."""
    from safetensors.torch import load_file

    from translate.trainer import ema_decay

    assert ema_decay(0.999, 0) == 0.1 and ema_decay(0.999, 10_000) == 0.999
    assert ema_decay(0.999, 600) == pytest.approx(601 / 610)
    for n in (1, 3):
        _train(tmp_path / f"run{n}", n, ema=0.999)
    one, three = (load_file(str(tmp_path / f"run{n}" / "model.safetensors")) for n in (1, 3))
    live = [k for k, v in three.items() if k.startswith("generator.") and v.is_floating_point()]
    ema_gap = sum((three[f"ema.{k}"] - three[k]).abs().sum() for k in live)
    two_steps = sum((three[k] - one[k]).abs().sum() for k in live)
    assert 0 < ema_gap < 0.5 * two_steps
