"""The pix2pix networks: a U-Net generator (Ronneberger et al. 2015) as specified by Isola et al.
2017, §3.2.1 and appendix 6.1.1, and the PatchGAN discriminator of ``translate.nn.patchgan``.

Encoder  C64-C128-C256-C512-C512-C512-C512-C512 at depth 8 (256² → 1²): 4×4 convolutions with
         stride 2, LeakyReLU 0.2, no norm on the first layer (nor on the innermost one, whose
         output is 1×1 at the paper's size and cannot be normalised).
Decoder  the encoder mirrored: ReLU, 4×4 transposed convolution with stride 2, norm; dropout 0.5
         in the three innermost decoder layers; each layer's output is concatenated with the
         encoder feature map of the same resolution (the skip connections); Tanh at the end.

The depth (number of downsamplings) is a parameter, so 64² (depth 6) and 128² (depth 7) also
reach a 1×1 bottleneck; inputs must be multiples of 2^depth (apply pads to that).
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import UserError
from translate.interfaces import Generator
from translate.nn.layers import init_normal, norm_layer
from translate.nn.patchgan import PatchDiscriminator

MAX_DEPTH = 8  # the paper's U-Net: 256² → 1² (Isola et al. 2017, appendix 6.1.1)
MIN_DEPTH = 3


def auto_depth(size: int) -> int:
    """The most downsamplings that ``size`` allows (each halves it exactly), at most 8: the paper's
    1×1 bottleneck at 64², 128² and 256²; larger sizes keep 8 and a wider bottleneck."""
    twos = (size & -size).bit_length() - 1  # how many times 2 divides size
    depth = min(MAX_DEPTH, twos)
    if depth < MIN_DEPTH:
        raise UserError(f"--size {size}: the U-Net halves the image at least {MIN_DEPTH} times, so the size "
                        f"must be a multiple of {2 ** MIN_DEPTH} (e.g. 64, 128, 256)")
    return depth


def check_depth(depth: int, size: int) -> int:
    if not MIN_DEPTH <= depth <= 10:
        raise UserError(f"--depth {depth}: choose {MIN_DEPTH}..10 downsamplings (0 = from --size)")
    if size % 2 ** depth:
        raise UserError(f"--depth {depth} needs --size to be a multiple of {2 ** depth}, got {size}; "
                        f"use --depth 0 to follow the size")
    return depth


def _widths(depth: int, features: int) -> list[int]:
    # 64·2^i, capped at 512 = 8·64 (appendix 6.1.1).
    return [features * min(2 ** i, 8) for i in range(depth)]


class UNetGenerator(Generator):
    """Image (N×C×H×W in [-1, 1], H and W multiples of 2^depth) → image in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, features: int = 64,
                 norm: str = "batch", dropout: float = 0.5, dropout_layers: int = 3):
        super().__init__()
        self.depth = depth
        widths = _widths(depth, features)
        bias = norm != "batch"  # a following BatchNorm makes the bias redundant
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            outer, inner = i == 0, i == depth - 1
            layers: list[nn.Module] = [] if outer else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if outer else widths[i - 1], width, 4, 2, 1,
                                    bias=bias or outer or inner))
            if not (outer or inner):
                layers.append(norm_layer(norm, width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):  # innermost first
            outer, inner = i == 0, i == depth - 1
            width_in = widths[i] if inner else 2 * widths[i]  # concatenated skip connection
            width_out = out_channels if outer else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=bias or outer)]
            if outer:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, width_out))
                # The paper's CD512-CD1024-CD1024: the three innermost decoder layers (§6.1.1).
                if depth - 1 - i < dropout_layers and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.apply(init_normal)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        skips.pop()  # the innermost output is h itself, not a skip
        for i, block in enumerate(self.up):
            if i > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            h = block(h)
        return h


def build_networks(config, size: int, discriminator: bool = True) -> dict[str, torch.nn.Module]:
    depth = check_depth(config.depth, size) if config.depth else auto_depth(size)
    G = UNetGenerator(config.channels, config.channels, depth, config.features, config.norm, config.dropout)
    if not discriminator:
        return {"generator": G}
    # cGAN: D sees input and output stacked along the channels (§3.1, Fig. 2).
    return {"generator": G,
            "discriminator": PatchDiscriminator(2 * config.channels, config.d_features, config.d_layers, config.norm)}
