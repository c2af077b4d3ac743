"""Neural-network building blocks with PyTorch's names: ``Module``, ``Parameter``, ``Linear``,
``LazyLinear``, ``Sequential``, ``ModuleList``, activations, ``Dropout``, ``LayerNorm`` and losses.
``Conv2d`` and the other convolutional layers exist only to say they are out of scope."""
from .parameter import Parameter
from .module import Module
from .layers import (Linear, LazyLinear, UninitializedParameter, Sequential, ModuleList, ReLU, Tanh,
                     Sigmoid, Softmax, LogSoftmax, Softplus, LogSigmoid, LeakyReLU, ELU, SiLU,
                     Dropout, Identity, Flatten, LayerNorm)
from .losses import MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss
from .unsupported import Conv1d, Conv2d, Conv3d, MaxPool1d, MaxPool2d, AvgPool2d, BatchNorm2d
from . import functional, init, utils

__all__ = ["Parameter", "Module", "Linear", "LazyLinear", "UninitializedParameter", "Sequential",
           "ModuleList", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Softplus", "LogSigmoid",
           "LeakyReLU", "ELU", "SiLU", "Dropout", "Identity", "Flatten", "LayerNorm", "MSELoss", "L1Loss", "CrossEntropyLoss",
           "NLLLoss", "BCEWithLogitsLoss", "Conv1d", "Conv2d", "Conv3d", "MaxPool1d", "MaxPool2d",
           "AvgPool2d", "BatchNorm2d", "functional", "init", "utils"]
