"""Unaligned two-domain data: ``--a`` and ``--b`` folders of any sizes, or built-in domains.

Built-in domains (generated on the fly, nothing downloaded) give an unpaired task whose true
mapping is known, for tests and demos:

  shapes, digits                  the built-in image sets of :mod:`translate.data.builtin`
  shapes-inverted, digits-inverted the same generator with every pixel inverted (255 - x)

so ``--a shapes --b shapes-inverted`` is a translation task whose answer, G_AB(a) = 255 - a (in
[-1, 1]: -a), is known exactly. Domain B is drawn with another seed than domain A, so the two
sets never hold the same shapes: the task is genuinely unpaired.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from translate.data import augment, builtin
from translate.data.datasets import uint8_to_tensor
from translate.data.sources import ImageSource, open_images
from translate.interfaces import Dataset

INVERTED = "-inverted"
# Domain B's built-in images come from seed + this offset, far from any nearby --seed of domain A.
B_SEED_OFFSET = 1_000_003


def builtin_domains() -> list[str]:
    return [*builtin.IMAGE_SETS, *(name + INVERTED for name in builtin.IMAGE_SETS)]


def builtin_domain(name: str, size: int, seed: int, count: int = builtin.BUILTIN_SIZE) -> ImageSource:
    """A built-in domain's images (H×W×3 uint8), ``name`` from :func:`builtin_domains`."""
    base = name.removesuffix(INVERTED)
    data = builtin.IMAGE_SETS[base](size=size, seed=seed, count=count)
    images = [255 - img for img in data.images] if name.endswith(INVERTED) else data.images
    return ImageSource(f"builtin:{name}", arrays=images, labels=data.labels, classes=data.classes)


def open_domain(value: str, flag: str, size: int, seed: int, skip_bad: bool = False) -> ImageSource:
    """A folder of images (recursive) or a built-in domain name."""
    domains = {name: functools.partial(builtin_domain, name) for name in builtin_domains()}
    return open_images(value, flag, size=size, seed=seed, skip_bad=skip_bad, builtins=domains)


class UnpairedDataset(Dataset):
    """Items ``{"a": C×H×W, "b": C×H×W}`` in [-1, 1]: A image ``index``, and a B image drawn at
    random from the item's seed, so every epoch pairs each A with fresh B's ("unaligned" mode of
    the reference code) while staying reproducible and resumable. The length is that of the
    larger domain, as in the reference; A indices wrap around."""

    def __init__(self, source_a: ImageSource, source_b: ImageSource, size: int, channels: int = 3,
                 resize: int | None = None, crop: str = "random", flip: bool = True):
        self.source_a, self.source_b, self.channels = source_a, source_b, channels
        self.transform = augment.train_transform(size, resize=resize, crop=crop, flip=flip)
        for source in (source_a, source_b):  # large files are decoded reduced to what the transform keeps
            source.min_side = resize or size

    def __len__(self) -> int:
        return max(len(self.source_a), len(self.source_b))

    def _image(self, source: ImageSource, index: int, seed: int) -> Any:
        img = augment.run(self.transform, seed, image=source.load(index, self.channels))["image"]
        return uint8_to_tensor(img[..., None] if img.ndim == 2 else img)

    def get(self, index: int, seed: int) -> dict[str, Any]:
        # B's index and its own augmentation seed both come from the item's seed.
        rng = np.random.default_rng([seed, 0xB])
        b_index = int(rng.integers(len(self.source_b)))
        b_seed = int(rng.integers(2**31 - 1))
        return {"a": self._image(self.source_a, index % len(self.source_a), seed),
                "b": self._image(self.source_b, b_index, b_seed)}
