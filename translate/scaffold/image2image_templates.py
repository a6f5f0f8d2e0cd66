"""Templates of ``translate plugin new NAME`` (``--kind image2image``, the default): a paired
translator. Inputs from ``--a``, targets from ``--b``, matched by file name; a small U-Net trained
on L1 plus a PatchGAN (after Isola et al. 2017); apply with tiles; export; ``translate eval``
(PSNR/SSIM on held-out pairs); ``translate import`` of a U-Net state dict saved elsewhere; tests.
The package has the shape of every built-in plugin: ``__init__.py``, ``networks.py``, ``data.py``,
``training.py``, ``evaluation.py``, ``reference.py`` (docs/plugins.md, "Package layout")."""

README = '''\
# {dist}

A paired image-to-image translation plugin for `translate`, written by `translate plugin new {name}`.

```
pip install -e .
translate plugins                                              # lists {name}
translate train {name} --help                                  # the Config fields are flags
translate train {name} --a inputs/ --b targets/ --out runs/{name}
translate apply runs/{name} photo.jpg -o out.png               # any size: padded, tiled
translate eval runs/{name} --a test_inputs/ --b test_targets/  # PSNR/SSIM against the targets
translate import unet.pth --plugin {name}                      # a U-Net state dict saved elsewhere
translate plugin check {name}                                  # the toolkit's conformance checks
pytest tests/
```

`--a` and `--b` are folders whose files pair up by name (`a/x.png` with `b/x.png`, any
extension). Start with `{package}/__init__.py` (config and hooks), then `networks.py` (the
U-Net and the PatchGAN), `training.py` (the two steps, apply, preview), `data.py` (the pairs),
`evaluation.py` (`translate eval`) and `reference.py` (`translate import`). See the plugin author
guide (docs/plugins.md in the translate repository): it lists what to import from translate.
'''

INIT = '''\
"""``{name}``: paired image-to-image translation (start from here and make it yours).

This module is what the entry point names. Keep it free of ``import torch``: ``translate train
{name} --help`` imports it to build the flags. The hooks only delegate: networks.py, data.py,
training.py, evaluation.py and reference.py do the work and are imported inside the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translate.config import param
from translate.plugin import Plugin


@dataclass
class {cls}Config:
    """Every field is a ``translate train {name}`` flag and a config-file key. Give each the
    paper's default and cite it in the help."""

    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    features: int = param(32, "width of the U-Net's first layer, doubling per level (Isola et al. 2017 use 64)",
                          positive=True)
    depth: int = param(4, "U-Net downsamplings: inputs are padded to multiples of 2^depth", min=1, max=8)
    lambda_l1: float = param(100.0, "weight of the L1 term against the adversarial one (Isola et al. 2017, §4.2: 100)",
                             min=0)
    lr: float = param(2e-4, "Adam learning rate of G and D (Isola et al. 2017, §3.3: 0.0002)", positive=True)
    beta1: float = param(0.5, "Adam beta1 (Isola et al. 2017, §3.3: 0.5)", min=0, max=0.9999)


class {cls}(Plugin):
    description = "{name}: paired image-to-image translation (scaffold)"
    Config = {cls}Config
    data_flags = {{"a": "folder of input images", "b": "folder of target images, paired with --a by file name"}}
    train_defaults = {{"batch_size": 4, "size": 64, "steps": 2000}}
    # Which way each metric of evaluate improves; psnr and ssim are the core's, "images" is a count.
    metric_goals = {{"images": None}}

    def build(self, config: {cls}Config, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, discriminator=training)

    def dataset(self, config: {cls}Config, options: Any, data: dict[str, str]) -> Any:
        from .data import PairedFolders

        return PairedFolders(data["a"], data["b"], options.size, config.channels, options.skip_bad_images)

    def optimizers(self, config: {cls}Config, modules: dict[str, Any]) -> dict[str, Any]:
        from translate.optim import adam  # torch's Adam with its fastest kernel for these parameters

        betas = (config.beta1, 0.999)
        return {{name: adam(modules[name].parameters(), lr=config.lr, betas=betas)
                for name in ("generator", "discriminator")}}

    def discriminator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import discriminator_step

        return discriminator_step(ctx, batch)

    def generator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        from .training import generator_step

        return generator_step(ctx, batch)

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        from .training import preview

        return preview(ctx.inference_modules()["generator"], ctx.preview_batch())

    def apply(self, modules: dict[str, Any], config: {cls}Config, images: Any, tile: int = 512,
              overlap: int = 32) -> Any:
        from .training import translate_images

        return translate_images(modules["generator"], images, tile, overlap)

    def export_module(self, modules: dict[str, Any], config: {cls}Config) -> Any:
        from translate.nn.padding import PadToMultiple

        generator = modules["generator"]
        return PadToMultiple(generator, generator.multiple)

    def evaluate(self, modules: dict[str, Any], config: {cls}Config, out_dir: Any, a: str | None = None,
                 b: str | None = None, n: int | None = None, tile: int = 512) -> dict[str, float]:
        """``translate eval CKPT --a DIR --b DIR``: held-out pairs through apply, PSNR/SSIM against
        the targets; the outputs are written to OUT/fake."""
        from .evaluation import evaluate

        return evaluate(modules["generator"], config, Path(out_dir), a, b, n, tile)

    def import_weights(self, tensors: dict[str, Any]) -> Any:
        """``translate import FILE``: a state dict of this plugin's U-Net saved by other code."""
        from .reference import import_generator

        return import_generator(tensors)

    def example_run(self, workdir: Path) -> dict[str, Any]:
        from .data import write_example_pairs

        a, b = write_example_pairs(workdir, count=8, size=32)
        return {{"a": str(a), "b": str(b), "size": 32, "batch_size": 2}}
'''

DATA = '''\
"""Paired data: ``--a`` inputs and ``--b`` targets matched by relative file name (extension
ignored), with the same random crop and flip on both sides of a pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from translate.data import augment
from translate.data.datasets import uint8_to_tensor
from translate.data.images import check_images, find_images, read_uint8, write_image
from translate.errors import UserError
from translate.interfaces import Dataset


def _by_name(folder: Path, flag: str, skip_bad: bool) -> dict[str, Path]:
    paths = check_images(find_images(folder, flag), flag, skip_bad)
    return {{p.relative_to(folder).with_suffix("").as_posix(): p for p in paths}}


class PairedFolders(Dataset):
    """Items ``{{"input": C×H×W, "target": C×H×W}}`` in [-1, 1], both cropped and flipped alike to
    ``size``² for training; ``size`` None reads whole pairs with ``load`` only (evaluation)."""

    def __init__(self, a: str, b: str, size: int | None, channels: int = 3, skip_bad: bool = False):
        inputs, targets = _by_name(Path(a), "--a", skip_bad), _by_name(Path(b), "--b", skip_bad)
        self.keys = sorted(set(inputs) & set(targets))
        if not self.keys:
            raise UserError(f"--a {{a}} and --b {{b}} have no file names in common; pairs are matched by name")
        self.inputs, self.targets, self.channels = inputs, targets, channels
        self.transform = (augment.train_transform(size, resize=size, extra_targets={{"target": "image"}})
                          if size else None)

    def __len__(self) -> int:
        return len(self.keys)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The pair ``index`` as read (uint8 H×W×C), before any crop or flip."""
        key = self.keys[index]
        x, y = read_uint8(self.inputs[key], self.channels), read_uint8(self.targets[key], self.channels)
        if x.shape != y.shape:
            raise UserError(f"{{self.inputs[key]}} and {{self.targets[key]}}: a pair must have one size, "
                            f"got {{x.shape[1]}}×{{x.shape[0]}} and {{y.shape[1]}}×{{y.shape[0]}}")
        return x, y

    def get(self, index: int, seed: int) -> dict[str, Any]:
        x, y = self.load(index)
        out = augment.run(self.transform, seed, image=x, target=y)
        return {{"input": uint8_to_tensor(out["image"]), "target": uint8_to_tensor(out["target"])}}


def write_example_pairs(workdir: Path, count: int = 8, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """A task with a known answer: shape images and their colour inverses (B = 255 - A)."""
    from translate.data.builtin import shapes

    a, b = Path(workdir) / "a", Path(workdir) / "b"
    for i, img in enumerate(shapes(size, seed, count).images):
        write_image(a / f"{{i:03d}}.png", img.astype(np.float32) / 255.0)
        write_image(b / f"{{i:03d}}.png", (255 - img).astype(np.float32) / 255.0)
    return a, b
'''

NETWORKS = '''\
"""Networks of ``{name}``: a small U-Net generator (Ronneberger et al. 2015, as used by Isola et
al. 2017) and the toolkit's PatchGAN discriminator, which sees input and output together."""

from __future__ import annotations

import torch
from torch import nn

from translate.interfaces import Generator
from translate.nn.layers import init_normal, norm_layer
from translate.nn.patchgan import PatchDiscriminator


class UNet(Generator):
    """Image (N×C×H×W in [-1, 1], sides multiples of 2^depth) → image; each decoder level gets the
    encoder's feature map of the same size (skip connections), so details survive the bottleneck."""

    def __init__(self, channels: int, features: int, depth: int):
        super().__init__()
        self.multiple = 2**depth
        widths = [features * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        c_in = channels
        for i, width in enumerate(widths):
            self.down.append(nn.Sequential(nn.Conv2d(c_in, width, 4, 2, 1),
                                           norm_layer("instance" if i else "none", width), nn.LeakyReLU(0.2)))
            c_in = width
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            c_out = widths[i - 1] if i else channels
            c_in = widths[i] * (1 if i == depth - 1 else 2)
            last = [nn.Tanh()] if i == 0 else [norm_layer("instance", c_out), nn.ReLU()]
            self.up.append(nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), *last))
        self.apply(init_normal)  # N(0, 0.02) (Isola et al. 2017, §4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()
        for i, block in enumerate(self.up):
            x = block(x if i == 0 else torch.cat([x, skips.pop()], dim=1))
        return x


def build_networks(config, discriminator: bool = True) -> dict[str, nn.Module]:
    """G, and D unless only inference needs the networks (apply, export)."""
    modules: dict[str, nn.Module] = {{"generator": UNet(config.channels, config.features, config.depth)}}
    if discriminator:
        # 34×34 patches (two strided layers); instance norm works at any batch size.
        modules["discriminator"] = PatchDiscriminator(2 * config.channels, config.features, 2, norm="instance")
    return modules
'''

TRAINING = '''\
"""The two steps of the cGAN game with an L1 term (Isola et al. 2017, eq. 4), apply and preview.

``ctx`` is translate's TrainContext: ``ctx.modules``, ``ctx.config``, ``ctx.frozen(*modules)`` and
``ctx.optimize(optimizer_name, loss)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from translate.losses import make_loss
from translate.plugin import Preview
from translate.tiling import tiled

LOSS = make_loss("nonsaturating")


def discriminator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    x, y = batch["input"], batch["target"]
    with torch.no_grad():
        fake = G(x)
    loss = LOSS.discriminator(D(torch.cat([x, y], 1)), D(torch.cat([x, fake], 1)))
    ctx.optimize("discriminator", loss)
    return {{"loss_d": loss.detach()}}


def generator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    x, y = batch["input"], batch["target"]
    with ctx.frozen(D):  # D's weights need no gradient here
        fake = G(x)
        adversarial = LOSS.generator(D(torch.cat([x, fake], 1)))
        l1 = F.l1_loss(fake.float(), y.float())
        ctx.optimize("generator", adversarial + ctx.config.lambda_l1 * l1)
    return {{"loss_g_gan": adversarial.detach(), "loss_l1": l1.detach()}}


def translate_images(generator: torch.nn.Module, images: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """Any size: padded to the U-Net's multiple and cropped back; large images in blended tiles."""
    return tiled(generator, images, tile=tile, overlap=overlap, multiple=generator.multiple)


def preview(generator: torch.nn.Module, batch: dict[str, Any]) -> Preview:
    """One row per preview item: input | output | target, captioned so on the run page."""
    x, y = batch["input"], batch["target"]
    images = torch.stack([x.float(), generator(x).float(), y.float()], dim=1).flatten(0, 1)
    return Preview(images, columns=("input", "output", "target"))
'''

EVALUATION = '''\
"""``translate eval`` of ``{name}``: held-out pairs through the generator as apply runs it, scored
against their targets with PSNR and SSIM (translate.metrics.image_quality: RGB on the 8-bit scale,
SSIM with Wang et al. 2004's 11×11 Gaussian window)."""

from __future__ import annotations

from pathlib import Path

import torch

from translate.data.datasets import uint8_to_tensor
from translate.data.images import write_image
from translate.errors import UserError
from translate.metrics.image_quality import psnr, ssim

from .data import PairedFolders
from .training import translate_images


def evaluate(generator: torch.nn.Module, config, out_dir: Path, a: str | None, b: str | None,
             n: int | None = None, tile: int = 512) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of G(input) against the target over the pairs of ``a`` and ``b``
    (the first ``n``), each pair at its own size; the outputs go to OUT/fake under the pairs' names."""
    if not (a and b):
        raise UserError("{name} evaluation needs paired test images: translate eval CKPT --a DIR --b DIR")
    pairs = PairedFolders(a, b, size=None, channels=config.channels)
    device = next(generator.parameters()).device
    scores: dict[str, list[float]] = {{"psnr": [], "ssim": []}}
    for index in range(min(len(pairs), n or len(pairs))):
        x, y = pairs.load(index)
        with torch.no_grad():
            fake = translate_images(generator, uint8_to_tensor(x)[None].to(device), tile, overlap=32)
        fake = (fake.float().cpu().clamp(-1, 1) + 1) / 2
        real = (uint8_to_tensor(y)[None] + 1) / 2
        scores["psnr"].append(psnr(fake, real).item())
        scores["ssim"].append(ssim(fake, real).item())
        write_image(out_dir / "fake" / f"{{pairs.keys[index]}}.png", fake[0].permute(1, 2, 0).numpy())
    return {{name: sum(values) / len(values) for name, values in scores.items()}} | {{"images": len(scores["psnr"])}}
'''

REFERENCE = '''\
"""``translate import FILE`` for ``{name}``: weights trained outside translate. Here, a state dict of
this plugin's own U-Net saved by other code (``torch.save(unet.state_dict(), "unet.pth")``),
recognised by its tensor names and shapes. To import a model released by another project, map its
tensor names onto the U-Net's in the same way (``translate.weights.remap`` with one ``Slot`` per
tensor), as the built-in plugins do in their reference.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from translate.plugin import Imported
from translate.weights import Slot, remap

PROBE = "down.0.0.weight"  # the first convolution: features × channels × 4 × 4


def import_generator(tensors: Mapping[str, torch.Tensor]) -> Imported | None:
    """Config values and the generator's weights for a state dict of the U-Net; None for any other
    file (another plugin may know it); a one-line error naming the first tensor that does not fit."""
    from . import {cls}Config
    from .networks import build_networks

    first = tensors.get(PROBE)
    if first is None or first.ndim != 4:
        return None
    features, channels = int(first.shape[0]), int(first.shape[1])
    depth = len({{name.split(".")[1] for name in tensors if name.startswith("down.")}})
    config = {{"channels": channels, "features": features, "depth": depth}}
    unet = build_networks(dataclasses.replace({cls}Config(), **config), discriminator=False)["generator"]
    plan = {{name: Slot(name, tuple(t.shape)) for name, t in unet.state_dict().items()}}
    layout = f"{name} U-Net, depth {{depth}}, {{features}} features, {{channels}} channels"
    return Imported(config, {{"generator": remap(tensors, plan, layout)}}, layout)
'''

TEST = '''\
"""Runs the plugin through translate itself; ``pytest tests/`` after ``pip install -e .``."""

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

import translate
from translate.testing import assert_plugin_conforms


def _translate(*args) -> str:
    """``translate ARGS`` as a user runs it; its standard output."""
    proc = subprocess.run([sys.executable, "-m", "translate", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_{name}_conforms_to_the_plugin_contract(tmp_path):
    # contract, config round trip, build, train, checkpoint reload, apply, export, resume
    assert_plugin_conforms("{name}", tmp_path)


def test_{name}_learns_a_known_mapping(tmp_path):
    """Inputs → their colour inverses: after a short run the translation of held-out images is much
    closer to the truth than doing nothing (the identity) is."""
    from {package}.data import write_example_pairs

    a, b = write_example_pairs(tmp_path / "train", count=32, size=32)
    model = translate.train("{name}", a=a, b=b, steps=150, size=32, batch_size=8, features=16,
                            sample_every=0, out=tmp_path / "run", progress=False)
    held_a, held_b = write_example_pairs(tmp_path / "held", count=8, size=32, seed=99)
    errors, identity = [], []
    for x_path, y_path in zip(sorted(held_a.iterdir()), sorted(held_b.iterdir())):
        x, y = np.asarray(Image.open(x_path), np.float32), np.asarray(Image.open(y_path), np.float32)
        errors.append(np.abs(np.asarray(model(x_path), np.float32) - y).mean())
        identity.append(np.abs(x - y).mean())
    assert np.mean(errors) < 0.5 * np.mean(identity), (np.mean(errors), np.mean(identity))
    # translate eval: PSNR/SSIM of the same held-out pairs, the outputs in OUT/fake
    report = json.loads(_translate("eval", tmp_path / "run", "--a", held_a, "--b", held_b,
                                   "-o", tmp_path / "eval", "--json"))
    assert "psnr" in json.dumps(report) and len(list((tmp_path / "eval" / "fake").iterdir())) == 8


def test_{name}_imports_a_state_dict_saved_elsewhere(tmp_path):
    from {package} import {cls}Config
    from {package}.data import write_example_pairs
    from {package}.networks import build_networks

    unet = build_networks({cls}Config(features=8, depth=3), discriminator=False)["generator"]
    torch.save(unet.state_dict(), tmp_path / "unet.pth")
    _translate("import", tmp_path / "unet.pth", "--plugin", "{name}", "-o", tmp_path / "unet.safetensors")
    imported = load_file(tmp_path / "unet.safetensors")
    assert all(torch.equal(imported[f"generator.{{k}}"], v) for k, v in unet.state_dict().items())
    a, _ = write_example_pairs(tmp_path / "pairs", count=1, size=32)
    assert np.asarray(translate.load(tmp_path / "unet.safetensors")(next(a.iterdir()))).shape == (32, 32, 3)
'''

MODULES = {"__init__": INIT, "networks": NETWORKS, "data": DATA, "training": TRAINING, "evaluation": EVALUATION,
           "reference": REFERENCE}
