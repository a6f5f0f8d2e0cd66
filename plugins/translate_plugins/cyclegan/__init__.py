"""``cyclegan``: unpaired image-to-image translation (Zhu et al. 2017, "Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks").

    translate train cyclegan --a horses/ --b zebras/
    translate apply runs/cyclegan photo.jpg                   # A → B
    translate apply runs/cyclegan zebra.jpg --direction b2a   # B → A

Two ResNet generators and two 70×70 PatchGAN discriminators (``networks.py``), LSGAN + cycle +
identity losses and a 50-image history pool (``training.py``), unaligned two-folder data
(``data.py``), FID/KID of both directions (``evaluation.py``), the reference implementation's
generators imported (``reference.py``). Both generators are stored in ``model.safetensors``.

Three defaults depart from the paper, each measured on known mappings between real photos
(``benchmarks/quality.py --task cyclegan``, docs/results/cyclegan.md): the generator's output sees the input image
(``image_skip``), the PatchGANs have no instance norm (``disc_norm``), and the identity loss fades
out over the run (``identity_decay``). ``--paper`` (or ``configs/cyclegan.toml``) trains the
published recipe. ``--guided-radius`` (off by default) passes the output through a guided
filter with the input as guide (``translate/nn/guided.py``), for colour, tone and light changes
between photo sets: it keeps the input's detail and none of the texture a young GAN paints.

Optimisers, as the reference code: one Adam over both generators' parameters and one over both
discriminators'. Their losses are sums of independent per-direction terms, so this is the same
update as four separate Adams with the same settings, in two optimiser steps instead of four.

This module stays free of torch imports so that ``translate train cyclegan --help`` is instant.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin

# Zhu et al. 2017 §4 trains 200 epochs at batch size 1; horse2zebra has 1,067 horses and 1,334
# zebras, so an epoch is ~1,000-1,300 steps. 200,000 steps ≈ 150-200 epochs of such a set.
PAPER_STEPS = 200_000


def guided_radius_param() -> Any:
    """The ``guided_radius`` field of an image-to-image config whose generator is the ResNet one
    (cyclegan's and cut's): one definition, one help text."""
    return param(0, "keep the input's detail: the generator's output becomes the local affine colour map of its "
                    "input that best fits it, in windows of this radius in pixels (a guided filter, He et al. "
                    "2010, trained through as Wu et al. 2018), so texture G invents cannot pass; for colour, tone "
                    "and light changes, not new structure (stripes); 0 = off (ours; 16 at 64² crops in "
                    "docs/results/cyclegan.md)", min=0, absent=0)


def guided_eps_param() -> Any:
    """The ``guided_eps`` field beside :func:`guided_radius_param`."""
    return param(1e-3, "the guided filter's regulariser in [0, 1]² units (He et al. 2010 use 0.1² .. 0.4² for "
                       "smoothing; a colour map needs less): larger gives smoother, flatter colour maps", positive=True)


@dataclass
class CycleGANConfig:
    """CycleGAN: two ResNet generators and two PatchGANs trained with cycle consistency (Zhu et al. 2017)."""

    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    n_blocks: int = param(0, "residual blocks per generator; 0 = auto: 9 for --size ≥ 256, else 6 "
                             "(Zhu et al. 2017, §7.2: 9 for 256², 6 for 128²)", min=0)
    gen_features: int = param(64, "generator width: filters of c7s1-k, then 2k, 4k (Zhu et al. 2017, §7.2: 64)", positive=True)
    image_skip: bool = param(True, "the input image joins the features at the generator's output convolution, "
                                   "so the colours and contrast that instance norm removes reach the output "
                                   "(ours; the paper's generator has none: --no-image-skip, --paper; "
                                   "docs/results/cyclegan.md)",
                             absent=False)
    residual: bool = param(False, "the generator's last convolution adds a correction to the input image "
                                  "(out = clamp(x + conv, -1, 1), that conv zero at the start), so it starts as "
                                  "the identity and barely leaves it: no invented texture on domains whose photos "
                                  "differ, but little of the mapping learnt either (ours; docs/results/cyclegan.md, "
                                  "Real photos)",
                           absent=False)
    guided_radius: int = guided_radius_param()
    guided_eps: float = guided_eps_param()
    disc_features: int = param(64, "discriminator width: filters of its first layer C64 (Zhu et al. 2017, §7.2: 64)", positive=True)
    disc_norm: Literal["instance", "none"] = param(
        "none", "normalisation in the PatchGANs after their first layer: none (ours), which lets D see absolute "
                "colour, or instance (Zhu et al. 2017, §7.2; --paper); docs/results/cyclegan.md",
        absent="instance")
    disc_layers: int = param(3, "PatchGAN strided blocks: 3 = 70×70 patches (Zhu et al. 2017, §7.2: 70×70)", min=0, max=6)
    lambda_cycle: float = param(10.0, "weight λ of the cycle-consistency L1 loss (Zhu et al. 2017, §4: λ = 10)", min=0)
    lambda_identity: float = param(0.5, "identity-loss weight as a fraction of λ; 0 turns it off "
                                        "(Zhu et al. 2017, §5.2 and §7.1: 0.5λ)", min=0)
    identity_decay: float = param(1.0, "fraction of the steps over which the identity-loss weight falls linearly "
                                       "to 0 (ours: it anchors the colours early and stops pulling towards a copy "
                                       "later); 0 keeps it constant, as Zhu et al. 2017 (--paper); "
                                       "docs/results/cyclegan.md",
                                  min=0, max=1, absent=0.0)
    pool_size: int = param(50, "generated images kept in each history pool for the D updates; 0 = no pool "
                               "(Zhu et al. 2017, §4: 50, after Shrivastava et al. 2017)", min=0)
    lr: float = param(2e-4, "Adam learning rate for generators and discriminators (Zhu et al. 2017, §4: 0.0002)", positive=True)
    lr_d: float | None = param(None, "discriminators' learning rate; default --lr (Heusel et al. 2017's two time-scale "
                                     "rule gives D a larger one)", positive=True)
    beta1: float = param(0.5, "Adam beta1 (Zhu et al. 2017 reference code: 0.5)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Kingma & Ba 2015 default)", min=0, max=0.9999)
    decay_fraction: float = param(0.5, "fraction of the steps over which the learning rate decays linearly to 0 "
                                       "after a constant start (Zhu et al. 2017, §4: 100 + 100 epochs = 0.5)", min=0, max=1)
    resize: int = param(0, "resize the shorter side to this before cropping --size; 0 = --size × 286/256 "
                           "(Zhu et al. 2017, §7.1 / Isola et al. 2017, §6.2: 286 for 256 crops)", min=0)
    crop: Literal["random", "center"] = param(
        "random", "crop of --size after resizing (Isola et al. 2017, §6.2: random)")
    flip: bool = param(True, "random horizontal flips (Zhu et al. 2017 reference code: on)")


def check_two_domains(plugin: str, data: dict[str, str]) -> None:
    """Both --a and --b given (one line naming what is missing); a warning when they are one folder."""
    missing = [f"--{flag}" for flag in ("a", "b") if not data.get(flag)]
    if missing:
        raise UserError(f"{plugin} needs both domains: add {' '.join(f'{m} DIR' for m in missing)} "
                        "(folders of images, e.g. --a horses/ --b zebras/)")
    if data["a"] == data["b"]:
        print(f"warning: --a and --b are the same ({data['a']}): the model can only learn the identity",
              file=sys.stderr)


def check_image_options(config: Any, size: int) -> None:
    """Channels, --size, --disc-layers and --resize that the ResNet generator and PatchGAN can run
    (a config with ``channels``, ``disc_layers`` and ``resize``: cyclegan's, or cut's)."""
    from translate.nn.patchgan import check_image_size

    from .networks import MULTIPLE

    if config.channels not in (1, 3):
        raise UserError(f"--channels {config.channels}: use 3 (RGB) or 1 (grayscale)")
    if size % MULTIPLE:  # else the cycle's reconstruction comes back a different size
        nearest = max(MULTIPLE, size // MULTIPLE * MULTIPLE)
        raise UserError(f"--size {size}: the ResNet generator halves the image twice, so the size "
                        f"must be a multiple of {MULTIPLE} (e.g. {nearest})")
    check_image_size(size, config.disc_layers, "--disc-layers")
    if config.resize and config.resize < size:
        raise UserError(f"--resize {config.resize} is smaller than --size {size}; use at least {size} (or 0 for auto)")


def _blocks(config: CycleGANConfig, size: int) -> int:
    """Residual blocks: the config's, or the paper's choice for the image size (§7.2)."""
    return config.n_blocks or (9 if size >= 256 else 6)


class CycleGANPlugin(Plugin):
    description = "CycleGAN: unpaired translation between two image folders (Zhu et al. 2017)"
    Config = CycleGANConfig
    data_flags = {
        "a": "folder of domain-A images (recursive), or a built-in domain: shapes, digits, "
             "shapes-inverted, digits-inverted",
        "b": "folder of domain-B images (any number, unaligned with A), or a built-in domain",
    }
    # Zhu et al. 2017 §4 / §7.1: batch size 1, 256² crops.
    train_defaults = {"batch_size": 1, "size": 256, "steps": PAPER_STEPS}
    metric_goals = {"images": None}
    # Where our defaults depart from Zhu et al. 2017 (measured with benchmarks/quality.py;
    # docs/results/cyclegan.md):
    # --paper trains the published recipe.
    paper = {"image_skip": False, "disc_norm": "instance", "identity_decay": 0.0}
    inference_modules = ("g_ab", "g_ba")
    catalogue = "catalogue.toml"  # its data sets and released models, by name
    # --tta: the image and its mirror only; photos (horses, landscapes) have an up and a down, and
    # training flips left-right only (Zhu et al. 2017 §7.1).
    tta = "flips"

    def finalize_config(self, config: CycleGANConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> CycleGANConfig:
        check_two_domains("cyclegan", data)
        return dataclasses.replace(config, n_blocks=_blocks(config, options.size),
                                   resize=config.resize or round(options.size * 286 / 256))

    def check_config(self, config: CycleGANConfig, options: Any) -> None:
        check_image_options(config, options.size)

    def build(self, config: CycleGANConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, _blocks(config, options.size), discriminators=training)

    def dataset(self, config: CycleGANConfig, options: Any, data: dict[str, str]) -> Any:
        from .data import B_SEED_OFFSET, UnpairedDataset, open_domain

        size = options.size
        a = open_domain(data["a"], "--a", size, options.seed, options.skip_bad_images)
        b = open_domain(data["b"], "--b", size, options.seed + B_SEED_OFFSET, options.skip_bad_images)
        resize = config.resize or round(size * 286 / 256)
        return UnpairedDataset(a, b, size, config.channels, resize=resize, crop=config.crop, flip=config.flip)

    def optimizers(self, config: CycleGANConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import itertools

        from translate.optim import adam

        def joint(*names: str, lr: float) -> Any:
            params = itertools.chain(*(modules[n].parameters() for n in names))
            return adam(params, lr=lr, betas=(config.beta1, config.beta2))

        return {"generators": joint("g_ab", "g_ba", lr=config.lr),
                "discriminators": joint("d_a", "d_b", lr=config.lr if config.lr_d is None else config.lr_d)}

    def schedulers(self, config: CycleGANConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        from translate.schedules import decay_each

        return decay_each(optimizers, total_steps, config.decay_fraction)

    def train_step(self, ctx: Any) -> dict[str, Any]:
        from .training import train_step

        return train_step(ctx)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        return preview(ctx.inference_modules(), batch, identity=ctx.config.lambda_identity > 0)

    def apply(self, modules: dict[str, Any], config: CycleGANConfig, images: Any,
              direction: Literal["a2b", "b2a"] = "a2b", tile: int = 512, overlap: int = 32) -> Any:
        from .training import translate

        return translate(modules, images, direction=direction, tile=tile, overlap=overlap)

    def evaluate(self, modules: dict[str, Any], config: CycleGANConfig, out_dir: Any, a: str | None = None,
                 b: str | None = None, n: int | None = None, seed: int = 0, size: int | None = None,
                 inception_weights: str | None = None, tile: int = 512, progress: Any = None) -> dict[str, float]:
        """Test images of both domains through both generators, as apply runs them: FID/KID of
        G_AB(A) against B (``fid_a2b``, ``kid_a2b``) and of G_BA(B) against A (``..._b2a``), and
        ``fid``/``kid``, the means of the two directions (the figure ``--keep-best fid`` uses).
        ``size`` (default: the training --size) resizes and centre-crops every image to size²;
        built-in domains are drawn held out (another seed than training's). Writes OUT/real_a,
        OUT/real_b, OUT/fake_b (G_AB of each A, under its name) and OUT/fake_a; ``n`` limits the
        images of each domain."""
        from .evaluation import evaluate

        return evaluate(modules, config, out_dir, a, b, n=n, seed=seed, size=size,
                        inception_weights=inception_weights, tile=tile, progress=progress)

    def export_module(self, modules: dict[str, Any], config: CycleGANConfig, direction: str = "a2b") -> Any:
        """One generator (a2b: g_ab, b2a: g_ba), padded inside the graph as apply pads: replicated
        up to 8 pixels, then to a multiple of 4, and cropped back."""
        from translate.nn.padding import PadToMultiple

        from .networks import MIN_SIDE, MULTIPLE
        from .training import DIRECTIONS

        if direction not in DIRECTIONS:
            raise UserError(f"--direction {direction}: a CycleGAN translates a2b (default) or b2a")
        return PadToMultiple(modules[DIRECTIONS[direction]], MULTIPLE, min_side=MIN_SIDE)

    def import_weights(self, tensors: dict[str, Any], arch: str | None = None, direction: str = "a2b",
                       reverse: str = "") -> Any:
        """A generator of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
        ``reference.py``). Its files hold ONE generator (horse2zebra.pth is G_A, horse → zebra)
        and do not say which: ``direction`` (a2b or b2a) names the one it is, ``reverse`` a file
        of the opposite generator for a checkpoint with both (e.g. zebra2horse.pth). ``arch``
        (``translate import --arch``): resnet, the only layout this plugin imports."""
        from .reference import import_generators

        if arch not in (None, "resnet"):
            return None
        imported = import_generators(tensors, direction, reverse, required=arch == "resnet")
        if imported is not None:  # released models are the paper's networks (no image skip, ...)
            imported = dataclasses.replace(imported, config={**self.paper, **imported.config})
        return imported
