"""The ``math`` a backward rule receives when ``create_graph=True``: the same functions as
``ArrayMath`` (``autograd/math.py``), on tensors, so every step of the rule is a recorded op and
the gradient it returns can be differentiated again. ``Tensor._math`` is this object; the engine
asks a tensor gradient for it (``math_for``), so the autograd layer needs no import of the ops."""
from __future__ import annotations

import math as _math

from .. import functional as fn
from ..autograd.math import ArrayMath
from ..tensor_base import TensorBase
from .indexing import IndexAdd


class TensorMath:
    """Backward math on tensors: every step is recorded."""

    def exp(self, x):
        return fn.exp(x) if isinstance(x, TensorBase) else _math.exp(x)

    def log(self, x):
        return fn.log(x) if isinstance(x, TensorBase) else _math.log(x)

    sqrt, sin, cos = staticmethod(fn.sqrt), staticmethod(fn.sin), staticmethod(fn.cos)
    tanh, sign, sigmoid = staticmethod(fn.tanh), staticmethod(fn.sign), staticmethod(fn.sigmoid)
    where = staticmethod(fn.where)

    def expand(self, g, shape):
        return g.expand(shape)

    def zeros_like(self, g):
        return g.new_zeros(g.shape)

    def nonzero(self, x):
        return x != 0

    def mm(self, a, b):
        return a @ b

    def sum_rows(self, g):
        return g.sum(dim=0)

    sum_to = ArrayMath.sum_to       # the same steps: tensors take axis= and keepdims= too

    def cast(self, g, dtype):
        return g.to(dtype=dtype)

    def permute(self, g, axes):
        return g.permute(*axes)

    def cumsum(self, g, axis):
        return fn.cumsum(g, axis)

    def index_add(self, shape, key, g, accumulate):
        return IndexAdd.apply(g, shape=shape, key=key, accumulate=accumulate)

    def to(self, g, dtype, device):
        return g.to(device=device, dtype=dtype)


TENSOR_MATH = TensorMath()
