"""``Tensor``: what you can *do* with a tensor. Every method records one op (``Op.apply``) or
calls the engine (``backward``); what a tensor *is* — its numbers, ``requires_grad``,
``grad_fn``, ``grad``, its version counter — is ``TensorBase`` in ``tensor_base.py``.

The ops themselves live in ``autogradkit.ops``; the methods below only route to them.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import backend, dtypes
from . import functional as _F
from .autograd import api as _autograd
from .autograd.node import AccumulateGrad, _add_hook
from .functional import _coerce, _renamed
from .ops.convert import Clone, ToCopy
from .ops.elementwise import (Abs, Add, Cos, Div, Exp, Expm1, Log, Log1p, Mul, Neg, Pow, PowTensor,
                              Reciprocal, Relu, Sigmoid, Sign, Sin, Sqrt, Sub, Tanh)
from .ops.indexing import GetItem
from .ops.inplace import clamp_, copy_, fill_, inplace, setitem_
from .ops.linalg import MatMul
from .ops.masked import masked_fill_
from .ops.shape import Repeat, T
from .ops.tensor_math import TENSOR_MATH
from .tensor_base import Size, TensorBase, _as_array, _to_numpy  # noqa: F401  (Size re-exported)

_new = object.__new__


class Tensor(TensorBase):
    __slots__ = ()
    _math = TENSOR_MATH     # the math a backward rule runs on when its gradient is a tensor

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self._data = _as_array(data, dtype, device)
        self._grad_fn = None
        self._vcs = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, grad_fn=None, requires_grad=False):
        """Wrap an array as a tensor, without copying or checking (how ops make their results)."""
        t = _new(Tensor)
        t._data = data
        t._requires_grad = requires_grad
        t._grad_fn = grad_fn
        t._vcs = None
        return t

    def _accumulator(self):
        """This leaf's AccumulateGrad node (made on first use and kept)."""
        acc = self._accum
        if acc is None:
            acc = self._accum = AccumulateGrad(self)
        return acc

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves keep it anyway)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: can't retain the gradient of a tensor that does not "
                               "require grad")
        if self._grad_fn is not None:
            self._grad_fn._retain = weakref.ref(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one.

        Returns a handle whose ``.remove()`` unregisters the hook.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        node = self._grad_fn if self._grad_fn is not None else self._accumulator()
        return _add_hook(node, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Compute ∂self/∂leaf for every leaf that requires grad and add it to ``leaf.grad``."""
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def to(self, *args, dtype=None, device=None, copy=False):
        """``to("cuda")``, ``to(float64)``, ``to("cpu", float32)`` or ``to(other_tensor)``."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, backend.Device)):
                device = a
            else:
                dtype = a
        target_dtype = self._data.dtype if dtype is None else dtypes.to_numpy(dtype)
        target_device = self.device if device is None else backend.Device(device)
        if target_dtype == self._data.dtype and target_device == self.device and not copy:
            return self
        return ToCopy.apply(self, dtype=target_dtype, device=target_device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else backend.Device(device if isinstance(device, str) else f"cuda:{device}"))

    def float(self):
        return self.to(dtype=dtypes.float32)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    def bool(self):
        return self.to(dtype=dtypes.bool_)

    def type(self, dtype=None):
        if dtype is None:
            return f"autogradkit.{self.dtype.name}"
        return self.to(dtype=dtype)

    def clone(self):
        return Clone.apply(self)

    def contiguous(self):
        return self

    # ---- arithmetic (tensors and Python numbers on either side) ---------------------------
    def __add__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Add.apply(p[0], p[1])

    def __radd__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Add.apply(p[1], p[0])

    def __sub__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Sub.apply(p[0], p[1])

    def __rsub__(self, other):
        p = _coerce(self, other)
        if p is None:
            return NotImplemented
        return _renamed(Sub.apply(p[1], p[0]), "RsubBackward1")   # number − tensor

    def __mul__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Mul.apply(p[0], p[1])

    def __rmul__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Mul.apply(p[1], p[0])

    def __truediv__(self, other):
        p = _coerce(self, other, True)
        return NotImplemented if p is None else Div.apply(p[0], p[1])

    def __rtruediv__(self, other):
        p = _coerce(self, other, True)
        if p is None:
            return NotImplemented
        if not isinstance(p[1], Tensor):                # c / x = reciprocal(x) · c, as PyTorch
            return Reciprocal.apply(p[0]) * p[1]
        return Div.apply(p[1], p[0])

    def __pow__(self, other):
        p = _coerce(self, other)
        if p is None:
            return NotImplemented
        if isinstance(p[1], Tensor):
            return PowTensor.apply(p[0], p[1])
        return Pow.apply(p[0], p=p[1])

    def __rpow__(self, other):
        p = _coerce(self, other)
        if p is None:
            return NotImplemented
        out = PowTensor.apply(p[1], p[0])
        return out if isinstance(p[1], Tensor) else _renamed(out, "PowBackward2")  # number ** x

    def __neg__(self):
        return Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs.apply(self)

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            return NotImplemented
        return MatMul.apply(self, other)

    def __rmatmul__(self, other):
        if isinstance(other, np.ndarray):
            return MatMul.apply(Tensor._make(other), self)
        return NotImplemented

    # ---- comparisons: boolean tensors, no gradient ---------------------------------------
    def _compare(self, other, fn):
        p = _coerce(self, other)
        if p is None:
            return NotImplemented
        other = p[1]
        if isinstance(other, Tensor):
            if type(other._data) is not type(self._data):
                raise RuntimeError(f"comparison: tensors are on different devices ({self.device} "
                                   f"and {other.device})")
            other = other._data
        out = fn(self._data, other)
        return Tensor._make(np.asarray(out) if isinstance(out, np.generic) else out)

    def __lt__(self, other):
        return self._compare(other, _lt)

    def __le__(self, other):
        return self._compare(other, _le)

    def __gt__(self, other):
        return self._compare(other, _gt)

    def __ge__(self, other):
        return self._compare(other, _ge)

    def __eq__(self, other):
        return self._compare(other, _eq)

    def __ne__(self, other):
        return self._compare(other, _ne)

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    __hash__ = TensorBase.__hash__      # (defining __eq__ would otherwise make tensors unhashable)

    def __invert__(self):
        if self._data.dtype.kind not in "biu":
            raise TypeError(f"~ (bitwise not) needs a bool or integer tensor, got {self.dtype.name}")
        return Tensor._make(~self._data)

    def __and__(self, other):
        return self._compare(other, _and)

    def __or__(self, other):
        return self._compare(other, _or)

    def __xor__(self, other):
        return self._compare(other, _xor)

    def equal(self, other):
        return _F.equal(self, other)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _F.allclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)

    def split(self, split_size_or_sections, dim=0):
        """Views along ``dim``: pieces of ``split_size`` (the last may be shorter), or of the
        listed sizes; each is an index op, so gradients flow back into place."""
        n = self.shape[dim]
        if isinstance(split_size_or_sections, int):
            if split_size_or_sections <= 0:
                raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
            sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise RuntimeError(f"split: the sizes {sizes} add up to {sum(sizes)}, but dimension "
                                   f"{dim} of a tensor of shape {tuple(self.shape)} has {n}")
        dim = dim % self.ndim
        pieces, start = [], 0
        for size in sizes:
            pieces.append(self[(slice(None),) * dim + (slice(start, start + size),)])
            start += size
        return tuple(pieces)

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces along ``dim`` (fewer if it does not divide), as PyTorch."""
        n = self.shape[dim]
        return self.split(max(1, -(-n // chunks)), dim)


    # ---- the ops as methods (see autogradkit.functional for what each does) ------------------
    def exp(self):
        return Exp.apply(self)

    def log(self):
        return Log.apply(self)

    def log1p(self):
        return Log1p.apply(self)

    def expm1(self):
        return Expm1.apply(self)

    def sqrt(self):
        return Sqrt.apply(self)

    def reciprocal(self):
        return Reciprocal.apply(self)

    def abs(self):
        return Abs.apply(self)

    def sign(self):
        return Sign.apply(self)

    def sin(self):
        return Sin.apply(self)

    def cos(self):
        return Cos.apply(self)

    def tanh(self):
        return Tanh.apply(self)

    def sigmoid(self):
        return Sigmoid.apply(self)

    def relu(self):
        return Relu.apply(self)

    def neg(self):
        return Neg.apply(self)

    def square(self):
        return self * self

    def pow(self, exponent):
        return self ** exponent

    def add(self, other, alpha=1):
        return _F.add(self, other, alpha)

    def sub(self, other, alpha=1):
        return _F.sub(self, other, alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def clamp(self, min=None, max=None):
        return _F.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return _F.maximum(self, other)

    def minimum(self, other):
        return _F.minimum(self, other)

    def where(self, condition, other):
        return _F.where(condition, self, other)

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return _F.sum(self, dim, keepdim, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return _F.mean(self, dim, keepdim, axis=axis, keepdims=keepdims, dtype=dtype)

    def max(self, dim=None, keepdim=False):
        return _F.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return _F.min(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _F.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _F.std(self, dim, unbiased, keepdim, correction=correction)

    def logsumexp(self, dim, keepdim=False):
        return _F.logsumexp(self, dim, keepdim)

    def softmax(self, dim):
        return _F.softmax(self, dim)

    def log_softmax(self, dim):
        return _F.log_softmax(self, dim)

    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return _F.argmax(self, dim, keepdim, axis=axis)

    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return _F.argmin(self, dim, keepdim, axis=axis)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return _F.norm(self, p, dim, keepdim, dtype=dtype)

    def all(self, dim=None):
        return _F.all(self, dim)

    def any(self, dim=None):
        return _F.any(self, dim)

    def reshape(self, *shape):
        return _F.reshape(self, *shape)

    def view(self, *shape):
        return _F.reshape(self, *shape)

    def view_as(self, other):
        return _F.reshape(self, *other.shape)

    def permute(self, *dims):
        return _F.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return _F.transpose(self, dim0, dim1)

    swapaxes = transpose

    @property
    def T(self):
        """All dimensions reversed (for a matrix: its transpose)."""
        return _F.permute(self, *range(self._data.ndim - 1, -1, -1))

    @property
    def mT(self):
        return _F.transpose(self, -2, -1)

    def t(self):
        """The transpose of a matrix (``TBackward0``, as PyTorch names it)."""
        if self._data.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dimensions, got {self._data.ndim}; "
                             "use transpose(dim0, dim1)")
        return T.apply(self) if self._data.ndim == 2 else self

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """A tensor of zeros of ``size``, with this tensor's dtype and device unless given."""
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        xp = backend.array_module(self._data) if device is None else backend.module_for(device)
        np_dtype = self._data.dtype if dtype is None else dtypes.to_numpy(dtype)
        return self._make(xp.zeros(shape, dtype=np_dtype)).requires_grad_(requires_grad)

    def squeeze(self, dim=None):
        return _F.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _F.unsqueeze(self, dim)

    def expand(self, *sizes):
        return _F.expand(self, *sizes)

    def expand_as(self, other):
        return _F.expand(self, *other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _F.flatten(self, start_dim, end_dim)

    def matmul(self, other):
        return _F.matmul(self, other)

    mm = matmul
    dot = matmul

    # ---- indexing -------------------------------------------------------------------------
    def __getitem__(self, key):
        return GetItem.apply(self, key=key)

    def __setitem__(self, key, value):
        setitem_(self, key, value)

    # ---- in-place ops (bump the version counter) -----------------------------------------
    def add_(self, other, alpha=1):
        return inplace(self, "add_", other, alpha)

    def sub_(self, other, alpha=1):
        return inplace(self, "sub_", other, alpha)

    def mul_(self, other):
        return inplace(self, "mul_", other)

    def div_(self, other):
        return inplace(self, "div_", other)

    def zero_(self):
        return fill_(self, 0, "zero_")

    def fill_(self, value):
        return fill_(self, value, "fill_")

    def copy_(self, src):
        return copy_(self, src)

    def clamp_(self, min=None, max=None):
        return clamp_(self, min, max)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    # ---- issue 15 (H1): cumsum, repeat, masked_fill, bmm ------------------------------------
    def cumsum(self, dim, *, dtype=None):
        return _F.cumsum(self, dim, dtype=dtype)

    def repeat(self, *sizes):
        """Tile the tensor ``sizes`` times along each dimension (PyTorch's ``repeat`` is numpy's
        ``tile``, not ``numpy.repeat``): x.repeat(2, 3) of a (2,) tensor has shape (2, 6)."""
        return Repeat.apply(self, sizes=_F._shape_arg(sizes, "repeat"))

    def masked_fill(self, mask, value):
        return _F.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value):
        return masked_fill_(self, mask, value)

    def bmm(self, mat2):
        return _F.bmm(self, mat2)
    # ---- end of issue 15 (H1) block --------------------------------------------------------

    # ---- issue 15 (H4): random in-place fills, isclose ------------------------------------
    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """Fill in place with numbers drawn uniformly from [a, b) (PyTorch's ``from``/``to``),
        from the generator ``manual_seed`` resets unless one is given."""
        from .ops.inplace import random_
        g = generator if generator is not None else backend.default_generator()
        return random_(self, lambda shape: g.uniform(a, b, size=shape), "uniform_")

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill in place with numbers drawn from N(mean, std²)."""
        from .ops.inplace import random_
        if std < 0:
            raise ValueError(f"normal_: std must be >= 0, got {std}")
        g = generator if generator is not None else backend.default_generator()
        return random_(self, lambda shape: mean + std * g.standard_normal(shape), "normal_")

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _F.isclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    # ---- end of issue 15 (H4) block --------------------------------------------------------



_lt, _le, _gt, _ge = np.less, np.less_equal, np.greater, np.greater_equal
_eq, _ne = np.equal, np.not_equal
_and, _or, _xor = np.bitwise_and, np.bitwise_or, np.bitwise_xor
