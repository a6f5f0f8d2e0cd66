"""Test-time augmentation (translate.tta): the average over the transforms a plugin declares,
undone on the output; exact for a network that is already symmetric, symmetric itself for one
that is not, shape-keeping on non-square inputs whose rotations must still meet the network's
multiple, and the same with and without tiles. Toy plugins and 1×1-conv networks keep it fast;
the built-in plugins' declarations are checked in tests/plugins/*/ and by eval below."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from translate.errors import UserError
from translate.model import Model
from translate.plugin import Plugin, contract_problems
from translate.tiling import tiled
from translate.tta import (
    Ensembled,
    ensemble,
    forward_transform,
    inverse_transform,
    transforms,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclasses.dataclass
class ToyConfig:
    scale: int = 1


class MultipleOnly(nn.Module):
    """``net`` that refuses sides that are not multiples of ``multiple`` (as a U-Net would fail)."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net, self.multiple = net, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % self.multiple == 0 and x.shape[-1] % self.multiple == 0, tuple(x.shape)
        return self.net(x)


def toy_plugin(mode: str | None):
    class Toy(Plugin):
        description = "toy translator for TTA tests"
        Config = ToyConfig
        tta = mode

        def apply(self, modules, config, images, tile: int = 512, overlap: int = 32):
            g = modules["generator"]
            return tiled(g, images, tile=tile, overlap=overlap, multiple=getattr(g, "multiple", 1), scale=config.scale)

    plugin = Toy()
    plugin.name = "toy"
    return plugin


def toy_model(net: nn.Module, mode: str | None = "dihedral", scale: int = 1) -> Model:
    request = SimpleNamespace(plugin=toy_plugin(mode), config=ToyConfig(scale), options=None, data={})
    return Model(request, 0, {"generator": net.eval()})


def pointwise(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Conv2d(3, 3, 1)


def shuffled_x2(seed: int = 0) -> nn.Module:
    """A ×2 upscaler that looks at one input pixel only (so tiles are exact) but places its four
    sub-pixels in a fixed order (so flips and rotations change its output)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 12, 1), nn.PixelShuffle(2))


def asymmetric(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Conv2d(3, 3, 3, padding=1)


def images(h: int = 20, w: int = 28, n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_each_transform_is_undone_by_its_inverse_and_the_group_is_complete():
    x = images(5, 7, n=1)
    seen = set()
    for turns, mirror in transforms("dihedral"):
        y = forward_transform(x, turns, mirror)
        assert y.shape[-2:] == ((7, 5) if turns % 2 else (5, 7))
        assert torch.equal(inverse_transform(y, turns, mirror), x)
        seen.add(y.numpy().tobytes())
    assert len(seen) == 8  # 8 different images: no transform repeated
    assert transforms("flips") == [(0, False), (0, True)]


def test_equivariant_network_is_unchanged_by_tta():
    model, x = toy_model(pointwise()), images()
    plain = model.apply_tensor(x)
    assert torch.allclose(model.apply_tensor(x, tta=True), plain, atol=1e-6)
    assert torch.allclose(model.apply_tensor(x, tta="flips"), plain, atol=1e-6)


def test_a_network_that_is_not_symmetric_changes_and_its_average_is_symmetric():
    model, x = toy_model(asymmetric()), images(16, 16)
    plain, averaged = model.apply_tensor(x), model.apply_tensor(x, tta=True)
    assert (plain - averaged).abs().max() > 1e-3
    for turns, mirror in transforms("dihedral"):  # f̄(T x) = T f̄(x) for every T of the group
        moved = model.apply_tensor(forward_transform(x, turns, mirror), tta=True)
        assert torch.allclose(moved, forward_transform(averaged, turns, mirror), atol=1e-5)
    flips = model.apply_tensor(x, tta="flips")
    assert torch.allclose(model.apply_tensor(x.flip(-1), tta="flips"), flips.flip(-1), atol=1e-5)
    assert (flips - averaged).abs().max() > 1e-3


def test_non_square_inputs_keep_their_shape_and_meet_the_multiple_when_rotated():
    net = MultipleOnly(shuffled_x2(), multiple=8)  # fails on any side that is not a multiple of 8
    model, x = toy_model(net, scale=2), images(21, 38)
    out = model.apply_tensor(x, tta=True)
    assert out.shape == (2, 3, 42, 76)
    assert (out - model.apply_tensor(x)).abs().max() > 1e-3


def test_tiles_with_tta_equal_a_whole_image_with_tta():
    model, x = toy_model(MultipleOnly(shuffled_x2(), multiple=4), scale=2), images(45, 70, n=1)
    whole = model.apply_tensor(x, tta=True, tile=512)
    tiles = model.apply_tensor(x, tta=True, tile=16, overlap=4)  # 3×5 tiles of 16 px, sides padded to 4
    assert torch.allclose(tiles, whole, atol=1e-5)
    assert (whole - model.apply_tensor(x, tile=512)).abs().max() > 1e-3  # TTA did something


@pytest.mark.parametrize("mode, passes", [("dihedral", 8), ("flips", 2)])
def test_forward_passes_per_call(mode, passes):
    calls = []
    net = pointwise()
    net.register_forward_hook(lambda module, args, out: calls.append(tuple(args[0].shape)))
    toy_model(net, mode).apply_tensor(images(12, 20, n=3), tta=True)
    assert len(calls) == passes
    assert calls.count((3, 3, 20, 12)) == (4 if mode == "dihedral" else 0)  # quarter turns see W×H
    calls.clear()
    toy_model(net, mode).apply_tensor(images(12, 20, n=3))
    assert len(calls) == 1


def test_wrapped_module_reads_through_and_keeps_the_dtype():
    net = MultipleOnly(pointwise(), multiple=4)
    wrapped = Ensembled(net, "flips")
    assert wrapped.multiple == 4 and list(wrapped.parameters()) == list(net.parameters())
    wrapped.train(False)
    assert not net.training
    out = ensemble(lambda t: t.to(torch.bfloat16), images(4, 4), "dihedral")
    assert out.dtype == torch.bfloat16


def test_refusals_are_one_line():
    x = images()
    with pytest.raises(UserError, match="plugin 'toy' declares no test-time augmentation"):
        toy_model(pointwise(), None).apply_tensor(x, tta=True)
    toy_model(pointwise(), None).apply_tensor(x, tta=False)  # off is always fine
    with pytest.raises(UserError, match="allows only flips"):
        toy_model(pointwise(), "flips").apply_tensor(x, tta="dihedral")
    with pytest.raises(UserError, match="tta='sideways'"):
        toy_model(pointwise()).apply_tensor(x, tta="sideways")


def test_registration_checks_the_declaration():
    assert not [p for p in contract_problems(type(toy_plugin("flips"))) if "tta" in p]
    problems = contract_problems(type(toy_plugin("rotations")))
    assert any("tta is 'rotations'; use None, 'dihedral' or 'flips'" in p for p in problems), problems


def test_python_api_takes_tta_on_images():
    import numpy as np

    model = toy_model(asymmetric())
    photo = (np.random.default_rng(0).random((10, 14, 3)) * 255).astype(np.uint8)
    plain, averaged = model(photo), model(photo, tta=True)
    assert averaged.shape == plain.shape == photo.shape and not np.array_equal(plain, averaged)


def exported(run, tta: str | None, multiple: int = 4, scale: int = 2):
    from pathlib import Path

    from translate.exported import ExportedModel

    meta = {"format": "translate.export/1", "kind": "image-to-image", "plugin": "toy", "channels": "3",
            "scale": str(scale), "multiple": str(multiple), "min_side": "1", "direction": "none"}
    return ExportedModel(Path("toy.onnx"), meta | ({"tta": tta} if tta else {}), run)


def test_an_exported_model_averages_as_the_checkpoint_does():
    net = MultipleOnly(shuffled_x2(), multiple=4).eval()
    x = images(21, 38, n=1)
    with torch.no_grad():
        from_file = exported(net, "dihedral").apply_tensor(x, tta=True, tile=16, overlap=4)
    assert torch.allclose(from_file, toy_model(net, scale=2).apply_tensor(x, tta=True), atol=1e-5)
    with pytest.raises(UserError, match="records no test-time augmentation.*export the checkpoint again"):
        exported(net, None).apply_tensor(x, tta=True)
    assert exported(net, "sideways").plugin.tta is None  # a value it does not know is none, not a guess


def test_export_records_the_plugins_declaration(tiny_cyclegan_run, tmp_path, cli):
    pytest.importorskip("onnxruntime")
    from translate.exported import load_exported
    from translate.loading import load_model

    cli("export", tiny_cyclegan_run, "-o", tmp_path / "cg.onnx")
    model = load_exported(tmp_path / "cg.onnx")
    assert model.meta["tta"] == "flips"
    x = images(20, 24, n=1)
    with torch.no_grad():
        assert torch.allclose(model.apply_tensor(x, tta=True), load_model(tiny_cyclegan_run).apply_tensor(x, tta=True),
                              atol=1e-4)
