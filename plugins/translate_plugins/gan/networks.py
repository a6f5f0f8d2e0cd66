"""Networks of the ``gan`` plugin: an MLP GAN and DCGAN (Radford et al. 2016), each optionally
class-conditional.

Conditioning (Mirza & Osindero 2014): G gets a learned class embedding concatenated to z. D either
gets the label concatenated to its input (one-hot vector for the MLP, one-hot planes for DCGAN) or
uses the projection discriminator of Miyato & Koyama 2018 (eq. 3): D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩,
where φ are D's penultimate features (summed over space for DCGAN) and e_y a class embedding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import UserError
from translate.interfaces import Discriminator, Generator
from translate.nn.layers import add_spectral_norm, init_normal, norm_layer


def _with_label(z: torch.Tensor, embed: nn.Embedding | None, labels: torch.Tensor | None) -> torch.Tensor:
    """z, or [z, embed(y)] for a conditional generator."""
    if embed is None:
        return z
    if labels is None:
        raise ValueError("a class-conditional generator needs labels")
    return torch.cat([z, embed(labels).to(z.dtype)], dim=1)


class MLPGenerator(Generator):
    """z → Linear/LeakyReLU blocks → data; Tanh output for images in [-1, 1],
    linear output for 2-D points, whose range is not bounded. ``leak`` 0 gives plain ReLUs."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: tuple[int, ...], bounded: bool,
                 num_classes: int = 0, embed_dim: int = 0, scale: float = 1.0, leak: float = 0.2):
        super().__init__()
        self.latent_dim, self.out_shape, self.scale = latent_dim, out_shape, scale
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        layers: list[nn.Module] = []
        width = latent_dim + (embed_dim if num_classes else 0)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(leak) if leak else nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, math.prod(out_shape)))
        if bounded:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(_with_label(z, self.embed, labels)).view(z.shape[0], *self.out_shape)
        return out * self.scale if self.scale != 1.0 else out


class ConditionalHead(nn.Module):
    """The last layer of D, plus the class term: projection ⟨e_y, φ(x)⟩ (Miyato & Koyama 2018)."""

    def __init__(self, head: nn.Module, width: int, num_classes: int, projection: bool):
        super().__init__()
        self.head = head
        self.embed = nn.Embedding(num_classes, width) if projection and num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        out = self.head(h).view(h.shape[0])
        if self.embed is not None:
            pooled = h.sum(dim=(2, 3)) if h.dim() == 4 else h  # global sum pooling (Miyato & Koyama 2018)
            out = out + (self.embed(labels).to(pooled.dtype) * pooled).sum(dim=1)
        return out


class MLPDiscriminator(Discriminator):
    """The generator mirrored (1024/512/256 by default), ending in one logit (no sigmoid: the loss
    takes logits). ``concat_classes`` > 0 appends a one-hot label to the flattened input."""

    def __init__(self, in_shape: tuple[int, ...], hidden: tuple[int, ...], leak: float, num_classes: int = 0,
                 projection: bool = True, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.concat_classes = num_classes if num_classes and not projection else 0
        layers: list[nn.Module] = []
        width = math.prod(in_shape) + self.concat_classes
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), nn.LeakyReLU(leak)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = ConditionalHead(nn.Linear(width, 1), width, num_classes, projection)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1) / self.scale if self.scale != 1.0 else x.flatten(1)
        if self.concat_classes:
            x = torch.cat([x, F.one_hot(labels, self.concat_classes).to(x.dtype)], dim=1)
        return self.head(self.body(x), labels)


def _dcgan_depth(size: int) -> int:
    depth = int(math.log2(size)) - 2  # upsampling stages from 4×4
    if size < 8 or 2 ** (depth + 2) != size:
        raise UserError(f"--size {size}: DCGAN needs a power of two ≥ 8 (e.g. 32, 64); "
                        "or use --arch mlp")
    return depth


class DCGANGenerator(Generator):
    """Fractionally-strided convolutions with BatchNorm and ReLU, Tanh output (Radford et al. 2016,
    §3). z is projected to 4×4×(features·2^(depth-1)) and doubled in size ``depth`` times."""

    def __init__(self, latent_dim: int, channels: int, size: int, features: int, num_classes: int = 0,
                 embed_dim: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        depth = _dcgan_depth(size)
        width = features * 2 ** (depth - 1)
        z_width = latent_dim + (embed_dim if num_classes else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_width, width, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(depth - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = _with_label(z, self.embed, labels)
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """Strided convolutions, normalisation except on the input layer, LeakyReLU 0.2 (Radford et al.
    2016, §3); a final 4×4 convolution gives one logit. ``concat`` conditioning adds one-hot planes.
    ``norm``: batch (Radford et al. 2016); layer for WGAN-GP, whose per-sample penalty is invalid
    with batch statistics (Gulrajani et al. 2017, §4); none with spectral norm (Miyato et al. 2018)."""

    def __init__(self, channels: int, size: int, features: int, leak: float, norm: str = "batch",
                 num_classes: int = 0, projection: bool = True):
        super().__init__()
        depth = _dcgan_depth(size)
        self.concat_classes = num_classes if num_classes and not projection else 0
        layers: list[nn.Module] = [nn.Conv2d(channels + self.concat_classes, features, 4, 2, 1),
                                   nn.LeakyReLU(leak, True)]
        width = features
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"), norm_layer(norm, width * 2),
                       nn.LeakyReLU(leak, True)]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.head = ConditionalHead(nn.Conv2d(width, 1, 4, 1, 0), width, num_classes, projection)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.concat_classes:
            planes = F.one_hot(labels, self.concat_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return self.head(self.body(x), labels)


def build_networks(config, size: int, discriminator: bool = True) -> dict[str, nn.Module]:
    """G and (unless ``discriminator`` is False, as for apply/sample) D of the config."""
    classes = len(config.classes) if config.conditional else 0
    projection = config.cond_d == "projection"
    if config.arch == "dcgan":
        g = DCGANGenerator(config.latent_dim, config.channels, size, config.features, classes, config.embed_dim)
        g.apply(init_normal)  # N(0, 0.02) (Radford et al. 2016, §4)
        if not discriminator:
            return {"generator": g}
        d = DCGANDiscriminator(config.channels * config.pack, size, config.features, config.leak, config.d_norm,
                               classes, projection)
        d.apply(init_normal)
    else:
        shape = (2,) if config.points else (config.channels, size, size)
        # Points: both networks work in units of the data's standard deviation (G's output is scaled
        # up by it, D's input down), so grid25 (spread ±4) trains like ring8 (radius 1).
        scale = config.point_scale if config.points and config.point_scale > 0 else 1.0
        g = MLPGenerator(config.latent_dim, shape, tuple(config.hidden), bounded=not config.points,
                         num_classes=classes, embed_dim=config.embed_dim, scale=scale,
                         leak=config.g_leak)
        if not discriminator:
            return {"generator": g}
        packed = (shape[0] * config.pack, *shape[1:])  # PacGAN: m samples side by side (training.pack)
        d = MLPDiscriminator(packed, tuple(config.hidden), config.leak, classes, projection, scale=scale)
    if config.spectral_norm:
        add_spectral_norm(d)
    return {"generator": g, "discriminator": d}
