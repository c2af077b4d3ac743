"""``masked_fill``: x with ``value`` written where a boolean mask is true, and its in-place form
``masked_fill_``.

out = value where mask else x, so x̄ = ḡ where the mask is false (0 where it is true), and a
0-d tensor value gets the sum of ḡ over the masked places. Forward mode: ẏ = v̇ where mask else ẋ.
"""
from __future__ import annotations

import numpy as np

from ..autograd.node import Op
from ..backend import array_module
from ..tensor_base import TensorBase
from .inplace import _carry_tangent, _check_leaf, _dual, _rebase, _tracking


class MaskedFill(Op):
    """out = value where mask else x    x̄ = ḡ where ¬mask, v̄ = Σ ḡ where mask"""
    _name, op, formula = "MaskedFillBackward0", "masked_fill", "x̄ = ḡ·[¬mask], v̄ = Σ ḡ·[mask]"
    jvp_formula = "ẏ = v̇ where mask else ẋ"

    def forward(self, x, value, mask):
        self.mask = mask
        if not isinstance(value, (int, float, bool)):
            self._name = "MaskedFillBackward1"      # a tensor value, as PyTorch names it
        return array_module(x).where(mask, value, x).astype(x.dtype, copy=False)

    def backward(self, math, g):
        nx, nv = self._next
        gx = math.where(self.mask, 0, g) if nx is not None else None
        gv = math.where(self.mask, g, 0) if nv is not None else None     # summed to () by Op
        return gx, gv

    def jvp(self, math, tx, tv):      # (one of them at least has a tangent)
        return math.where(self.mask, 0 if tv is None else tv, 0 if tx is None else tx)


def _check(x, mask, value, op):
    """The mask as an array on x's device and the value as a number or a 0-d tensor of x's dtype."""
    if not isinstance(x, TensorBase):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not isinstance(mask, TensorBase):
        raise TypeError(f"{op}: mask must be a bool Tensor, got {type(mask).__name__}; build one "
                        "with a comparison, e.g. x > 0")
    if mask._data.dtype.kind != "b":
        raise TypeError(f"{op}: mask must be a bool tensor, got {mask.dtype.name}; convert it with "
                        "mask.bool() or build it with a comparison (x > 0)")
    if type(mask._data) is not type(x._data):
        raise RuntimeError(f"{op}: the mask is on {mask.device} but the tensor is on {x.device}; "
                           f"move the mask with mask.to({str(x.device)!r})")
    if isinstance(value, TensorBase):
        if value._data.ndim != 0:
            raise ValueError(f"{op}: value must be a number or a 0-dimensional tensor, got a tensor "
                             f"of shape {tuple(value._data.shape)}; use where(mask, values, x) for "
                             "values of a shape")
        if type(value._data) is not type(x._data):
            raise RuntimeError(f"{op}: the value is on {value.device} but the tensor is on "
                               f"{x.device}; move it with value.to({str(x.device)!r})")
        if value._data.dtype != x._data.dtype:
            value = value.to(dtype=x.dtype)
    elif not isinstance(value, (int, float, bool)) or hasattr(value, "shape"):
        if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
            value = value.item()                    # a numpy scalar
        else:
            raise TypeError(f"{op}: value must be a number or a 0-dimensional tensor, got "
                            f"{type(value).__name__}")
    try:
        shape = np.broadcast_shapes(tuple(mask._data.shape), tuple(x._data.shape))
    except ValueError:
        raise ValueError(f"{op}: a mask of shape {tuple(mask._data.shape)} can't be broadcast with a "
                         f"tensor of shape {tuple(x._data.shape)}; compared from the right, each pair "
                         "of sizes must be equal or one of them 1") from None
    if op.endswith("_") and tuple(shape) != tuple(x._data.shape):
        raise ValueError(f"{op}: a mask of shape {tuple(mask._data.shape)} doesn't broadcast to the "
                         f"tensor's shape {tuple(x._data.shape)}; in-place ops can't change a "
                         "tensor's shape (use the out-of-place masked_fill)")
    return mask._data, value


def masked_fill(x, mask, value):
    """``value`` where ``mask`` is true, else x (mask broadcasts with x; value a number or a 0-d
    tensor, cast to x's dtype)."""
    mask, value = _check(x, mask, value, "masked_fill")
    return MaskedFill.apply(x, value, mask=mask)


def masked_fill_(t, mask, value):
    """In place: ``t`` takes ``value`` where ``mask`` is true (the mask must broadcast to t's
    shape). Recorded as ``masked_fill`` when a graph or a tangent is involved (rebased history)."""
    _check_leaf(t, "masked_fill_")
    m, value = _check(t, mask, value, "masked_fill_")
    tracking, dual = _tracking(t, value), _dual(t, value, "masked_fill_")
    if tracking or dual:
        old = _carry_tangent(t._make(t._data.copy(), t._grad_fn, t._requires_grad), t)
        old._accum = t._accum
        return _rebase(t, MaskedFill.apply(old, value, mask=m), "masked_fill_", tracking, dual)
    t._data[...] = array_module(m).where(m, value._data if isinstance(value, TensorBase)
                                         else value, t._data)
    t._vc[0] += 1
    return t
