"""Checkpoints: self-describing safetensors, identical outputs after reload, exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import translate
from translate.checkpoint import load_model
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


def test_resume_refuses_to_change_the_model(tmp_path, cli):
    _train(tmp_path / "run", 2)
    result = cli("train", "gan", "--resume", tmp_path / "run", "--latent-dim", "4", ok=False)
    assert result.exit_code != 0 and "cannot change latent_dim" in result.output


def test_resume_with_fewer_steps_than_done_is_refused(tmp_path, cli):
    _train(tmp_path / "run", 3)
    before = (tmp_path / "run" / "state.safetensors").read_bytes()
    result = cli("train", "gan", "--resume", tmp_path / "run", "--steps", "2", ok=False)
    assert result.exit_code != 0 and "at step 3 already, past --steps 2" in result.output
    assert (tmp_path / "run" / "state.safetensors").read_bytes() == before


def test_out_dir_with_a_run_is_not_overwritten(tmp_path, cli):
    _train(tmp_path / "run", 2)
    result = cli("train", "gan", "--data", "shapes", "--out", tmp_path / "run", ok=False)
    assert "already holds a run" in result.output and "--resume" in result.output


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


def test_checkpoint_of_missing_plugin_is_a_clear_error(tmp_path):
    _train(tmp_path / "run", 1)
    tensors = load_file(str(tmp_path / "run" / "model.safetensors"))
    with safe_open(str(tmp_path / "run" / "model.safetensors"), "pt") as f:
        meta = dict(f.metadata())
    meta["plugin"] = "not-installed-plugin"
    from safetensors.torch import save_file

    save_file(tensors, str(tmp_path / "m.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="not-installed-plugin.*not installed"):
        load_model(tmp_path / "m.safetensors")


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


def test_resume_finds_the_data_from_any_folder_and_follows_data_that_moved(tmp_path, monkeypatch):
    """Data paths are recorded absolute, so --resume works from another working directory; data that
    moved may be pointed to on --resume, but an existing recorded folder cannot be swapped."""
    import shutil

    from PIL import Image

    work = tmp_path / "work"
    (work / "imgs").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (16, 16), (40 * i, 90, 200 - 40 * i)).save(work / "imgs" / f"{i}.png")
    monkeypatch.chdir(work)
    translate.train("gan", data="imgs", size=16, batch_size=2, steps=2, out="run", progress=False)
    assert 'data = "' + str(work / "imgs") + '"' in (work / "run" / "config.toml").read_text()
    monkeypatch.chdir(tmp_path)
    assert translate.train("gan", resume=work / "run", steps=3, progress=False).step == 3
    other = tmp_path / "other"
    shutil.copytree(work / "imgs", other)
    with pytest.raises(UserError, match="keeps the run.s data"):
        translate.train("gan", resume=work / "run", steps=4, data=other)
    shutil.move(work / "imgs", tmp_path / "moved")
    with pytest.raises(UserError, match="no such file or folder"):
        translate.train("gan", resume=work / "run", steps=4, progress=False)
    with pytest.raises(UserError, match="no such file or folder"):
        translate.train("gan", resume=work / "run", steps=4, data=tmp_path / "elsewhere")
    assert translate.train("gan", resume=work / "run", steps=4, data=tmp_path / "moved", progress=False).step == 4
    with pytest.raises(UserError, match="keeps the run.s data"):  # a built-in data set stays what it was
        translate.train("gan", resume=_builtin_run(tmp_path), steps=4, data="digits")
    assert str(tmp_path / "moved") in (work / "run" / "config.toml").read_text()


def _builtin_run(tmp_path):
    out = tmp_path / "builtin"
    translate.train("gan", data="shapes", size=16, batch_size=2, steps=1, sample_every=0, out=out, progress=False)
    return out
