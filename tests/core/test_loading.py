"""translate/loading.py: loading a checkpoint refuses what it cannot trust (crafted metadata,
weights that are not finite, a state that does not fit, a switched-off plugin) with one line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import translate
from translate.errors import UserError
from translate.loading import load_model


def _edit_metadata(src: Path, dst: Path, **changes) -> Path:
    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    meta.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        meta.pop(key)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("changes, message", [
    ({"config": None}, "no 'config' entry"),
    ({"modules": '["generator", "oracle"]'}, "'oracle', which plugin 'gan' does not build"),
    ({"modules": "[1]"}, "'modules' is not a list of module names"),
    ({"modules": '["generator", null]'}, "'modules' is not a list of module names"),
    ({"step": "NaN"}, "no valid"),
    ({"config": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ({"config": json.dumps({"features": 10**7})}, "the file and its metadata do not match"),
])
def test_crafted_checkpoint_metadata_is_one_line(tmp_path, tiny_gan_run, changes, message):
    crafted = _edit_metadata(tiny_gan_run / "model.safetensors", tmp_path / "m.safetensors", **changes)
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=message):
        translate.load(crafted)
    assert time.perf_counter() - t0 < 10  # a width of 10^7 is refused before anything is allocated


def test_a_training_state_with_a_wrong_shape_is_one_line_on_resume(tmp_path, tiny_gan_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_gan_run, run)
    tensors = load_file(str(run / "state.safetensors"))
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        meta = f.metadata()
    key = next(k for k in tensors if k.startswith("module.generator.") and tensors[k].dim() == 4)
    tensors[key] = torch.zeros(3, 3, 3, 3)
    save_file(tensors, str(run / "state.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="does not fit this run"):
        translate.train("gan", resume=run, steps=4, progress=False)


def test_nan_weights_are_refused_when_loading(tmp_path, tiny_gan_run):
    tensors = load_file(str(tiny_gan_run / "model.safetensors"))
    with safe_open(str(tiny_gan_run / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    nan = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(nan, str(tmp_path / "nan.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="not finite"):
        translate.load(tmp_path / "nan.safetensors")


def test_integer_weights_over_float_bytes_are_refused(tmp_path, tiny_gan_run):
    """Float32 bits read as int32 are huge whole numbers: torch would convert them silently and
    the model would draw blank images."""
    tensors = load_file(str(tiny_gan_run / "model.safetensors"))
    with safe_open(str(tiny_gan_run / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    key = next(k for k, v in tensors.items() if v.is_floating_point() and v.dim() > 1)
    tensors[key] = tensors[key].view(torch.int32)
    save_file(tensors, str(tmp_path / "ints.safetensors"), metadata=meta)
    with pytest.raises(UserError, match=rf"'{key.removeprefix('ema.')}' holds int32 values where the network has "
                                        "float32 ones"):
        translate.load(tmp_path / "ints.safetensors")


def test_a_header_over_the_metadata_limit_is_refused_before_it_is_parsed(tmp_path, tiny_gan_run, monkeypatch):
    import translate.limits

    big = _edit_metadata(tiny_gan_run / "model.safetensors", tmp_path / "big.safetensors", padding="x" * 50_000)
    monkeypatch.setattr(translate.limits, "MAX_METADATA_BYTES", 40_000)
    with pytest.raises(UserError, match=r"its header is [\d,]+ bytes, over translate's limit of 40,000 bytes"):
        translate.load(big)
    liar = tmp_path / "liar.safetensors"
    liar.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(UserError, match="header length says 1,000,000,000,000 bytes, more than the file holds"):
        translate.load(liar)


def test_a_checkpoint_of_a_disabled_plugin_says_so(tiny_gan_run, monkeypatch):
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGINS", "gan")
    with pytest.raises(UserError, match="TRANSLATE_DISABLE_PLUGINS switches off"):
        translate.load(tiny_gan_run)


def test_checkpoint_of_missing_plugin_is_a_clear_error(tmp_path, tiny_gan_run):
    tensors = load_file(str(tiny_gan_run / "model.safetensors"))
    with safe_open(str(tiny_gan_run / "model.safetensors"), "pt") as f:
        meta = dict(f.metadata())
    meta["plugin"] = "not-installed-plugin"
    from safetensors.torch import save_file

    save_file(tensors, str(tmp_path / "m.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="not-installed-plugin.*not installed"):
        load_model(tmp_path / "m.safetensors")
