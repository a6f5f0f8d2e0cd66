"""The srgan plugin's losses: the content loss (pixel MSE or L1, or VGG54, Ledig et al. 2017,
§2.2.1) and the adversarial loss (standard, or ESRGAN's relativistic average GAN).

VGG54: φ5,4 is the feature map of VGG19's 4th convolution (after its ReLU) before the 5th
max-pool, i.e. ``torchvision.models.vgg19().features[:36]``; features are rescaled by 1/12.75 so
that the loss is of the same order as the pixel MSE. Nothing is downloaded: the weights are torchvision's
ImageNet file found in its hub cache, or a file given with ``--vgg-weights``. No registry package
ships them, so where they are missing the gan stage takes ``st-vgg``: relu5_3 of the shift-tolerant
VGG16 whose weights ship inside the ``stlpips-pytorch`` wheel (the metrics extra), the same MSE.

RaGAN: the relativistic average GAN loss of ESRGAN (Wang et al. 2018, §3.2, eqs. 1-2; after
Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from standard GAN").

A standard discriminator estimates the probability that an image is real, D(x) = σ(C(x)). The
relativistic average discriminator estimates whether a real image is more realistic than the
fakes are on average:

    D_Ra(x_r, x_f) = σ(C(x_r) − E_xf[C(x_f)])

    L_D^Ra = −E_xr[log D_Ra(x_r, x_f)] − E_xf[log(1 − D_Ra(x_f, x_r))]          (eq. 1)
    L_G^Ra = −E_xr[log(1 − D_Ra(x_r, x_f))] − E_xf[log D_Ra(x_f, x_r)]           (eq. 2)

so the generator is trained by the gradients of real images as well as of its own (the G term
needs the discriminator's logits on the real batch). Expectations are batch means. With logits,
log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z), which stay finite where σ saturates.
BasicSR's ESRGAN model halves the two D terms and detaches the other side's logits in each; this
is the paper's formula.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import UserError
from translate.interfaces import Loss
from translate.losses import make_loss
from translate.nn.state import strip_prefix
from translate.weights import read_torch_weights

# torchvision's VGG19 layout ("E"): numbers are conv widths, "M" max-pools.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                512, 512, 512, 512, "M")
VGG54_DEPTH = 36  # features[:36] ends with the ReLU after conv5_4, before the 5th max-pool
FEATURE_SCALE = 1 / 12.75  # Ledig et al. 2017, §2.2.1
# The paper's reason for 1/12.75, applied to the shift-tolerant VGG16 (whose relu5_3 features are
# larger): bicubic ×4 upscalings of 96² training crops of the 12 mate-backgrounds photos score the
# same on this loss as on the pixel MSE (mean feature MSE 93.7 against pixel MSE 0.0056, in [-1, 1]).
ST_VGG_FEATURE_SCALE = 1 / 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # VGG19_Weights.IMAGENET1K_V1


def vgg19_features(depth: int = VGG54_DEPTH) -> nn.Sequential:
    """The first ``depth`` layers of torchvision's ``vgg19().features``, with the same indices, so
    its state-dict keys (``features.N.weight``) load directly."""
    layers: list[nn.Module] = []
    c_in = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, item, 3, padding=1), nn.ReLU(inplace=True)]
            c_in = item
    return nn.Sequential(*layers[:depth])


def torchvision_cache_file() -> Path:
    """Where ``torchvision.models.vgg19(weights=VGG19_Weights.IMAGENET1K_V1)`` keeps its download."""
    try:
        from torchvision.models import VGG19_Weights

        url = VGG19_Weights.IMAGENET1K_V1.url
    except ImportError:  # older torchvision: same file name
        url = TORCHVISION_URL
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def find_weights(explicit: str | None) -> Path:
    """The VGG19 weight file to use, or a one-line error saying where to put one."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"--vgg-weights {path}: no such file; pass torchvision's VGG19 weights "
                            "(vgg19-dcbb9e9d.pth) or a .safetensors file of the same tensors")
        return path
    cached = torchvision_cache_file()
    if cached.is_file():
        return cached
    raise UserError(f"the vgg54 content loss needs VGG19 ImageNet weights: download {TORCHVISION_URL} to "
                    f"{cached} (torchvision's cache) or pass --vgg-weights FILE (.safetensors or .pth), "
                    "or pip install 'translate-gan[metrics]' for --content-loss st-vgg, or use --content-loss mse")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, or of a .pth through PyTorch's weights-only loader
    (torchvision ships its weights only as .pth); see :mod:`translate.weights`."""
    return read_torch_weights(path, what="torchvision's vgg19-dcbb9e9d.pth or a .safetensors of its tensors")


def load_vgg54(path: Path) -> nn.Sequential:
    """VGG19 up to φ5,4 with the weights in ``path`` (keys ``features.N.*`` or ``N.*``), frozen."""
    net = vgg19_features()
    state = {}
    for name, value in strip_prefix(read_weights(path), "features.").items():
        if name.split(".", 1)[0].isdigit() and int(name.split(".", 1)[0]) < VGG54_DEPTH:
            state[name] = value
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"{path}: not VGG19 weights ({str(exc).splitlines()[0][:200]})") from None
    return net.eval().requires_grad_(False)


class FeatureLoss(nn.Module):
    """Distance between rescaled features of two images in [-1, 1], the target's without gradients.
    ``shift``/``scale`` map [-1, 1] to the statistics the network was trained on. SRGAN's form
    (``esrgan=False``): the features after their last ReLU, times ``feature_scale``, MSE (Ledig et
    al. 2017, §2.2.1). ESRGAN's (``esrgan=True``): the same layer *before* its ReLU, unscaled, L1
    (Wang et al. 2018, §3.3: denser and more informative before the activation; BasicSR's
    PerceptualLoss, weight 1), the scale against which ESRGAN's λ = 5·10⁻³ and η = 10⁻² are set."""

    def __init__(self, features: nn.Sequential, shift, scale, feature_scale: float, esrgan: bool = False):
        super().__init__()
        if esrgan:
            features, feature_scale = features[:-1], 1.0  # drop the last ReLU
        self.features, self.feature_scale = features, feature_scale
        self.distance = F.l1_loss if esrgan else F.mse_loss
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.shift) / self.scale) * self.feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.embed(hr)
        return self.distance(self.embed(sr).float(), target.float())


class VGG54Loss(FeatureLoss):
    """VGG19's φ5,4 on ImageNet-normalised inputs, rescaled by 1/12.75 (Ledig et al. 2017, §2.2.1)."""

    def __init__(self, features: nn.Sequential, esrgan: bool = False):
        super().__init__(features, [2 * m - 1 for m in IMAGENET_MEAN], [2 * s for s in IMAGENET_STD], FEATURE_SCALE,
                         esrgan)


class ShiftTolerantVGGLoss(FeatureLoss):
    """relu5_3 of the shift-tolerant VGG16 that ships inside the ``stlpips-pytorch`` wheel
    (Ghildyal & Liu 2022): the deepest features before its last pool, as φ5,4 is VGG19's. A
    perceptual content loss that needs no download, where torchvision's VGG19 is not on the
    machine. Inputs go through the LPIPS scaling layer the network was trained with."""

    def __init__(self, features: nn.Sequential, esrgan: bool = False):
        from translate.metrics.lpips import SCALE, SHIFT

        super().__init__(features, SHIFT, SCALE, ST_VGG_FEATURE_SCALE, esrgan)


def load_st_vgg53() -> nn.Sequential:
    """The shift-tolerant VGG16 up to relu5_3 with the wheel's weights, frozen."""
    from translate.metrics.lpips import load_features

    if not st_vgg_available():
        raise UserError("--content-loss st-vgg needs the shift-tolerant VGG16 that stlpips-pytorch ships: pip install "
                        "'translate-gan[metrics]', or use --content-loss vgg54 with --vgg-weights FILE")
    return load_features("st-vgg")


def vgg19_available(explicit: str | None) -> bool:
    return bool(explicit) or torchvision_cache_file().is_file()


def st_vgg_available() -> bool:
    from translate.metrics.lpips import bundled_file

    return bundled_file("st-vgg") is not None


def make_content_loss(config, device: torch.device):
    """A callable (sr, hr) → scalar. VGG weights are read here, at training time only."""
    if config.content_loss == "mse":
        return lambda sr, hr: F.mse_loss(sr.float(), hr.float())
    if config.content_loss == "l1":
        return lambda sr, hr: F.l1_loss(sr.float(), hr.float())
    esrgan = config.arch == "rrdb"  # ESRGAN's perceptual loss, the one its loss weights are set against
    if config.content_loss == "st-vgg":
        return ShiftTolerantVGGLoss(load_st_vgg53(), esrgan).to(device)
    return VGG54Loss(load_vgg54(find_weights(config.vgg_weights)), esrgan).to(device)


# ---- adversarial losses -------------------------------------------------------------------------

class RelativisticAverage(Loss):
    """RaGAN on discriminator logits C(x) (Wang et al. 2018, eqs. 1-2)."""

    name = "ragan"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        return F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None:
            raise ValueError("the relativistic generator loss needs the discriminator's logits on real images")
        real, fake = real.float(), fake.float()
        return F.softplus(real - fake.mean()).mean() + F.softplus(-(fake - real.mean())).mean()


ADVERSARIAL = make_loss("nonsaturating")  # -log D(G(I_LR)) for G, BCE for D (Ledig et al. 2017, eq. 6)
RAGAN = RelativisticAverage()  # Wang et al. 2018, eqs. 1-2


def adversarial_loss(config):
    """The gan stage's adversarial loss (``gan_loss``, resolved by finalize_config)."""
    return RAGAN if config.gan_loss == "ragan" else ADVERSARIAL
