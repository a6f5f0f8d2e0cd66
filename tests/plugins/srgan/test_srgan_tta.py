"""srgan under test-time augmentation: the plugin declares the ×8 dihedral ensemble, apply runs
the generator 8 times an image (tile), and ``translate eval --tta`` scores the averaged outputs and
records the protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.loading import load_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_sr(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr_tta") / "run"
    return translate.train("srgan", data="skimage", size=32, features=8, n_blocks=1, batch_size=2, scale=2, steps=2,
                           sample_every=0, device="cpu", precision="fp32", out=out, progress=False).path


def forward_calls(model) -> list[tuple[int, ...]]:
    calls: list[tuple[int, ...]] = []
    model.modules["generator"].register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    return calls


def test_srgan_declares_the_dihedral_ensemble_and_runs_eight_passes(tiny_sr):
    model = load_model(tiny_sr)
    assert model.plugin.tta == "dihedral"
    calls = forward_calls(model)
    x = torch.rand(1, 3, 10, 14) * 2 - 1
    out = model.apply_tensor(x, tta=True)
    assert out.shape == (1, 3, 20, 28) and len(calls) == 8
    assert sorted(set(calls)) == [(1, 3, 10, 14), (1, 3, 14, 10)]


def test_eval_tta_scores_the_averaged_outputs(tiny_sr, tmp_path, cli, monkeypatch):
    from translate import evaluation

    monkeypatch.setattr(evaluation, "folder_metrics", lambda *args, **kwargs: {})  # FID is not the point here
    hr = tmp_path / "hr"
    hr.mkdir()
    Image.fromarray((np.random.default_rng(0).random((30, 38, 3)) * 255).astype(np.uint8)).save(hr / "a.png")
    saved = {}
    for name, flags in (("plain", ()), ("tta", ("--tta",))):
        cli("eval", tiny_sr, "--hr", hr, "-o", tmp_path / name, "--device", "cpu", *flags)
        saved[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert "tta" not in saved["plain"]["protocol"]
    assert "dihedral" in saved["tta"]["protocol"]["tta"] and saved["tta"]["options"]["tta"] == "dihedral"
    assert saved["tta"]["metrics"]["psnr_y"] != saved["plain"]["metrics"]["psnr_y"]
    assert saved["tta"]["metrics"]["bicubic_psnr_y"] == saved["plain"]["metrics"]["bicubic_psnr_y"]


def test_apply_tta_mode_flips_runs_two_passes_and_differs_from_the_full_ensemble(tiny_sr, tmp_path, cli):
    Image.fromarray((np.random.default_rng(1).random((12, 16, 3)) * 255).astype(np.uint8)).save(tmp_path / "in.png")
    outs = {}
    for name, flags in (("flips", ("--tta-mode", "flips")), ("dihedral", ("--tta",))):
        cli("apply", tiny_sr, tmp_path / "in.png", "-o", tmp_path / f"{name}.png", "--device", "cpu", *flags)
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"))
    assert outs["flips"].shape == outs["dihedral"].shape == (24, 32, 3)
    assert not np.array_equal(outs["flips"], outs["dihedral"])
    model = load_model(tiny_sr)
    calls = forward_calls(model)
    model.apply_tensor(torch.rand(1, 3, 10, 14) * 2 - 1, tta="flips")
    assert len(calls) == 2
