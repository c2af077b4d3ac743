"""``autogradkit.utils``: PyTorch's ``torch.utils`` paths (``utils.data``)."""
from . import data

__all__ = ["data"]
