"""The ESRGAN generator, RRDBNet (Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", §3.1 and Fig. 4), as Real-ESRGAN extends it to ×2 and ×1 (Wang et al. 2021,
"Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data").

    conv_first → RRDB × n_blocks → conv_body, plus the long skip from conv_first
               → (nearest ×2 → conv_up → LReLU) × 2 → conv_hr → LReLU → conv_last

RRDB        three residual dense blocks in a row, their result scaled by β and added to the input
dense block five 3×3 convs; each sees the block input and every earlier conv's output
            (concatenated), conv1-4 add ``growth`` channels and LeakyReLU 0.2, conv5 maps back to
            ``features`` channels and is scaled by β before the block's own skip
β = 0.2     residual scaling, with a 10× smaller He initialisation of the dense blocks: "residual
            architecture is easier to train when the initial parameter variance becomes smaller"
            (Wang et al. 2018, §3.1; β = 0.2 and 0.1 in their code)

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

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import UserError
from translate.interfaces import Generator

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
                 in_channels: int = 3, out_channels: int = 3, value_range: str | tuple[float, float] = "-1,1"):
        super().__init__()
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
            return self.forward_native(x)
        half = (hi - lo) / 2
        y = self.forward_native((x + 1) * half + lo)  # [-1, 1] → [lo, hi]
        return (y - lo) / half - 1  # and back


def build_rrdb(scale: int = 4, n_blocks: int = N_BLOCKS, features: int = FEATURES, growth: int = GROWTH,
               channels: int = 3, value_range: str | tuple[float, float] = "-1,1") -> RRDBNet:
    """An RRDBNet for ``arch = "rrdb"``; defaults are the released ESRGAN / Real-ESRGAN size."""
    for name, value in (("n-blocks", n_blocks), ("features", features), ("growth", growth)):
        if value < 1:
            raise UserError(f"--{name} {value}: must be at least 1")
    return RRDBNet(scale, n_blocks, features, growth, channels, channels, value_range)


def build_generator(arch: str, scale: int, n_blocks: int, features: int, growth: int = GROWTH,
                    residual: bool = False, value_range: str = "-1,1", batch_norm: bool = True) -> Generator:
    """The srgan plugin's generator for ``arch``: SRResNet (Ledig et al. 2017) or RRDBNet."""
    if arch == "srresnet":
        from .networks import SRResNet

        return SRResNet(scale, n_blocks, features, residual=residual, batch_norm=batch_norm)
    if arch == "rrdb":
        # residual is an SRResNet option: RRDBNet has its own long skip (finalize_config refuses
        # an explicit --residual with rrdb; imported configs may carry the srresnet default)
        return build_rrdb(scale, n_blocks, features, growth, value_range=value_range)
    raise UserError(f"--arch {arch}: choose one of {', '.join(ARCHS)}")
