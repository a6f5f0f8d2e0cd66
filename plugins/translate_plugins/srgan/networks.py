"""The srgan plugin's networks: SRResNet and the SRGAN discriminator (Ledig et al. 2017), and
ESRGAN's RRDBNet generator (Wang et al. 2018) as Real-ESRGAN extends it to ×2 and ×1.

Images are in [-1, 1] on both sides (the toolkit's convention). The generators' outputs are linear,
not tanh: a linear output trains faster under MSE and apply clamps it anyway.

SRResNet and the SRGAN discriminator (Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", Fig. 4): see their classes.

RRDBNet (Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
§3.1 and Fig. 4; Wang et al. 2021, "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data"):

    conv_first → RRDB × n_blocks → conv_body, plus the long skip from conv_first
               → (nearest ×2 → conv_up → LReLU) × 2 → conv_hr → LReLU → conv_last

RRDB        three residual dense blocks in a row, their result scaled by β and added to the input
dense block five 3×3 convs; each sees the block input and every earlier conv's output
            (concatenated), conv1-4 add ``growth`` channels and LeakyReLU 0.2, conv5 maps back to
            ``features`` channels and is scaled by β before the block's own skip
β = 0.2     residual scaling, with a 10× smaller He initialisation of the dense blocks: "residual
            architecture is easier to train when the initial parameter variance becomes smaller"
            (Wang et al. 2018, §3.1; β = 0.2 and 0.1 in their code)

Models trained here add the bicubic upscaling of the input to that output (``bicubic_skip``, the
srresnet plugin default's global residual, Kim et al. 2016), with ``conv_last`` starting at zero, so
an untrained RRDBNet is bicubic; not in the papers, and off for their released weights.

No batch norm anywhere: Wang et al. 2018 (§3.1) remove it from SRGAN's blocks because it brings
artifacts when training and test statistics differ. The body always upsamples ×4; for ×2 and ×1,
Real-ESRGAN first folds 2×2 or 4×4 pixel neighbourhoods into channels (pixel-unshuffle), so the
trunk runs on a quarter or a sixteenth of the pixels (Wang et al. 2021, generator figure).

Parameter names are exactly those of BasicSR / Real-ESRGAN (``conv_first``,
``body.N.rdb1.conv1`` … ``conv_last``), so their released state dicts load unchanged.

Value range: the toolkit passes images in [-1, 1]. Real-ESRGAN's and ESRGAN's models work on RGB
in [0, 1]; ``value_range="0,1"`` makes ``forward`` map the input into [0, 1] and the output back,
inside the module, so apply and export see an ordinary [-1, 1] generator. Models trained here
use ``"-1,1"`` (no mapping).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import UserError
from translate.interfaces import Discriminator, Generator
from translate.nn.layers import norm_layer


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return norm_layer("batch" if batch_norm else "none", channels)


class ResidualBlock(nn.Module):
    """conv3×3 → BN → PReLU → conv3×3 → BN, plus the identity (Ledig et al. 2017, Fig. 4;
    the block of He et al. 2016 as laid out by Gross & Wilber 2016). Without ``batch_norm`` the
    BNs are left out, as EDSR does (Lim et al. 2017, §3.1). ``res_scale`` multiplies the block's
    branch before the identity is added (EDSR's residual scaling, Lim et al. 2017, §3.2: 0.1)."""

    def __init__(self, channels: int, batch_norm: bool = True, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), _norm(channels, batch_norm), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), _norm(channels, batch_norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.body(x)
        return x + (branch * self.res_scale if self.res_scale != 1 else branch)


def upsample_x2(channels: int) -> nn.Sequential:
    """Sub-pixel convolution (Shi et al. 2016): conv to 4× channels, PixelShuffle ×2, PReLU."""
    return nn.Sequential(nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(channels))


@torch.no_grad()
def icnr_(conv: nn.Conv2d, factor: int) -> None:
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): the
    ``factor``² output channels that PixelShuffle puts into one output pixel block share one
    kernel, so the conv + shuffle starts as conv + nearest-neighbour upsampling."""
    out_channels = conv.weight.shape[0] // factor ** 2
    sub = torch.empty(out_channels, *conv.weight.shape[1:])
    nn.init.kaiming_normal_(sub)  # He init of the shared kernels, as Aitken et al. 2017
    conv.weight.copy_(sub.repeat_interleave(factor ** 2, dim=0))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic ×``scale`` in float32, unclamped: the global skip of both generators and
    the bicubic baseline (data.upscale_bicubic); export swaps it for translate.nn.resize.PlusBicubic."""
    return F.interpolate(x.float(), scale_factor=scale, mode="bicubic", antialias=True, align_corners=False)


class SRResNet(Generator):
    """LR image (N×3×h×w) → SR image (N×3×(h·s)×(w·s)), s in {2, 4, 8}. With ``residual`` the
    network adds its output to the bicubic upscaling of the input (not in the paper; the srgan
    plugin's default, ``--no-residual`` is the paper's network) and starts at exactly bicubic
    quality, which short trainings need."""

    def __init__(self, scale: int = 4, n_blocks: int = 16, channels: int = 64, image_channels: int = 3,
                 residual: bool = False, batch_norm: bool = True, res_scale: float = 1.0):
        super().__init__()
        self.residual = residual
        stages = int(round(math.log2(scale)))
        if 2 ** stages != scale or stages < 1:
            raise ValueError(f"scale must be a power of two ≥ 2, got {scale}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(image_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.blocks = nn.Sequential(*[ResidualBlock(channels, batch_norm, res_scale) for _ in range(n_blocks)])
        # After the blocks: conv + BN, then the long skip from the head (Fig. 4).
        self.post = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), _norm(channels, batch_norm))
        self.upsample = nn.Sequential(*[upsample_x2(channels) for _ in range(stages)])
        self.tail = nn.Conv2d(channels, image_channels, 9, padding=4)
        if residual:
            # Start exactly at bicubic: the detail branch outputs 0 (zero last conv), and each
            # sub-pixel conv starts as a nearest-neighbour upsampling of its input (ICNR, Aitken et
            # al. 2017), so it learns detail without checkerboard artefacts. Measured (×4, 16
            # blocks, 48 px crops, batch 16, Adam 1e-4, skimage → skimage-test): +0.27 dB over
            # bicubic after 200 steps against +0.04 dB with the default PyTorch init.
            for stage in self.upsample:
                icnr_(stage[0], 2)
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        head = self.head(lr)
        out = self.tail(self.upsample(head + self.post(self.blocks(head))))
        if self.residual:  # predict only the detail that bicubic misses (Kim et al. 2016, VDSR)
            out = out.float() + bicubic_up(lr, self.scale)
        return out


class SRDiscriminator(Discriminator):
    """Eight 3×3 convs, 64 → 512 channels, strides alternating 1 and 2, BN after all but the first,
    LeakyReLU 0.2; then dense 1024, LeakyReLU, dense 1 (Ledig et al. 2017, Fig. 4). The dense layer
    sees the whole feature map, so the discriminator is tied to one HR crop size (``size``)."""

    def __init__(self, size: int = 96, channels: int = 64, image_channels: int = 3, leak: float = 0.2,
                 dense: int = 1024):
        super().__init__()
        if size % 16:
            raise ValueError(f"the discriminator halves the crop four times; size {size} is not a multiple of 16")
        layers: list[nn.Module] = []
        c_in = image_channels
        for i in range(8):
            c_out = channels * 2 ** (i // 2)
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(leak))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * (size // 16) ** 2, dense), nn.LeakyReLU(leak), nn.Linear(dense, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image))


# ---- RRDBNet (ESRGAN) ------------------------------------------------------------------------

# The released models' size: 23 RRDBs of 64 features with growth 32 (ESRGAN's RRDB_ESRGAN_x4,
# Wang et al. 2018; Real-ESRGAN's x4plus, x2plus and RealESRNet keep it, Wang et al. 2021).
N_BLOCKS, FEATURES, GROWTH = 23, 64, 32
RESIDUAL_SCALE = 0.2  # β (Wang et al. 2018, §3.1; 0.2 in their code)
INIT_SCALE = 0.1  # dense-block convs: He initialisation × 0.1 (Wang et al. 2018, §3.1 "smaller initialization")
SLOPE = 0.2  # LeakyReLU negative slope
UNSHUFFLE = {4: 1, 2: 2, 1: 4}  # scale → pixel-unshuffle factor before the ×4 body (Wang et al. 2021)
ARCHS = ("srresnet", "rrdb")


def parse_value_range(value: str | tuple[float, float]) -> tuple[float, float]:
    """``"0,1"`` or ``(0, 1)`` → (0.0, 1.0): the range the network's own weights expect."""
    try:
        lo, hi = (float(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise UserError(f"value range '{value}': give two numbers, low,high (e.g. 0,1 or -1,1)") from None
    if not hi > lo:
        raise UserError(f"value range '{value}': the high end must exceed the low end")
    return lo, hi


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs; output = x + β · conv5([x, x1, x2, x3, x4])."""

    def __init__(self, features: int = FEATURES, growth: int = GROWTH):
        super().__init__()
        for i in range(4):  # conv1..conv4: each adds `growth` channels to the running concatenation
            self.add_module(f"conv{i + 1}", nn.Conv2d(features + i * growth, growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(features + 4 * growth, features, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1) if len(feats) > 1 else x), SLOPE))
        return x + RESIDUAL_SCALE * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual in residual dense block: x + β · rdb3(rdb2(rdb1(x)))."""

    def __init__(self, features: int = FEATURES, growth: int = GROWTH):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth)
        self.rdb2 = ResidualDenseBlock(features, growth)
        self.rdb3 = ResidualDenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(Generator):
    """LR image (N×C×h×w in [-1, 1]; h and w multiples of ``multiple``) → SR image
    (N×C×(h·scale)×(w·scale), [-1, 1] up to the network's linear output)."""

    def __init__(self, scale: int = 4, n_blocks: int = N_BLOCKS, features: int = FEATURES, growth: int = GROWTH,
                 in_channels: int = 3, out_channels: int = 3, value_range: str | tuple[float, float] = "-1,1",
                 residual: bool = False):
        super().__init__()
        self.residual = residual
        if scale not in UNSHUFFLE:
            raise UserError(f"--scale {scale}: the RRDB generator upsamples ×4, ×2 or ×1 (Real-ESRGAN's layouts)")
        self.scale = scale
        self.unshuffle = UNSHUFFLE[scale]
        self.value_range = parse_value_range(value_range)
        self.conv_first = nn.Conv2d(in_channels * self.unshuffle ** 2, features, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(features, growth) for _ in range(n_blocks)])
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, 1, 1)
        self._init_dense_blocks()
        if residual:  # start at exactly bicubic: the network's whole output is the correction
            nn.init.zeros_(self.conv_last.weight)
            nn.init.zeros_(self.conv_last.bias)

    def _init_dense_blocks(self) -> None:
        # Only the dense blocks get the small init, as in the authors' code; the other convs keep
        # PyTorch's default.
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
                module.weight.data.mul_(INIT_SCALE)
                nn.init.zeros_(module.bias)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (the pixel-unshuffle factor)."""
        return self.unshuffle

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        """The network on images already in ``value_range``, as the original code runs it."""
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):  # nearest ×2 then conv: no checkerboard (Odena et al. 2016)
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), SLOPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.value_range
        if (lo, hi) == (-1.0, 1.0):
            y = self.forward_native(x)
        else:
            half = (hi - lo) / 2
            y = (self.forward_native((x + 1) * half + lo) - lo) / half - 1  # [-1, 1] → [lo, hi] and back
        if self.residual:  # the detail bicubic misses (Kim et al. 2016), as srresnet's --residual
            y = y.float() + bicubic_up(x, self.scale)
        return y


def build_rrdb(scale: int = 4, n_blocks: int = N_BLOCKS, features: int = FEATURES, growth: int = GROWTH,
               channels: int = 3, value_range: str | tuple[float, float] = "-1,1", residual: bool = False) -> RRDBNet:
    """An RRDBNet for ``arch = "rrdb"``; defaults are the released ESRGAN / Real-ESRGAN size."""
    for name, value in (("n-blocks", n_blocks), ("features", features), ("growth", growth)):
        if value < 1:
            raise UserError(f"--{name} {value}: must be at least 1")
    return RRDBNet(scale, n_blocks, features, growth, channels, channels, value_range, residual)


def build_generator(arch: str, scale: int, n_blocks: int, features: int, growth: int = GROWTH,
                    residual: bool = False, value_range: str = "-1,1", batch_norm: bool = True,
                    res_scale: float = 1.0, bicubic_skip: bool = False) -> Generator:
    """The srgan plugin's generator for ``arch``: SRResNet (Ledig et al. 2017) or RRDBNet. The
    bicubic skip is ``residual`` for srresnet and ``bicubic_skip`` for rrdb (imported configs carry
    srresnet's default residual, which rrdb ignores)."""
    if arch == "srresnet":
        return SRResNet(scale, n_blocks, features, residual=residual, batch_norm=batch_norm, res_scale=res_scale)
    if arch == "rrdb":
        return build_rrdb(scale, n_blocks, features, growth, value_range=value_range, residual=bicubic_skip)
    raise UserError(f"--arch {arch}: choose one of {', '.join(ARCHS)}")


def build_networks(config, size: int, training: bool = True) -> dict[str, nn.Module]:
    """The generator of ``config.arch``, and the discriminator for a gan-stage run (``training``)."""
    modules = {"generator": build_generator(config.arch, config.scale, config.n_blocks, config.features,
                                            config.growth, config.residual, config.value_range,
                                            config.batch_norm, getattr(config, "res_scale", 1.0),
                                            getattr(config, "bicubic_skip", False))}
    if training and config.stage == "gan":
        modules["discriminator"] = SRDiscriminator(size, leak=config.leak)
    # channels_last for the 64-channel SRResNet and the discriminator on every device, not only
    # where the runtime picks it (CUDA, bf16): both ran clearly faster than NCHW on an AVX2 CPU in
    # fp32, and RRDBNet slower, so it stays NCHW (benchmarks/profile_step.py --layout measures it).
    for name, module in modules.items():
        if name != "generator" or config.arch == "srresnet":
            module.to(memory_format=torch.channels_last)
    return modules
