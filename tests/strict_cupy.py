"""A strict stand-in for CuPy, so CI without a GPU can still run autogradkit's "cuda" code paths.

``ndarray`` wraps a numpy array but is *not* a numpy array, and, like ``cupy.ndarray``, it will not
be turned into one behind your back:

* ``numpy.asarray(x)`` / ``numpy.array(x)`` raise ``TypeError`` (``__array__``), as CuPy does;
* non-ufunc numpy functions (``numpy.concatenate(x)``, ``numpy.where(x, ...)``, ...) raise
  ``TypeError`` (``__array_function__``): code must call them through the array module;
* arithmetic or a ufunc mixing it with a real ``numpy.ndarray`` raises ``TypeError``
  ("Unsupported type"), as CuPy does. Python numbers, numpy scalars and 0-d stand-in arrays mix fine;
* numpy ufuncs called on it (``numpy.exp(x)``) return stand-in arrays (``__array_ufunc__``);
* reductions and integer indexing return 0-d stand-in arrays, never numpy scalars;
* moving data is explicit and copies: ``asarray(numpy_array)`` (host to device) and
  ``.get()`` / ``asnumpy`` (device to host).

Module functions (``zeros``, ``exp``, ``where``, ``concatenate``, ``add.at``, ...) come from numpy
through ``__getattr__``: arguments are unwrapped, numpy is called, and results are wrapped again.
Only ``asarray``/``array``/``asanyarray``/``ascontiguousarray`` accept numpy arrays.

Install it with ``autogradkit.backend._use_cupy_module(strict_cupy)`` and remove it with
``autogradkit.backend._forget_cupy()``.
"""
from __future__ import annotations

import types

import numpy as _np

__all__ = ["ndarray", "asnumpy", "get_array_module", "cuda"]

_HOST_TO_DEVICE = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})
_SCALARS = (bool, int, float, complex, _np.generic)


def _unsupported(obj):
    return TypeError(f"Unsupported type {type(obj)}")


def _wrap(value):
    """A numpy result as a stand-in array (numpy scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(value, _np.ndarray):
        return ndarray._from_numpy(value)
    if isinstance(value, _np.generic):
        return ndarray._from_numpy(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value, allow_numpy=False):
    """Stand-in arrays (also inside lists, tuples and dicts) as numpy arrays; real numpy arrays
    are refused unless ``allow_numpy`` (host-to-device copies)."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _np.ndarray):
        if not allow_numpy:
            raise _unsupported(value)
        return _np.array(value, copy=True)          # a host-to-device copy never shares memory
    if isinstance(value, tuple):
        return tuple(_unwrap(v, allow_numpy) for v in value)
    if isinstance(value, list):
        return [_unwrap(v, allow_numpy) for v in value]
    if isinstance(value, dict):
        return {k: _unwrap(v, allow_numpy) for k, v in value.items()}
    return value


def _operand(value):
    """An operand of arithmetic: a numpy array for stand-ins, numbers as they are, None if the
    other type should get its chance (NotImplemented); real numpy arrays are an error."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _np.ndarray):
        raise _unsupported(value)
    if isinstance(value, _SCALARS):
        return value
    return None


def _index(key):
    """An index: stand-in arrays unwrapped; lists and numpy arrays accepted (CuPy copies them)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, list):
        return [_index(k) for k in key]
    return key


class ndarray:
    """A GPU array stand-in: a numpy array inside, never handed out implicitly."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a = _np.empty(shape, dtype=dtype)

    @classmethod
    def _from_numpy(cls, array):
        obj = object.__new__(cls)
        obj._a = array
        return obj

    # ---- strictness ----------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                        "to construct a NumPy array explicitly.")

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", repr(func))
        raise TypeError(f"strict_cupy: numpy.{name} was called on a GPU (stand-in) array; call it "
                        f"through the array module instead (xp.{name}), or copy to the host with "
                        "`.get()` first")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = []
        for x in inputs:
            if isinstance(x, ndarray):
                args.append(x._a)
            elif isinstance(x, _np.ndarray):
                raise _unsupported(x)
            elif isinstance(x, _SCALARS):
                args.append(x)
            elif isinstance(x, (list, tuple)) and method == "at":
                args.append(_index(x))      # the indices of ufunc.at
            else:
                return NotImplemented
        out = kwargs.get("out")
        if out is not None:
            for o in out:
                if not isinstance(o, ndarray):
                    raise _unsupported(o)
            kwargs["out"] = tuple(o._a for o in out)
        if "where" in kwargs:
            kwargs["where"] = _unwrap(kwargs["where"])
        result = getattr(ufunc, method)(*args, **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else tuple(out)
        return _wrap(result)

    # ---- moving data -----------------------------------------------------------------------
    def get(self, stream=None, order="C", out=None):
        """Copy to the host: a new numpy array."""
        if out is not None:
            _np.copyto(out, self._a)
            return out
        return _np.array(self._a, copy=True, order=order)

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "descr": a.dtype.descr,
                "data": (a.__array_interface__["data"][0], not a.flags.writeable),
                "strides": None if a.flags.c_contiguous else a.strides, "version": 3}

    # ---- attributes ----------------------------------------------------------------------
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def strides(self):
        return self._a.strides

    @property
    def itemsize(self):
        return self._a.itemsize

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def base(self):
        base = self._a.base
        return ndarray._from_numpy(base) if isinstance(base, _np.ndarray) else None

    @property
    def T(self):
        return ndarray._from_numpy(self._a.T)

    @property
    def real(self):
        return ndarray._from_numpy(self._a.real)

    @property
    def imag(self):
        return ndarray._from_numpy(self._a.imag)

    # ---- methods -------------------------------------------------------------------------
    def _call(self, name, *args, **kwargs):
        result = getattr(self._a, name)(*_unwrap(args), **_unwrap(kwargs))
        if result is self._a:
            return self
        return _wrap(result)

    def reshape(self, *shape, order="C"):
        return self._call("reshape", *shape, order=order)

    def transpose(self, *axes):
        return self._call("transpose", *axes)

    def swapaxes(self, axis1, axis2):
        return self._call("swapaxes", axis1, axis2)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        result = self._a.astype(dtype, order=order, copy=copy)
        return self if result is self._a else ndarray._from_numpy(result)

    def copy(self, order="C"):
        return self._call("copy", order=order)

    def view(self, dtype=None):
        return self._call("view") if dtype is None else self._call("view", dtype)

    def fill(self, value):
        if isinstance(value, _np.ndarray):
            raise _unsupported(value)
        self._a.fill(_unwrap(value))

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return repr(self._a).replace("array(", "strict_cupy.array(", 1)

    def __str__(self):
        return str(self._a)

    def __reduce__(self):
        return (ndarray._from_numpy, (self._a,))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # ---- indexing -------------------------------------------------------------------------
    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, ndarray):
            value = value._a
        elif not isinstance(value, _SCALARS):
            raise _unsupported(value)
        self._a[_index(key)] = value

    # ---- arithmetic ------------------------------------------------------------------------
    def __neg__(self):
        return ndarray._from_numpy(-self._a)

    def __pos__(self):
        return ndarray._from_numpy(+self._a)

    def __abs__(self):
        return ndarray._from_numpy(abs(self._a))

    def __invert__(self):
        return ndarray._from_numpy(~self._a)


def _binary(ufunc, reflected=False):
    def op(self, other):
        b = _operand(other)
        if b is None:
            return NotImplemented
        return _wrap(ufunc(b, self._a) if reflected else ufunc(self._a, b))
    return op


def _inplace(ufunc):
    def op(self, other):
        b = _operand(other)
        if b is None:
            return NotImplemented
        ufunc(self._a, b, out=self._a)
        return self
    return op


for _name, _ufunc in [("add", _np.add), ("sub", _np.subtract), ("mul", _np.multiply),
                      ("truediv", _np.true_divide), ("floordiv", _np.floor_divide),
                      ("mod", _np.remainder), ("pow", _np.power), ("matmul", _np.matmul),
                      ("and", _np.bitwise_and), ("or", _np.bitwise_or), ("xor", _np.bitwise_xor),
                      ("lshift", _np.left_shift), ("rshift", _np.right_shift)]:
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
    setattr(ndarray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(_ufunc))

for _name, _ufunc in [("lt", _np.less), ("le", _np.less_equal), ("gt", _np.greater),
                      ("ge", _np.greater_equal), ("eq", _np.equal), ("ne", _np.not_equal)]:
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))


def _method(name):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)
    method.__name__ = name
    return method


for _name in ("sum", "mean", "max", "min", "argmax", "argmin", "all", "any", "prod", "var", "std",
              "cumsum", "ravel", "flatten", "squeeze", "take", "clip", "dot", "nonzero", "round",
              "repeat", "conj", "diagonal", "trace", "sort", "argsort"):
    setattr(ndarray, _name, _method(_name))


# ---- module functions ------------------------------------------------------------------------
class _Ufunc:
    """A numpy ufunc on stand-in arrays, with ``.at``, ``.reduce``, ``.outer`` and ``.accumulate``."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return _call(self._ufunc, args, kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        if b is None:
            self._ufunc.at(a._a, _index(indices))
        else:
            self._ufunc.at(a._a, _index(indices), _unwrap(b))

    def reduce(self, *args, **kwargs):
        return _call(self._ufunc.reduce, args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _call(self._ufunc.accumulate, args, kwargs)

    def outer(self, *args, **kwargs):
        return _call(self._ufunc.outer, args, kwargs)

    def __repr__(self):
        return f"<strict_cupy ufunc {self.__name__}>"


def _call(fn, args, kwargs, allow_numpy=False):
    out = kwargs.get("out")
    if out is not None and not isinstance(out, (ndarray, tuple)):
        raise _unsupported(out)
    result = fn(*_unwrap(args, allow_numpy), **_unwrap(kwargs, allow_numpy))
    if out is not None:
        return out
    for a in args:                      # e.g. asarray(x) of a stand-in returns x itself
        if isinstance(a, ndarray) and result is a._a:
            return a
    return _wrap(result)


def _function(name, fn):
    allow_numpy = name in _HOST_TO_DEVICE

    def function(*args, **kwargs):
        return _call(fn, args, kwargs, allow_numpy)
    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = f"numpy.{name} on stand-in GPU arrays"
    return function


_cache = {}


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(f"module 'strict_cupy' has no attribute {name!r}")
    if name in _cache:
        return _cache[name]
    try:
        obj = getattr(_np, name)
    except AttributeError:
        raise AttributeError(f"module 'strict_cupy' has no attribute {name!r}") from None
    if isinstance(obj, _np.ufunc):
        wrapped = _Ufunc(obj)
    elif isinstance(obj, type) or not callable(obj):
        wrapped = obj                    # dtypes (float32, int64, ...), constants (pi, newaxis)
    elif isinstance(obj, types.ModuleType):
        raise AttributeError(f"strict_cupy has no submodule {name!r}")
    else:
        wrapped = _function(name, obj)
    _cache[name] = wrapped
    return wrapped


def asnumpy(a, stream=None, order="C", out=None):
    """Device to host: a numpy copy of a stand-in array (other inputs via numpy.asarray)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args):
    import sys
    for a in args:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return _np


class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 1


class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


cuda = types.SimpleNamespace(runtime=_Runtime(), Device=_Device, is_available=lambda: True)
