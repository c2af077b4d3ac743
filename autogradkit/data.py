"""Datasets and ``DataLoader``: mini-batches, optionally shuffled, reproducibly (PyTorch's names;
also importable as ``autogradkit.utils.data``, PyTorch's path)."""
from __future__ import annotations

import warnings

import numpy as np

from . import dtypes
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


class IterableDataset(Dataset):
    """A dataset that is a stream: it defines ``__iter__`` (yielding samples) instead of
    ``__getitem__``. A ``DataLoader`` batches what it yields, in order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__(self)")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it instead")


class SequentialSampler:
    """The indices 0, 1, …, len(data) − 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler:
    """A new random order of the indices on each pass (``generator``: a seed or a
    ``numpy.random.Generator``; by default one seeded from autogradkit's global generator)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if replacement or num_samples is not None:
            raise NotImplementedError("RandomSampler: replacement and num_samples are not "
                                      "supported by autogradkit; use the default (a permutation)")
        self.data_source, self.generator = data_source, _numpy_generator(generator)

    def __iter__(self):
        return iter(self.generator.permutation(len(self.data_source)).tolist())

    def __len__(self):
        return len(self.data_source)


class BatchSampler:
    """Groups the indices from ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _numpy_generator(generator):
    if generator is None:
        return np.random.default_rng(default_generator().integers(2 ** 63))
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    return generator


_WORKERS_NOTE_SHOWN = False


def _note_workers(num_workers):
    """Say once per process that ``num_workers`` is accepted but batches are made in-process."""
    global _WORKERS_NOTE_SHOWN
    if not _WORKERS_NOTE_SHOWN:
        _WORKERS_NOTE_SHOWN = True
        warnings.warn(f"DataLoader: num_workers={num_workers} is accepted, but autogradkit loads "
                      "batches in this process, one after another (no worker processes; "
                      "worker_init_fn is not called). The batches are the same as with "
                      "num_workers=0. (Shown once.)", UserWarning, stacklevel=3)


class DataLoader:
    """Iterate over a dataset in batches, with PyTorch's arguments.

    ``shuffle=True`` draws a new order each epoch from ``generator`` (a seed or a
    ``numpy.random.Generator``; by default one seeded from autogradkit's global generator when the
    loader is made), so a seeded run repeats exactly. ``sampler`` (an iterable of indices) or
    ``batch_sampler`` (an iterable of lists of indices) choose the order instead. ``collate_fn``
    turns a list of samples into a batch (``default_collate`` by default). ``batch_size=None``
    yields the samples one by one, uncollated.

    Accepted for PyTorch's signature, with no effect here: ``num_workers`` (batches are made in
    this process; a note says so once), ``pin_memory`` (there is no pinned memory to use),
    ``timeout``, ``worker_init_fn``, ``multiprocessing_context``, ``prefetch_factor``,
    ``persistent_workers``, ``pin_memory_device``, ``in_order``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or isinstance(batch_size, bool) or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got "
                             f"{batch_size!r}")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got "
                             f"{num_workers!r}")
        if num_workers > 0:
            _note_workers(num_workers)
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset gives its samples in its own order; "
                             "leave shuffle, sampler and batch_sampler unset")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
        self.dataset, self.num_workers, self.pin_memory = dataset, int(num_workers), pin_memory
        self.batch_size = None if batch_size is None or batch_sampler is not None else int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), drop_last
        self.generator = _numpy_generator(generator) if (shuffle or generator is not None) else None
        self.collate_fn = collate_fn
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.persistent_workers, self.prefetch_factor = persistent_workers, prefetch_factor
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if batch_sampler is None and batch_size is not None and not iterable and sampler is not None:
            self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            raise TypeError("DataLoader: an IterableDataset has no length")
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _index_batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        if self.batch_size is None:
            yield from order.tolist()
            return
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self):
        if isinstance(self.dataset, IterableDataset):
            yield from self._iter_stream()
            return
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for idx in self._index_batches():
            if self.batch_size is None and self.batch_sampler is None:
                sample = self.dataset[int(idx)]
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            elif fast:
                index = Tensor._make(np.asarray(idx, dtype=np.int64))
                yield tuple(t[index] for t in self.dataset.tensors)
            else:
                samples = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or default_collate)(samples)

    def _iter_stream(self):
        collate = self.collate_fn or default_collate
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)


def default_collate(batch):
    """A list of samples → one batch, as PyTorch's ``default_collate``: tensors are stacked (a new
    first dimension); numpy arrays too; Python floats become a float64 tensor, ints int64, bools
    bool; strings stay a list; tuples and lists are collated position by position (a tuple), dicts
    key by key."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, np.ndarray):
        return stack([tensor(a) for a in batch])
    if isinstance(first, (bool, np.bool_)):
        return tensor(batch, dtype=dtypes.bool_)
    if isinstance(first, (int, np.integer)):
        return tensor(batch, dtype=dtypes.int64)
    if isinstance(first, (float, np.floating)):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {k: default_collate([d[k] for d in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in batch):
            raise RuntimeError("default_collate: each element in the batch should be of equal size")
        return tuple(default_collate([s[k] for s in batch]) for k in range(len(first)))
    raise TypeError(f"default_collate: can't batch samples of type {type(first).__name__}; give "
                    "DataLoader a collate_fn")


_collate = default_collate
