"""Templates of ``translate plugin new NAME --kind gan``: a DCGAN-style unconditional GAN
(noise in, images out) in the package layout of every plugin (docs/plugins.md): ``__init__.py``,
``networks.py``, ``training.py``. It has no ``data.py`` (translate's ImageDataset reads its
images), ``evaluation.py`` or ``reference.py``: add them when the plugin has that work."""

README = '''\
# {dist}

A plugin for `translate`, written by `translate plugin new {name}`.

```
pip install -e .
translate plugins                                        # lists {name}
translate train {name} --help                            # the Config fields are flags
translate train {name} --data shapes --size 32 --out runs/{name}
translate sample runs/{name} -n 64 -o samples.png
pytest tests/
```

Start with `{package}/__init__.py` (config and hooks), then `networks.py` and `training.py`.
See the plugin author guide (docs/plugins.md in the translate repository): it describes the
package layout (add `data.py`, `evaluation.py` or `reference.py` when the plugin needs them) and
lists what to import from translate.
'''

INIT = '''\
"""``{name}``: an unconditional GAN (start from here and make it yours).

This module is what the entry point names. Keep it free of ``import torch``: ``translate train
{name} --help`` imports it to build the flags. The hooks only delegate: networks.py and
training.py do the work and are imported inside the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translate.config import param
from translate.plugin import Plugin


@dataclass
class {cls}Config:
    """Every field is a ``translate train {name}`` flag and a config-file key. Give each the
    paper's default and cite it in the help."""

    latent_dim: int = param(100, "size of the noise vector z (Radford et al. 2016, §4: 100)")
    channels: int = param(3, "image channels: 3 = RGB, 1 = grayscale (images are converted on load)")
    features: int = param(32, "width of the networks (Radford et al. 2016 use 64)")
    lr: float = param(2e-4, "Adam learning rate (Radford et al. 2016, §4: 0.0002)")
    beta1: float = param(0.5, "Adam beta1 (Radford et al. 2016, §4: 0.5)")


class {cls}(Plugin):
    description = "{name}: an unconditional GAN (scaffold)"
    Config = {cls}Config
    train_defaults = {{"batch_size": 64, "size": 32, "steps": 2000}}

    def build(self, config: {cls}Config, options: Any, training: bool = True) -> dict[str, Any]:
        from .networks import build_networks

        return build_networks(config, options.size, discriminator=training)

    def dataset(self, config: {cls}Config, options: Any, data: dict[str, str]) -> Any:
        from translate.data.datasets import ImageDataset
        from translate.data.sources import open_images

        source = open_images(data["data"], "--data", size=options.size, seed=options.seed,
                             skip_bad=options.skip_bad_images)
        return ImageDataset(source, options.size, config.channels)

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

    def sample(self, modules: dict[str, Any], config: {cls}Config, n: int, generator: Any) -> Any:
        from .training import sample

        return sample(modules["generator"], n, generator)
'''

NETWORKS = '''\
"""Networks of ``{name}``: a small DCGAN (Radford et al. 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn

from translate.errors import UserError
from translate.interfaces import Discriminator, Generator
from translate.nn.layers import init_normal


def _depth(size: int) -> int:
    depth = int(math.log2(size)) - 2  # doublings from 4×4
    if size < 8 or 2 ** (depth + 2) != size:
        raise UserError(f"--size {{size}}: this model needs a power of two ≥ 8 (e.g. 32, 64)")
    return depth


class {cls}Generator(Generator):
    """z → 4×4 → ... → size×size, transposed convs with BatchNorm and ReLU, tanh output."""

    def __init__(self, latent_dim: int, channels: int, size: int, features: int):
        super().__init__()
        self.latent_dim = latent_dim
        width = features * 2 ** (_depth(size) - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(_depth(size) - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal)  # N(0, 0.02) (Radford et al. 2016, §4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class {cls}Discriminator(Discriminator):
    """Strided convs with LeakyReLU 0.2, one logit per image (the loss takes logits)."""

    def __init__(self, channels: int, size: int, features: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = features
        for _ in range(_depth(size) - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build_networks(config, size: int, discriminator: bool = True) -> dict[str, nn.Module]:
    """G, and D unless only inference needs the networks (apply, sample, export)."""
    modules: dict[str, nn.Module] = {{"generator": {cls}Generator(config.latent_dim, config.channels, size,
                                                                   config.features)}}
    if discriminator:
        modules["discriminator"] = {cls}Discriminator(config.channels, size, config.features)
    return modules
'''

TRAINING = '''\
"""One discriminator step and one generator step (Goodfellow et al. 2014, Alg. 1), and sampling.

``ctx`` is translate's TrainContext: ``ctx.modules``, ``ctx.config``, ``ctx.randn``,
``ctx.frozen(*modules)`` and ``ctx.optimize(optimizer_name, loss)``.
"""

from __future__ import annotations

from typing import Any

import torch

from translate.losses import make_loss

LOSS = make_loss("nonsaturating")


def discriminator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    real = batch["image"]
    with torch.no_grad():
        fake = G(ctx.randn(real.shape[0], ctx.config.latent_dim))
    loss = LOSS.discriminator(D(real), D(fake))
    ctx.optimize("discriminator", loss)
    return {{"loss_d": loss.detach()}}


def generator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    with ctx.frozen(D):  # D's weights need no gradient here
        loss = LOSS.generator(D(G(ctx.randn(batch["image"].shape[0], ctx.config.latent_dim))))
        ctx.optimize("generator", loss)
    return {{"loss_g": loss.detach()}}


def sample(generator: torch.nn.Module, n: int, rng: torch.Generator) -> torch.Tensor:
    device = next(generator.parameters()).device
    return generator(torch.randn(n, generator.latent_dim, generator=rng).to(device))
'''

TEST = '''\
"""Runs the plugin through translate's own trainer; ``pytest tests/`` after ``pip install -e .``."""

import numpy as np

import translate
from translate.testing import assert_plugin_conforms


def test_{name}_conforms_to_the_plugin_contract(tmp_path):
    # contract, config round trip, build, train, checkpoint reload, sample, resume (translate plugin check)
    assert_plugin_conforms("{name}", tmp_path)


def test_{name}_trains_and_samples(tmp_path):
    model = translate.train("{name}", data="shapes", steps=20, batch_size=16, size=32, features=8,
                            sample_every=0, out=tmp_path / "run", progress=False)
    assert model.step == 20
    images = np.asarray(translate.load(tmp_path / "run").sample(4, seed=0))
    assert images.std() > 3  # a grid of varied samples, not a constant image
'''


MODULES = {"__init__": INIT, "networks": NETWORKS, "training": TRAINING}
