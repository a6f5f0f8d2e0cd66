"""Networks of the ``gan`` plugin: the seed notes' MLP GAN and DCGAN (Radford et al. 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn

from translate.errors import UserError
from translate.interfaces import Discriminator, Generator


class MLPGenerator(Generator):
    """z → Linear/LeakyReLU blocks → data; Tanh output for images in [-1, 1] (seed notes 004),
    linear output for 2-D points, whose range is not bounded."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: tuple[int, ...], bounded: bool):
        super().__init__()
        self.latent_dim, self.out_shape = latent_dim, out_shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, math.prod(out_shape)))
        if bounded:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(Discriminator):
    """The generator mirrored (1024/512/256 by default), ending in one logit (no sigmoid: the loss
    takes logits)."""

    def __init__(self, in_shape: tuple[int, ...], hidden: tuple[int, ...], leak: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(in_shape)
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), nn.LeakyReLU(leak)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _dcgan_depth(size: int) -> int:
    depth = int(math.log2(size)) - 2  # upsampling stages from 4×4
    if size < 8 or 2 ** (depth + 2) != size:
        raise UserError(f"--size {size}: DCGAN needs a power of two ≥ 8 (e.g. 32, 64); "
                        "or use --arch mlp")
    return depth


class DCGANGenerator(Generator):
    """Fractionally-strided convolutions with BatchNorm and ReLU, Tanh output (Radford et al. 2016,
    §3). z is projected to 4×4×(features·2^(depth-1)) and doubled in size ``depth`` times."""

    def __init__(self, latent_dim: int, channels: int, size: int, features: int):
        super().__init__()
        self.latent_dim = latent_dim
        depth = _dcgan_depth(size)
        width = features * 2 ** (depth - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(depth - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """Strided convolutions, BatchNorm except on the input layer, LeakyReLU 0.2 (Radford et al.
    2016, §3); a final 4×4 convolution gives one logit."""

    def __init__(self, channels: int, size: int, features: int, leak: float):
        super().__init__()
        depth = _dcgan_depth(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(leak, True)]
        width = features
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(leak, True)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, BatchNorm scale N(1, 0.02) (Radford et al. 2016, §4)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_networks(config, size: int) -> dict[str, nn.Module]:
    if config.arch == "dcgan":
        g = DCGANGenerator(config.latent_dim, config.channels, size, config.features)
        d = DCGANDiscriminator(config.channels, size, config.features, config.leak)
        g.apply(dcgan_init)
        d.apply(dcgan_init)
    else:
        shape = (2,) if config.points else (config.channels, size, size)
        g = MLPGenerator(config.latent_dim, shape, tuple(config.hidden), bounded=not config.points)
        d = MLPDiscriminator(shape, tuple(config.hidden), config.leak)
    return {"generator": g, "discriminator": d}
