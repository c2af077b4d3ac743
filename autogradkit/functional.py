"""The ops as functions (``autogradkit.exp(x)``, ``autogradkit.cat([a, b])`` …); the same ones are
methods on ``Tensor`` (``x.exp()``). Each routes to one primitive in ``autogradkit.ops`` or is a
short composite of them."""
from __future__ import annotations

import collections

import numpy as np

from . import backend, dtypes
from .autograd.grad_mode import GradMode
from .tensor_base import TensorBase
from .ops import elementwise as E, reduce as R, shape as S, linalg as L
from .ops import masked as _masked, scan as _scan


__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "log1p", "expm1", "sqrt", "reciprocal", "abs", "sign", "sin", "cos",
    "tanh", "sigmoid", "relu", "clamp", "clip", "maximum", "minimum", "where", "sum", "mean", "max",
    "min", "var", "std", "logsumexp", "softmax", "log_softmax", "reshape", "view", "transpose",
    "permute", "squeeze", "unsqueeze", "expand", "flatten", "cat", "concat", "stack", "matmul",
    "mm", "dot", "argmax", "argmin", "all", "any", "square", "norm",
    # issue 15: scans, masking, batched products
    "cumsum", "masked_fill", "bmm",
]

MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])


def _t(x, op):
    if isinstance(x, TensorBase):
        return x
    raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}; wrap numbers with "
                    "autogradkit.tensor(...)")


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
    if isinstance(other, TensorBase):
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
        return _coerce(self, self._make(other), true_div)
    return None


# ---- comparing tensors, and out= (PyTorch's names; issue 15) ----------------------------------
__all__ += ["allclose", "isclose", "equal"]

_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _pair_arrays(a, b, op):
    a = _t(a, op)
    if not isinstance(b, TensorBase):
        return a._data, backend.array_module(a._data).asarray(b)
    if type(b._data) is not type(a._data):
        raise RuntimeError(f"{op}: tensors are on different devices ({a.device} and {b.device}); "
                           "move one with .to()")
    return a._data, b._data


def _isclose(input, other, rtol, atol, equal_nan, op):
    a, b = _pair_arrays(input, other, op)
    try:
        return backend.array_module(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} don't broadcast "
                           "together; compare tensors of the same (or broadcastable) shape") from None


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input − other| ≤ atol + rtol·|other|`` (broadcast), as a bool tensor; NaNs
    count as equal only with ``equal_nan=True``. No gradient."""
    close = _isclose(input, other, rtol, atol, equal_nan, "isclose")
    return input._make(backend.array_module(close).asarray(close))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (``isclose``): ``|input − other| ≤ atol + rtol·|other|``."""
    return bool(_isclose(input, other, rtol, atol, equal_nan, "allclose").all())


def equal(input, other):
    """True when both tensors have the same shape and the same values."""
    a, b = _pair_arrays(input, other, "equal")
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


def _can_cast(src, dst):
    """PyTorch's rule for out=: no float → integer, complex → real or anything → bool."""
    order = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
    return order[src.kind] <= order[dst.kind] and not (dst.kind == "b" and src.kind != "b")


def _check_out(op, out, *inputs):
    """Refuse out= where PyTorch does, before anything is computed (autograd can't follow it)."""
    if not isinstance(out, TensorBase):
        raise TypeError(f"{op}(): out= must be a Tensor, got {type(out).__name__}")
    grads = [x for x in (*inputs, out) if isinstance(x, TensorBase) and x._requires_grad]
    if GradMode.enabled and grads:      # (``any`` here is this module's own, for tensors)
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad. Compute "
                           "without out= (y = ...), or do it under no_grad().")


def _write_out(op, result, out):
    """Write ``result`` into ``out`` in place, as PyTorch does: an empty ``out`` takes the result's
    shape; the result is cast to ``out``'s dtype where that is safe."""
    if type(result._data) is not type(out._data):
        raise RuntimeError(f"{op}(): the result is on {result.device} but out= is on {out.device}; "
                           "give an out tensor on the same device")
    src, dst = result._data.dtype, out._data.dtype
    if not _can_cast(src, dst):
        raise RuntimeError(f"{op}(): result type {_TORCH_NAMES.get(src.name, src.name)} can't be "
                           f"cast to the desired output type {_TORCH_NAMES.get(dst.name, dst.name)}")
    if tuple(out._data.shape) != tuple(result._data.shape):
        if out._data.size != 0:
            raise RuntimeError(f"{op}(): out= has shape {tuple(out._data.shape)} but the result has "
                               f"shape {tuple(result._data.shape)}; give an out tensor of that shape "
                               "(or an empty one, which is resized)")
        out._data = result._data.astype(dst)        # an empty out is resized, as PyTorch does
    else:
        out._data[...] = result._data
    out._vc[0] += 1
    return out


def _with_out(op, fn, out, *inputs):
    if out is None:
        return fn()
    _check_out(op, out, *inputs)
    return _write_out(op, fn(), out)


# ---- arithmetic -----------------------------------------------------------------------------
def add(a, b, alpha=1, *, out=None):
    return _with_out("add", lambda: a + (b * alpha if alpha != 1 else b), out, a, b)


def sub(a, b, alpha=1, *, out=None):
    return _with_out("sub", lambda: a - (b * alpha if alpha != 1 else b), out, a, b)


def mul(a, b, *, out=None):
    return _with_out("mul", lambda: a * b, out, a, b)


def div(a, b, *, out=None):
    return _with_out("div", lambda: a / b, out, a, b)


def pow(a, b, *, out=None):
    return _with_out("pow", lambda: a ** b, out, a, b)


def neg(x):
    return E.Neg.apply(x)


def square(x):
    return x * x


# ---- elementwise functions -------------------------------------------------------------------
def exp(x):
    """eˣ elementwise."""
    return E.Exp.apply(x)


def log(x):
    """Natural logarithm elementwise."""
    return E.Log.apply(x)


def log1p(x):
    """ln(1 + x) elementwise, accurate where x is tiny (log(1 + x) would round 1 + x to 1)."""
    return E.Log1p.apply(_t(x, "log1p"))


def expm1(x):
    """eˣ − 1 elementwise, accurate where x is tiny (exp(x) − 1 would lose every digit)."""
    return E.Expm1.apply(_t(x, "expm1"))


def sqrt(x):
    return E.Sqrt.apply(x)


def reciprocal(x):
    """1/x elementwise (an integer tensor becomes the default float dtype first, as in PyTorch)."""
    x = _t(x, "reciprocal")
    if x._data.dtype.kind in "biu":
        x = x.to(dtype=dtypes.default_float)
    return E.Reciprocal.apply(x)


def abs(x):
    return E.Abs.apply(x)


def sign(x):
    return E.Sign.apply(x)


def sin(x):
    return E.Sin.apply(x)


def cos(x):
    return E.Cos.apply(x)


def tanh(x):
    return E.Tanh.apply(x)


def sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ), computed without overflow."""
    return E.Sigmoid.apply(x)


def relu(x):
    """max(x, 0); its derivative at 0 is taken as 0, like PyTorch."""
    return E.Relu.apply(x)


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient flows where min ≤ x ≤ max."""
    x = _t(x, "clamp")
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return E.Clamp.apply(x, lo=min, hi=max)


clip = clamp


def maximum(a, b, *, out=None):
    if out is not None:
        return _with_out("maximum", lambda: maximum(a, b), out, a, b)
    a, b = _coerce(_t(a, "maximum"), _t(b, "maximum"))
    return E.Maximum.apply(a, b)


def minimum(a, b, *, out=None):
    if out is not None:
        return _with_out("minimum", lambda: minimum(a, b), out, a, b)
    a, b = _coerce(_t(a, "minimum"), _t(b, "minimum"))
    return E.Minimum.apply(a, b)


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (either may be a number)."""
    cond = condition._data if isinstance(condition, TensorBase) else condition
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{getattr(getattr(condition, 'dtype', None), 'name', type(condition).__name__)}")
    if isinstance(a, TensorBase) and isinstance(b, TensorBase):
        a, b = _coerce(a, b)
    elif isinstance(b, TensorBase):
        b, a = _coerce(b, a)
    elif isinstance(a, TensorBase):
        a, b = _coerce(a, b)
    else:
        raise TypeError("where: at least one of the two value arguments must be a Tensor")
    make = (a if isinstance(a, TensorBase) else b)._make
    return E.Where.apply(make(cond), a, b)


# ---- reductions ------------------------------------------------------------------------------
def _dim_args(dim, axis, keepdim, keepdims):
    return (axis if dim is None else dim), (keepdims if keepdims is not None else keepdim)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """Sum over all elements, or over ``dim`` (an int or a tuple)."""
    dim, keepdim = _dim_args(dim, axis, keepdim, keepdims)
    x = _t(x, "sum")
    if dtype is not None:
        x = x.to(dtype=dtype)
    elif x._data.dtype.kind in "bi" or x._data.dtype.kind == "u":
        x = x.to(dtype=np.int64) if x._data.dtype != np.int64 else x
    return R.Sum.apply(x, dim=dim, keepdim=keepdim)


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    dim, keepdim = _dim_args(dim, axis, keepdim, keepdims)
    x = _t(x, "mean")
    if dtype is not None:
        x = x.to(dtype=dtype)
    return R.Mean.apply(x, dim=dim, keepdim=keepdim)


def _extreme(x, dim, keepdim, all_cls, dim_cls, arg):
    if isinstance(dim, TensorBase):          # max(a, b) means maximum, as in PyTorch
        return (maximum if all_cls is R.MaxAll else minimum)(x, dim)
    if dim is None:
        return all_cls.apply(x)
    values = dim_cls.apply(x, dim=dim, keepdim=keepdim)
    node = values._grad_fn
    idx = node.indices if node is not None else getattr(x._data, arg)(axis=dim)
    if node is None and keepdim:
        idx = np.expand_dims(idx, dim) if type(idx) is np.ndarray else idx.reshape(values.shape)
    return MaxMin(values, x._make(idx.astype(np.int64, copy=False)))


def max(x, dim=None, keepdim=False):
    """The largest element; with ``dim``, ``(values, indices)`` along that dimension."""
    return _extreme(_t(x, "max"), dim, keepdim, R.MaxAll, R.MaxDim, "argmax")


def min(x, dim=None, keepdim=False):
    return _extreme(_t(x, "min"), dim, keepdim, R.MinAll, R.MinDim, "argmin")


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased in (None, True) else 0


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance; by default the unbiased estimate (divides by n − 1), as PyTorch does."""
    x = _t(x, "var")
    return R.Var.apply(x, dim=dim, correction=_correction(unbiased, correction), keepdim=keepdim)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: √var; its gradient is 0 where the input is constant, as in PyTorch."""
    x = _t(x, "std")
    return R.Std.apply(x, dim=dim, correction=_correction(unbiased, correction), keepdim=keepdim)


def logsumexp(x, dim, keepdim=False):
    """log Σ exp(x) over ``dim``, computed stably."""
    return R.LogSumExp.apply(_t(x, "logsumexp"), dim=dim, keepdim=keepdim)


def softmax(x, dim):
    """exp(x) / Σ exp(x) along ``dim``, computed stably."""
    return R.Softmax.apply(_t(x, "softmax"), dim=dim)


def log_softmax(x, dim):
    """x − logsumexp(x) along ``dim``, computed stably."""
    return R.LogSoftmax.apply(_t(x, "log_softmax"), dim=dim)


def _axis_alias(dim, axis, op):
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}: give dim or its alias axis, not both")
    return axis


def argmax(x, dim=None, keepdim=False, *, axis=None):
    """The index of the largest element (of the flattened tensor, or along ``dim``; ``axis`` is
    an alias of ``dim``, as in PyTorch)."""
    dim = _axis_alias(dim, axis, "argmax")
    data = _t(x, "argmax")._data
    if dim is None:
        return x._make(np.asarray(data.argmax()).astype(np.int64) if type(data) is np.ndarray
                            else data.argmax().astype(np.int64))
    out = data.argmax(axis=dim)
    return x._make((_expand(out, dim) if keepdim else out).astype(np.int64))


def argmin(x, dim=None, keepdim=False, *, axis=None):
    dim = _axis_alias(dim, axis, "argmin")
    data = _t(x, "argmin")._data
    if dim is None:
        return x._make(np.asarray(data.argmin()).astype(np.int64) if type(data) is np.ndarray
                            else data.argmin().astype(np.int64))
    out = data.argmin(axis=dim)
    return x._make((_expand(out, dim) if keepdim else out).astype(np.int64))


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over all elements or over ``dim``: p = 2 (or "fro", the default: the same
    numbers) or 1. A composite of recorded ops: p = 2 is √Σx², p = 1 is Σ|x|.

    At x = 0 the 2-norm's gradient x/‖x‖ is 0/0; PyTorch takes it as 0, and so do we: where
    Σx² = 0 the square root is taken of 1 and its result replaced by 0, so no ∞ · 0 = nan flows
    back (the "double where")."""
    x = _t(x, "norm")
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x._data.dtype.kind not in "fc":
        raise TypeError(f"norm: expected a floating-point tensor, got {x.dtype.name}")
    if p in ("fro", 2, 2.0):
        s = sum(x * x, dim, keepdim)
        zero = s == 0
        return where(zero, 0.0, sqrt(where(zero, 1.0, s)))
    if p in (1, 1.0):
        return sum(abs(x), dim, keepdim)
    raise ValueError(f"norm: p={p!r} is not supported here (use 2, 'fro' or 1)")


def _expand(a, dim):
    return a.reshape(a.shape[:dim % (a.ndim + 1)] + (1,) + a.shape[dim % (a.ndim + 1):])


def all(x, dim=None):
    d = _t(x, "all")._data
    return x._make(np.asarray(d.all(axis=dim)) if type(d) is np.ndarray else d.all(axis=dim))


def any(x, dim=None):
    d = _t(x, "any")._data
    return x._make(np.asarray(d.any(axis=dim)) if type(d) is np.ndarray else d.any(axis=dim))


# ---- shape -----------------------------------------------------------------------------------
def _shape_arg(shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be integers, got {s!r}")
    return tuple(shape)


def reshape(x, *shape):
    """The same numbers in a new shape; one size may be -1 (inferred)."""
    return S.Reshape.apply(_t(x, "reshape"), shape=_shape_arg(shape, "reshape"))


view = reshape


def permute(x, *dims):
    return S.Permute.apply(_t(x, "permute"), dims=_shape_arg(dims, "permute"))


def transpose(x, dim0, dim1):
    """Swap two dimensions."""
    x = _t(x, "transpose")
    n = x.ndim
    (d0,), (d1,) = R.normalize_dims(dim0, n, "transpose"), R.normalize_dims(dim1, n, "transpose")
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return S.Transpose.apply(x, dims=dims)


def squeeze(x, dim=None):
    """Remove dimensions of size 1 (all of them, or just ``dim`` if it has size 1)."""
    x = _t(x, "squeeze")
    shape = x._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        axes = R.normalize_dims(dim, x.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
    out = S.Squeeze.apply(x, shape=new)
    if dim is None:
        return out
    return _renamed(out, "SqueezeBackward2" if isinstance(dim, (tuple, list)) else "SqueezeBackward1")


def unsqueeze(x, dim):
    """Insert a dimension of size 1 at ``dim``."""
    x = _t(x, "unsqueeze")
    (d,) = R.normalize_dims(dim, x.ndim + 1, "unsqueeze")
    shape = list(x._data.shape)
    shape.insert(d, 1)
    return S.Unsqueeze.apply(x, shape=tuple(shape))


def expand(x, *sizes):
    """Broadcast to a larger shape without copying (-1 keeps a dimension's size)."""
    return S.Expand.apply(_t(x, "expand"), shape=_shape_arg(sizes, "expand"))


def flatten(x, start_dim=0, end_dim=-1):
    x = _t(x, "flatten")
    shape = x._data.shape
    if x.ndim == 0:
        return reshape(x, 1)
    (s,), (e,) = R.normalize_dims(start_dim, x.ndim, "flatten"), R.normalize_dims(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim})")
    n = 1
    for v in shape[s:e + 1]:
        n *= v
    return S.Reshape.apply(x, shape=shape[:s] + (n,) + shape[e + 1:])


def _sequence(tensors, op):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for k, t in enumerate(tensors):
        if not isinstance(t, TensorBase):
            raise TypeError(f"{op}: element {k} is a {type(t).__name__}, not a Tensor")
    floats = [t._data.dtype for t in tensors if t._data.dtype.kind in "fc"]
    if floats and len(floats) < len(tensors):   # integers joined with floats: the floats' dtype
        dt = np.result_type(*floats)
        tensors = [t if t._data.dtype.kind in "fc" else t.to(dtype=dt) for t in tensors]
    return tensors


def cat(tensors, dim=0):
    """Join tensors along an existing dimension."""
    return S.Cat.apply(*_sequence(tensors, "cat"), dim=dim)


concat = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dimension."""
    return S.Stack.apply(*_sequence(tensors, "stack"), dim=dim)


# ---- linear algebra --------------------------------------------------------------------------
def matmul(a, b, *, out=None):
    """Matrix product: 1-D · 1-D, matrix · vector, matrix · matrix, and batched (broadcast)."""
    if out is not None:
        return _with_out("matmul", lambda: matmul(a, b), out, a, b)
    a, b = _coerce(_t(a, "matmul"), _t(b, "matmul"))
    return L.MatMul.apply(a, b)


mm = matmul
dot = matmul


# ---- issue 15: cumsum, masked_fill, bmm (Tensor.repeat is a method only, as in PyTorch) -------
def cumsum(input, dim, *, dtype=None):
    """The running sum along ``dim``: yᵢ = Σ_{j ≤ i} xⱼ. Integer and bool tensors give int64 (as
    PyTorch); ``dtype`` casts the input first."""
    x = _t(input, "cumsum")
    if dtype is not None:
        x = x.to(dtype=dtype)
    elif x._data.dtype.kind in "biu" and x._data.dtype != np.int64:
        x = x.to(dtype=np.int64)
    return _scan.Cumsum.apply(x, dim=dim)


def masked_fill(input, mask, value):
    """``value`` where the bool ``mask`` is true, else ``input`` (the mask broadcasts; ``value`` is a
    number or a 0-d tensor, cast to the input's dtype; a 0-d tensor value gets a gradient too)."""
    return _masked.masked_fill(input, mask, value)


def bmm(input, mat2):
    """Batched matrix product: (b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting (PyTorch's)."""
    a, b = _t(input, "bmm"), _t(mat2, "bmm")
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"bmm: both operands must be 3-D (batch, rows, cols), got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}; use matmul (or @) for other "
                         "ranks or to broadcast batch dimensions")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm: shapes {tuple(a.shape)} and {tuple(b.shape)} don't line up: expected "
                         f"mat2 of shape ({a.shape[0]}, {a.shape[2]}, p) (same batch size, and its "
                         "rows equal to input's columns); use matmul to broadcast batch dimensions")
    a, b = _coerce(a, b)
    return L.MatMul.apply(a, b)


def split(tensor, split_size_or_sections, dim=0):
    """``tensor.split(...)``: pieces along ``dim`` of one size (the last may be shorter) or of the
    listed sizes."""
    return _t(tensor, "split").split(split_size_or_sections, dim)


def chunk(input, chunks, dim=0):
    """``input.chunk(chunks, dim)``: ``chunks`` pieces along ``dim`` (fewer if it does not divide)."""
    return _t(input, "chunk").chunk(chunks, dim)


__all__ += ["split", "chunk"]


def is_tensor(obj):
    """True for an autogradkit tensor (PyTorch's ``torch.is_tensor``)."""
    return isinstance(obj, TensorBase)


def numel(input):
    """The number of elements of ``input``."""
    return _t(input, "numel").numel()


def clone(input):
    """A copy of ``input`` that gradients flow back through (``CloneBackward0``)."""
    return _t(input, "clone").clone()


__all__ += ["is_tensor", "numel", "clone"]
