"""LPIPS without a download: the shift-tolerant network that stlpips-pytorch's wheel ships (read as
tensors into translate's own module, equal to the package's implementation), which network
``auto`` takes, the variant's name in every report, and the one line shown when none is here.
The standard AlexNet's parity with the lpips package is in test_metrics.py."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from translate.errors import UserError
from translate.metrics import lpips as lpips_module
from translate.metrics.folders import compare_folders
from translate.metrics.lpips import (
    BACKBONES,
    LPIPS,
    NET_CHOICES,
    load_lpips,
    lpips_distance,
    resolve_net,
)


def _write_released_layout(model: LPIPS, path) -> None:
    """``model`` saved as stlpips-pytorch lays out its file: ``net.sliceK.N.*`` (N the features
    index, K its slice), ``linK.model.1.weight`` and the scaling layer."""
    slice_ends = model.spec.taps
    state = {"scaling_layer.shift": model.shift, "scaling_layer.scale": model.scale}
    for key, value in model.features.state_dict().items():
        index = int(key.split(".", 1)[0])
        k = next(i for i, end in enumerate(slice_ends) if index <= end) + 1
        state[f"net.slice{k}.{key}"] = value
    state.update({f"lin{i}.model.1.weight": head.weight for i, head in enumerate(model.heads)})
    torch.save(state, path)


@pytest.fixture(scope="module")
def st_file(tmp_path_factory):
    """A random shift-tolerant network with positive heads, in the released file's layout."""
    torch.manual_seed(2)
    model = LPIPS("st-alex")
    for head in model.heads:
        head.weight.data = torch.rand_like(head.weight)
    path = tmp_path_factory.mktemp("stlpips") / "alex_shift_tolerant.pth"
    _write_released_layout(model, path)
    return path


@pytest.fixture
def no_standard_alex(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))


def _pairs(tmp_path, size=32, count=1):
    rng = np.random.default_rng(0)
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    for i in range(count):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(image).save(real / f"{i}.png")
        noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(fake / f"{i}.png")
    return real, fake


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_shift_tolerant_lpips_equals_the_stlpips_package(net):
    if importlib.util.find_spec("stlpips_pytorch") is None:
        pytest.skip("stlpips-pytorch is not installed (pip install 'translate-gan[metrics]')")
    # its modules import IPython.embed and torchsummary.summary at the top without declaring
    # either, and neither runs on the forward pass: stand-ins (also spare IPython's slow import)
    stand_ins = {"IPython": "embed", "torchsummary": "summary"}
    with pytest.MonkeyPatch.context() as patch:
        for name, attribute in stand_ins.items():
            patch.setitem(sys.modules, name, types.SimpleNamespace(**{attribute: None}))
        from stlpips_pytorch import stlpips
    reference = stlpips.LPIPS(net=net, variant="shift_tolerant", verbose=False).eval()
    ours = load_lpips(f"st-{net}")  # its released file, through translate's weights-only reader
    generator = torch.Generator().manual_seed(0)
    for shape in ((2, 3, 32, 32), (1, 3, BACKBONES[f"st-{net}"].min_size, 27)):
        x = torch.rand(shape, generator=generator)
        near = (x + 0.1 * torch.randn(shape, generator=generator)).clamp(0, 1)
        for y in (near, torch.rand(shape, generator=generator)):
            with torch.no_grad():
                expected = reference(x, y, normalize=True).flatten().double()
            torch.testing.assert_close(lpips_distance(ours, x, y), expected, atol=1e-6, rtol=0)


def test_the_released_layout_loads_and_a_wrong_file_is_one_line(tmp_path, st_file):
    model = load_lpips("st-alex", backbone=st_file)  # its own heads, from the same file
    x = torch.rand(2, 3, 32, 40)
    assert torch.all(lpips_distance(model, x, x) == 0)
    assert torch.all(lpips_distance(model, x, x.flip(-1)) > 0)
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, tmp_path / "torchvision-like.pth")
    with pytest.raises(UserError) as info:
        load_lpips("st-alex", backbone=tmp_path / "torchvision-like.pth")
    assert "LPIPS (ST-Alex)" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError, match="needs images of at least 21×21"):
        model(torch.rand(1, 3, 20, 64), torch.rand(1, 3, 20, 64))


def test_auto_takes_the_standard_alexnet_when_its_file_is_here(tmp_path, monkeypatch, st_file):
    monkeypatch.setattr(lpips_module, "bundled_file", lambda net: st_file)
    monkeypatch.setattr(lpips_module, "installed_heads_file", lambda net: tmp_path / "heads.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert resolve_net("auto") == "st-alex"
    assert resolve_net("auto", heads=tmp_path / "alex.pth") == "alex"  # a file given means the standard one
    cached = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert resolve_net("auto") == "alex"
    assert resolve_net("st-alex") == "st-alex"
    assert set(NET_CHOICES) == {"auto", *BACKBONES}


def test_compare_prints_lpips_by_default_naming_the_variant(tmp_path, cli, monkeypatch, st_file, no_standard_alex):
    monkeypatch.setattr(lpips_module, "bundled_file", lambda net: st_file)
    real, fake = _pairs(tmp_path)
    lines = cli("compare", real, fake, "--no-fid").output.splitlines()
    value = next(line for line in lines if line.startswith("lpips "))
    assert float(value.split()[1]) > 0 and "LPIPS (ST-Alex)" in value and "not comparable" in value
    assert any(line.startswith("protocol lpips: LPIPS (ST-Alex)") for line in lines)


def test_without_any_network_lpips_is_one_plain_line(tmp_path, cli, monkeypatch, no_standard_alex):
    monkeypatch.setattr(lpips_module, "bundled_file", lambda net: None)
    real, fake = _pairs(tmp_path)
    notes = [line for line in cli("compare", real, fake, "--no-fid").output.splitlines() if "lpips" in line]
    assert len(notes) == 1 and notes[0].startswith("note: lpips skipped: no LPIPS network")
    assert 'pip install "translate-gan[metrics]"' in notes[0] and "alexnet-owt-7be5be79.pth" in notes[0]
    with pytest.raises(UserError, match="no LPIPS network"):
        compare_folders(real, fake, fid=False, lpips=True)
