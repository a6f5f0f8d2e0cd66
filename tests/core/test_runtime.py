"""Device, precision and memory-format choices (translate.runtime) and the optimiser kernel (translate.optim)."""

from __future__ import annotations

import pytest
import torch

from translate import runtime
from translate.errors import UserError
from translate.optim import adam, fastest_kernel


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert runtime.pick_device("auto").type == "cpu"
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert runtime.pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.pick_device("auto").type == "cuda"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_missing_accelerator_is_one_line_naming_the_fix(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    with pytest.raises(UserError, match=f"--device {device}: no .* available here; use --device cpu or auto"):
        runtime.pick_device(device)


def test_auto_precision_per_device(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert runtime.pick_precision("auto", torch.device("cpu")) == "fp32"
    assert runtime.pick_precision("auto", torch.device("mps")) == "fp32"
    assert runtime.pick_precision("auto", torch.device("cpu"), preferred="fp32") == "fp32"
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.pick_precision("auto", torch.device("cpu")) == "bf16"
    with pytest.raises(UserError, match="fp16 needs a CUDA device"):
        runtime.pick_precision("fp16", torch.device("cpu"))


@pytest.mark.parametrize("wanted, precision, expected", [
    (True, "fp32", False),      # NCHW is faster for most networks in fp32 on a CPU
    (True, "bf16", True),       # oneDNN's bf16 convolutions want channels_last
    ("always", "fp32", True),   # a plugin that measured otherwise (e.g. SRResNet)
    (False, "bf16", False),
])
def test_memory_format_choice_on_cpu(wanted, precision, expected):
    rt = runtime.make_runtime("cpu", precision, wanted)
    assert rt.channels_last is expected
    conv = rt.module(torch.nn.Conv2d(3, 8, 3))
    x = rt.tensor(torch.randn(1, 3, 8, 8))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) is expected
    assert x.is_contiguous(memory_format=torch.channels_last) is expected


def test_srresnet_trains_channels_last_and_rrdb_nchw_in_fp32_on_a_cpu():
    """Measured per network (benchmarks/profile_step.py --layout): the SR plugin asks for the
    layout itself in build(), so the choice holds on every device and precision."""
    from translate.options import TrainOptions
    from translate.registry import load_plugin

    plugin = load_plugin("srgan")
    options = TrainOptions(size=32, batch_size=2)

    def layout(**changes):
        config = plugin.Config(n_blocks=1, features=8, **changes)
        modules = plugin.build(config, options)
        return {name: next(m.parameters()).is_contiguous(memory_format=torch.channels_last) and
                not next(m.parameters()).is_contiguous() for name, m in modules.items()}

    assert layout(stage="gan") == {"generator": True, "discriminator": True}
    assert layout(arch="rrdb", stage="gan", growth=4) == {"generator": False, "discriminator": True}


def test_adam_uses_the_fused_kernel_where_torch_has_one():
    params = [torch.nn.Parameter(torch.randn(4, 3))]
    assert fastest_kernel(params) == {"fused": True}  # CPUs have one (torch >= 2.4)
    assert fastest_kernel([torch.zeros(3, dtype=torch.long)]) == {"foreach": True}
    assert fastest_kernel([]) == {"foreach": True}
    # Same updates as the reference multi-tensor loop, to fp32 rounding.
    torch.manual_seed(0)
    grads = [torch.randn(4, 3) for _ in range(3)]
    results = []
    for make in (lambda p: adam(p, lr=1e-2, betas=(0.5, 0.999)),
                 lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999), foreach=True)):
        p = torch.nn.Parameter(torch.ones(4, 3))
        opt = make([p])
        for g in grads:
            p.grad = g.clone()
            opt.step()
        results.append(p.detach())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-6)
    assert not torch.equal(results[0], torch.ones(4, 3))


def test_unknown_devices_and_precisions_are_one_line():
    import pytest

    from translate.errors import UserError
    from translate.runtime import pick_device, pick_precision

    with pytest.raises(UserError, match="device 'tpu': give one of auto, cpu, cuda, mps"):
        pick_device("tpu")
    with pytest.raises(UserError, match="precision 'fp8'"):
        pick_precision("fp8", torch.device("cpu"))
