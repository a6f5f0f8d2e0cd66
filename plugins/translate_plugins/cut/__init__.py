"""``cut``: one-sided unpaired image-to-image translation by patchwise contrastive learning (Park et
al. 2020, "Contrastive Learning for Unpaired Image-to-Image Translation", ECCV).

    translate train cut --a horses/ --b zebras/                 # CUT
    translate train cut --a horses/ --b zebras/ --mode fastcut  # FastCUT
    translate apply runs/cut photo.jpg                          # A → B

One generator G: A → B, the ResNet generator of the cyclegan plugin (``networks.py`` builds it from
there), judged by a 70×70 PatchGAN with the LSGAN loss. Instead of a second generator and a cycle,
PatchNCE (``training.py``) ties each output patch to the input patch at the same place: G's own
encoder embeds both images at several layers, a small MLP per layer projects 256 sampled locations,
and each output patch must pick out its input patch among the other 255 (InfoNCE, τ = 0.07).
``--mode cut`` adds the same loss on B → G(B) (identity NCE, λ_NCE = 1); ``--mode fastcut`` drops it
and weights NCE by 10, with flip-equivariance augmentation instead. Data: the cyclegan plugin's
unaligned two-folder reader (``--a``, ``--b``, built-in domains such as ``shapes-inverted``).

Departures from the authors' code (taesungp/contrastive-unpaired-translation), both structural: the
generator and PatchGAN downsample with strided convolutions, not its anti-aliased (blurred)
resampling, which its ``--no_antialias --no_antialias_up`` flags also train; and the networks start
from N(0, 0.02) (as CycleGAN), where its default is Xavier with gain 0.02. Its released .pth files
hold the anti-aliased generator, so ``translate import`` does not take them. Two defaults are the
cyclegan plugin's measured departures (the input joins G's output convolution; no instance norm in
the PatchGAN; docs/results/cut.md); ``--paper`` restores the authors' networks.

This module stays free of torch imports so that ``translate train cut --help`` is instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from translate.config import param
from translate.errors import UserError
from translate.plugin import Plugin
from translate_plugins.cyclegan import guided_eps_param, guided_radius_param

# Park et al. 2020, §4 / the authors' code: CUT trains 400 epochs (200 constant + 200 decaying),
# FastCUT 200 (150 + 50), at batch size 1; horse2zebra's ~1,100 images make an epoch ~1,100 steps.
PAPER_STEPS = 400_000
# Per mode, the authors' settings (their cut_model.py): λ_NCE, identity NCE, flip equivariance and
# the fraction of the run over which the learning rate decays.
MODES = {"cut": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False, "decay_fraction": 0.5},
         "fastcut": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True, "decay_fraction": 0.25}}
# The paper's NCE layers 0,4,8,12,16 of the authors' anti-aliased ResNet: the (padded) input, the two
# downsampling convolutions, and the outputs of residual blocks 1 and 5. The same places in our
# generator's ``net`` (c7s1 = 0-3, d128 = 4-6, d256 = 7-9, blocks from 10): 0, 4, 7, 10, 14.
PAPER_NCE_LAYERS = (0, 4, 7, 10, 14)


@dataclass
class CUTConfig:
    """CUT / FastCUT: one ResNet generator, a PatchGAN and PatchNCE (Park et al. 2020)."""

    mode: Literal["cut", "fastcut"] = param(
        "cut", "cut: λ_NCE 1 with identity NCE on B; fastcut: λ_NCE 10, no identity NCE, flip-equivariance "
               "augmentation, a shorter decay (Park et al. 2020, §4)")
    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    n_blocks: int = param(0, "residual blocks of the generator; 0 = auto: 9 for --size ≥ 256, else 6 "
                             "(Park et al. 2020, appendix: resnet_9blocks at 256²; Zhu et al. 2017: 6 at 128²)", min=0)
    gen_features: int = param(64, "generator width: filters of c7s1-k, then 2k, 4k (Park et al. 2020 code: ngf 64)",
                              positive=True)
    image_skip: bool = param(True, "the input image joins the features at the generator's output convolution, "
                                   "so a young model starts near its input, not from noise (the cyclegan plugin's "
                                   "default; the paper's generator has none: --no-image-skip, --paper; on the "
                                   "real-photo proxy 0.95× identity against 1.30×, docs/results/cut.md)")
    guided_radius: int = guided_radius_param()
    guided_eps: float = guided_eps_param()
    disc_features: int = param(64, "discriminator width: filters of its first layer (Park et al. 2020 code: ndf 64)",
                               positive=True)
    disc_norm: Literal["instance", "none"] = param(
        "none", "normalisation in the PatchGAN after its first layer: none (the cyclegan plugin's default: D "
                "sees absolute colour), or instance (Park et al. 2020 code; --paper)")
    disc_layers: int = param(3, "PatchGAN strided blocks: 3 = 70×70 patches (Park et al. 2020 code: basic, n_layers 3)",
                             min=0, max=6)
    lambda_gan: float = param(1.0, "weight of the LSGAN generator loss (Park et al. 2020, §3: λ_GAN 1)", min=0)
    lambda_nce: float = param(1.0, "weight λ_NCE of the PatchNCE loss (Park et al. 2020, §4: 1 for CUT, 10 for "
                                   "FastCUT)", min=0, shown_default="1 (cut), 10 (fastcut)")
    nce_idt: bool = param(True, "identity NCE: PatchNCE on B → G(B) too, averaged with A's (Park et al. 2020, "
                                "§3.2: on for CUT, off for FastCUT)", shown_default="on (cut), off (fastcut)")
    flip_equivariance: bool = param(False, "G's input is mirrored at random and its features mirrored back, so "
                                           "NCE asks G to commute with flips (Park et al. 2020, §4: FastCUT)",
                                    shown_default="off (cut), on (fastcut)")
    nce_layers: tuple[int, ...] = param(
        PAPER_NCE_LAYERS, "indices into the generator's layers whose outputs PatchNCE compares: 0 the input, "
                          "4 and 7 the downsampling convs, 10 + k residual block k+1 (Park et al. 2020, §4: "
                          "layers 0,4,8,12,16 of their network = these); layers past a smaller encoder are dropped",
        shown_default="0,4,7,10,14")
    nce_patches: int = param(256, "locations sampled per layer and image for PatchNCE (Park et al. 2020, §4: 256)",
                             positive=True)
    nce_features: int = param(256, "units of each layer's 2-layer MLP projection head (Park et al. 2020, §4: 256)",
                              positive=True)
    nce_temperature: float = param(0.07, "temperature τ of PatchNCE (Park et al. 2020, §3.1: 0.07)", positive=True)
    lr: float = param(2e-4, "Adam learning rate of G, the projection heads and D (Park et al. 2020 code: 0.0002)",
                      positive=True)
    beta1: float = param(0.5, "Adam beta1 (Park et al. 2020 code: 0.5)", min=0, max=0.9999)
    beta2: float = param(0.999, "Adam beta2 (Park et al. 2020 code: 0.999)", min=0, max=0.9999)
    decay_fraction: float = param(0.5, "fraction of the steps over which the learning rate decays linearly to 0 "
                                       "after a constant start (Park et al. 2020 code: CUT 200 + 200 epochs = 0.5, "
                                       "FastCUT 150 + 50 = 0.25)", min=0, max=1,
                                  shown_default="0.5 (cut), 0.25 (fastcut)")
    resize: int = param(0, "resize the shorter side to this before cropping --size; 0 = --size × 286/256 "
                           "(Park et al. 2020 code: load_size 286 for 256 crops)", min=0)
    crop: Literal["random", "center"] = param("random", "crop of --size after resizing (Park et al. 2020 code: random)")
    flip: bool = param(True, "random horizontal flips of the training images (Park et al. 2020 code: on)")


def _blocks(config: CUTConfig, size: int) -> int:
    """Residual blocks: the config's, or the choice for the image size."""
    return config.n_blocks or (9 if size >= 256 else 6)


def encoder_end(n_blocks: int) -> int:
    """Index of the generator's last encoder layer (its last residual block): 10 + n_blocks - 1."""
    return 10 + n_blocks - 1


class CUTPlugin(Plugin):
    description = "CUT / FastCUT: one-sided unpaired translation by patchwise contrastive learning (Park et al. 2020)"
    Config = CUTConfig
    data_flags = {
        "a": "folder of domain-A images (recursive), or a built-in domain: shapes, digits, "
             "shapes-inverted, digits-inverted",
        "b": "folder of domain-B images (any number, unaligned with A), or a built-in domain",
    }
    # Park et al. 2020 code: batch size 1, 256² crops.
    train_defaults = {"batch_size": 1, "size": 256, "steps": PAPER_STEPS}
    metric_goals = {"images": None}
    inference_modules = ("generator",)
    # --tta: the image and its mirror (photos have an up and a down; training flips left-right only).
    tta = "flips"
    # --paper: the authors' generator (no image skip) and PatchGAN (instance norm).
    paper = {"image_skip": False, "disc_norm": "instance"}

    def finalize_config(self, config: CUTConfig, explicit: set[str], data: dict[str, str],
                        options: Any) -> CUTConfig:
        from translate_plugins.cyclegan import check_two_domains

        check_two_domains("cut", data)
        n_blocks = _blocks(config, options.size)
        by_mode = {k: v for k, v in MODES[config.mode].items() if k not in explicit}
        layers = config.nce_layers
        if "nce_layers" not in explicit:  # the paper's places that this generator has
            layers = tuple(i for i in layers if i <= encoder_end(n_blocks))
        return dataclasses.replace(config, **by_mode, n_blocks=n_blocks, nce_layers=layers,
                                   resize=config.resize or round(options.size * 286 / 256))

    def check_config(self, config: CUTConfig, options: Any) -> None:
        from translate_plugins.cyclegan import check_image_options

        check_image_options(config, options.size)
        last = encoder_end(_blocks(config, options.size))
        bad = [i for i in config.nce_layers if not 0 <= i <= last]
        if bad or not config.nce_layers or len(set(config.nce_layers)) != len(config.nce_layers):
            raise UserError(f"--nce-layers {','.join(map(str, config.nce_layers))}: give distinct encoder layer "
                            f"indices from 0 to {last} (the last residual block), e.g. 0,4,7,10")

    def build(self, config: CUTConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, _blocks(config, options.size), training=training)

    def dataset(self, config: CUTConfig, options: Any, data: dict[str, str]) -> Any:
        from translate_plugins.cyclegan import CycleGANPlugin

        # The cyclegan plugin's reader, crops and flips: it reads only the fields both configs
        # share (channels, resize, crop, flip).
        return CycleGANPlugin.dataset(self, config, options, data)

    def optimizers(self, config: CUTConfig, modules: dict[str, Any]) -> dict[str, Any]:
        import itertools

        from translate.optim import adam

        # One Adam over G and the projection heads: Adam is per parameter, so this is the authors'
        # two Adams with the same settings, stepped together.
        g_params = itertools.chain(modules["generator"].parameters(), modules["projection"].parameters())
        return {"generator": adam(g_params, lr=config.lr, betas=(config.beta1, config.beta2)),
                "discriminator": adam(modules["discriminator"].parameters(), lr=config.lr,
                                      betas=(config.beta1, config.beta2))}

    def schedulers(self, config: CUTConfig, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        from translate.schedules import decay_each

        return decay_each(optimizers, total_steps, config.decay_fraction)

    def train_step(self, ctx: Any) -> dict[str, Any]:
        from .training import train_step

        return train_step(ctx)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        return preview(ctx.inference_modules()["generator"], batch, identity=ctx.config.nce_idt)

    def apply(self, modules: dict[str, Any], config: CUTConfig, images: Any, tile: int = 512,
              overlap: int = 32) -> Any:
        from .training import translate

        return translate(modules["generator"], images, tile=tile, overlap=overlap)

    def evaluate(self, modules: dict[str, Any], config: CUTConfig, out_dir: Any, a: str | None = None,
                 b: str | None = None, n: int | None = None, seed: int = 0, size: int | None = None,
                 inception_weights: str | None = None, tile: int = 512, progress: Any = None) -> dict[str, float]:
        """Test images of domain A through G, as apply runs it: FID/KID of G(A) against the B test
        images (``fid``, ``kid``). ``size`` (default 256) resizes and centre-crops every image to
        size²; built-in domains are drawn held out. Writes OUT/real_a, OUT/real_b and OUT/fake_b
        (G of each A, under its name); ``n`` limits the images of each domain."""
        from .evaluation import evaluate

        return evaluate(modules, config, out_dir, a, b, n=n, seed=seed, size=size,
                        inception_weights=inception_weights, tile=tile, progress=progress)

    def example_run(self, workdir: Any) -> dict[str, Any]:
        """``translate plugin check cut``: the default folders of 32² shapes, with narrower networks
        (every hook and loss as the defaults run them) so the checks stay quick on a busy CPU."""
        return {**super().example_run(workdir), "gen_features": 16, "disc_features": 16, "n_blocks": 2}

    def export_module(self, modules: dict[str, Any], config: CUTConfig) -> Any:
        """The generator, padded inside the graph as apply pads it: replicated up to 8 pixels, then
        to a multiple of 4, and cropped back."""
        from translate.nn.padding import PadToMultiple
        from translate_plugins.cyclegan.networks import MIN_SIDE, MULTIPLE

        return PadToMultiple(modules["generator"], MULTIPLE, min_side=MIN_SIDE)
