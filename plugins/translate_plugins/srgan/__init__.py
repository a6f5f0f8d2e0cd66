"""``srgan``: single-image super-resolution with SRResNet and SRGAN (Ledig et al. 2017,
"Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network").

Two stages, as in the paper:
  ``--stage pretrain``            SRResNet trained on a pixel loss (MSE by default);
  ``--stage gan --init CKPT``     SRGAN: content loss (VGG54 by default) + 1e-3 · adversarial,
                                  starting from the pretrained generator's weights.

``--size`` is the HR crop size (96 px in the paper); the LR input is made from each crop on the
fly by antialiased bicubic downscaling by ``--scale``. ``translate apply`` super-resolves images of
any size in tiles; ``translate eval CKPT --hr DIR`` reports Y-channel PSNR/SSIM next to bicubic.

This module stays free of torch imports so that ``translate train srgan --help`` is instant.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin


@dataclass
class SRGANConfig:
    """SRResNet / SRGAN (Ledig et al. 2017). --size is the HR crop (paper: 96), downscaled by --scale."""

    stage: Literal["pretrain", "gan"] = param(
        "pretrain", "pretrain = SRResNet on the content loss alone; gan = SRGAN with the discriminator "
        "(Ledig et al. 2017, §3.2: SRGAN is initialised with the trained SRResNet)")
    init: str | None = param(None, "model.safetensors (or run folder) of a pretrain run whose generator "
                                   "weights start this run (Ledig et al. 2017, §3.2)")
    scale: int = param(4, "upscaling factor: 2, 4 or 8 (Ledig et al. 2017, §3.2: 4)")
    n_blocks: int = param(16, "residual blocks in the generator (Ledig et al. 2017, Fig. 4: B = 16)", min=0)
    features: int = param(64, "channels of the generator's residual blocks (Ledig et al. 2017, Fig. 4: 64)", positive=True)
    residual: bool = param(False, "add the bicubic upscaling of the input to the output (global residual "
                                  "learning, Kim et al. 2016; not in Ledig et al. 2017): converges much faster")
    content_loss: Literal["auto", "mse", "l1", "vgg54"] = param(
        "auto", "content loss; auto = mse for pretrain (SRResNet-MSE), vgg54 for gan (SRGAN-VGG54: VGG19 "
        "φ5,4 features rescaled by 1/12.75, Ledig et al. 2017, §2.2.1); l1 is a common robust alternative")
    adversarial_weight: float = param(1e-3, "weight of the adversarial loss (Ledig et al. 2017, eq. 3: 10^-3)", min=0)
    lr: float = param(1e-4, "Adam learning rate (Ledig et al. 2017, §3.2: 10^-4)", positive=True)
    beta1: float = param(0.9, "Adam beta1 (Ledig et al. 2017, §3.2: 0.9)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Kingma & Ba 2015 default)", min=0, max=0.9999)
    lr_decay_at: float = param(0.5, "gan stage: multiply the learning rate by 0.1 after this fraction of the "
                                    "steps (Ledig et al. 2017, §3.2: 10^5 steps at 10^-4, then 10^5 at 10^-5)", min=0, max=1)
    leak: float = param(0.2, "LeakyReLU slope in the discriminator (Ledig et al. 2017, Fig. 4: α = 0.2)", min=0)
    vgg_weights: str | None = param(None, "VGG19 weights for vgg54 (.safetensors, or torchvision's "
                                          "vgg19-dcbb9e9d.pth); default: torchvision's cache")
    flip: bool = param(True, "random flips and 90° rotations of the HR crops (not in Ledig et al. 2017; "
                             "standard since Lim et al. 2017)")
    degrade: tuple[str, ...] = param((), "extra degradations of the LR inputs for real-world photos, any of "
                                         "blur,noise,jpeg (Wang et al. 2021); none = pure bicubic (the paper)")


class SRGANPlugin(Plugin):
    description = "Super-resolution ×2/×4/×8: SRResNet (MSE) and SRGAN (VGG54 + adversarial), PSNR/SSIM eval"
    Config = SRGANConfig
    data_flags = {"data": "folder of high-resolution images, or built-in photos: skimage "
                          "(5 scikit-image photos), skimage-test (2 others)"}
    # --size is the HR crop (Ledig et al. 2017, §3.2: 96×96 crops of 16 images per mini-batch).
    train_defaults = {"size": 96, "batch_size": 16, "steps": 100_000, "sample_every": 1000}

    def finalize_config(self, config: SRGANConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> SRGANConfig:
        if config.init and not Path(config.init).exists():
            raise UserError(f"--init {config.init}: no such file; pass the model.safetensors (or run folder) "
                            "of a 'translate train srgan --stage pretrain' run")
        if config.stage == "gan" and not config.init:
            print("warning: --stage gan without --init starts from random weights; the paper starts from a "
                  "pretrained SRResNet (--init RUN/model.safetensors)", file=sys.stderr)
        content = config.content_loss
        if content == "auto":
            content = "vgg54" if config.stage == "gan" else "mse"
        return dataclasses.replace(config, content_loss=content)

    def check_config(self, config: SRGANConfig, options: Any) -> None:
        if config.scale not in (2, 4, 8):
            raise UserError(f"--scale {config.scale}: choose 2, 4 or 8")
        if config.stage == "gan" and options.size % 16:
            raise UserError(f"--size {options.size}: the SRGAN discriminator needs an HR crop that is a "
                            "multiple of 16 (96 in the paper)")

    def build(self, config: SRGANConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import SRDiscriminator, SRResNet

        modules = {"generator": SRResNet(config.scale, config.n_blocks, config.features, residual=config.residual)}
        if training and config.stage == "gan":
            modules["discriminator"] = SRDiscriminator(options.size, leak=config.leak)
        return modules

    def dataset(self, config: SRGANConfig, options: Any, data: dict[str, str]) -> Any:
        from .data import SRDataset, open_hr

        source = open_hr(data["data"], "--data", skip_bad=options.skip_bad_images)
        return SRDataset(source, options.size, config.scale, flip=config.flip, degrade=config.degrade)

    def optimizers(self, config: SRGANConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import torch

        from .training import load_init, make_content_loss

        G = modules["generator"]
        if config.init:
            load_init(G, config.init, config)
        # Training-only weights (VGG19) are read here, never in build(), which apply also calls.
        self._content = make_content_loss(config, next(G.parameters()).device)
        betas = (config.beta1, config.beta2)
        return {name: torch.optim.Adam(m.parameters(), lr=config.lr, betas=betas) for name, m in modules.items()}

    def schedulers(self, config: SRGANConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        if config.stage != "gan":
            return {}  # SRResNet: constant 10^-4 (Ledig et al. 2017, §3.2)
        import torch

        drop = round(total_steps * config.lr_decay_at)
        return {name: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 if step < drop else 0.1)
                for name, opt in optimizers.items()}

    def train_step(self, ctx: Any) -> dict[str, Any]:
        if ctx.config.stage == "pretrain":
            from .training import pretrain_step

            return pretrain_step(ctx, self._content)
        return super().train_step(ctx)

    def discriminator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import discriminator_step

        return discriminator_step(ctx, batch)

    def generator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import generator_step

        return generator_step(ctx, batch, self._content)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        return preview(ctx.inference_modules()["generator"], batch, ctx.config.scale)

    def apply(self, modules: dict[str, Any], config: SRGANConfig, images: Any, tile: int = 512,
              overlap: int = 32) -> Any:
        from .training import super_resolve

        return super_resolve(modules["generator"], images, config.scale, tile=tile, overlap=overlap)

    def evaluate(self, modules: dict[str, Any], config: SRGANConfig, out_dir: Any, hr: str | None = None,
                 data: str | None = None, n: int | None = None) -> dict[str, float]:
        from .training import evaluate

        if not (hr or data):
            raise UserError("srgan evaluation needs high-resolution images: translate eval CKPT --hr DIR "
                            "(or --hr skimage-test for the built-in held-out photos)")
        return evaluate(modules["generator"], config, Path(out_dir), hr or data, limit=n)
