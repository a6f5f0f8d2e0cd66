"""LPIPS, the learned perceptual image patch similarity (Zhang et al. 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", eq. 1), version 0.1, offline.

d(x, x₀) = Σ_l 1/(H_l W_l) Σ_{h,w} ‖ w_l ⊙ (ŷ_l − ŷ₀_l) ‖²: ŷ_l are the backbone's activations at
tap l, unit-normalised along channels; w_l are the learned per-channel weights (a 1×1 convolution
without bias, the "linear heads"); the spatial mean of each layer's map is summed over layers.
Inputs go from [0, 1] to [−1, 1] and then through the authors' scaling layer (shift, scale).

Weights come from two places, and nothing is downloaded:

* the linear heads (a few KB) ship inside the ``lpips`` wheel (``lpips/weights/v0.1/NET.pth``);
  they are read from the installed package's folder without importing it, or from a file;
* the backbone is torchvision's ImageNet network (``features.*`` of ``alexnet-owt-7be5be79.pth`` or
  ``vgg16-397923af.pth``): the file in torch's hub cache, or a file given by flag (.pth through the
  weights-only loader, or .safetensors).

The default net is AlexNet, which the authors recommend as a forward metric (VGG for a loss).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..weights import read_torch_weights

# Zhang et al. 2018, lpips v0.1 ScalingLayer: inputs in [−1, 1] are mapped to ImageNet statistics.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10  # added to the channel norm before dividing, as lpips.normalize_tensor does
HEADS_VERSION = "0.1"


@dataclass(frozen=True)
class Backbone:
    """A torchvision ``features`` stack: its layout, the indices whose outputs are tapped (after a
    ReLU), the tapped channel counts and torchvision's ImageNet weight file."""

    layout: tuple  # ("conv", c_in, c_out, kernel, stride, padding) | ("relu",) | ("maxpool", k, s)
    taps: tuple[int, ...]
    channels: tuple[int, ...]
    url: str
    min_size: int  # smallest input side the layout accepts


def _vgg16_layout() -> tuple:
    layers, c_in = [], 3
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if item == "M":
            layers.append(("maxpool", 2, 2))
        else:
            layers += [("conv", c_in, item, 3, 1, 1), ("relu",)]
            c_in = item
    return tuple(layers)


BACKBONES = {
    # torchvision alexnet().features; taps relu1..relu5 (lpips.pretrained_networks.alexnet)
    "alex": Backbone(
        layout=(("conv", 3, 64, 11, 4, 2), ("relu",), ("maxpool", 3, 2), ("conv", 64, 192, 5, 1, 2), ("relu",),
                ("maxpool", 3, 2), ("conv", 192, 384, 3, 1, 1), ("relu",), ("conv", 384, 256, 3, 1, 1), ("relu",),
                ("conv", 256, 256, 3, 1, 1), ("relu",)),
        taps=(1, 4, 7, 9, 11), channels=(64, 192, 384, 256, 256),
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", min_size=31),
    # torchvision vgg16().features; taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    "vgg": Backbone(
        layout=_vgg16_layout()[:30], taps=(3, 8, 15, 22, 29), channels=(64, 128, 256, 512, 512),
        url="https://download.pytorch.org/models/vgg16-397923af.pth", min_size=16),
}


def _build_features(spec: Backbone) -> nn.Sequential:
    layers: list[nn.Module] = []
    for kind, *args in spec.layout[: spec.taps[-1] + 1]:
        if kind == "conv":
            c_in, c_out, k, s, p = args
            layers.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=p))
        elif kind == "relu":
            layers.append(nn.ReLU())
        else:
            layers.append(nn.MaxPool2d(args[0], stride=args[1]))
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """LPIPS distance between two N×3×H×W batches in [0, 1] → N distances."""

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in BACKBONES:
            raise UserError(f"--lpips-net {net}: unknown; choose one of {', '.join(BACKBONES)}")
        self.net = net
        self.spec = BACKBONES[net]
        self.features = _build_features(self.spec)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.spec.channels)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone activations at the taps, unit-normalised along channels."""
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.spec.taps:
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + NORM_EPS))
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape:
            raise UserError(f"LPIPS needs images of the same size: {tuple(a.shape)} vs {tuple(b.shape)}")
        if min(a.shape[-2:]) < self.spec.min_size:
            raise UserError(f"LPIPS ({self.net}) needs images of at least {self.spec.min_size}×{self.spec.min_size} "
                            f"pixels (got {tuple(a.shape[-2:])})")
        x = torch.cat([a, b]).float() * 2 - 1  # one backbone pass for both sides
        x = (x - self.shift) / self.scale
        total = torch.zeros(len(a), device=a.device)
        for head, tap in zip(self.heads, self.taps(x)):
            fa, fb = tap.chunk(2)
            total = total + head((fa - fb).pow(2)).mean(dim=(1, 2, 3))
        return total


# ---- weights ------------------------------------------------------------------------------------

def backbone_cache_file(net: str) -> Path:
    """Where ``torchvision.models.NET(weights=...IMAGENET1K_V1)`` keeps its download."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net].url.rsplit("/", 1)[1]


def find_backbone(net: str, explicit: str | Path | None = None) -> Path:
    """The backbone file to use (given, else torchvision's cache), or a one-line error saying
    where to put it."""
    if explicit is not None:
        return Path(explicit)
    cached = backbone_cache_file(net)
    if cached.is_file():
        return cached
    raise UserError(f"LPIPS ({net}) needs torchvision's ImageNet {net} weights: download {BACKBONES[net].url} "
                    f"to {cached} or pass --lpips-weights FILE (.pth or .safetensors)")


def installed_heads_file(net: str) -> Path | None:
    """``lpips/weights/v0.1/NET.pth`` of the installed lpips package (not imported: only its
    weight file is used)."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):  # a broken install counts as none
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"v{HEADS_VERSION}" / f"{net}.pth"
    return path if path.is_file() else None


def find_heads(net: str, explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    path = installed_heads_file(net)
    if path is None:
        raise UserError(f'LPIPS needs its linear heads: pip install "translate-gan[metrics]" (lpips ships them) '
                        f"or pass --lpips-heads FILE (lpips/weights/v{HEADS_VERSION}/{net}.pth)")
    return path


def _load_backbone(model: LPIPS, path: Path) -> None:
    state = read_torch_weights(path, flag="--lpips-weights",
                               what=f"torchvision's {model.net} weights ({model.spec.url.rsplit('/', 1)[1]})")
    wanted = {}
    for key, value in state.items():
        name = key[len("features."):] if key.startswith("features.") else key
        index = name.split(".", 1)[0]
        if index.isdigit() and int(index) < len(model.features):
            wanted[name] = value
    try:
        model.features.load_state_dict(wanted, strict=True)
    except RuntimeError as exc:
        raise UserError(f"--lpips-weights {path}: not torchvision {model.net} weights "
                        f"({str(exc).strip().splitlines()[0][:160]})") from None


def _load_heads(model: LPIPS, path: Path) -> None:
    """lpips files name the heads ``linK.model.1.weight`` (a dropout sits at ``model.0``);
    ``linK.model.0.weight`` (no dropout) and this module's ``heads.K.weight`` are accepted too."""
    state = read_torch_weights(path, flag="--lpips-heads",
                               what=f"the LPIPS linear heads (lpips/weights/v{HEADS_VERSION}/{model.net}.pth)")
    heads = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0].startswith("lin") and parts[0][3:].isdigit() and parts[-1] == "weight":
            heads[f"{int(parts[0][3:])}.weight"] = value
        elif parts[0] == "heads" and len(parts) == 3:
            heads[f"{parts[1]}.weight"] = value
    try:
        model.heads.load_state_dict(heads, strict=True)
    except RuntimeError as exc:
        raise UserError(f"--lpips-heads {path}: not LPIPS {model.net} heads "
                        f"({str(exc).strip().splitlines()[0][:160]})") from None


def load_lpips(net: str = "alex", *, backbone: str | Path | None = None, heads: str | Path | None = None,
               device: str = "cpu") -> LPIPS:
    """LPIPS with its weights (see the module docstring), frozen, in eval mode."""
    model = LPIPS(net)
    _load_backbone(model, find_backbone(net, backbone))
    _load_heads(model, find_heads(net, heads))
    return model.to(device).eval().requires_grad_(False)


def lpips_distance(model: LPIPS, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """N distances between N×C×H×W batches in [0, 1]; grayscale is repeated to RGB."""
    device = next(model.parameters()).device
    if a.shape[1] == 1:
        a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    with torch.inference_mode():
        return model(a.to(device), b.to(device)).double().cpu()

