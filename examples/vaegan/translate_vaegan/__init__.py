"""``vaegan``: VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity
metric"), packaged as a third-party translate plugin.

A VAE whose decoder is also a GAN generator; reconstructions are compared in the feature space of
an intermediate discriminator layer (Dis_l) instead of pixel by pixel.

This module is what the entry point names, so it stays free of torch: ``translate train vaegan
--help`` reads the Config below without importing torch. The hooks only delegate: the networks
live in ``networks.py``, the training step, sampling and reconstruction in ``training.py``, both
imported inside the hooks (the package layout of docs/plugins.md; the data are translate's
ImageDataset, so there is no ``data.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from translate.config import param
from translate.plugin import Plugin

__version__ = "1.0.0"


@dataclass
class VAEGANConfig:
    """VAE-GAN (Larsen et al. 2016): encoder, decoder = generator, and a discriminator whose
    l-th layer features are the reconstruction metric."""

    latent_dim: int = param(128, "size of z (Larsen et al. 2016, authors' code celeba_aegan.py at 64×64: 128)", positive=True)
    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    features: int = param(32, "base width f: encoder convs 2f,4f,8f; decoder 8f,4f,f; discriminator f,4f,8f,8f "
                              "(Larsen et al. 2016, authors' code img64x64: f = 32)", positive=True)
    gamma: float = param(1.0, "weight of the feature reconstruction against the GAN loss in the decoder's "
                              "objective (Larsen et al. 2016, Alg. 1: γ, value not given; the authors' CelebA "
                              "code used 1e-5 over 150 epochs, where short runs learn no reconstruction)", min=0)
    loss: Literal["nonsaturating", "minimax"] = param(
        "nonsaturating", "decoder's adversarial term: -log D(x̃) (Goodfellow et al. 2014, §3) or the "
        "paper's log(1 - D(x̃)) (Larsen et al. 2016, Alg. 1: -L_GAN)")
    margin: float = param(0.35, "pause D while its cross-entropy on real or fake images is below equilibrium - "
                                "margin, the decoder while above equilibrium + margin; 0 = off (Larsen et al. "
                                "2016, authors' code aegan.py: 0.35)", min=0)
    equilibrium: float = param(0.68, "D cross-entropy at which neither is paused (authors' code: 0.68, ≈ ln 2)")
    lr: float = param(3e-4, "RMSProp learning rate of all three networks (Larsen et al. 2016, experiments: RMSProp, 0.0003)", positive=True)
    flip: bool = param(False, "random horizontal flips of training images")


class VAEGANPlugin(Plugin):
    description = "VAE-GAN (Larsen et al. 2016): VAE + GAN, reconstruction in discriminator feature space"
    Config = VAEGANConfig
    data_flags = {"data": "folder of training images (recursive), or a built-in dataset: shapes, digits"}
    # Batch 64 (Larsen et al. 2016, authors' code); 32 px keeps CPU runs short (the paper trains at 64).
    train_defaults = {"batch_size": 64, "size": 32, "steps": 2000}
    inference_modules = ("encoder", "generator")

    def build(self, config: VAEGANConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        modules = build_networks(config, options.size)
        return modules if training else {name: modules[name] for name in self.inference_modules}

    def dataset(self, config: VAEGANConfig, options: Any, data: dict[str, str]) -> Any:
        from translate.data.datasets import ImageDataset
        from translate.data.sources import open_images

        source = open_images(data["data"], "--data", size=options.size, seed=options.seed,
                             skip_bad=options.skip_bad_images)
        return ImageDataset(source, options.size, config.channels, flip=config.flip)

    def optimizers(self, config: VAEGANConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import torch

        # One optimiser for encoder + decoder: RMSProp keeps per-parameter state, so this is the
        # same as one per network; the step builds each network's own loss (see training.py).
        autoencoder = [*modules["encoder"].parameters(), *modules["generator"].parameters()]
        return {
            "autoencoder": torch.optim.RMSprop(autoencoder, lr=config.lr),
            "discriminator": torch.optim.RMSprop(modules["discriminator"].parameters(), lr=config.lr),
        }

    def train_step(self, ctx: Any) -> dict[str, Any]:
        from .training import train_step

        return train_step(ctx)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        from translate.plugin import Preview

        modules = ctx.inference_modules()
        grid = preview(modules["encoder"], modules["generator"], batch["image"], ctx.preview_generator())
        return Preview(grid, columns=("input", "reconstruction", "sample from the prior"))

    def sample(self, modules: dict[str, Any], config: VAEGANConfig, n: int, generator: Any) -> Any:
        from .training import sample

        return sample(modules["generator"], n, generator)

    def apply(self, modules: dict[str, Any], config: VAEGANConfig, images: Any) -> Any:
        from .training import reconstruct

        # The whole image is one code: no tiling, so the apply takes no options (the core refuses any).
        return reconstruct(modules["encoder"], modules["generator"], images)
