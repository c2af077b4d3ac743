"""Layers: ``Linear``, ``LazyLinear``, ``Sequential``, ``ModuleList``, activations, ``Dropout``,
``Flatten`` and ``LayerNorm``."""
from __future__ import annotations

import math
from collections import OrderedDict

from .. import creation
from ..autograd.grad_mode import no_grad
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x Wᵀ + b, with W of shape (out_features, in_features).

    Initialised as PyTorch does: W and b uniform in ±1/√in_features."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet: a lazy module's, until its first forward. It holds
    no numbers; ``materialize(shape)`` gives it its shape (keeping its dtype and device) and turns
    it, the same object, into a ``Parameter``, so an optimizer given it earlier updates it."""
    is_uninitialized = True
    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(creation.empty(0, dtype=dtype, device=device), requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        data = creation.empty(*shape, dtype=dtype or self.dtype, device=device or self.device)
        self._data = data._data
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter (a lazy module's, such as "
            "nn.LazyLinear's, before its first forward). Call the module once, e.g. on a dummy "
            "batch, to initialize its parameters before using them.")

    def numel(self):
        raise ValueError(
            "Attempted to use an uninitialized parameter in numel (a lazy module's, such as "
            "nn.LazyLinear's, before its first forward). Call the module once, e.g. on a dummy "
            "batch, to initialize its parameters before using them.")

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is read from the first input: y = x Wᵀ + b with W of shape
    (out_features, x.shape[-1]). Until then its weight and bias are ``UninitializedParameter``s;
    the first call gives them their shapes, initialises them as ``Linear`` does (the same random
    draws, in the same order) and turns the module into a ``Linear``, as PyTorch does."""
    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self):
        return any(getattr(p, "is_uninitialized", False) for p in self._parameters.values())

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        if getattr(input, "ndim", 0) == 0:
            raise ValueError("LazyLinear: the first input decides in_features (its last dimension), "
                             f"so it needs at least one dimension; got {type(input).__name__} "
                             f"with shape {tuple(getattr(input, 'shape', ()))}")
        with no_grad():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()

    def forward(self, x):
        if self.has_uninitialized_params():
            self.initialize_parameters(x)
            self.__class__ = self.cls_to_become
        return F.linear(x, self.weight, self.bias)


class Sequential(Module):
    """Modules applied one after another."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):            # keeps the names, as PyTorch does ("2.weight", …)
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules, each registered as a submodule named by its position ("0", "1", …), so
    ``parameters()`` sees them and ``state_dict`` keys read ``0.weight`` as in PyTorch. It has no
    ``forward``: the module that holds it decides how to call its entries."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i):
        n = len(self._modules)
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"ModuleList indices must be integers or slices, not {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a ModuleList of length {n}")
        return str(i % n)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[self._index(i)]

    def __setitem__(self, i, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList entries must be Modules, got {type(module).__name__}")
        self._modules[self._index(i)] = module

    def __delitem__(self, i):
        items = list(self._modules.values())
        del items[i if isinstance(i, slice) else int(self._index(i))]
        self._modules.clear()                 # renumber from 0, as PyTorch does
        self.extend(items)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)


class _Activation(Module):
    """An activation with PyTorch's ``inplace=`` argument (accepted; computed out of place)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Activation):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(_Activation):
    """x for x > 0, else negative_slope·x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Activation):
    """x for x > 0, else α(eˣ − 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SiLU(_Activation):
    """x·σ(x)."""

    def forward(self, x):
        return F.silu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, -1 if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, -1 if self.dim is None else self.dim)


class Softplus(Module):
    """softplus(x) = (1/β)·log(1 + e^(βx)), and x itself where βx > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Module):
    """log σ(x) = −softplus(−x), computed without overflow."""

    def forward(self, x):
        return F.logsigmoid(x)


class Dropout(Module):
    """Zeroes each element with probability p while training (scaling the rest by 1/(1 − p));
    does nothing in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be between 0 and 1, got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace=False"


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class LayerNorm(Module):
    """y = (x − mean) / √(var + eps) · weight + bias over the last ``len(normalized_shape)``
    dimensions (the biased variance), per sample; weight starts at 1 and bias at 0."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.empty(*self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(*self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
