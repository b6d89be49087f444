"""``DistributedSampler``: each rank's share of a dataset, PyTorch's rules (issue 16)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import distributed
from ..errors import ArgumentError
from ..ops.shape import shown

__all__ = ["DistributedSampler"]


def _count(value: Any, name: str, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ArgumentError(f"DistributedSampler: {name}={shown(value)}; expected an integer from {low}")
    return int(value)


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads in an epoch (PyTorch's
    ``torch.utils.data.DistributedSampler``): pass it as ``DataLoader(dataset, sampler=...)``.

    Every rank draws the same order (a permutation seeded with ``seed + epoch`` when ``shuffle``, else
    ``0, 1, ...``), makes its length a multiple of ``num_replicas`` by repeating its first indices
    (``drop_last=False``) or leaving out its last ones (``drop_last=True``), and takes every
    ``num_replicas``-th index from position ``rank``. So the ranks' shares are disjoint (but for the
    repeated indices) and of equal length. The permutation is NumPy's (``default_rng(seed + epoch)``), not
    ``torch.randperm``'s: the same rules, other random numbers.

    Args:
        dataset: anything with ``len()``.
        num_replicas: the number of ranks (default: ``tg.distributed.world_size()``).
        rank: this rank (default: ``tg.distributed.rank()``).
        shuffle: a new permutation each epoch (call :meth:`set_epoch` before each).
        seed: the seed shared by every rank.
        drop_last: leave out the tail instead of padding.

    Raises:
        ArgumentError: for a ``num_replicas`` below 1, a ``rank`` outside ``[0, num_replicas)``, a negative
            ``seed``, or a ``dataset`` without ``len()``.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        try:
            self.length = len(dataset)
        except TypeError:
            raise ArgumentError(f"DistributedSampler: the dataset {shown(dataset)} has no len()") from None
        self.num_replicas = _count(distributed.world_size() if num_replicas is None else num_replicas,
                                   "num_replicas", 1)
        self.rank = _count(distributed.rank() if rank is None else rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ArgumentError(f"DistributedSampler: rank={self.rank}; expected a rank from 0 to "
                                f"{self.num_replicas - 1} (num_replicas={self.num_replicas})")
        self.dataset, self.shuffle, self.drop_last = dataset, bool(shuffle), bool(drop_last)
        self.seed = _count(seed, "seed", 0)
        self.epoch = 0
        if self.drop_last and self.length % self.num_replicas:
            self.num_samples = math.ceil((self.length - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(self.length / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch`` (every rank must set the same).

        Raises:
            ArgumentError: for a negative ``epoch``.
        """
        self.epoch = _count(epoch, "epoch", 0)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch (int64), ``len(self)`` of them."""
        n = self.length
        order = (np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                 else np.arange(n, dtype=np.int64))
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            order = np.concatenate([order, np.resize(order, self.total_size - n)])  # np.resize repeats it
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
