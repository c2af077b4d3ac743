"""``TensorDataset`` and ``DataLoader``: mini-batches, optionally shuffled, reproducibly."""
from __future__ import annotations

import numpy as np

from .creation import default_generator, tensor
from .functional import stack
from .tensor import Tensor


class TensorDataset:
    """Samples are the rows of the given tensors (all with the same first dimension)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        n = tensors[0].shape[0]
        for k, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"TensorDataset: all tensors need the same first dimension; tensor 0 "
                                 f"has {n} rows and tensor {k} has {t.shape[0]}")
        self.tensors = tensors

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)


class DataLoader:
    """Iterate over a dataset in batches.

    ``shuffle=True`` draws a new order each epoch from ``generator`` (a ``numpy.random.Generator``;
    by default one seeded from autogradkit's global generator when the loader is made), so a
    seeded run repeats exactly.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        if generator is None and shuffle:
            generator = np.random.default_rng(default_generator().integers(2 ** 63))
        elif isinstance(generator, (int, np.integer)):
            generator = np.random.default_rng(int(generator))
        self.generator = generator

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                yield tuple(t[Tensor._make(idx)] for t in self.dataset.tensors)
            else:
                samples = [self.dataset[int(i)] for i in idx]
                yield _collate(samples)


def _collate(samples):
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[k] for s in samples]) for k in range(len(first)))
    return tensor(samples)
