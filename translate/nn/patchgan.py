"""PatchGAN discriminator (Isola et al. 2017, §3.2.2 and appendix 6.1.2; also Zhu et al. 2017,
§7.2): a fully convolutional net that classifies each N×N patch as real or fake. With
``n_layers=3`` each output logit sees a 70×70 receptive field; ``n_layers=0`` is the 1×1
"PixelGAN"."""

from __future__ import annotations

import torch
from torch import nn

from ..interfaces import Discriminator
from .layers import init_normal, norm_layer


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
