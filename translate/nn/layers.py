"""Layers and initialisations shared by the model families: normalisation by name, the N(0, 0.02)
initialisation of Radford et al. 2016, Isola et al. 2017 and Zhu et al. 2017, spectral
normalisation, and an instance norm that is cheap on the CPU. Part of the import surface promised
to plugin authors (docs/plugins.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "instance", "layer", "none")


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (same parameters, state dict and ``isinstance``) that costs no layout
    copies and no autograd view bookkeeping on the CPU.

    ``F.instance_norm`` runs batch norm on an NCHW-contiguous copy of its input reshaped to
    1×(N·C)×H×W and returns a *view* of that: on a channels_last network every instance norm pays
    a layout copy and the next convolution another one back; in either layout the in-place ReLU
    that follows modifies that view, so autograd records a CopySlices node whose backward clones
    the gradient again. For one sample, instance norm *is* training-mode batch norm without
    running statistics (mean and biased variance over H×W per channel, the same ``eps``; the very
    kernel ``F.instance_norm`` calls), and batch norm has contiguous and channels_last CPU kernels
    that return a fresh tensor in the input's layout; a batch goes through one sample at a time
    (each sample of a contiguous or channels_last batch is contiguous) and is concatenated back.

    Used for CPU inputs without affine parameters or running statistics (the setting of Zhu et
    al. 2017's reference code), except while tracing or exporting (exported graphs keep
    InstanceNormalization); everything else goes to ``nn.InstanceNorm2d``.
    ``benchmarks/profile_step.py`` measures the two side by side."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (input.dim() == 4 and input.device.type == "cpu" and not self.affine and not self.track_running_stats
                and (input.is_contiguous() or input.is_contiguous(memory_format=torch.channels_last))
                and not torch.jit.is_tracing() and not torch.jit.is_scripting()
                and not torch.onnx.is_in_onnx_export()):
            if input.shape[0] == 1:
                return F.batch_norm(input, None, None, training=True, eps=self.eps)
            return torch.cat([F.batch_norm(x, None, None, training=True, eps=self.eps) for x in input.split(1)])
        return super().forward(input)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation of ``channels`` feature maps by name: ``batch``; ``instance`` (affine=False,
    as in Zhu et al. 2017's reference code); ``layer``, over C×H×W of each sample (one-group GroupNorm: what
    WGAN-GP's critic uses, Gulrajani et al. 2017, §4); or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}' ({', '.join(NORMS)})")


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """N(0, 0.02) weights, norm scales N(1, 0.02), zero biases (Radford et al. 2016, §4; Isola et
    al. 2017, §4; Zhu et al. 2017, §7.1). Use as ``net.apply(init_normal)``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation of every linear and convolution weight in ``module`` (Miyato et al.
    2018, §2.1: one power iteration per forward pass)."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(child)
    return module
