"""An endless, seeded, resumable sampler: position ``p`` of the stream is fully determined by
(seed, p), so a resumed run restarts the stream at the number of samples already consumed.

Under torchrun, rank ``r`` of ``W`` processes takes positions ``r, r + W, r + 2W, ...`` of the same
stream: its k-th batch of ``b`` items holds the positions ``r::W`` of the k-th global batch of
``W·b``, so the ranks never share an item, together they see exactly the global batch that one
process with batch ``W·b`` would see (augmentation seeds included, which belong to positions), and
each rank's items and augmentations are reproducible from (seed, position) alone."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class ResumableSampler(torch.utils.data.Sampler):
    """Yields ``(index, seed)`` pairs: a fresh permutation per epoch, and a per-sample seed for
    augmentation. ``start`` is the global stream position to begin at (samples consumed by all
    ranks together); this rank yields positions ``start + rank``, then every ``world_size``-th."""

    def __init__(self, length: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of {world_size}")
        self.length, self.seed, self.start = length, seed, start
        self.rank, self.world_size = rank, world_size

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.length)
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**31 - 1, self.length)
        return order, seeds

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position, cached, order, seeds = self.start + self.rank, None, None, None
        while True:
            epoch, pos = divmod(position, self.length)
            if epoch != cached:
                (order, seeds), cached = self._epoch(epoch), epoch
            yield int(order[pos]), int(seeds[pos])
            position += self.world_size
