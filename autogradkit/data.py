"""Datasets and ``DataLoader``: mini-batches, optionally shuffled, reproducibly (PyTorch's names;
also importable as ``autogradkit.utils.data``, PyTorch's path)."""
from __future__ import annotations

import numpy as np

from .creation import default_generator, tensor
from .functional import stack
from .tensor import Tensor


class Dataset:
    """The base of every dataset: ``__getitem__(i)`` gives sample ``i``; most also have ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index)")


class TensorDataset(Dataset):
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


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, i):
        if isinstance(i, (list, tuple)):
            return [self.dataset[self.indices[k]] for k in i]
        return self.dataset[self.indices[i]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping ``Subset``s of the given lengths, drawn at random.

    ``lengths`` are counts that add up to ``len(dataset)``, or fractions that add up to 1 (as in
    PyTorch, ``floor(f · n)`` each, and what is left over goes one by one to the first subsets).
    ``generator``: a seed or a ``numpy.random.Generator``; by default one drawn from autogradkit's
    global generator, so ``manual_seed`` makes the split repeat.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(f, float) for f in lengths) and abs(sum(lengths) - 1) < 1e-9:
        if any(f < 0 or f > 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(np.floor(f * n)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if any(not isinstance(c, (int, np.integer)) or c < 0 for c in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} must be counts adding up to the "
                         f"dataset's length {n}, or fractions adding up to 1")
    if generator is None:
        generator = np.random.default_rng(default_generator().integers(2 ** 63))
    elif isinstance(generator, (int, np.integer)):
        generator = np.random.default_rng(int(generator))
    order = generator.permutation(n).tolist()
    subsets, start = [], 0
    for count in lengths:
        subsets.append(Subset(dataset, order[start:start + count]))
        start += count
    return subsets


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
