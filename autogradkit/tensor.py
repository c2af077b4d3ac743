"""``Tensor``: an array of numbers plus what autograd needs to differentiate through it.

A tensor holds

* its numbers (a numpy array on the CPU, a CuPy array on "cuda");
* ``requires_grad`` — whether gradients should flow to it;
* ``grad_fn`` — the graph node of the op that produced it (``None`` for leaves);
* ``grad`` — after ``backward()``, ∂L/∂(this tensor), for leaves that require grad;
* a version counter, bumped by every in-place change, so that backward can tell when a tensor it
  saved was changed after the fact.

The ops themselves live in ``autogradkit.ops``; the methods below only route to them.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import backend, dtypes
from .autograd import node as _node
from .autograd.node import AccumulateGrad, _add_hook

_ndarray = np.ndarray
_new = object.__new__
_SCALARS = (int, float, bool)


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's ``torch.Size``."""

    def __repr__(self):
        return f"autogradkit.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class Tensor:
    # Every tensor sets these four; the rarely-set ones below live in the instance dict only
    # when set (a chain of small ops is dominated by this bookkeeping, so it is kept lean).
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_vcs", "__dict__", "__weakref__")
    _grad = None        # the gradient tensor (leaves, and non-leaves that retain it)
    _accum = None       # a leaf's AccumulateGrad node, made on first use
    _base = None        # for a view: the tensor whose numbers it shares
    __array_ufunc__ = None          # numpy defers to us: ndarray * Tensor -> Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        from .creation import _as_array
        self._data = _as_array(data, dtype, device)
        self._grad_fn = None
        self._vcs = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, grad_fn=None, requires_grad=False):
        """Wrap an array without copying or checking (the ops' fast path)."""
        t = _new(Tensor)
        t._data = data
        t._requires_grad = requires_grad
        t._grad_fn = grad_fn
        t._vcs = None
        return t

    @property
    def _vc(self):
        """The version counter, ``[n]``: shared by a tensor and its views, bumped by every in-place
        change. Made on first need (most tensors are never changed in place, nor saved with a
        need to check: no counter means version 0)."""
        vc = self._vcs
        if vc is None:
            vc = self._vcs = [0]
        return vc

    # ---- autograd attributes ------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        """Mark a leaf as needing gradients (in place; returns the tensor)."""
        requires_grad = bool(requires_grad)
        if self._grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_: you can only change requires_grad of leaf tensors. This tensor "
                f"was made by {self._grad_fn.name()}; use .detach() to get a tensor without history.")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"requires_grad_: only floating-point tensors can require gradients, but this one "
                f"is {self.dtype.name}. Convert it first, e.g. t = t.float() (or .double()).")
        self._requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self):
        return self._grad_fn is None

    @property
    def grad(self):
        if self._grad_fn is not None and not self.retains_grad:
            warnings.warn(
                "The .grad attribute of a tensor that is not a leaf is being read. Its .grad is not "
                "filled in by backward(); call .retain_grad() on it before backward() if you want "
                "it, or read the leaf tensors' .grad instead.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"grad: assigned grad has shape {tuple(value.shape)}, but the "
                                   f"tensor has shape {tuple(self.shape)}")
        self._grad = value

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

    @property
    def retains_grad(self):
        fn = self._grad_fn
        return fn is not None and fn._retain is not None and fn._retain() is self

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
        fn = self._grad_fn
        if fn is not None and gradient is None and inputs is None and not create_graph \
                and self._data.size == 1:       # loss.backward(), seeded with ∂loss/∂loss = 1
            _run_backward([fn], [_autograd_functional._ones_like(self._data)], bool(retain_graph))
        else:
            _autograd_functional.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self):
        """The same numbers (shared, not copied) without history: a new leaf."""
        t = Tensor._make(self._data)
        t._vcs = self._vc
        return t

    def detach_(self):
        if self._base is not None and self._grad_fn is not None:
            raise RuntimeError("detach_: can't detach a view in place; use .detach()")
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self):
        """The numbers as a tensor without history. Changes through it are not tracked."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def _version(self):
        vc = self._vcs
        return 0 if vc is None else vc[0]

    # ---- description --------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim, "size")]

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self):
        return dtypes.from_numpy(self._data.dtype)

    @property
    def device(self):
        return backend.device_of(self._data)

    @property
    def is_cuda(self):
        return type(self._data) is not _ndarray

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __repr__(self):
        from .printing import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    # ---- conversion ---------------------------------------------------------------------
    def item(self):
        """The single number in a one-element tensor, as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python number; "
                             f"this one has shape {tuple(self._data.shape)} ({self._data.size} elements)")
        return self._data.reshape(()).item()

    def tolist(self):
        return _to_numpy(self._data).tolist()

    def numpy(self, force=False):
        """The numbers as a numpy array (shared with the tensor, not copied, on the CPU)."""
        if self._requires_grad and not force:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use "
                               "tensor.detach().numpy() instead")
        if type(self._data) is not _ndarray:
            if not force:
                raise TypeError(f"numpy: the tensor is on {self.device}; copy it to the CPU first "
                                "with .cpu() (tensor.cpu().numpy())")
            return _to_numpy(self._data)
        return self._data

    def __array__(self, dtype=None, copy=None):
        if type(self._data) is not _ndarray:
            raise TypeError(f"can't convert a tensor on {self.device} to a numpy array; use .cpu() first")
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self._data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.item())

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __deepcopy__(self, memo):
        """A leaf's copy with its own numbers (and grad); as in PyTorch, only leaves can be copied."""
        if self._grad_fn is not None:
            raise RuntimeError("deepcopy: only tensors created by the user (graph leaves) can be "
                               "deep-copied; use .detach().clone() for a non-leaf")
        if id(self) in memo:
            return memo[id(self)]
        new = object.__new__(type(self))
        new._data = self._data.copy()
        new._grad_fn = None
        new._vcs = None
        new._requires_grad = self._requires_grad
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        return new

    def __reduce_ex__(self, protocol):
        raise TypeError("Tensors are not pickled by autogradkit; use autogradkit.save(...) to store "
                        "them without pickle")

    __hash__ = object.__hash__

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
        if other.__class__ is Tensor:
            sd, od = self._data, other._data
            if od.dtype is sd.dtype:                # the common case, without _coerce
                return Add.apply_binary(self, other)
        p = _coerce(self, other)
        return NotImplemented if p is None else Add.apply_binary(p[0], p[1])

    def __radd__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Add.apply_binary(p[1], p[0])

    def __sub__(self, other):
        if other.__class__ is Tensor:
            sd, od = self._data, other._data
            if od.dtype is sd.dtype:                # the common case, without _coerce
                return Sub.apply_binary(self, other)
        p = _coerce(self, other)
        return NotImplemented if p is None else Sub.apply_binary(p[0], p[1])

    def __rsub__(self, other):
        p = _coerce(self, other)
        if p is None:
            return NotImplemented
        return _renamed(Sub.apply_binary(p[1], p[0]), "RsubBackward1")   # number − tensor

    def __mul__(self, other):
        if other.__class__ is Tensor:
            sd, od = self._data, other._data
            if od.dtype is sd.dtype:                # the common case, without _coerce
                return Mul.apply_binary(self, other)
        p = _coerce(self, other)
        return NotImplemented if p is None else Mul.apply_binary(p[0], p[1])

    def __rmul__(self, other):
        p = _coerce(self, other)
        return NotImplemented if p is None else Mul.apply_binary(p[1], p[0])

    def __truediv__(self, other):
        p = _coerce(self, other, True)
        return NotImplemented if p is None else Div.apply_binary(p[0], p[1])

    def __rtruediv__(self, other):
        p = _coerce(self, other, True)
        if p is None:
            return NotImplemented
        if not isinstance(p[1], Tensor):                # c / x = reciprocal(x) · c, as PyTorch
            return Reciprocal.apply_unary(p[0]) * p[1]
        return Div.apply_binary(p[1], p[0])

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
        return Neg.apply_unary(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs.apply_unary(self)

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            return NotImplemented
        return MatMul.apply(self, other)

    def __rmatmul__(self, other):
        if isinstance(other, _ndarray):
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
        return tuple(self.shape) == tuple(other.shape) and bool((self == other).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        if type(other._data) is not type(self._data):
            raise RuntimeError(f"allclose: tensors are on different devices ({self.device} and "
                               f"{other.device}); move one with .to()")
        return bool(np.allclose(_to_numpy(self._data), _to_numpy(other._data), rtol=rtol, atol=atol))


    # ---- the ops as methods (see autogradkit.functional for what each does) ------------------
    def exp(self):
        return Exp.apply_unary(self)

    def log(self):
        return Log.apply_unary(self)

    def sqrt(self):
        return Sqrt.apply_unary(self)

    def reciprocal(self):
        return _F.reciprocal(self)

    def abs(self):
        return Abs.apply_unary(self)

    def sign(self):
        return Sign.apply_unary(self)

    def sin(self):
        return Sin.apply_unary(self)

    def cos(self):
        return Cos.apply_unary(self)

    def tanh(self):
        return Tanh.apply_unary(self)

    def sigmoid(self):
        return Sigmoid.apply_unary(self)

    def relu(self):
        return Relu.apply_unary(self)

    def neg(self):
        return Neg.apply_unary(self)

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

    def argmax(self, dim=None, keepdim=False):
        return _F.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _F.argmin(self, dim, keepdim)

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
        if self._data.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dimensions, got {self._data.ndim}; "
                             "use transpose(dim0, dim1)")
        return self.T

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
        from .ops.inplace import setitem_
        setitem_(self, key, value)

    # ---- in-place ops (bump the version counter) -----------------------------------------
    def add_(self, other, alpha=1):
        from .ops.inplace import inplace
        return inplace(self, "add_", other, alpha)

    def sub_(self, other, alpha=1):
        from .ops.inplace import inplace
        return inplace(self, "sub_", other, alpha)

    def mul_(self, other):
        from .ops.inplace import inplace
        return inplace(self, "mul_", other)

    def div_(self, other):
        from .ops.inplace import inplace
        return inplace(self, "div_", other)

    def zero_(self):
        from .ops.inplace import fill_
        return fill_(self, 0, "zero_")

    def fill_(self, value):
        from .ops.inplace import fill_
        return fill_(self, value, "fill_")

    def copy_(self, src):
        from .ops.inplace import copy_
        return copy_(self, src)

    def clamp_(self, min=None, max=None):
        from .ops.inplace import clamp_
        return clamp_(self, min, max)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_


def _to_numpy(array):
    return array if type(array) is _ndarray else backend.to_device(array, "cpu")


def _dim(dim, ndim, op):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''} (valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})")
    return dim % max(ndim, 1)


def _renamed(t, name):
    """``t`` with its node named as PyTorch names this form of the op (``2 - x``: RsubBackward1)."""
    if t._grad_fn is not None:
        t._grad_fn._name = name
    return t


def _coerce(self, other, true_div=False):
    """Bring both operands of a binary op into the form the op takes, or None if we can't.

    Python numbers stay numbers (cheap, and a float32 tensor stays float32). Types are promoted
    as PyTorch does: an integer tensor meeting a float becomes a float tensor of the default
    dtype; a float tensor meeting an integer tensor keeps its float dtype; ``/`` is true division.
    """
    if other.__class__ is Tensor or isinstance(other, Tensor):
        a, b = self._data.dtype, other._data.dtype
        if a is b and not (true_div and a.kind in "biu"):
            return self, other
        fa, fb = a.kind in "fc", b.kind in "fc"
        if fa and not fb:
            other = other.to(dtype=a)
        elif fb and not fa:
            self = self.to(dtype=b)
        elif not fa and not fb and true_div:
            self, other = self.to(dtype=dtypes.default_float), other.to(dtype=dtypes.default_float)
        elif a is not b and (fa or (a.kind in "iu") == (b.kind in "iu")):
            # same kind, different widths: a 0-d tensor adapts to a tensor with dimensions
            # (PyTorch: float32 tensor * 0-d float64 tensor stays float32)
            if other._data.ndim == 0 and self._data.ndim:
                other = other.to(dtype=a)
            elif self._data.ndim == 0 and other._data.ndim:
                self = self.to(dtype=b)
        return self, other
    cls = other.__class__
    if cls is float or cls is int or cls is bool:
        if self._data.dtype.kind in "biu" and (cls is float or true_div):
            self = self.to(dtype=dtypes.default_float)
        return self, other
    if isinstance(other, np.generic):
        return _coerce(self, other.item(), true_div)
    if other.__class__ is self._data.__class__:      # a raw array on the same device: a constant
        return _coerce(self, Tensor._make(other), true_div)
    return None


from .ops.elementwise import (Add, Sub, Mul, Div, Pow, PowTensor, Neg, Abs, Exp, Log, Sqrt, Reciprocal,  # noqa: E402
                               Sin, Cos, Tanh, Sigmoid, Relu, Sign)
from .ops.linalg import MatMul  # noqa: E402
from .ops.indexing import GetItem  # noqa: E402
from .ops.convert import ToCopy, Clone  # noqa: E402
from . import functional as _F  # noqa: E402
from .autograd import functional as _autograd_functional  # noqa: E402

# + - * between two tensors of one shape, dtype and device are recorded by the operator itself
# (Op.same_shape_operator); every other case goes to the methods defined in the class above.
Tensor.__add__ = Add.same_shape_operator(Tensor.__add__)
Tensor.__sub__ = Sub.same_shape_operator(Tensor.__sub__)
Tensor.__mul__ = Mul.same_shape_operator(Tensor.__mul__)
from .autograd.engine import run_backward as _run_backward  # noqa: E402

_lt, _le, _gt, _ge = np.less, np.less_equal, np.greater, np.greater_equal
_eq, _ne = np.equal, np.not_equal
_and, _or, _xor = np.bitwise_and, np.bitwise_or, np.bitwise_xor
_node.Tensor = Tensor
_node._make = Tensor._make
