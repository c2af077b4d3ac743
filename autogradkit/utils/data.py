"""``autogradkit.utils.data``: where PyTorch code looks for datasets and loaders
(``from torch.utils.data import DataLoader``); the same objects as ``autogradkit.data``."""
from ..data import (BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler,
                    SequentialSampler, Subset, TensorDataset, default_collate, random_split)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "DataLoader", "random_split",
           "default_collate", "SequentialSampler", "RandomSampler", "BatchSampler"]
