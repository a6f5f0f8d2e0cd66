"""``pix2pix``: paired image-to-image translation (Isola et al. 2017, "Image-to-Image Translation
with Conditional Adversarial Networks").

A U-Net generator and a PatchGAN discriminator that sees input and output together
(``networks.py``), trained on cGAN + λ·L1 (``training.py``), on paired data: A|B side-by-side
images, two folders paired by file name, or the built-in ``shapes2shaded`` task (``data.py``);
``evaluation.py`` scores held-out pairs, ``reference.py`` imports the reference implementation's
generators. ``translate apply`` takes images of any size and aspect ratio: they are padded to
the multiple the U-Net needs and cropped back, and large ones are processed in blended tiles.

This module stays free of torch imports so that ``translate train pix2pix --help`` is instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin

PAPER_SIZE, PAPER_LOAD_SIZE = 256, 286  # random jitter: resize to 286², crop 256² (§6.2)


@dataclass
class Pix2PixConfig:
    """pix2pix: U-Net + PatchGAN, cGAN + λ·L1 (Isola et al. 2017)."""

    direction: Literal["AtoB", "BtoA"] = param(
        "AtoB", "translate A → B, or B → A (A is the left half of --aligned images, or --a)")
    channels: int = param(3, "image channels of both sides: 3 = RGB, 1 = grayscale (converted on load)")
    depth: int = param(0, "U-Net downsamplings; 0 = as many as --size allows, at most 8 "
                          "(Isola et al. 2017, §6.1.1: 8 for 256², a 1×1 bottleneck)", min=0, max=10)
    features: int = param(64, "U-Net width: channels of the first encoder layer, doubling up to 8× "
                              "(Isola et al. 2017, §6.1.1: C64-C128-C256-C512...)", positive=True)
    dropout: float = param(0.5, "dropout in the 3 innermost decoder layers while training "
                                "(Isola et al. 2017, §6.1.1: 50%); off in apply", min=0, max=0.99)
    norm: Literal["batch", "instance"] = param(
        "batch", "normalisation in G and D (Isola et al. 2017, §6.1: BatchNorm; with batch size 1 it "
                 "equals instance norm while training, §3.3)")
    d_layers: int = param(3, "PatchGAN strided layers: 3 = 70×70 patches (Isola et al. 2017, §6.1.2), "
                             "1 = 16×16, 4 = 142×142, 0 = 1×1 PixelGAN", min=0, max=6)
    d_features: int = param(64, "PatchGAN width: channels of its first layer (Isola et al. 2017, §6.1.2: C64)", positive=True)
    loss: Literal["nonsaturating", "lsgan"] = param(
        "nonsaturating", "adversarial loss: the cGAN log-loss with G maximising log D(x, G(x)) "
                         "(Isola et al. 2017, §3.3), or least squares (Mao et al. 2017)")
    lambda_l1: float = param(100.0, "weight λ of the L1 term (Isola et al. 2017, §4.2: 100)", min=0)
    lr: float = param(2e-4, "Adam learning rate of G and D (Isola et al. 2017, §3.3: 0.0002)", positive=True)
    beta1: float = param(0.5, "Adam beta1 (Isola et al. 2017, §3.3: 0.5)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Isola et al. 2017, §3.3: 0.999)", min=0, max=0.9999)
    decay_fraction: float = param(
        0.5, "the learning rate is constant, then decays linearly to 0 over this fraction of --steps "
             "(reference code of Isola et al. 2017: 100 epochs + 100 decaying)", min=0, max=1)
    load_size: int = param(0, "resize the shorter side to this before the random crop to --size; "
                              "0 = size·286/256 (Isola et al. 2017, §6.2: 286 → 256); --size: no jitter", min=0)
    flip: bool = param(True, "random horizontal mirroring of both images of a pair (Isola et al. 2017, §6.2)")


class Pix2PixPlugin(Plugin):
    description = "pix2pix: paired translation with a U-Net generator and a PatchGAN discriminator"
    Config = Pix2PixConfig
    data_flags = {
        "aligned": "folder of A|B side-by-side images, or the built-in paired task shapes2shaded",
        "a": "folder of A images, paired with --b by file name",
        "b": "folder of B images, paired with --a by file name",
    }
    # The paper trains with batch size 1 on 256² crops (Isola et al. 2017, §6.2); 80k steps is its
    # facades schedule, 400 images × 200 epochs.
    train_defaults = {"batch_size": 1, "size": PAPER_SIZE, "steps": 80_000}
    metric_goals = {"images": None}
    catalogue = "catalogue.toml"  # its data sets and released models, by name
    # --tta: the 8 flips and rotations; +1.6 dB PSNR on the quick shapes2shaded model (docs/results/
    # pix2pix.md). For photos with an up and a down, model(img, tta="flips") averages the mirror only.
    tta = "dihedral"

    def finalize_config(self, config: Pix2PixConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> Pix2PixConfig:
        from .networks import auto_depth

        return dataclasses.replace(
            config, depth=config.depth or auto_depth(options.size),
            load_size=config.load_size or round(options.size * PAPER_LOAD_SIZE / PAPER_SIZE))

    def check_config(self, config: Pix2PixConfig, options: Any) -> None:
        if config.channels not in (1, 3):
            raise UserError(f"--channels {config.channels}: use 3 (RGB) or 1 (grayscale)")
        from translate.nn.patchgan import check_image_size

        check_image_size(options.size, config.d_layers, "--d-layers")
        if config.load_size and config.load_size < options.size:
            raise UserError(f"--load-size {config.load_size} is smaller than --size {options.size}; it is the size "
                            "images are resized to before the random crop, so use at least --size")

    def build(self, config: Pix2PixConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, options.size, discriminator=training)

    def dataset(self, config: Pix2PixConfig, options: Any, data: dict[str, str]) -> Any:
        from .data import PairedDataset, open_pairs

        load_size = config.load_size or round(options.size * PAPER_LOAD_SIZE / PAPER_SIZE)
        source = open_pairs(data, options.size, options.seed, config.channels, options.skip_bad_images)
        return PairedDataset(source, options.size, load_size, config.flip, swap=config.direction == "BtoA")

    def optimizers(self, config: Pix2PixConfig, modules: dict[str, Any]) -> dict[str, Any]:
        from translate.optim import adam

        betas = (config.beta1, config.beta2)
        # translate.optim.adam: the fused kernel where torch has one; with 57M parameters and batch
        # size 1 the update is a large share of a step.
        return {name: adam(modules[name].parameters(), lr=config.lr, betas=betas)
                for name in ("generator", "discriminator")}

    def schedulers(self, config: Pix2PixConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        from translate.schedules import decay_each

        return decay_each(optimizers, total_steps, config.decay_fraction)

    def train_step(self, ctx: Any) -> dict[str, Any]:
        from .training import train_step

        return train_step(ctx)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        return preview(ctx, batch)

    def apply(self, modules: dict[str, Any], config: Pix2PixConfig, images: Any, tile: int = 512,
              overlap: int = 32, direction: str | None = None, junyanz_test_mode: bool = False,
              seed: int = 0) -> Any:
        """Eval mode (running batch-norm statistics, no dropout), tiled. ``junyanz_test_mode``
        runs as the reference's test.py does without --eval (junyanz/pytorch-CycleGAN-and-
        pix2pix): batch norm on each image's own statistics and dropout on at the reference's
        decoder levels, whole images one at a time (no tiles), dropout masks drawn from torch's
        generator seeded with ``seed`` for each image (``reference.py``)."""
        from .training import apply

        return apply(modules["generator"], config, images, tile=tile, overlap=overlap, direction=direction,
                     junyanz_test_mode=junyanz_test_mode, seed=seed)

    def evaluate(self, modules: dict[str, Any], config: Pix2PixConfig, out_dir: Any, aligned: str | None = None,
                 a: str | None = None, b: str | None = None, n: int | None = None, seed: int = 0,
                 size: int | None = None, inception_weights: str | None = None, lpips_weights: str | None = None,
                 lpips_heads: str | None = None, tile: int = 512, progress: Any = None) -> dict[str, float]:
        """Paired test data (``aligned`` or ``a`` + ``b``, as for training) through the generator as
        apply runs it (eval mode, tiled): PSNR/SSIM (RGB) and LPIPS of each output against its
        target, and FID/KID of the outputs against the targets. ``size`` (default: the training
        --size) resizes and centre-crops both images of a pair to size²; a built-in task gives
        held-out pairs (indices after those training draws from). Writes OUT/input, OUT/fake
        (outputs) and OUT/real (targets) under the same names; ``n`` limits the pairs."""
        from .evaluation import evaluate

        return evaluate(modules["generator"], config, out_dir, {"aligned": aligned, "a": a, "b": b}, n=n, seed=seed,
                        size=size, inception_weights=inception_weights, lpips_weights=lpips_weights,
                        lpips_heads=lpips_heads, tile=tile, progress=progress)

    def export_module(self, modules: dict[str, Any], config: Pix2PixConfig, direction: str | None = None) -> Any:
        """The U-Net as apply runs it (eval mode), padded inside the graph to a multiple of
        2^depth and cropped back. A model translates only the direction it was trained for."""
        from translate.nn.padding import PadToMultiple

        from .training import normalise_direction

        if direction is not None and normalise_direction(direction) != config.direction:
            raise UserError(f"--direction {direction}: this model was trained --direction {config.direction} and "
                            "exports only that way")
        generator = modules["generator"]
        return PadToMultiple(generator, generator.multiple)

    def import_weights(self, tensors: dict[str, Any], arch: str | None = None) -> Any:
        """A U-Net generator of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
        e.g. facades_label2photo; ``reference.py``). ``arch`` (``translate import --arch``): unet,
        the only layout this plugin imports."""
        from .reference import import_generator

        if arch not in (None, "unet"):
            return None
        return import_generator(tensors, required=arch == "unet")

    def example_run(self, workdir: Any) -> dict[str, Any]:
        return {"aligned": "shapes2shaded", "size": 32, "batch_size": 2}
