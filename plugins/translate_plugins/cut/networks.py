"""The CUT networks (Park et al. 2020): the cyclegan plugin's ResNet generator G: A → B, whose
first layers double as the encoder PatchNCE reads; the PatchGAN of ``translate.nn.patchgan``;
and ``PatchProjection``, the authors' ``PatchSampleF``: per NCE layer, the features at sampled
locations through a 2-layer MLP (256 units) onto the unit sphere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from translate.nn.patchgan import PatchDiscriminator
from translate_plugins.cyclegan.networks import ResnetGenerator

PROBE_SIDE = 16  # a dry run at this size finds each NCE layer's channel count


def encode(generator: ResnetGenerator, images: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
    """The outputs of ``generator.net[i]`` for each ``i`` in ``layers``, in order, running only as far
    as the deepest one (the authors' ``encode_only`` pass). The encoder ends before the image skip
    joins, so this holds with ``image_skip`` too."""
    wanted, feats, h = set(layers), {}, images
    for i, layer in enumerate(generator.net[: max(layers) + 1]):
        h = layer(h)
        if i in wanted:
            feats[i] = h
    return [feats[i] for i in layers]


def sample_locations(feats: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """For each feature map, up to ``n`` distinct flat locations (H·W indices), one draw shared by
    every image of the batch, as the authors' code. Drawn from torch's CPU generator, which the
    trainer saves and restores on --resume."""
    return [torch.randperm(f.shape[-2] * f.shape[-1])[:n].to(f.device) for f in feats]


class PatchProjection(nn.Module):
    """One MLP per NCE layer: Linear(C, k), ReLU, Linear(k, k); the outputs L2-normalised."""

    def __init__(self, channels: list[int], features: int = 256):
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(c, features), nn.ReLU(), nn.Linear(features, features)) for c in channels)
        for module in self.modules():  # the authors' init_net: Xavier normal, gain 0.02
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight, gain=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, feats: list[torch.Tensor], locations: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each N×C×H×W map at its locations → (N·P)×k unit vectors, image by image."""
        out = []
        for head, feat, where in zip(self.heads, feats, locations):
            picked = feat.flatten(2)[:, :, where]  # N×C×P
            out.append(F.normalize(head(picked.transpose(1, 2).flatten(0, 1)), dim=1))
        return out


def nce_channels(generator: ResnetGenerator, layers: tuple[int, ...], in_channels: int) -> list[int]:
    with torch.no_grad():
        probe = torch.zeros(1, in_channels, PROBE_SIDE, PROBE_SIDE)
        return [f.shape[1] for f in encode(generator, probe, layers)]


def build_networks(config, n_blocks: int, training: bool = True) -> dict[str, nn.Module]:
    """``generator``, and for training ``discriminator`` and ``projection`` (the MLP heads)."""
    c = config.channels
    generator = ResnetGenerator(c, c, config.gen_features, n_blocks, image_skip=config.image_skip,
                                guided=(config.guided_radius, config.guided_eps) if config.guided_radius else None)
    modules: dict[str, nn.Module] = {"generator": generator}
    if training:
        modules["discriminator"] = PatchDiscriminator(c, config.disc_features, config.disc_layers,
                                                      norm=config.disc_norm)
        modules["projection"] = PatchProjection(nce_channels(generator, config.nce_layers, c), config.nce_features)
    return modules
