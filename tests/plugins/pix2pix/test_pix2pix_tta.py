"""pix2pix under test-time augmentation: 8 passes of the U-Net an image, a non-square image
padded to the U-Net's multiple in both orientations, and ``translate eval --tta`` on held-out pairs."""

from __future__ import annotations

import json

import pytest
import torch

import translate
from translate.loading import load_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_pix2pix(tmp_path_factory):
    out = tmp_path_factory.mktemp("p2p_tta") / "run"
    return translate.train("pix2pix", aligned="shapes2shaded", size=32, features=8, d_features=8, batch_size=2,
                           steps=2, sample_every=0, device="cpu", precision="fp32", out=out, progress=False).path


def test_pix2pix_runs_eight_passes_on_a_non_square_image(tiny_pix2pix):
    model = load_model(tiny_pix2pix)
    assert model.plugin.tta == "dihedral"
    calls = []
    model.modules["generator"].register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape[-2:])))
    out = model.apply_tensor(torch.rand(1, 3, 37, 70) * 2 - 1, tta=True)
    multiple = model.modules["generator"].multiple
    assert out.shape == (1, 3, 37, 70) and len(calls) == 8
    assert all(h % multiple == 0 and w % multiple == 0 for h, w in calls) and len(set(calls)) == 2


def test_eval_tta_runs_on_held_out_pairs(tiny_pix2pix, tmp_path, cli, monkeypatch):
    from translate import evaluation

    monkeypatch.setattr(evaluation, "folder_metrics", lambda *args, **kwargs: {"psnr": 0.0})
    cli("eval", tiny_pix2pix, "--aligned", "shapes2shaded", "-n", "2", "--tta", "-o", tmp_path / "e", "--device", "cpu")
    saved = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert saved["options"]["tta"] == "dihedral" and "4 rotations" in saved["protocol"]["tta"]
    assert len(list((tmp_path / "e" / "fake").glob("*.png"))) == 2
