"""translate/exported.py: an exported file is trusted for nothing it says. A TorchScript .pt is a
program and runs only with --trust-code; metadata is bounded in size and checked before apply sizes
its work by it; ONNX files run only with the standard operators and their own weights."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from translate.errors import UserError
from translate.exported import load_exported, read_metadata, torch_deprecations_silenced

GOOD = {"format": "translate.export/1", "kind": "image-to-image", "plugin": "tiny", "inputs": "images",
        "channels": "3", "scale": "1", "multiple": "1", "min_side": "1"}


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchscript_file(path: Path, metadata: bytes | str | None = None) -> Path:
    """A scripted identity with ``metadata`` as its translate.json (GOOD when None)."""
    extra = json.dumps(GOOD) if metadata is None else metadata
    with torch_deprecations_silenced():
        torch.jit.save(torch.jit.script(_Identity()), str(path), _extra_files={"translate.json": extra})
    return path


def onnx_file(path: Path, metadata: dict[str, str] = GOOD, domain: str = "", external: str = "") -> Path:
    """An ONNX Identity graph with ``metadata``; ``domain`` makes its node a custom operator,
    ``external`` stores an initializer in that (outside) file."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["images"], ["output"], domain=domain)
    inits = []
    if external:
        weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
        weight.data_location = TensorProto.EXTERNAL
        weight.ClearField("float_data")
        weight.external_data.add(key="location", value=external)
        inits.append(weight)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def png(tmp_path) -> Path:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "in.png")
    return tmp_path / "in.png"


def test_a_torchscript_file_runs_only_with_trust_code(tmp_path, png, cli, error_line, monkeypatch):
    model = torchscript_file(tmp_path / "m.pt")
    loaded = []
    real_load = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loaded.append(a) or real_load(*a, **k))
    for args in (["apply", model, png, "-o", tmp_path / "out.png"], ["export", "--info", model]):
        line = error_line(cli(*args, ok=False))
        assert str(model) in line and "--trust-code" in line and "program" in line
    with pytest.raises(UserError, match="trust_code=True"):
        load_exported(model)
    assert loaded == [] and not (tmp_path / "out.png").exists()  # nothing was loaded, so nothing ran
    cli("apply", model, png, "-o", tmp_path / "out.png", "--trust-code")
    assert loaded and (tmp_path / "out.png").is_file()
    assert "plugin" in cli("export", "--info", model, "--trust-code").output
    assert load_exported(model, trust_code=True).plugin.name == "tiny"


def test_eval_of_an_exported_file_is_one_line(tmp_path, cli, error_line):
    model = torchscript_file(tmp_path / "m.pt")
    line = error_line(cli("eval", model, ok=False))
    assert str(model) in line and "model.safetensors it was exported from" in line


@pytest.mark.parametrize("metadata, message", [
    (json.dumps([GOOD]), "its metadata is a list"),
    (b"\xff\xfe{\"format\": 1}", "not UTF-8"),
    (json.dumps({**GOOD, "scale": 2}), "values that are not text"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "min_side"}), "lacks 'min_side'"),
    (json.dumps({**GOOD, "multiple": "0"}), "multiple = '0', not a whole number from 1 to 1024"),
    (json.dumps({**GOOD, "multiple": "x"}), "multiple = 'x'"),
    (json.dumps({**GOOD, "multiple": "1000000"}), "multiple = '1000000'"),
    (json.dumps({**GOOD, "scale": "-3"}), "scale = '-3'"),
    (json.dumps({**GOOD, "channels": "abc"}), "channels = 'abc'"),
    (json.dumps({**GOOD, "channels": "2"}), "channels = '2', not 1 or 3"),
    (json.dumps({**GOOD, "min_side": "NaN"}), "min_side = 'NaN'"),
    (json.dumps({**GOOD, "step": "-1"}), "step = '-1'"),
    ("[" * 100_000 + "]" * 100_000, "not a TorchScript archive"),
], ids=["list", "not-utf8", "number", "no-min-side", "multiple-0", "multiple-x", "multiple-huge", "scale-negative",
        "channels-text", "channels-2", "min-side-nan", "step-negative", "nested"])
def test_crafted_torchscript_metadata_is_one_line(tmp_path, png, cli, error_line, metadata, message):
    model = torchscript_file(tmp_path / "m.pt", metadata)
    with pytest.raises(UserError, match=message):
        read_metadata(model, trust_code=True)
    line = error_line(cli("apply", model, png, "-o", tmp_path / "o.png", "--trust-code", ok=False))
    assert str(model) in line


def test_metadata_that_inflates_past_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import translate.exported
    import translate.limits

    monkeypatch.setattr(translate.limits, "MAX_METADATA_BYTES", 1 << 20)
    monkeypatch.setattr(translate.exported, "MAX_METADATA_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:  # 4 MiB of spaces in ~4 KB
        archive.writestr("bomb/extra/translate.json", json.dumps(GOOD) + " " * (4 << 20))
    assert bomb.stat().st_size < 20_000
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=r"over translate's limit of 1,048,576 bytes"):
        read_metadata(bomb, trust_code=True)
    assert time.perf_counter() - t0 < 1


def test_a_member_that_lies_about_its_size_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    import translate.exported

    monkeypatch.setattr(translate.exported, "MAX_METADATA_BYTES", 1 << 20)
    import translate.limits

    monkeypatch.setattr(translate.limits, "MAX_METADATA_BYTES", 1 << 20)
    liar = tmp_path / "liar.pt"
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("liar/extra/translate.json", " " * (4 << 20))
    data = bytearray(liar.read_bytes())
    for header in (b"PK\x01\x02", b"PK\x03\x04"):  # claim 10 bytes in both headers
        at = data.find(header)
        size_at = at + (24 if header == b"PK\x01\x02" else 22)
        data[size_at:size_at + 4] = (10).to_bytes(4, "little")
    liar.write_bytes(bytes(data))
    with pytest.raises(UserError, match="not a TorchScript archive|over translate's limit"):
        read_metadata(liar, trust_code=True)


def test_onnx_files_with_custom_operators_or_outside_weights_are_refused(tmp_path, png, cli, error_line):
    pytest.importorskip("onnxruntime")
    good = onnx_file(tmp_path / "good.onnx")
    cli("apply", good, png, "-o", tmp_path / "o.png")
    assert (tmp_path / "o.png").is_file()
    custom = onnx_file(tmp_path / "custom.onnx", domain="evil.ops")
    line = error_line(cli("apply", custom, png, "-o", tmp_path / "c.png", ok=False))
    assert "custom domain 'evil.ops'" in line
    outside = onnx_file(tmp_path / "outside.onnx", external="../../../etc/passwd")
    line = error_line(cli("apply", outside, png, "-o", tmp_path / "e.png", ok=False))
    assert "stored in another file" in line
    bad = onnx_file(tmp_path / "bad.onnx", {**GOOD, "scale": "-3"})
    assert "scale = '-3'" in error_line(cli("export", "--info", bad, ok=False))
