"""``gan``: unconditional GANs on images or 2-D points.

Networks: the MLP GAN of the seed notes (Linear 256/512/1024, LeakyReLU, Tanh output for images)
and DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
GANs"). Losses: non-saturating (default) and minimax (Goodfellow et al. 2014).

This module stays free of torch imports so that ``translate train gan --help`` is instant; the
networks and losses are imported inside the hooks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin


@dataclass
class GanConfig:
    """Unconditional GAN: MLP (seed notes) or DCGAN (Radford et al. 2016)."""

    arch: Literal["auto", "mlp", "dcgan"] = param(
        "auto", "network family; auto = mlp for 2-D point data, dcgan for images")
    latent_dim: int = param(100, "size of the noise vector z (Radford et al. 2016, §4: 100)")
    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    loss: Literal["nonsaturating", "minimax"] = param(
        "nonsaturating", "generator loss: -log D(G(z)) (Goodfellow et al. 2014, §3) or the saturating "
        "log(1 - D(G(z))) of the minimax game")
    d_steps: int = param(1, "discriminator steps per generator step (k in Goodfellow et al. 2014, Alg. 1: 1)")
    lr: float = param(2e-4, "Adam learning rate for G and D (Radford et al. 2016, §4: 0.0002)")
    beta1: float = param(0.5, "Adam beta1 (Radford et al. 2016, §4: 0.5, for stability)")
    beta2: float = param(0.999, "Adam beta2 (Kingma & Ba 2015 default)")
    features: int = param(64, "DCGAN width: channels of the last G / first D conv (Radford et al. 2016, Fig. 1: 64·2^k)")
    hidden: tuple[int, ...] = param((256, 512, 1024), "MLP hidden widths of G; D mirrors them (seed notes 004)")
    leak: float = param(0.2, "LeakyReLU slope in D (Radford et al. 2016, §3: 0.2)")
    flip: bool = param(False, "random horizontal flips of training images")
    points: bool = param(False, "the data are 2-D points (set automatically from --data)")


class GanPlugin(Plugin):
    description = "Unconditional GANs: MLP GAN and DCGAN, non-saturating or minimax loss"
    Config = GanConfig
    data_flags = {"data": "image folder, points file (.npy/.csv), or built-in: shapes, digits, ring8, grid25"}
    train_defaults = {"batch_size": 64, "size": 32, "steps": 2000}

    def finalize_config(self, config: GanConfig, explicit: set[str], data: dict[str, str]) -> GanConfig:
        from translate.data.sources import is_points

        points = bool(data.get("data")) and is_points(data["data"])
        arch = config.arch
        if arch == "auto":
            arch = "mlp" if points else "dcgan"
        if points and arch != "mlp":
            raise UserError(f"--arch {arch}: 2-D point data needs --arch mlp")
        return dataclasses.replace(config, arch=arch, points=points)

    def preferred_precision(self, config: GanConfig, options: Any) -> str | None:
        # bf16 keeps ~3 significant digits: too coarse for points with σ = 0.01 on a radius-1 ring.
        return "fp32" if config.points else None

    def build(self, config: GanConfig, options: Any) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, options.size)

    def dataset(self, config: GanConfig, options: Any, data: dict[str, str]) -> Any:
        from translate.data.datasets import ImageDataset, PointDataset
        from translate.data.sources import open_images, open_points

        if config.points:
            return PointDataset(open_points(data["data"]))
        source = open_images(data["data"], "--data", size=options.size, seed=options.seed,
                             skip_bad=options.skip_bad_images)
        return ImageDataset(source, options.size, config.channels, flip=config.flip)

    def optimizers(self, config: GanConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import torch

        betas = (config.beta1, config.beta2)
        return {
            "generator": torch.optim.Adam(modules["generator"].parameters(), lr=config.lr, betas=betas),
            "discriminator": torch.optim.Adam(modules["discriminator"].parameters(), lr=config.lr, betas=betas),
        }

    def discriminator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import discriminator_step

        return discriminator_step(ctx, batch)

    def generator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import generator_step

        return generator_step(ctx, batch)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        n = 2000 if ctx.config.points else 64
        return self.sample(ctx.inference_modules(), ctx.config, n, ctx.preview_generator())

    def sample(self, modules: dict[str, Any], config: GanConfig, n: int, generator: Any, **options: Any) -> Any:
        from .training import sample

        if options:
            raise UserError(f"plugin 'gan' is unconditional: it takes no {', '.join('--' + k for k in options)}")
        return sample(modules["generator"], n, generator)
