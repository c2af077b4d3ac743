"""Indexing: ``x[key]`` with integers, slices, ``None``, ``...``, integer arrays (repeats allowed)
and boolean masks — numpy's rules, which are PyTorch's.

The gradient puts ḡ back where the selected elements came from, into zeros elsewhere. With an
integer array an element can be picked several times: its gradient is then the *sum* of the
picks' gradients (``add.at``), not the last one written.
"""
from __future__ import annotations

import numpy as np

from ..autograd.node import Op
from ..backend import array_module, device_of
from ..tensor_base import TensorBase


_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def normalize_key(key, like):
    """Turn tensors and lists inside an index into arrays on the indexed tensor's device.

    Returns the key and what kind of indexing it is: "basic" (ints, slices: a view),
    "mask" (boolean arrays) or "advanced" (integer arrays: picks may repeat).
    """
    xp = array_module(like)
    parts = key if isinstance(key, tuple) else (key,)
    out, kind = [], "basic"
    for k in parts:
        if isinstance(k, TensorBase):
            if k._data.__class__ is not like.__class__ and type(k._data) is not np.ndarray:
                raise RuntimeError(f"index: the index tensor is on {k.device} but the indexed tensor "
                                   f"is on {_device_name(like)}; move the index with .to()")
            k = k._data
        elif isinstance(k, (list, bool)):
            k = np.asarray(k)
        if not isinstance(k, _BASIC):
            if k.dtype.kind == "b":
                kind = "mask" if kind == "basic" else kind
            elif k.dtype.kind in "iu":
                kind = "advanced"
            else:
                raise IndexError(f"index: tensors used as indices must be integer or bool, got "
                                 f"{k.dtype}; convert with .long()")
            if xp is not np and type(k) is np.ndarray:
                k = xp.asarray(k)
        out.append(k)
    return (tuple(out) if isinstance(key, tuple) else out[0]), kind


def _device_name(array):
    return device_of(array)


class GetItem(Op):
    """out = x[key]    x̄ = zeros with ḡ added at key (repeated indices add up)"""
    _name, op, formula = "IndexBackward0", "index", "x̄ = zeros; x̄[key] += ḡ"
    jvp_formula = "ẏ = ẋ[key]"
    is_view = True

    def forward(self, x, key):
        key, kind = normalize_key(key, x)
        self.key, self.in_shape = key, x.shape
        self.accumulate = kind == "advanced"
        self.is_view = kind == "basic"
        if kind == "basic":
            parts = key if isinstance(key, tuple) else (key,)
            if any(isinstance(k, (int, np.integer)) for k in parts):
                self._name = "SelectBackward0"
            elif None in parts and all(k is None or k is Ellipsis or k == slice(None)
                                       for k in parts):
                self._name = "UnsqueezeBackward0"        # x[None], x[:, None]: only new axes
            else:
                self._name = "SliceBackward0"
        try:
            return x[key]
        except IndexError as exc:
            raise IndexError(f"index: {exc} (indexing a tensor of shape {tuple(x.shape)})") from None

    def backward(self, math, g):
        return math.index_add(self.in_shape, self.key, g, self.accumulate)

    def jvp(self, math, t):
        return t[self.key]


class IndexAdd(Op):
    """out = zeros(shape) with g added at key — the backward of indexing, as an op of its own so
    that a differentiable backward (create_graph) can differentiate it again: ḡ_g = ḡ[key]."""
    _name, op, formula = "IndexPutBackward0", "index_add", "ḡ_in = ḡ[key]"
    jvp_formula = "ẏ = zeros; ẏ[key] += ġ"

    def forward(self, g, shape, key, accumulate):
        self.key, self.shape, self.accumulate = key, shape, accumulate
        z = array_module(g).zeros(shape, dtype=g.dtype)
        if accumulate:
            array_module(g).add.at(z, key, g)
        else:
            z[key] = g
        return z

    def backward(self, math, g):
        return g[self.key]

    def jvp(self, math, t):           # linear in g: the same op on the tangent
        return math.index_add(self.shape, self.key, t, self.accumulate)
