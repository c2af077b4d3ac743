"""``TensorBase``: what a tensor *is* — its numbers and the bookkeeping autograd needs.

A tensor holds

* its numbers (a numpy array on the CPU, a CuPy array on "cuda");
* ``requires_grad`` — whether gradients should flow to it;
* ``grad_fn`` — the graph node of the op that produced it (``None`` for leaves);
* ``grad`` — after ``backward()``, ∂L/∂(this tensor), for leaves that require grad;
* a version counter, bumped by every in-place change, so that backward can tell when a tensor it
  saved was changed after the fact.

What you can *do* with a tensor — every op, ``backward()`` — is added by ``Tensor`` in
``tensor.py``, which sits above the ops. The layers below it (the graph nodes, the engine, the
ops) know tensors only through this class, and make new ones with the ``_make`` of a tensor they
were given, so no module imports one that imports it back.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import backend, dtypes
from .printing import tensor_repr

_ndarray = np.ndarray


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's ``torch.Size``."""

    def __repr__(self):
        return f"autogradkit.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class TensorBase:
    # Every tensor sets these four; the rarely-set ones below live in the instance dict only
    # when set (a chain of small ops is dominated by this bookkeeping, so it is kept lean).
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_vcs", "__dict__", "__weakref__")
    _grad = None        # the gradient tensor (leaves, and non-leaves that retain it)
    _accum = None       # a leaf's AccumulateGrad node, made on first use
    _base = None        # for a view: the tensor whose numbers it shares
    _tangent = None     # forward mode: the tangent at the active dual level (autograd.forward_ad)
    _viewed = False     # forward mode: a view of it was made in a dual level
    __array_ufunc__ = None          # numpy defers to us: ndarray * Tensor -> Tensor.__rmul__

    @staticmethod
    def _make(data, grad_fn=None, requires_grad=False):
        """Wrap an array as a tensor, without copying or checking. ``Tensor`` defines it; the
        layers below call it on a tensor they were given (``x._make(array)``)."""
        raise NotImplementedError

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
            if not isinstance(value, TensorBase):
                raise TypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"grad: assigned grad has shape {tuple(value.shape)}, but the "
                                   f"tensor has shape {tuple(self.shape)}")
        self._grad = value

    @property
    def retains_grad(self):
        fn = self._grad_fn
        return fn is not None and fn._retain is not None and fn._retain() is self

    def detach(self):
        """The same numbers (shared, not copied) without history: a new leaf."""
        t = self._make(self._data)
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
        return self._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, TensorBase):
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

    def element_size(self):
        """Bytes of one element (4 for float32, 8 for float64)."""
        return int(self._data.itemsize)

    @property
    def itemsize(self):
        return int(self._data.itemsize)

    @property
    def nbytes(self):
        """Bytes of all the elements: ``numel() * element_size()``."""
        return int(self._data.nbytes)

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


def _to_numpy(array):
    return array if type(array) is _ndarray else backend.to_device(array, "cpu")


def _dim(dim, ndim, op):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''} (valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})")
    return dim % max(ndim, 1)


def _plain(data):
    """Nested lists/tuples with any tensors inside replaced by their numbers."""
    if isinstance(data, TensorBase):
        return _to_numpy(data._data).tolist()
    if isinstance(data, (list, tuple)):
        return [_plain(d) for d in data]
    return data


def _as_array(data, dtype=None, device=None):
    """Any array-like as a new array of the right dtype on the right device.

    Like PyTorch: Python floats become the default float dtype (float32), Python ints int64;
    an array or tensor keeps its dtype unless ``dtype`` says otherwise."""
    np_dtype = dtypes.to_numpy(dtype)
    if isinstance(data, TensorBase):
        arr = data._data
    elif type(data) is np.ndarray or isinstance(data, np.generic):
        arr = np.array(data)
    elif hasattr(data, "__cuda_array_interface__") or type(data).__module__.startswith("cupy"):
        arr = data
    else:
        try:
            arr = np.array(_plain(data))
        except ValueError as exc:
            raise ValueError(f"tensor: could not make a tensor from {type(data).__name__} "
                             f"(are all rows the same length?): {exc}") from None
        if arr.dtype == object:
            raise TypeError(f"tensor: could not make a tensor from {data!r}: it should be "
                            "numbers, nested lists of numbers of equal lengths, or an array")
        if np_dtype is None and arr.dtype.kind == "f":
            np_dtype = dtypes.default_float.numpy
    if np_dtype is None:
        if arr.dtype.kind == "f" and arr.dtype not in dtypes._BY_NUMPY:
            np_dtype = dtypes.default_float.numpy
        elif arr.dtype.kind in "iu" and arr.dtype not in dtypes._BY_NUMPY:
            np_dtype = np.int64
        else:
            np_dtype = arr.dtype
    dtypes.from_numpy(np_dtype)   # a clear error for unsupported dtypes
    target = backend.Device(device) if device is not None else backend.device_of(arr)
    arr = backend.to_device(arr, target)
    return arr.astype(np_dtype, copy=True)
