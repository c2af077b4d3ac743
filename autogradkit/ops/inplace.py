"""In-place ops: ``add_``, ``sub_``, ``mul_``, ``div_``, ``zero_``, ``fill_``, ``copy_``, ``clamp_``
and ``x[key] = v``. Each changes the tensor's numbers where they are and bumps its version counter.

Rules (PyTorch's):
* nothing is changed when the op fails (shape or dtype checks come first);
* a leaf that requires grad cannot be changed in place while graphs are recorded (wrap the
  update in ``no_grad()``, as optimizers do);
* a non-leaf changed in place gets a new ``grad_fn`` ("rebased history"); any node that saved the
  old value notices the version bump and refuses to backward with a clear message;
* in forward mode (inside a ``dual_level``), a change that involves a tangent updates the tensor's
  tangent too: it is computed out of place, tangent and all, and copied back. A view, or a tensor
  a view was taken of in the level, is refused with a clear error: each view keeps a tangent of
  its own here (PyTorch shares them), so the change would not reach the other's tangent.
"""
from __future__ import annotations

import numpy as np

from ..autograd import forward_ad
from ..autograd.grad_mode import GradMode
from ..backend import array_module, to_device
from ..tensor_base import TensorBase
from .indexing import normalize_key

_UFUNC = {"add_": "add", "sub_": "subtract", "mul_": "multiply", "div_": "true_divide"}
_OUT_OF_PLACE = {"add_": lambda a, b: a + b, "sub_": lambda a, b: a - b,
                 "mul_": lambda a, b: a * b, "div_": lambda a, b: a / b}


def _check_leaf(t, op):
    if GradMode.enabled and t._requires_grad and t._grad_fn is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad is being changed in place. Do the update "
            "inside `with autogradkit.no_grad():` (as optimizers do), or work on a .clone().")


def _dual(t, other, op):
    """Forward mode: does this in-place change involve a tangent? (Refused where it can't be
    followed.)"""
    if not forward_ad.has_tangent(t, other):
        return False
    if t._base is not None or t._viewed:
        what = "is a view of another tensor" if t._base is not None else "has views"
        raise RuntimeError(
            f"{op}: in forward mode this tensor {what}, and changing it in place would change "
            "the other's numbers but not its tangent (autogradkit keeps each view's tangent "
            "apart from its base's). Compute the new value out of place instead, e.g. "
            "y = y * 2 rather than y.mul_(2).")
    if t._data.dtype.kind not in "fc":
        raise TypeError(f"{op}: the tensor is {t.dtype.name} and can't carry the tangent of the "
                        "result; only floating-point tensors have tangents. Convert it first "
                        "(t = t.double()) or work out of place.")
    return True


def _carry_tangent(old, t):
    """``old`` (a copy of ``t`` to compute from out of place) gets ``t``'s tangent."""
    if forward_ad.has_tangent(t):
        forward_ad.attach(old, t._tangent)
    return old


def _take_tangent(t, result):
    """After ``t`` took ``result``'s numbers in place: its tangent too (zeros if it has none)."""
    tangent = result._tangent
    if tangent is None:
        tangent = t._make(array_module(t._data).zeros_like(t._data))
    elif tangent._data.dtype != t._data.dtype:
        tangent = tangent.to(dtype=t.dtype)
    forward_ad.attach(t, tangent)


def _tracking(t, other):
    return GradMode.enabled and (t._requires_grad or (isinstance(other, TensorBase) and other._requires_grad))


def _rebase(t, result, op, history=True, dual=False):
    """t takes result's numbers (in place) and result's history (and, in forward mode, tangent)."""
    if history and t._base is not None:
        raise RuntimeError(
            f"{op}: changing a view of another tensor in place while recording a graph is not "
            "supported by autogradkit; compute the new value out of place instead.")
    if tuple(result._data.shape) != tuple(t._data.shape):
        raise ValueError(f"{op}: the result has shape {tuple(result._data.shape)} but the tensor "
                         f"being changed has shape {tuple(t._data.shape)}; in-place ops can't change a "
                         "tensor's shape")
    t._data[...] = result._data
    t._vc[0] += 1
    if history:
        t._grad_fn = result._grad_fn
        t._requires_grad = result._requires_grad
    if dual:
        _take_tangent(t, result)
    return t


def inplace(t, op, other, alpha=1):
    _check_leaf(t, op)
    if isinstance(other, TensorBase) and type(other._data) is not type(t._data):
        raise RuntimeError(f"{op}: tensors are on different devices ({t.device} and {other.device})")
    if alpha != 1:
        other = other * alpha
    tracking, dual = _tracking(t, other), _dual(t, other, op)
    if tracking or dual:
        old = _carry_tangent(t._make(t._data.copy(), t._grad_fn, t._requires_grad), t)
        old._accum = t._accum
        return _rebase(t, _OUT_OF_PLACE[op](old, other), op, tracking, dual)
    b = other._data if isinstance(other, TensorBase) else other
    xp = array_module(t._data)
    try:
        getattr(xp, _UFUNC[op])(t._data, b, out=t._data, casting="same_kind")
    except (ValueError, TypeError) as exc:
        bshape = tuple(getattr(b, "shape", ()))
        bdt = getattr(b, "dtype", type(b).__name__)
        raise (TypeError if isinstance(exc, TypeError) else ValueError)(
            f"{op}: can't write the result into the tensor (shape {tuple(t._data.shape)}, "
            f"{t._data.dtype}) with the other operand of shape {bshape}, {bdt}: the result must "
            f"broadcast to the tensor's own shape and keep its dtype ({exc})") from None
    t._vc[0] += 1
    return t


def fill_(t, value, op):
    _check_leaf(t, op)
    dual = _dual(t, value, op)
    value_tangent = value._tangent if dual and isinstance(value, TensorBase) else None
    if isinstance(value, TensorBase):
        if value._data.size != 1:
            raise ValueError(f"{op}: expects a number or a one-element tensor, got shape "
                             f"{tuple(value._data.shape)}")
        value = value.item()
    t._data[...] = value
    t._vc[0] += 1
    if GradMode.enabled and t._grad_fn is not None:
        t._grad_fn = None       # its value no longer depends on anything
        t._requires_grad = False
    if dual:                    # ṫ = 0 (a number), or the one-element value's tangent everywhere
        tangent = array_module(t._data).zeros_like(t._data)
        if value_tangent is not None:
            tangent[...] = value_tangent._data.reshape(())
        forward_ad.attach(t, t._make(tangent))
    return t


def random_(t, draw, op):
    """``uniform_``/``normal_``: ``t`` takes new numbers ``draw(shape)`` (a float64 numpy array,
    drawn on the CPU so a seed gives the same numbers on every device), cast to its dtype. Like
    ``fill_``: its value no longer depends on anything, and in forward mode its tangent is 0."""
    _check_leaf(t, op)
    if t._data.dtype.kind not in "fc":
        raise TypeError(f"{op}: expects a floating-point tensor, got {t._data.dtype}; convert it "
                        "first (t = t.float())")
    dual = _dual(t, None, op)
    values = draw(tuple(t._data.shape)).astype(t._data.dtype)
    t._data[...] = to_device(values, "cpu" if type(t._data) is np.ndarray else "cuda")
    t._vc[0] += 1
    if GradMode.enabled and t._grad_fn is not None:
        t._grad_fn = None
        t._requires_grad = False
    if dual:
        forward_ad.attach(t, t._make(array_module(t._data).zeros_like(t._data)))
    return t


def copy_(t, src):
    _check_leaf(t, "copy_")
    if not isinstance(src, TensorBase):
        src = t._make(np.asarray(src))
    tracking, dual = _tracking(t, src), _dual(t, src, "copy_")
    if tracking or dual:
        moved = src.to(device=t.device, dtype=t.dtype)
        return _rebase(t, moved.expand(*t._data.shape), "copy_", tracking, dual)
    data = to_device(src._data, t.device)
    try:
        array_module(t._data).copyto(t._data, data, casting="unsafe")
    except ValueError as exc:
        raise ValueError(f"copy_: a source of shape {tuple(src._data.shape)} can't be copied into a "
                         f"tensor of shape {tuple(t._data.shape)} ({exc})") from None
    t._vc[0] += 1
    return t


def clamp_(t, lo, hi):
    _check_leaf(t, "clamp_")
    tracking, dual = GradMode.enabled and t._requires_grad, _dual(t, None, "clamp_")
    if tracking or dual:
        old = _carry_tangent(t._make(t._data.copy(), t._grad_fn, t._requires_grad), t)
        return _rebase(t, old.clamp(lo, hi), "clamp_", tracking, dual)
    array_module(t._data).clip(t._data, lo, hi, out=t._data)
    t._vc[0] += 1
    return t


def setitem_(t, key, value):
    """``t[key] = value``: allowed when no graph is involved."""
    if _tracking(t, value):
        raise RuntimeError(
            "index assignment (t[key] = value) on a tensor that is part of a graph is not supported "
            "by autogradkit; build the new tensor out of place (e.g. with where(mask, value, t)), or "
            "do it under no_grad() if no gradient should flow through it.")
    if isinstance(value, TensorBase) and type(value._data) is not type(t._data):
        raise RuntimeError(f"index assignment: the value is on {value.device} but the tensor is on "
                           f"{t.device}; move the value with .to({str(t.device)!r})")
    dual = _dual(t, value, "index assignment")
    key, _ = normalize_key(key, t._data)
    v = value._data if isinstance(value, TensorBase) else value
    try:
        t._data[key] = v
    except (ValueError, IndexError, TypeError) as exc:
        raise type(exc)(f"index assignment: {exc} (tensor of shape {tuple(t._data.shape)})") from None
    t._vc[0] += 1
    if dual:                    # ṫ[key] = the value's tangent (0 for a number or a plain tensor)
        tangent = (t._tangent._data.copy() if t._tangent is not None
                   else array_module(t._data).zeros_like(t._data))
        has = isinstance(value, TensorBase) and value._tangent is not None
        tangent[key] = value._tangent._data if has else 0
        forward_ad.attach(t, t._make(tangent))
