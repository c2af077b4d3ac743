"""Neural-network building blocks with PyTorch's names: ``Module``, ``Parameter``, ``Linear``,
``Sequential``, ``ModuleList``, activations, ``Dropout`` and losses."""
from .parameter import Parameter
from .module import Module
from .layers import (Linear, Sequential, ModuleList, ReLU, Tanh, Sigmoid, Softmax, LogSoftmax,
                     Dropout, Identity, Flatten)
from .losses import MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss
from . import functional, init

__all__ = ["Parameter", "Module", "Linear", "Sequential", "ModuleList", "ReLU", "Tanh", "Sigmoid",
           "Softmax", "LogSoftmax", "Dropout", "Identity", "Flatten", "MSELoss", "L1Loss", "CrossEntropyLoss",
           "NLLLoss", "BCEWithLogitsLoss", "functional", "init"]
