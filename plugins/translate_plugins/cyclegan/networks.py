"""The CycleGAN networks: the ResNet generator (Zhu et al. 2017, appendix 7.2; after Johnson et al.
2016) and the PatchGAN discriminator of ``translate.nn.patchgan`` (70×70 patches, §7.2).

    c7s1-64, d128, d256, R256 × n, u128, u64, c7s1-3

c7s1-k  7×7 conv, stride 1, InstanceNorm, ReLU (the last one: Tanh, no norm)
dk      3×3 conv, stride 2, InstanceNorm, ReLU
Rk      residual block: two 3×3 convs with k filters
uk      3×3 fractional-strided (transposed) conv, stride ½, InstanceNorm, ReLU

Reflection padding everywhere a convolution keeps the size, "to reduce artifacts" (§7.2). The
generator is fully convolutional; the two stride-2 steps make it need sides that are multiples of 4.

``image_skip`` (ours, the plugin's default; the paper's network has none): the input image is
concatenated to the features that enter the last c7s1-3. Instance norm after the first convolution
removes each feature map's mean and scale, so the paper's network cannot see a picture's overall
colour or contrast: G(x + c) = G(x) for any constant colour c, and a colour mapping far from the
identity (1 − x) has a floor it cannot train below. With the image beside the features the last
layer can learn the per-pixel part of a mapping directly; it also makes copying the input easy,
which a constant identity loss then rewards: the plugin's default fades that loss out
(docs/results/cyclegan.md).

``residual`` (ours, an option, off by default): the last convolution's output, no Tanh, is a correction
added to the input, clamped to [-1, 1], and that convolution starts at zero, so the untrained
generator is the identity. When A's and B's photos differ in content, the discriminator's signal is
mostly B's palette and content; a generator that starts anywhere else paints texture it invents,
one that starts at the input only moves where the signal agrees (docs/results/cyclegan.md, "Real
photos"). Its cost: it barely moves at all, so mappings the default learns when the domains' content
matches (a channel permutation, a tone curve, 1 - x) stay close to a copy.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.interfaces import Generator
from translate.nn.guided import guided
from translate.nn.layers import init_normal, norm_layer
from translate.nn.patchgan import PatchDiscriminator

MULTIPLE = 4  # two stride-2 downsamplings: input sides must be multiples of 4
MIN_SIDE = 8  # the 2×2-downsampled map must stay larger than the residual blocks' 1-pixel reflection


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int, norm: str) -> list[nn.Module]:
    # Bias stays on: the reference's InstanceNorm has no affine shift to make it redundant.
    pad = [nn.ReflectionPad2d(kernel // 2)] if stride == 1 else []
    return [*pad, nn.Conv2d(c_in, c_out, kernel, stride, padding=0 if stride == 1 else kernel // 2),
            norm_layer(norm, c_out), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    """Rk: x + (pad-conv3-norm-ReLU-pad-conv3-norm)(x); no ReLU after the sum (as the reference)."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(channels, channels, 3, 1, norm),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(Generator):
    """Image (N×C×H×W in [-1, 1], H and W multiples of 4) in, image of the same size out."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, features: int = 64, n_blocks: int = 9,
                 norm: str = "instance", image_skip: bool = False, residual: bool = False,
                 guided: tuple[int, float] | None = None):
        super().__init__()
        # guided: (radius, eps) of a guided filter with the input as guide on the output
        # (translate.nn.guided); no weights, so the paper's weight names stay.
        self.guided = guided
        # residual: the last convolution's output is a correction added to the input, out = clamp(x +
        # conv, -1, 1) with no Tanh, so an untrained G (that conv zero) is the identity; a linear
        # colour map, even 1 - x, stays one weight per channel away (needs in = out channels).
        self.residual = residual and in_channels == out_channels
        f = features
        layers: list[nn.Module] = _conv_block(in_channels, f, 7, 1, norm)  # c7s1-64
        layers += _conv_block(f, 2 * f, 3, 2, norm)  # d128
        layers += _conv_block(2 * f, 4 * f, 3, 2, norm)  # d256
        layers += [ResidualBlock(4 * f, norm) for _ in range(n_blocks)]  # R256 × n
        for c_in in (4 * f, 2 * f):  # u128, u64
            layers += [nn.ConvTranspose2d(c_in, c_in // 2, 3, stride=2, padding=1, output_padding=1),
                       norm_layer(norm, c_in // 2), nn.ReLU(True)]
        # The image joins the features where the output block starts (its padding), when image_skip.
        self.skip_at = len(layers) if image_skip else None
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(f + (in_channels if image_skip else 0), out_channels, 7),
                   nn.Tanh()]  # c7s1-3
        self.net = nn.Sequential(*layers)  # one Sequential either way: the paper's weight names stay
        self.apply(init_normal)  # N(0, 0.02) (Zhu et al. 2017, §7.1)
        if self.residual:  # a zero correction: the untrained generator is the identity
            nn.init.zeros_(self.net[-2].weight)
            nn.init.zeros_(self.net[-2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.unfiltered(x)
        if self.guided:
            return guided(x, out, *self.guided)
        return out

    def unfiltered(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the guided filter (the whole output when there is none)."""
        if self.skip_at is None and not self.residual:
            return self.net(x)
        h = x
        for i, layer in enumerate(self.net[:-1] if self.residual else self.net):
            h = layer(torch.cat([h, x], 1) if i == self.skip_at else h)
        if self.residual:  # the net's Tanh is left out: the correction is unbounded, the sum clamped
            return (x + h).clamp(-1, 1)
        return h


def build_networks(config, n_blocks: int, discriminators: bool = True) -> dict[str, nn.Module]:
    """``g_ab`` and ``g_ba``, and unless only inference needs them (apply, export) ``d_a`` and ``d_b``."""
    c = config.channels
    modules: dict[str, nn.Module] = {
        name: ResnetGenerator(c, c, config.gen_features, n_blocks, image_skip=config.image_skip,
                              residual=config.residual,
                              guided=(config.guided_radius, config.guided_eps) if config.guided_radius else None)
        for name in ("g_ab", "g_ba")}
    if discriminators:
        modules.update({name: PatchDiscriminator(c, config.disc_features, config.disc_layers, norm=config.disc_norm)
                        for name in ("d_a", "d_b")})
    return modules
