"""``autogradkit.utils.data``: where PyTorch code looks for datasets and loaders
(``from torch.utils.data import DataLoader``); the same objects as ``autogradkit.data``."""
from ..data import DataLoader, Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split"]
