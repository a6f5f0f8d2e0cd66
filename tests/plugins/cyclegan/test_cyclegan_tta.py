"""CycleGAN under test-time augmentation: the image and its left-right mirror only (photos have
an up and a down), so two passes of the generator, in either direction."""

from __future__ import annotations

import pytest
import torch

from translate.errors import UserError
from translate.loading import load_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cyclegan_averages_over_flips_only(tiny_cyclegan_run):
    model = load_model(tiny_cyclegan_run)
    assert model.plugin.tta == "flips"
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    calls = []
    for direction, name in (("a2b", "g_ab"), ("b2a", "g_ba")):
        calls.clear()
        handle = model.modules[name].register_forward_hook(lambda m, args, out: calls.append(args[0].clone()))
        out = model.apply_tensor(x, tta=True, direction=direction)
        handle.remove()
        assert out.shape == x.shape and len(calls) == 2
        assert torch.equal(calls[1], calls[0].flip(-1))  # the second pass sees the mirror, never a rotation
    with pytest.raises(UserError, match="allows only flips"):
        model.apply_tensor(x, tta="dihedral")


def test_apply_cli_takes_tta(tiny_cyclegan_run, tmp_path, cli):
    from PIL import Image

    Image.new("RGB", (22, 18), (200, 30, 30)).save(tmp_path / "in.png")
    cli("apply", tiny_cyclegan_run, tmp_path / "in.png", "-o", tmp_path / "out.png", "--tta", "--device", "cpu")
    with Image.open(tmp_path / "out.png") as img:
        assert img.size == (22, 18)
