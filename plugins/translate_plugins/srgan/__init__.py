"""``srgan``: single-image super-resolution with SRResNet and SRGAN (Ledig et al. 2017,
"Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network"), and
with ESRGAN's RRDBNet (``--arch rrdb``; Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution
Generative Adversarial Networks").

Two stages, as in the papers:
  ``--stage pretrain``            SRResNet trained on a pixel loss (L1 by default; --paper: MSE);
  ``--stage gan --init CKPT``     SRGAN: content loss (VGG54, or where VGG19's weights are missing the
                                  shift-tolerant VGG16 of the metrics extra) + 1e-3 · adversarial,
                                  starting from the pretrained generator's weights; rrdb:
                                  content + 5e-3 · relativistic adversarial + 1e-2 · L1 (ESRGAN).
Both generators add the bicubic upscaling of their input to their output and start at exactly bicubic
(srresnet ``--residual``, rrdb ``--bicubic-skip``; ``--paper``: the papers' networks, without it).

``translate import`` turns released ESRGAN / Real-ESRGAN weights (RealESRGAN_x4plus.pth, ...)
into rrdb checkpoints (``import_weights``; the layouts are in ``reference.py``).

Files: networks.py (SRResNet, the SRGAN discriminator, RRDBNet), losses.py (content and
adversarial losses), data.py (HR crops and their LR inputs), training.py (the steps, apply),
evaluation.py (PSNR/SSIM and more), reference.py (released ESRGAN weights).

``--size`` is the HR crop size (96 px in the paper); the LR input is made from each crop on the
fly by antialiased bicubic downscaling by ``--scale``. Crops are the most detailed of ``--crop-tries``
random ones, at a random scale down to 1/``--zoom-out`` of the photo's own, less for photos whose own
pixels already hold display detail (``--zoom-target``, data.py). ``translate apply`` super-resolves images of
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
from translate.starting_weights import recorded_config


@dataclass
class SRGANConfig:
    """SRResNet / SRGAN (Ledig et al. 2017). --size is the HR crop (paper: 96), downscaled by --scale."""

    stage: Literal["pretrain", "gan"] = param(
        "pretrain", "pretrain = SRResNet on the content loss alone; gan = SRGAN with the discriminator "
        "(Ledig et al. 2017, §3.2: SRGAN is initialised with the trained SRResNet)")
    arch: Literal["srresnet", "rrdb"] = param(
        "srresnet", "generator: srresnet (Ledig et al. 2017, Fig. 4) or rrdb, ESRGAN's RRDBNet of residual-in-"
        "residual dense blocks without batch norm (Wang et al. 2018, §3.1); rrdb also turns the defaults of "
        "--n-blocks, --content-loss, --lr, --adversarial-weight, --pixel-weight and --gan-loss to ESRGAN's")
    scale: int = param(4, "upscaling factor: srresnet 2, 4 or 8 (Ledig et al. 2017, §3.2: 4); rrdb 1, 2 or 4 "
                          "(×4 as Wang et al. 2018; ×2 and ×1 through pixel-unshuffle, Wang et al. 2021)")
    n_blocks: int = param(16, "residual blocks in the generator (Ledig et al. 2017, Fig. 4: B = 16); rrdb: 23 RRDBs "
                              "unless set (Wang et al. 2018, §4.1)", min=0)
    features: int = param(64, "channels of the generator's residual blocks (Ledig et al. 2017, Fig. 4: 64; "
                              "Wang et al. 2018, §4.1: 64)", positive=True)
    growth: int = param(32, "rrdb: channels each dense-block conv adds (Wang et al. 2018, §4.1: growth 32)",
                        positive=True)
    value_range: str = param("-1,1", "rrdb: the pixel range low,high the generator's weights work in, mapped "
                                     "from and to [-1, 1] inside the network; -1,1 for models trained here, 0,1 "
                                     "for ESRGAN / Real-ESRGAN weights ('translate import' records it)")
    residual: bool = param(True, "srresnet: add the bicubic upscaling of the input to the output, so the "
                                 "network learns only the detail bicubic misses (global residual learning, Kim et "
                                 "al. 2016); it starts at exactly bicubic (zero last conv, ICNR sub-pixel "
                                 "convs). Not in Ledig et al. 2017: --no-residual is the paper's SRResNet, which "
                                 "starts far below bicubic and is still below it after 600 steps (×4, batch 16; "
                                 "docs/results/srgan.md); rrdb ignores it: its skip is --bicubic-skip")
    bicubic_skip: bool = param(True, "rrdb: add the bicubic upscaling of the input to the output and start at "
                                     "exactly bicubic (zero last conv), as srresnet's --residual (Kim et al. 2016); not "
                                     "in Wang et al. 2018 (--paper and imported ESRGAN weights: off). Pretrained 600 "
                                     "steps on real photos it is ahead of the paper's RRDBNet (docs/results/srgan.md)",
                               absent=False)
    batch_norm: bool = param(True, "srresnet: batch norm in the residual blocks, as Ledig et al. 2017, Fig. 4. "
                                   "New runs leave it out unless --batch-norm is given (EDSR, Lim et al. 2017, "
                                   "§3.1, and ESRGAN, Wang et al. 2018, §3.1: BN costs PSNR and brings GAN "
                                   "artefacts); --init runs keep their own",
                             shown_default="off for new runs; --init: as that run")
    content_loss: Literal["auto", "mse", "l1", "vgg54", "st-vgg"] = param(
        "auto", "content loss; auto = l1 for pretrain (EDSR, Lim et al. 2017, §4.2, and ESRGAN's PSNR-oriented "
        "model, Wang et al. 2018, §4.1; --paper: mse, SRResNet-MSE); for gan, vgg54 when torchvision's VGG19 "
        "ImageNet weights are here (SRGAN-VGG54: VGG19 φ5,4 features after the ReLU rescaled by 1/12.75, MSE, "
        "Ledig et al. 2017, §2.2.1), else st-vgg: relu5_3 of the shift-tolerant VGG16 that the metrics extra "
        "ships (Ghildyal & Liu 2022), the same MSE, rescaled by 1/128 (nothing to download); with rrdb either "
        "takes ESRGAN's form: the same layer before its ReLU, unscaled, L1 (Wang et al. 2018, §3.3), the loss "
        "ESRGAN's weights are set against")
    gan_loss: Literal["auto", "standard", "ragan"] = param(
        "auto", "gan stage adversarial loss: standard = -log D(G(x)) (Ledig et al. 2017, eq. 6); ragan = the "
        "relativistic average GAN, D_Ra(x_r, x_f) = σ(C(x_r) − E[C(x_f)]) in both the D and the G loss (Wang et "
        "al. 2018, §3.2, eqs. 1-2); auto = ragan for rrdb, standard for srresnet")
    adversarial_weight: float = param(1e-3, "weight of the adversarial loss (Ledig et al. 2017, eq. 3: 10^-3); "
                                            "rrdb: 5e-3 unless set (Wang et al. 2018, §4.1: λ = 5·10^-3)", min=0)
    pixel_weight: float = param(0.0, "gan stage: weight of an L1 pixel loss added to the content loss; 0 for "
                                     "srresnet (SRGAN has none), rrdb: 1e-2 unless set (Wang et al. 2018, eq. 3 "
                                     "and §4.1: η = 10^-2)", min=0)
    lr: float = param(1e-4, "Adam learning rate (Ledig et al. 2017, §3.2: 10^-4, the gan stage's); srresnet pretrain: "
                            "5e-4 unless set, after --warmup (BasicSR's MSRResNet: 2e-4; 2e-4 and 5e-4 measured alike, "
                            "docs/results/srgan.md; --paper: 1e-4); rrdb pretrain: 2e-4 unless set "
                            "(Wang et al. 2018, §4.1)", positive=True)
    beta1: float = param(0.9, "Adam beta1 (Ledig et al. 2017, §3.2: 0.9)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Kingma & Ba 2015 default)", min=0, max=0.9999)
    warmup: int = param(20, "pretrain: steps over which the learning rate rises linearly from 0 to --lr (Goyal et "
                            "al. 2017's gradual warm-up; --paper: 0)", min=0, absent=0)
    lr_schedule: Literal["constant", "cosine"] = param(
        "cosine", "pretrain: cosine = half a cosine from --lr down to 0 over the run's --steps (Loshchilov & Hutter "
                  "2017; BasicSR's MSRResNet recipe, train_MSRResNet_x4.yml), or constant (--paper: Ledig et al. "
                  "2017, §3.2)", absent="constant")
    res_scale: float = param(1.0, "srresnet: factor on each residual block's branch before its skip is added "
                                  "(EDSR's residual scaling, Lim et al. 2017, §3.2: 0.1)", positive=True)
    crop_tries: int = param(8, "random HR crops drawn per training item, the one with the most detail (mean "
                               "neighbour difference) kept: large photos are mostly sky and blurred background, "
                               "which bicubic already gets right (docs/results/srgan.md, Real photos); 1 = uniform "
                               "random crops, as every SR paper and --paper", positive=True, absent=1)
    zoom_out: float = param(8.0, "HR crops from square windows of a random side between --size and zoom-out × "
                                 "--size (uniform in log scale), area-downscaled to --size: scale augmentation, as "
                                 "Real-ESRGAN's multi-scale training photos (Wang et al. 2021: ×1, 0.75, 0.5, 1/3); a "
                                 "5-MP photo's own pixels hold a fifth of the detail of a typical photo "
                                 "(docs/results/srgan.md, Real photos); 1 = the photos' own scale, as --paper",
                             min=1, max=8, absent=1.0)
    zoom_target: float = param(12.0, "bound --zoom-out per photo by the zoom that brings the photo's detail (mean "
                                     "neighbour difference) to this, the detail of photos at display scale "
                                     "(scikit-image's: 9-15), so soft 5-MP photos are seen smaller and photos "
                                     "already at display scale keep their pixels; 0 = --zoom-out for every photo",
                               min=0, absent=0.0)
    lr_decay_at: float = param(0.5, "gan stage: multiply the learning rate by 0.1 after this fraction of the "
                                    "steps (Ledig et al. 2017, §3.2: 10^5 steps at 10^-4, then 10^5 at 10^-5)", min=0, max=1)
    leak: float = param(0.2, "LeakyReLU slope in the discriminator (Ledig et al. 2017, Fig. 4: α = 0.2)", min=0)
    vgg_weights: str | None = param(None, "VGG19 weights for vgg54 (.safetensors, or torchvision's "
                                          "vgg19-dcbb9e9d.pth); default: torchvision's cache")
    flip: bool = param(True, "random flips and 90° rotations of the HR crops (not in Ledig et al. 2017; "
                             "standard since Lim et al. 2017)")
    degrade: tuple[str, ...] = param((), "extra degradations of the LR inputs for real-world photos, any of "
                                         "blur,noise,jpeg (Wang et al. 2021); none = pure bicubic (the paper)")


# Defaults that --arch rrdb changes, for the fields the user did not set (Wang et al. 2018, §4.1):
# 23 RRDBs; λ = 5e-3 and η = 1e-2 in L_G = L_percep + λ·L_G^Ra + η·L_1 (eq. 3); the PSNR-oriented
# pretraining on L1 at a learning rate of 2e-4 (the gan stage keeps 1e-4).
ESRGAN_DEFAULTS = {"n_blocks": 23, "adversarial_weight": 5e-3, "pixel_weight": 1e-2}
ESRGAN_PRETRAIN_LR = 2e-4
# SRResNet pretraining without --paper: L1 at 5e-4 after a 20-step warm-up, then a cosine (measured on
# real photos, docs/results/srgan.md; BasicSR trains its MSRResNet on L1 at 2e-4 with a cosine).
PRETRAIN_LR = 5e-4
# What --paper restores for the pretraining recipe (Ledig et al. 2017, §3.2: MSE, constant 10^-4, uniform
# 96 px crops at the photos' own scale); content_loss and lr are resolved in finalize_config (the gan
# stage keeps its own: vgg54 at 1e-4).
PAPER_DATA = {"warmup": 0, "lr_schedule": "constant", "crop_tries": 1, "zoom_out": 1.0, "zoom_target": 0.0}
SCALES = {"srresnet": (2, 4, 8), "rrdb": (1, 2, 4)}
# Config fields that fix the generator's layout: an --init run takes them from its checkpoint.
ARCHITECTURE = ("arch", "scale", "n_blocks", "features", "growth", "residual", "value_range", "res_scale",
                "bicubic_skip")


def gan_content_loss(config: SRGANConfig) -> str:
    """The gan stage's perceptual loss: the paper's VGG54 when its VGG19 weights are on this
    machine (given or in torchvision's cache), else the shift-tolerant VGG16 that the metrics
    extra ships, else vgg54, whose loading says where to put the weights."""
    from .losses import st_vgg_available, vgg19_available

    if vgg19_available(config.vgg_weights):
        return "vgg54"
    if st_vgg_available():
        print("srgan: torchvision's VGG19 weights are not here; the content loss is st-vgg (the shift-tolerant "
              "VGG16 of the metrics extra); --vgg-weights FILE for the paper's vgg54", file=sys.stderr)
        return "st-vgg"
    return "vgg54"


def pretrain_lr_factor(warmup: int, schedule: str, total_steps: int):
    """step → multiplier of --lr: linear warm-up over ``warmup`` steps, then constant or half a
    cosine down to 0 at ``total_steps``."""
    import math

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "cosine":
            done = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        return 1.0
    return factor


def _as_init_run(config: SRGANConfig, explicit: set[str], saved: dict[str, Any],
                 init: str) -> tuple[SRGANConfig, set[str]]:
    """An --init run takes the generator layout its weights have (arch, scale, blocks, value range,
    skip; Ledig et al. 2017, §3.2: SRGAN starts from the trained SRResNet), unless a flag sets it:
    then it must agree, as a value range (which shapes cannot show) would silently be wrong."""
    from translate.config import absent_values

    if saved:
        saved = absent_values(SRGANConfig, saved)  # runs recorded before a field existed: what they meant
    inherited = {}
    for key in ARCHITECTURE:
        if key not in saved or (key == "residual" and saved.get("arch") == "rrdb"):
            continue  # runs recorded before a field existed: its default; rrdb ignores the skip
        if key not in explicit:
            inherited[key] = saved[key]
        elif saved[key] != getattr(config, key) and not (key == "residual" and config.arch == "rrdb"):
            flag = key.replace("_", "-")
            raise UserError(f"--init {init}: trained with {flag} {saved[key]}, this run uses {getattr(config, key)}; "
                            f"use the same --{flag}, or leave it out to take the checkpoint's")
    return dataclasses.replace(config, **inherited), explicit | set(inherited)


class SRGANPlugin(Plugin):
    description = ("Super-resolution: SRResNet/SRGAN ×2/×4/×8 and ESRGAN's RRDBNet ×1/×2/×4 (trained or "
                   "imported), PSNR/SSIM eval")
    Config = SRGANConfig
    data_flags = {"data": "folder of high-resolution images, or built-in photos: skimage "
                          "(5 scikit-image photos), skimage-test (2 others)"}
    # --size is the HR crop (Ledig et al. 2017, §3.2: 96×96 crops of 16 images per mini-batch).
    train_defaults = {"size": 96, "batch_size": 16, "steps": 100_000, "sample_every": 1000}
    metric_goals = {"images": None, "bicubic": None}  # bicubic_psnr_y: the baseline, not the model
    catalogue = "catalogue.toml"  # its data sets and released models, by name
    # --tta: the ×8 self-ensemble SR papers report (Lim et al. 2017, §4.4); a fully convolutional
    # upscaler has no preferred orientation, and its training crops are flipped and rotated (--flip).
    tta = "dihedral"
    # --paper: Ledig et al. 2017's SRResNet (no bicubic skip, batch norm in the residual blocks).
    paper = {"residual": False, "batch_norm": True, **PAPER_DATA}

    def finalize_config(self, config: SRGANConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> SRGANConfig:
        saved = recorded_config(options.init) if options.init else {}
        config, explicit = _as_init_run(config, explicit, saved, options.init)
        if config.stage == "gan" and not options.init:
            print("warning: --stage gan without --init starts from random weights; the paper starts from a "
                  "pretrained SRResNet (--init RUN/model.safetensors)", file=sys.stderr)
        rrdb, paper = config.arch == "rrdb", getattr(options, "paper", False)
        content = config.content_loss
        if content == "auto":
            content = gan_content_loss(config) if config.stage == "gan" else ("mse" if paper and not rrdb else "l1")
        skip = config.bicubic_skip and not (paper and "bicubic_skip" not in explicit)
        if rrdb and config.stage == "gan" and content == "st-vgg" and not skip:
            print("warning: rrdb's gan stage on st-vgg without --bicubic-skip is not a working recipe: on real "
                  "photos it drifted from its pretrained colours within 10 steps, adversarial loss or not "
                  "(docs/results/srgan.md); ESRGAN's weights are set for VGG19's features (--vgg-weights FILE)",
                  file=sys.stderr)
        changes: dict[str, Any] = {"content_loss": content,
                                   "gan_loss": ("ragan" if rrdb else "standard") if config.gan_loss == "auto"
                                   else config.gan_loss}
        if "batch_norm" not in explicit:
            # New SRResNets leave batch norm out (EDSR); an --init run keeps its own layers, and runs
            # recorded before this choice have BN (the dataclass default, so their checkpoints load).
            changes["batch_norm"] = saved.get("batch_norm", True) is True if options.init else False
        if rrdb:
            changes.update({k: v for k, v in ESRGAN_DEFAULTS.items() if k not in explicit})
            if "residual" in explicit and config.residual:
                raise UserError("--residual is an SRResNet option; rrdb's bicubic skip is --bicubic-skip (on by "
                                "default), leave --residual off")
            changes["residual"] = False  # rrdb's bicubic skip is --bicubic-skip
            changes["bicubic_skip"] = skip  # --paper: Wang et al. 2018's RRDBNet, without it
            if config.stage == "pretrain" and "lr" not in explicit:
                changes["lr"] = ESRGAN_PRETRAIN_LR
            return dataclasses.replace(config, **changes)
        if "bicubic_skip" in explicit and config.bicubic_skip:
            raise UserError("--bicubic-skip is an rrdb option; srresnet's bicubic skip is --residual")
        changes["bicubic_skip"] = False  # not an srresnet setting: recorded off
        if config.stage == "pretrain" and "lr" not in explicit and not paper:
            changes["lr"] = PRETRAIN_LR
        return dataclasses.replace(config, **changes)

    def check_config(self, config: SRGANConfig, options: Any) -> None:
        from .networks import UNSHUFFLE, parse_value_range

        scales = SCALES[config.arch]
        if config.scale not in scales:
            raise UserError(f"--scale {config.scale}: --arch {config.arch} upscales by {', '.join(map(str, scales))}")
        if config.arch == "rrdb":
            parse_value_range(config.value_range)
            # residual: ignored by rrdb (imported configs keep the srresnet default; finalize_config
            # refuses an explicit --residual and records False for new rrdb runs)
            unshuffle = UNSHUFFLE[config.scale]
            if (options.size // config.scale) % unshuffle:
                raise UserError(f"--size {options.size}: rrdb ×{config.scale} folds {unshuffle}×{unshuffle} LR "
                                f"pixels into channels, so --size must be a multiple of {config.scale * unshuffle}")
        elif config.value_range != "-1,1":
            raise UserError(f"--value-range {config.value_range}: only the rrdb generator maps value ranges; "
                            "srresnet works in -1,1")
        if config.stage == "gan" and options.size % 16:
            raise UserError(f"--size {options.size}: the SRGAN discriminator needs an HR crop that is a "
                            "multiple of 16 (96 in the paper)")

    def build(self, config: SRGANConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, options.size, training)

    def dataset(self, config: SRGANConfig, options: Any, data: dict[str, str]) -> Any:
        from .data import SRDataset, open_hr

        source = open_hr(data["data"], "--data", skip_bad=options.skip_bad_images)
        return SRDataset(source, options.size, config.scale, flip=config.flip, degrade=config.degrade,
                         crop_tries=config.crop_tries, zoom_out=config.zoom_out,
                         zoom_target=config.zoom_target)

    def optimizers(self, config: SRGANConfig, modules: dict[str, Any]) -> dict[str, Any]:
        from translate.optim import adam

        from .losses import make_content_loss
        G = modules["generator"]
        # Training-only weights (VGG19) are read here, never in build(), which apply also calls.
        self._content = make_content_loss(config, next(G.parameters()).device)
        betas = (config.beta1, config.beta2)
        return {name: adam(m.parameters(), lr=config.lr, betas=betas) for name, m in modules.items()}

    def schedulers(self, config: SRGANConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        import torch

        if config.stage != "gan":
            if not config.warmup and config.lr_schedule == "constant":
                return {}  # SRResNet: constant 10^-4 (Ledig et al. 2017, §3.2)
            factor = pretrain_lr_factor(config.warmup, config.lr_schedule, total_steps)
            return {name: torch.optim.lr_scheduler.LambdaLR(opt, factor) for name, opt in optimizers.items()}

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

    def export_module(self, modules: dict[str, Any], config: SRGANConfig) -> Any:
        """The generator as apply runs it (clamped to [-1, 1], like apply), padded inside the graph to its
        ``multiple`` (rrdb ×2 / ×1: the pixel-unshuffle factor) and cropped to scale × the input.
        rrdb maps its value range inside its forward already; srresnet's ``--residual`` bicubic
        upscaling (F.interpolate with antialias, which ONNX cannot express) becomes the same
        filter as fixed convolutions (translate.nn.resize.PlusBicubic)."""
        import copy

        from translate.nn.padding import ClampToImage, PadToMultiple
        from translate.nn.resize import PlusBicubic

        generator = net = modules["generator"]
        if getattr(generator, "residual", False):
            net = copy.copy(generator)  # shares the weights; only the flag differs
            net.residual = False
            net = PlusBicubic(net, config.scale)
        return ClampToImage(PadToMultiple(net, getattr(generator, "multiple", 1), scale=config.scale))

    def evaluate(self, modules: dict[str, Any], config: SRGANConfig, out_dir: Any, hr: str | None = None,
                 data: str | None = None, n: int | None = None, seed: int = 0, inception_weights: str | None = None,
                 lpips_weights: str | None = None, lpips_heads: str | None = None,
                 progress: Any = None) -> dict[str, float]:
        """Y-PSNR/SSIM with ``scale`` pixels cropped from the border, next to bicubic; LPIPS (RGB,
        whole image) when its weights are here; FID/KID of the SR outputs against the HR images
        (with at least 2 images). Writes OUT/srgan_eval.csv, OUT/fake (SR) and OUT/real (HR)."""
        from .evaluation import evaluate

        if not (hr or data):
            raise UserError("srgan evaluation needs high-resolution images: translate eval CKPT --hr DIR "
                            "(or --hr skimage-test for the built-in held-out photos)")
        return evaluate(modules["generator"], config, Path(out_dir), hr or data, limit=n, seed=seed,
                        inception_weights=inception_weights, lpips_weights=lpips_weights, lpips_heads=lpips_heads,
                        progress=progress)

    def import_weights(self, tensors: dict[str, Any], arch: str | None = None) -> Any:
        """ESRGAN / Real-ESRGAN RRDBNet state dicts (``reference.py``) as an rrdb generator.
        ``arch`` (``translate import --arch``): rrdb, the only layout this plugin imports."""
        from translate.plugin import Imported

        from .reference import convert_esrgan_rrdb, describe_mismatch

        if arch not in (None, "rrdb"):
            return None
        converted = convert_esrgan_rrdb(tensors)
        if converted is None:
            if arch == "rrdb":
                raise UserError(describe_mismatch(tensors))
            return None
        # Real-ESRGAN trains on 256² HR crops (gt_size in its options files); recorded, not used by apply.
        return Imported(converted.config, {"generator": converted.state_dict}, converted.notes[0],
                        options={"size": 256}, notes=converted.notes[1:])
