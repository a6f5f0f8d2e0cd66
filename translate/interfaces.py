"""The four interfaces that plugins fill in. Importing this module imports torch.

Generator      an ``nn.Module`` whose ``forward`` maps noise (N×Z) or images (N×C×H×W in [-1, 1])
               to images in [-1, 1] (or N×2 points for 2-D data). Class-conditional generators
               take ``labels`` (N,) as a second argument.
Discriminator  an ``nn.Module`` whose ``forward`` maps a sample (and optionally a condition) to raw
               logits of any shape: one per image, or one per patch for PatchGAN.
Loss           an adversarial objective: ``discriminator(real_logits, fake_logits)`` and
               ``generator(fake_logits, real_logits=None)``, both returning a scalar tensor.
Dataset        a map-style dataset of dicts of tensors. The trainer indexes it with
               ``(index, seed)`` so that augmentation is reproducible and a resumed run sees the
               same batches; implement ``__len__`` and ``get(index, seed)``.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn


class Generator(nn.Module):
    """Noise or image in, image out. Subclasses implement ``forward``."""

    #: Size of the noise vector for generators that sample (0 for image-to-image generators).
    latent_dim: int = 0


class Discriminator(nn.Module):
    """Sample in, logits out (no sigmoid: losses work on logits for numerical stability)."""


class Loss(abc.ABC):
    """An adversarial loss on discriminator logits. Both methods return a scalar tensor."""

    #: Short name used by ``--loss``.
    name: str = ""

    @abc.abstractmethod
    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Loss minimised by the discriminator, given its logits on real and fake samples."""

    @abc.abstractmethod
    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """Loss minimised by the generator, given the discriminator's logits on fake samples."""


class Dataset(torch.utils.data.Dataset, abc.ABC):
    """Map-style dataset of dicts of tensors, indexed by ``(index, seed)`` or a plain index."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def get(self, index: int, seed: int) -> dict[str, Any]:
        """Item ``index``, with any randomness (augmentation, pairing) drawn from ``seed``."""

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, index_seed(key))
        return self.get(index, seed)


def index_seed(index: int) -> int:
    """Deterministic seed for plain-integer indexing (evaluation, debugging)."""
    return (index * 2654435761) % (2**32)
