"""An endless, seeded, resumable sampler: position ``p`` of the stream is fully determined by
(seed, p), so a resumed run restarts the stream at the number of samples already consumed."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class ResumableSampler(torch.utils.data.Sampler):
    """Yields ``(index, seed)`` pairs: a fresh permutation per epoch, and a per-sample seed for
    augmentation."""

    def __init__(self, length: int, seed: int, start: int = 0):
        self.length, self.seed, self.start = length, seed, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.length)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.length)
            seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**31 - 1, self.length)
            for pos in range(offset, self.length):
                yield int(order[pos]), int(seeds[pos])
            epoch, offset = epoch + 1, 0
