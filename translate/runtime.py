"""Device and precision: which device (which GPU under torchrun), which autocast dtype, channels_last or not."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEVICES = ("auto", "cpu", "cuda", "mps")  # "cuda:N" names one GPU
PRECISIONS = ("auto", *DTYPES)


def mps_available() -> bool:
    """Apple-silicon GPU (Metal) through torch's ``mps`` backend."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str) -> torch.device:
    """``auto``: a CUDA GPU, else an Apple GPU (``mps``), else the CPU."""
    if not isinstance(name, str) or not (name in DEVICES or re.fullmatch(r"cuda:\d+", name)):
        raise UserError(f"device {name!r}: give one of {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name == "mps" and not mps_available():
        raise UserError("--device mps: no Apple-silicon GPU (Metal) is available here; use --device cpu or auto")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16: bf16 autocast is several times faster than fp32 there (measured in
    benchmarks/); on other CPUs bf16 is emulated and slower, so auto stays fp32. PyTorch's kernels
    held to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, e.g. to measure as an AVX2-only machine would)
    cannot use those instructions either."""
    if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_precision(name: str, device: torch.device, preferred: str | None = None) -> str:
    """Resolve ``auto``; reject names that are not precisions and combinations that cannot work."""
    if name not in PRECISIONS:
        raise UserError(f"precision {name!r}: give one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if preferred:
            return preferred
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "mps":
            return "fp32"  # not measured on Apple GPUs: the precision every op supports there
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise UserError("--precision fp16 needs a CUDA device (CPUs have no fast fp16); use bf16 or fp32")
    return name


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str
    channels_last: bool

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.precision])

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module

    def tensor(self, value):
        """Move a batch (tensor, or dict/list of tensors) to the device, images channels_last."""
        if isinstance(value, torch.Tensor):
            value = value.to(self.device, non_blocking=True)
            if self.channels_last and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
            return value
        if isinstance(value, dict):
            return {k: self.tensor(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.tensor(v) for v in value)
        return value


def channels_last_pays(device: torch.device, precision: str) -> bool:
    """Whether a plugin that asks for channels_last gets it: on CUDA, and on a CPU under bf16
    autocast (oneDNN's bf16 convolutions want it). Not for fp32 on a CPU: there channels_last
    convolution backward is 1.5-2x slower than NCHW on AVX2, and whole steps ran 1.26-1.33x
    (CycleGAN 128²) and 1.09-1.21x (pix2pix 256²) faster NCHW (benchmarks/profile_step.py --layout).
    A plugin whose networks run faster channels_last even there says ``channels_last = "always"``.
    Apple GPUs (mps): not measured, so NCHW, the layout every op supports there."""
    return device.type == "cuda" or (device.type == "cpu" and precision != "fp32")


def make_runtime(device: str, precision: str, channels_last: bool | str, preferred: str | None = None,
                 local_rank: int | None = None) -> Runtime:
    """``local_rank`` (under torchrun): a CUDA run uses GPU ``local_rank`` of this machine, as
    :func:`translate.distributed.init_from_env` selected it; a CPU run ignores it."""
    dev = pick_device(device)
    if dev.type == "cuda" and local_rank is not None:
        dev = torch.device("cuda", local_rank)
    picked = pick_precision(precision, dev, preferred)
    use = channels_last == "always" or (bool(channels_last) and channels_last_pays(dev, picked))
    if dev.type == "cuda":
        # cuDNN picks the fastest convolution algorithm per input shape once, then reuses it;
        # training crops have one shape, and apply's tiles few.
        torch.backends.cudnn.benchmark = True
    return Runtime(dev, picked, use)
