"""Layers that autogradkit does not implement: convolutions, pooling and 2-d batch norm.

They exist so that code written for PyTorch stops at once with an error that says why and what
to do, instead of an ``AttributeError``: autogradkit teaches reverse-mode autodiff on dense layers
(``nn.Linear``, activations, losses). A convolution's backward is the same chain rule with more
index bookkeeping, and teaching it is outside that scope."""
from __future__ import annotations

from .module import Module


class _Unsupported(Module):
    what = "convolutional layers"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"nn.{type(self).__name__}: autogradkit does not implement {self.what}. Its teaching "
            "scope is dense layers (nn.Linear, activations, losses), where every step of reverse "
            "mode can be read. Instead, flatten the input (nn.Flatten()) and use nn.Linear layers, "
            f"or use PyTorch (torch.nn.{type(self).__name__}) for convolutional networks.")


class Conv1d(_Unsupported):
    what = "convolutions"


class Conv2d(_Unsupported):
    what = "convolutions"


class Conv3d(_Unsupported):
    what = "convolutions"


class MaxPool1d(_Unsupported):
    what = "pooling layers (they belong with convolutions)"


class MaxPool2d(_Unsupported):
    what = "pooling layers (they belong with convolutions)"


class AvgPool2d(_Unsupported):
    what = "pooling layers (they belong with convolutions)"


class BatchNorm2d(_Unsupported):
    what = "2-d batch normalization (it normalizes convolutional feature maps)"
