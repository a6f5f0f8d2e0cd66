"""Networks of VAE-GAN (Larsen et al. 2016), following the authors' 64×64 architecture
(architectures.py, img64x64) with the widths expressed in one base width f (32 there):

encoder        3 × [5×5 conv stride 2, BN, ReLU] with 2f, 4f, 8f filters; fc 32f, BN, ReLU;
               two fc heads for mu and log-variance of q(z|x)
decoder        fc to 8f × (s/8)², BN, ReLU; 3 × [5×5 transposed conv stride 2, BN, ReLU] with 8f,
               4f, f filters; 5×5 conv to the image channels, tanh
discriminator  5×5 conv f, ReLU; [5×5 conv stride 2, BN, ReLU] with 4f, 8f; 5×5 conv stride 2 with
               8f filters = Dis_l, the reconstruction features; BN, ReLU, fc 16f, BN, ReLU, fc 1
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import UserError
from translate.interfaces import Discriminator, Generator


def _check_size(size: int) -> int:
    if size < 8 or size % 8:
        raise UserError(f"--size {size}: VAE-GAN downsamples three times; use a multiple of 8 (e.g. 32, 64)")
    return size // 8


def _down(cin: int, cout: int) -> list[nn.Module]:
    # No conv bias before BatchNorm: BN's shift makes it redundant.
    return [nn.Conv2d(cin, cout, 5, 2, 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    # output_padding=1 makes a 5×5 stride-2 transposed conv exactly double the size.
    return [nn.ConvTranspose2d(cin, cout, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(True)]


class Encoder(nn.Module):
    """Image → (mu, logvar) of the Gaussian posterior q(z|x)."""

    def __init__(self, channels: int, size: int, latent_dim: int, f: int):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim  # apply() resizes inputs to ``size``
        cells = _check_size(size) ** 2
        self.body = nn.Sequential(*_down(channels, 2 * f), *_down(2 * f, 4 * f), *_down(4 * f, 8 * f),
                                  nn.Flatten(), nn.Linear(8 * f * cells, 32 * f, bias=False),
                                  nn.BatchNorm1d(32 * f), nn.ReLU(True))
        self.mu = nn.Linear(32 * f, latent_dim)
        self.logvar = nn.Linear(32 * f, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class Decoder(Generator):
    """z → image in [-1, 1]; the VAE's decoder and the GAN's generator at once."""

    def __init__(self, channels: int, size: int, latent_dim: int, f: int):
        super().__init__()
        self.latent_dim, self.size = latent_dim, size
        side = _check_size(size)
        self.project = nn.Sequential(nn.Linear(latent_dim, 8 * f * side * side, bias=False),
                                     nn.BatchNorm1d(8 * f * side * side), nn.ReLU(True),
                                     nn.Unflatten(1, (8 * f, side, side)))
        self.body = nn.Sequential(*_up(8 * f, 8 * f), *_up(8 * f, 4 * f), *_up(4 * f, f),
                                  nn.Conv2d(f, channels, 5, 1, 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


class VAEGANDiscriminator(Discriminator):
    """``features`` gives Dis_l (the 4th conv's output, before its BatchNorm: the layer the
    authors' code compares reconstructions at, recon_depth=9); ``head`` maps it to one logit."""

    def __init__(self, channels: int, size: int, f: int):
        super().__init__()
        cells = _check_size(size) ** 2
        self.features = nn.Sequential(nn.Conv2d(channels, f, 5, 1, 2), nn.ReLU(True),
                                      *_down(f, 4 * f), *_down(4 * f, 8 * f),
                                      nn.Conv2d(8 * f, 8 * f, 5, 2, 2, bias=False))
        self.head = nn.Sequential(nn.BatchNorm2d(8 * f), nn.ReLU(True), nn.Flatten(),
                                  nn.Linear(8 * f * cells, 16 * f, bias=False), nn.BatchNorm1d(16 * f),
                                  nn.ReLU(True), nn.Linear(16 * f, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).view(-1)


def build_networks(config, size: int) -> dict[str, nn.Module]:
    f = config.features
    return {
        "encoder": Encoder(config.channels, size, config.latent_dim, f),
        "generator": Decoder(config.channels, size, config.latent_dim, f),
        "discriminator": VAEGANDiscriminator(config.channels, size, f),
    }
