"""PatchGAN discriminator (Isola et al. 2017, §3.2.2 and appendix 6.1.2), used by pix2pix and
CycleGAN: a fully convolutional net that classifies each N×N patch as real or fake. With
``n_layers=3`` each output logit sees a 70×70 receptive field; ``n_layers=0`` is the 1×1
"PixelGAN"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..interfaces import Discriminator


def min_image_size(n_layers: int) -> int:
    """The smallest image side a PatchGAN with ``n_layers`` takes: its last normalised map has side
    size/2^n − 1 and must keep more than one value per channel (3·2^n, e.g. 24 for 70×70 patches)."""
    return 3 * 2**n_layers if n_layers > 0 else 1


def check_image_size(size: int, n_layers: int, flag: str) -> None:
    """A one-line error when ``--size`` is too small for a PatchGAN of ``n_layers`` (``flag``
    names the plugin's layer-count option)."""
    from ..errors import UserError

    if size < min_image_size(n_layers):
        raise UserError(f"--size {size} is too small for the PatchGAN ({flag} {n_layers} needs at least "
                        f"{min_image_size(n_layers)}); use a larger --size or fewer {flag}")


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

    Used for CPU inputs without affine parameters or running statistics (the reference
    CycleGAN's setting), except while tracing or exporting (exported graphs keep
    InstanceNormalization); everything else goes to ``nn.InstanceNorm2d``. Measured with
    benchmarks/profile_step.py: forward+backward of 1×256×32×32 channels_last 0.6 ms against
    3.1 ms, before counting the convolutions' copies saved."""

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
    """``batch`` or ``instance`` (affine=False, as in the reference CycleGAN), or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}' (batch, instance or none)")


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """N(0, 0.02) weights, norm scales N(1, 0.02), zero biases (Isola et al. 2017, §4)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class PatchDiscriminator(Discriminator):
    """C64-C128-C256-C512 (4×4 convs, LeakyReLU 0.2, no norm on the first layer), then a 1-channel
    convolution giving a map of patch logits. ``n_layers`` strided blocks set the patch size:
    1 → 16×16, 2 → 34×34, 3 → 70×70 (default), 4 → 142×142; 0 → 1×1 PixelGAN."""

    def __init__(self, in_channels: int, features: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        use_bias = norm != "batch"  # a following BatchNorm makes the bias redundant
        if n_layers == 0:
            layers: list[nn.Module] = [
                nn.Conv2d(in_channels, features, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(features, features * 2, 1, bias=use_bias), norm_layer(norm, features * 2),
                nn.LeakyReLU(0.2, True), nn.Conv2d(features * 2, 1, 1),
            ]
        else:
            layers = [nn.Conv2d(in_channels, features, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            width = features
            for i in range(1, n_layers + 1):
                out = features * min(2 ** i, 8)
                stride = 2 if i < n_layers else 1  # the last block keeps the resolution
                layers += [nn.Conv2d(width, out, 4, stride, 1, bias=use_bias), norm_layer(norm, out),
                           nn.LeakyReLU(0.2, True)]
                width = out
            layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
