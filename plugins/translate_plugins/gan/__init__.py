"""``gan``: unconditional and class-conditional GANs on images or 2-D points.

Networks (networks.py): an MLP GAN (Linear 256/512/1024, LeakyReLU, Tanh output for images) and
DCGAN (Radford et al. 2016), each optionally class-conditional (label embedding into G; projection
or concatenation in D). Losses (translate.losses): minimax, non-saturating, LSGAN, hinge, WGAN
(weight clipping) and WGAN-GP. Stabilisers (training.py): k critic steps, separate G/D learning
rates (TTUR), spectral norm, R1, PacGAN packing, DiffAugment (diffaugment.py); EMA of G is the
trainer's ``--ema``. Data (data.py): images, or 2-D points; evaluation (evaluation.py): FID/KID of
images, mode coverage of points.

Choosing ``--loss wgan`` or ``--loss wgan-gp`` also applies that paper's optimiser, learning rate
and critic steps, unless the flag (or config-file key) is given explicitly. 2-D point data (ring8,
grid25, a points file) likewise get the recipe of ``POINT_DEFAULTS`` (2-D latent, ReLU generator,
decaying learning rate); docs/results/gan.md has what it measures on ring8 and grid25.

Conditional models (``--conditional``) need labelled data: built-in ``shapes``/``digits``, or a
folder whose images all sit in one sub-folder per class. The class names are stored in the config
(``classes``), so the checkpoint knows them: ``translate sample CKPT --class NAME``.

This module stays free of torch imports so that ``translate train gan --help`` is instant; the
networks and losses are imported inside the hooks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin, Preview

LossName = Literal["nonsaturating", "minimax", "lsgan", "hinge", "wgan", "wgan-gp"]

# The settings each loss's paper trained with; applied by finalize_config unless set explicitly.
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    # Arjovsky et al. 2017, Alg. 1: α = 5e-5, c = 0.01, n_critic = 5, RMSProp (momentum hurt).
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "clip": 0.01, "d_steps": 5},
    # Gulrajani et al. 2017, Alg. 1: λ = 10, n_critic = 5, Adam α = 1e-4, β1 = 0, β2 = 0.9.
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "gp_weight": 10.0, "d_steps": 5},
}
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")
# 2-D point data (ring8, grid25, points files): a 2-D latent and a ReLU generator as in the 2-D
# experiments of Srivastava et al. 2017 (VEEGAN, §5.1) and Lin et al. 2018 (PacGAN, App. D), three
# hidden layers of 256; a constant then linearly decaying learning rate sharpens the clusters.
# configs/gan-{ring8,grid25}.toml add the step budget, EMA and PacGAN packing (ring8 also a faster D,
# grid25 lr 5e-4 and batch 512); docs/results/gan.md has the figures.
POINT_DEFAULTS: dict[str, Any] = {"latent_dim": 2, "hidden": (256, 256, 256), "g_leak": 0.0, "lr": 2e-4,
                                  "decay_fraction": 0.5}


@dataclass
class GanConfig:
    """GAN on images or 2-D points: MLP or DCGAN (Radford et al. 2016), optionally class-conditional."""

    arch: Literal["auto", "mlp", "dcgan"] = param(
        "auto", "network family; auto = mlp for 2-D point data, dcgan for images")
    latent_dim: int = param(100, "size of the noise vector z (Radford et al. 2016, §4: 100)")
    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    loss: LossName = param(
        "nonsaturating", "adversarial loss: nonsaturating -log D(G(z)) (Goodfellow et al. 2014, §3), minimax "
        "log(1 - D(G(z))) (ibid., eq. 1), lsgan (Mao et al. 2017), hinge (Lim & Ye 2017), wgan (Arjovsky et al. "
        "2017, weight clipping), wgan-gp (Gulrajani et al. 2017); wgan/wgan-gp bring their paper's optimiser "
        "settings unless given")
    d_steps: int = param(1, "discriminator steps per generator step (k in Goodfellow et al. 2014, Alg. 1: 1; "
                            "n_critic = 5 for wgan/wgan-gp, Arjovsky et al. 2017 / Gulrajani et al. 2017)")
    optimizer: Literal["adam", "rmsprop"] = param(
        "adam", "optimiser of G and D: adam (Radford et al. 2016, §4), rmsprop for wgan (Arjovsky et al. 2017, §3)")
    lr: float = param(2e-4, "learning rate of G and D (Radford et al. 2016, §4: 0.0002; wgan 5e-5, wgan-gp 1e-4)", positive=True)
    lr_g: float | None = param(None, "generator learning rate; default --lr. TTUR: give G and D different "
                                     "rates (Heusel et al. 2017, §4)", positive=True)
    lr_d: float | None = param(None, "discriminator learning rate; default --lr (see --lr-g)", positive=True)
    beta1: float = param(0.5, "Adam beta1 (Radford et al. 2016, §4: 0.5; wgan-gp: 0, Gulrajani et al. 2017)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Kingma & Ba 2015: 0.999; wgan-gp: 0.9, Gulrajani et al. 2017)", min=0, max=0.9999)
    clip: float = param(0.01, "wgan: clamp critic weights to [-c, c] after each step (Arjovsky et al. 2017, "
                              "Alg. 1: c = 0.01)")
    gp_weight: float = param(10.0, "wgan-gp: gradient-penalty weight λ (Gulrajani et al. 2017, Alg. 1: 10)")
    r1: float = param(0.0, "R1 penalty γ/2·E‖∇D(x)‖² on real data (Mescheder et al. 2018, eq. 9; they use "
                           "γ = 10 on images); 0 = off")
    pack: int = param(1, "PacGAN: D judges this many samples at once, concatenated (Lin et al. 2018, §3; "
                         "they use 2-4); a collapsed G is easy to spot in a pack; 1 = plain GAN")
    spectral_norm: bool = param(False, "spectral normalisation of every D layer (Miyato et al. 2018, §2.1)")
    d_norm: Literal["auto", "batch", "layer", "none"] = param(
        "auto", "DCGAN discriminator normalisation; auto = batch (Radford et al. 2016), layer for wgan-gp "
                "(Gulrajani et al. 2017, §4), none with --spectral-norm (Miyato et al. 2018)")
    diffaugment: tuple[str, ...] = param(
        (), "DiffAugment policies applied to real and fake images before D, e.g. color,translation,cutout "
            "(Zhao et al. 2020, §3: all three for small datasets); empty = off")
    conditional: bool = param(False, "class-conditional GAN (Mirza & Osindero 2014): needs labelled data "
                                     "(shapes, digits, or a folder with one sub-folder per class)")
    cond_d: Literal["projection", "concat"] = param(
        "projection", "how D sees the class: projection (Miyato & Koyama 2018, eq. 3) or concatenation of a "
                      "one-hot label to its input (Mirza & Osindero 2014)")
    embed_dim: int = param(50, "conditional: size of the class embedding concatenated to z in G "
                               "(Mirza & Osindero 2014 feed y through a learned layer)", positive=True)
    classes: tuple[str, ...] = param((), "class names of a conditional model (set from the data)")
    features: int = param(64, "DCGAN width: channels of the last G / first D conv (Radford et al. 2016, Fig. 1: 64·2^k)", positive=True)
    hidden: tuple[int, ...] = param((256, 512, 1024), "MLP hidden widths of G; D mirrors them (2-D points: "
                                                      "256,256,256)")
    leak: float = param(0.2, "LeakyReLU slope in D (Radford et al. 2016, §3: 0.2)", min=0)
    g_leak: float = param(0.2, "LeakyReLU slope in the MLP generator: 0.2 for images (D's slope, Radford et al. "
                               "2016; 0.01 collapsed to one colour in our small tests); 2-D points: "
                               "0 = ReLU, as in Srivastava et al. 2017 and Lin et al. 2018", min=0)
    decay_fraction: float = param(0.0, "decay both learning rates linearly to 0 over this final fraction of "
                                       "--steps (0 = constant, Radford et al. 2016; 2-D points: 0.5, which "
                                       "tightens the clusters at the end)")
    flip: bool = param(False, "random horizontal flips of training images")
    points: bool = param(False, "the data are 2-D points (set automatically from --data)")
    point_set: str = param("", "the built-in mixture the points come from, for translate eval (set from --data)")
    point_scale: float = param(0.0, "2-D points: G's output and D's input are scaled by this, so the networks "
                                    "work at unit scale; 0 = the data's standard deviation (set from --data)")


def _loss_defaults(config: GanConfig, explicit: set[str]) -> GanConfig:
    changes = {k: v for k, v in LOSS_DEFAULTS.get(config.loss, {}).items() if k not in explicit}
    if "d_norm" not in explicit and config.d_norm == "auto":
        changes["d_norm"] = ("none" if config.spectral_norm else "layer" if config.loss == "wgan-gp" else "batch")
    return dataclasses.replace(config, **changes)


def _check(config: GanConfig) -> None:
    bad = [p for p in config.diffaugment if p not in DIFFAUGMENT_POLICIES]
    if bad:
        raise UserError(f"--diffaugment {','.join(bad)}: unknown policy; choose from {','.join(DIFFAUGMENT_POLICIES)}")
    if config.points and config.diffaugment:
        raise UserError("--diffaugment works on images; 2-D point data takes no augmentation")
    if config.points and config.conditional:
        raise UserError("--conditional needs labelled images (shapes, digits, or a folder of class sub-folders), "
                        "not 2-D points")
    if config.pack > 1 and config.conditional:
        raise UserError("--pack and --conditional do not combine: a pack mixes samples of different classes")
    for name in ("d_steps", "latent_dim", "pack"):
        if getattr(config, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 <= config.decay_fraction <= 1.0:
        raise UserError(f"--decay-fraction {config.decay_fraction}: use a fraction of --steps in [0, 1]")
    if config.r1 < 0 or config.gp_weight < 0 or config.clip <= 0:
        raise UserError("--r1 and --gp-weight must be ≥ 0, --clip > 0")


class GanPlugin(Plugin):
    description = "GANs: MLP/DCGAN, unconditional or class-conditional; minimax, NS, LSGAN, hinge, WGAN(-GP)"
    Config = GanConfig
    data_flags = {"data": "image folder (class sub-folders for --conditional), points file (.npy/.csv), or "
                          "built-in: shapes, digits, ring8, grid25"}
    train_defaults = {"batch_size": 64, "size": 32, "steps": 2000}
    metric_goals = {"modes": "max", "hq_percent": "max", "reverse_kl": "min", "modes_total": None, "samples": None,
                    "real_images": None}

    def finalize_config(self, config: GanConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> GanConfig:
        from .data import POINT_SETS, data_classes, is_points, points_std

        value = data.get("data") or ""
        points = bool(value) and is_points(value)
        arch = config.arch
        if arch == "auto":
            arch = "mlp" if points else "dcgan"
        if points and arch != "mlp":
            raise UserError(f"--arch {arch}: 2-D point data needs --arch mlp")
        point_set = value if points and value in POINT_SETS and not Path(value).exists() else ""
        config = dataclasses.replace(config, arch=arch, points=points, point_set=point_set)
        if points:
            config = dataclasses.replace(config, **{k: v for k, v in POINT_DEFAULTS.items() if k not in explicit})
        config = _loss_defaults(config, explicit)
        if points and config.point_scale <= 0:
            config = dataclasses.replace(config, point_scale=points_std(value))
        if config.conditional and value and not points:
            classes = data_classes(value)
            if len(classes) < 2:
                raise UserError(f"--data {value}: --conditional needs labelled images: a folder whose images all "
                                "sit in one sub-folder per class (at least two), or built-in shapes/digits")
            config = dataclasses.replace(config, classes=tuple(classes))
        return config

    def check_config(self, config: GanConfig, options: Any) -> None:
        _check(config)
        if options.batch_size % config.pack:
            raise UserError(f"--pack {config.pack}: --batch-size {options.batch_size} must be a multiple of it")

    def preferred_precision(self, config: GanConfig, options: Any) -> str | None:
        # bf16 keeps ~3 significant digits: too coarse for points with σ = 0.01 on a radius-1 ring.
        return "fp32" if config.points else None

    def build(self, config: GanConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, options.size, discriminator=training)

    def dataset(self, config: GanConfig, options: Any, data: dict[str, str]) -> Any:
        from translate.data.datasets import ImageDataset
        from translate.data.sources import open_images

        from .data import PointDataset, open_points

        if config.points:
            return PointDataset(open_points(data["data"]))
        source = open_images(data["data"], "--data", size=options.size, seed=options.seed,
                             skip_bad=options.skip_bad_images)
        if config.conditional and list(source.classes) != list(config.classes):
            raise UserError(f"--data {data['data']}: its classes ({', '.join(source.classes) or 'none'}) are not "
                            f"the model's ({', '.join(config.classes)})")
        return ImageDataset(source, options.size, config.channels, flip=config.flip)

    def optimizers(self, config: GanConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import torch

        from translate.optim import adam

        def make(module, lr):
            if config.optimizer == "rmsprop":
                return torch.optim.RMSprop(module.parameters(), lr=lr)
            return adam(module.parameters(), lr=lr, betas=(config.beta1, config.beta2))

        return {"generator": make(modules["generator"], config.lr_g if config.lr_g is not None else config.lr),
                "discriminator": make(modules["discriminator"], config.lr_d if config.lr_d is not None else config.lr)}

    def schedulers(self, config: GanConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        from translate.schedules import decay_each

        if config.decay_fraction <= 0:
            return {}
        return decay_each(optimizers, total_steps, config.decay_fraction)

    def discriminator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import discriminator_step

        return discriminator_step(ctx, batch)

    def generator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import generator_step

        return generator_step(ctx, batch)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        """64 images from fixed noise (a conditional model: a column per class, when they are at
        most 16), or 2,000 points over the modes of the target mixture."""
        config, modules = ctx.config, ctx.inference_modules()
        if config.points:
            from .data import scatter_image

            points = self.sample(modules, config, 2000, ctx.preview_generator())
            return Preview(scatter_image(points.float().cpu().numpy(), config.point_set),
                           title="2,000 samples from fixed noise (dots); circles: 3σ around each mode of the "
                                 "target mixture, where a good sample falls")
        classes = tuple(config.classes) if config.conditional and len(config.classes) <= 16 else ()
        n = len(classes) * max(1, 64 // len(classes)) if classes else 64
        images = self.sample(modules, config, n, ctx.preview_generator())  # classes in turn: a column each
        return Preview(images, columns=classes,
                       title="samples from fixed noise (the same noise at every step)")

    def sample(self, modules: dict[str, Any], config: GanConfig, n: int, generator: Any,
               label: str | None = None) -> Any:
        from .training import sample

        return sample(modules["generator"], config, n, generator, label)

    def write_samples(self, samples: Any, path: Path, start: int = 0) -> Path:
        if samples.dim() != 2:
            return super().write_samples(samples, path, start)
        from .data import write_points

        return write_points(samples.numpy(), path)

    def latent_dim(self, config: GanConfig) -> int:
        return config.latent_dim

    def class_names(self, config: GanConfig) -> tuple[str, ...]:
        return tuple(config.classes) if config.conditional else ()

    def generate(self, modules: dict[str, Any], config: GanConfig, z: Any, labels: Any = None) -> Any:
        from .training import generate

        return generate(modules["generator"], z, labels if config.conditional else None)

    def export_module(self, modules: dict[str, Any], config: GanConfig) -> Any:
        """The generator itself, as ``generate`` runs it: ``z`` (N×latent_dim) in, and for
        --conditional models ``labels`` (N class indices, int64) too; images (or 2-D points) out."""
        return modules["generator"]

    def evaluate(self, modules: dict[str, Any], config: GanConfig, out_dir: Any, data: str | None = None,
                 n: int | None = None, seed: int = 0, train_data: dict[str, str] | None = None,
                 inception_weights: str | None = None, progress: Any = None) -> dict[str, float]:
        """2-D point models: mode coverage of ``n`` samples (2,500) against the known mixture, and
        OUT/scatter.png. Image models: FID/KID of ``n`` samples (1,000) against as many images
        of ``data`` (default: the data the model was trained on), written to OUT/fake and
        OUT/real; a folder's images are a seeded random choice, resized and centre-cropped to the
        samples' size as for training; built-in sets are drawn held out (another seed)."""
        from .evaluation import evaluate

        return evaluate(modules, config, Path(out_dir), data, n, seed, train_data, inception_weights, progress)
