"""The ``math`` that every backward rule receives: the same functions on arrays or on tensors.

Rules are written once, e.g. ``return grad * math.cos(x)``. Usually ``math`` is ``ArrayMath``
(numpy or CuPy, whichever holds the gradient) and nothing is recorded. With
``create_graph=True`` it is tensor math (``ops/tensor_math.py``) and every step of the rule is
itself a recorded op, so the gradient can be differentiated again (Hessian-vector products).

Arithmetic (``+ - * / @``), indexing, ``.reshape``, ``.swapaxes`` and ``.sum(axis=, keepdims=)`` mean
the same on arrays and tensors, so rules use them directly; only functions go through ``math``.
"""
from __future__ import annotations


import numpy as np

from ..backend import array_module, sign_of, to_device
from ..tensor_base import TensorBase


def reduced_axes(shape_from, shape_to):
    """Axes to sum so that a gradient of ``shape_from`` goes back to a broadcast operand's ``shape_to``."""
    lead = len(shape_from) - len(shape_to)
    if lead < 0:
        raise ValueError(f"cannot sum a gradient of shape {tuple(shape_from)} to shape {tuple(shape_to)}")
    axes = list(range(lead))
    for i, n in enumerate(shape_to):
        m = shape_from[lead + i]
        if n == 1 and m != 1:
            axes.append(lead + i)
        elif n != m:
            raise ValueError(f"cannot sum a gradient of shape {tuple(shape_from)} to shape {tuple(shape_to)}")
    return tuple(axes), lead


class ArrayMath:
    """Backward math on raw arrays of one array module (numpy or CuPy)."""

    def __init__(self, xp):
        self.xp = xp
        self._ones = {}         # (n, dtype) -> ones(n), for sum_rows
        self.exp, self.log, self.sqrt = xp.exp, xp.log, xp.sqrt
        self.sin, self.cos, self.tanh = xp.sin, xp.cos, xp.tanh
        self.where = xp.where
        self.expand = xp.broadcast_to

    def sign(self, x):
        return sign_of(self.xp, x)

    def zeros_like(self, g):
        """A zero gradient (not g · 0, which would keep a NaN or turn 0 into −0)."""
        return self.xp.zeros_like(g)

    def sum_to(self, g, shape):
        """Sum a broadcast gradient back to ``shape`` — the one place unbroadcasting happens."""
        axes, lead = reduced_axes(g.shape, shape)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        return g.reshape(shape) if lead else g

    def cast(self, g, dtype):
        return g.astype(dtype)

    def nonzero(self, x):
        """1 where x ≠ 0 (NaN included), else 0, in x's dtype (multiplying by a bool mask is
        slower: numpy casts it element by element)."""
        return (x != 0).astype(x.dtype)

    def mm(self, a, b):
        """``a @ b`` for a 2-D ``b``. numpy's ``dot`` computes the same product (the same BLAS
        call) with less overhead than ``@`` on small arrays."""
        return a.dot(b)

    def sum_rows(self, g):
        """``g.sum(axis=0)`` for a 2-D ``g``, as a product with a vector of ones: numpy's reduction
        over the first axis is several times slower on small arrays than this BLAS call."""
        n = g.shape[0]
        ones = self._ones.get((n, g.dtype))
        if ones is None:
            ones = self.xp.ones(n, dtype=g.dtype)
            if len(self._ones) < 64:
                self._ones[(n, g.dtype)] = ones
        return ones.dot(g)

    def sigmoid(self, x):
        """σ(x) without overflow."""
        xp = self.xp
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def permute(self, g, axes):
        return g.transpose(axes)

    def cumsum(self, g, axis):
        """The running sum along ``axis`` (the ``cumsum`` op's rules)."""
        return self.xp.cumsum(g, axis=axis)

    def index_add(self, shape, key, g, accumulate):
        """A zero array of ``shape`` with ``g`` added at ``key`` (repeated indices add up)."""
        z = self.xp.zeros(shape, dtype=g.dtype)
        if accumulate:
            self.xp.add.at(z, key, g)
        else:
            z[key] = g
        return z

    def to(self, g, dtype, device):
        return to_device(g, device).astype(dtype, copy=False)


NUMPY_MATH = ArrayMath(np)
_gpu_math = None


def math_for(grad):
    """The math a rule runs on for this gradient: the ``ArrayMath`` of the device that holds an
    array; for a tensor (``create_graph=True``) the tensor's own ``_math``, whose every step is a
    recorded op (``ops/tensor_math.py``)."""
    if type(grad) is np.ndarray:
        return NUMPY_MATH
    if isinstance(grad, TensorBase):
        return grad._math
    global _gpu_math
    xp = array_module(grad)
    if _gpu_math is None or _gpu_math.xp is not xp:
        _gpu_math = ArrayMath(xp)
    return _gpu_math
