"""Data types with PyTorch's names: ``float32`` (the default), ``float64``, ``int64``, ``bool`` …

A ``DType`` wraps a numpy dtype so that it prints like PyTorch's (``autogradkit.float32``) and
compares equal to the numpy dtype it stands for.
"""
from __future__ import annotations

import numpy as np


class DType:
    __slots__ = ("numpy", "name", "is_floating_point")

    def __init__(self, name, np_dtype):
        self.name = name
        self.numpy = np.dtype(np_dtype)
        self.is_floating_point = self.numpy.kind == "f"

    def __repr__(self):
        return f"autogradkit.{self.name}"

    def __eq__(self, other):
        if isinstance(other, DType):
            return self.numpy == other.numpy
        try:
            return self.numpy == np.dtype(other)
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.numpy)

    @property
    def itemsize(self):
        return self.numpy.itemsize


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)

_BY_NUMPY = {d.numpy: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)}

FRESH_DEFAULT_FLOAT = float32     # what a new session starts with
default_float = FRESH_DEFAULT_FLOAT


def from_numpy(np_dtype):
    """The DType for a numpy dtype (error for dtypes autogradkit does not support)."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        pass
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"unsupported dtype {np_dtype!r}; autogradkit supports "
                        f"{', '.join(d.name for d in _BY_NUMPY.values())}") from None


def to_numpy(dtype):
    """numpy dtype for a DType, a numpy dtype, or a Python type (float -> float32 like PyTorch)."""
    if dtype is None:
        return None
    if isinstance(dtype, DType):
        return dtype.numpy
    if dtype is float:
        return default_float.numpy
    if dtype is int:
        return int64.numpy
    if dtype is bool:
        return bool_.numpy
    return from_numpy(dtype).numpy


def set_default_dtype(dtype):
    """Choose the dtype of new floating-point tensors (``float32`` unless changed)."""
    global default_float
    d = from_numpy(to_numpy(dtype))
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, got {d!r}")
    default_float = d


def get_default_dtype():
    return default_float
