"""Comparing a learner's numbers with the right ones, and saying precisely where they differ.

:func:`compare` returns ``None`` when ``got`` matches ``expected``, or a :class:`Mismatch` that
names the first element that differs (``grad of w1[2, 3]: expected 0.41, got -0.41``) and which
known mistake, if any, the whole answer looks like (a negated gradient, a doubled one, a gradient
left in its broadcast shape, a transposed one, or a task's own wrong answers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class NotNumbers(Exception):
    """``got`` is not something that can be read as numbers (None, a string, a graph node …)."""


def to_array(value):
    """A learner's answer as a float64 numpy array: numbers, lists, numpy arrays, tensors."""
    from ..tensor import Tensor
    if value is None:
        raise NotNumbers("None")
    if isinstance(value, Tensor):
        return np.array(value.detach().cpu().numpy(), dtype=np.float64)
    if isinstance(value, (bool, np.bool_)):
        raise NotNumbers(type(value).__name__)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.array(float(value))
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        raise NotNumbers(f"a {type(value).__name__} of tensors")
    try:
        arr = np.asarray(value)
    except Exception:
        raise NotNumbers(type(value).__name__) from None
    if arr.dtype.kind not in "iuf":
        raise NotNumbers(type(value).__name__)
    return arr.astype(np.float64)


def describe_type(value):
    from ..tensor import Tensor
    if value is None:
        return "None"
    if isinstance(value, Tensor):
        return f"a tensor of shape {shape_str(tuple(value.shape))}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {shape_str(value.shape)}"
    return f"a {type(value).__name__}"


def shape_str(shape):
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def fmt(value, other=None):
    """A number short enough to read, but long enough to differ from ``other`` when it does."""
    value = float(value)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    for digits in (4, 6, 8, 10, 17):
        text = f"{value:.{digits}g}"
        if other is None or np.isnan(other) or text != f"{float(other):.{digits}g}":
            break
    if text == "-0":
        text = "0"
    return text


def index_str(name, index):
    return f"{name}[{', '.join(str(int(i)) for i in index)}]" if len(index) else name


@dataclass
class Mismatch:
    message: str                       # the first difference, e.g. "grad of b[1]: expected 2, got 0"
    misconception: str | None = None   # key of the known mistake the answer looks like, if any


def _close(a, b, rtol, atol):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def sum_to(arr, shape):
    """``arr`` summed back to ``shape`` (the shape an operand had before it was broadcast)."""
    lead = arr.ndim - len(shape)
    out = arr.sum(axis=tuple(range(lead))) if lead > 0 else arr
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out


def broadcasts_to(small, big):
    """True when an operand of shape ``small`` broadcasts to ``big`` (and they differ)."""
    if tuple(small) == tuple(big) or len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def compare(got, expected, what="result", rtol=1e-5, atol=1e-8, alternatives=None, generic=True,
            names=None):
    """``None`` when ``got`` matches ``expected``; else a :class:`Mismatch`.

    ``alternatives`` maps a misconception key to the answer that mistake would give (a dict, or
    a list of (key, answer) pairs; checked in order, before the generic ones: negated, doubled,
    transposed, all zeros) — an answer that matches one is labelled with that key. ``names``
    (for 1-D answers) names each element, e.g. the graph node it belongs to; ``what`` may then
    contain ``{}`` where the name goes.
    """
    try:
        g = to_array(got)
    except NotNumbers:
        return Mismatch(f"{what}: expected numbers, got {describe_type(got)}", "not_numbers")
    e = to_array(expected)
    if g.shape != e.shape:
        return _shape_mismatch(g, e, what)
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol) | (np.isnan(g) != np.isnan(e))
    if not bad.any():
        return None
    index = tuple(np.argwhere(bad)[0]) if g.ndim else ()
    where = what.format(names[index[0]]) if names is not None else index_str(what, index)
    message = f"{where}: expected {fmt(e[index], g[index])}, got {fmt(g[index], e[index])}"
    mistake = _which_mistake(g, e, rtol, atol, alternatives, generic)
    return Mismatch(message, mistake or _dtype_mistake(got, g, e))


def _dtype_mistake(got, g, e):
    """An answer wrong only because of its dtype: integers that lost the fractions, or float32
    that is right to float32's precision where the check asks for more."""
    kind = _dtype_kind(got)
    if kind in ("i", "u") and not np.all(e == np.round(e)):
        return "integer_dtype"
    if kind == "float32" and np.allclose(g, e, rtol=1e-5, atol=1e-6):
        return "float32_precision"
    return None


def _dtype_kind(value):
    from ..tensor import Tensor
    if isinstance(value, Tensor):
        name = str(value.dtype).replace("autogradkit.", "")
        return "float32" if name == "float32" else ("i" if name.startswith(("int", "uint")) else None)
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return "i"
    try:
        dtype = np.asarray(value).dtype
    except Exception:
        return None
    return "float32" if dtype == np.float32 else (dtype.kind if dtype.kind in "iu" else None)


def _which_mistake(g, e, rtol, atol, alternatives, generic):
    pairs = alternatives.items() if isinstance(alternatives, dict) else (alternatives or ())
    for key, wrong in pairs:
        if wrong is None:
            continue
        try:
            w = to_array(wrong)
        except NotNumbers:
            continue
        if _close(g, w, rtol, atol) and not _close(w, e, rtol, atol):
            return key
    if not generic or np.isnan(g).any():
        return "nan" if np.isnan(g).any() and not np.isnan(e).any() else None
    scale = np.abs(e).max() if e.size else 0.0
    if scale <= atol:
        return None
    if _close(g, -e, rtol, atol):
        return "negated"
    if _close(g, 2 * e, rtol, atol):
        return "doubled"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and _close(g, e.T, rtol, atol):
        return "transposed"
    if not np.any(g) and g.size > 1:    # one number that happens to be 0 says nothing
        return "zeros"
    return None


def _shape_mismatch(g, e, what):
    gs, es = g.shape, e.shape
    message = f"{what} has shape {shape_str(gs)}, expected {shape_str(es)}"
    if g.ndim == 2 and gs == es[::-1]:
        return Mismatch(message, "transposed")
    if g.size == e.size:
        return Mismatch(message, "reshaped")
    if e.ndim == 0 and g.size > 1:           # one number expected: a loss left unreduced
        return Mismatch(message, "not_reduced")
    if broadcasts_to(es, gs):
        return Mismatch(message, "unsummed_broadcast")
    return Mismatch(message, None)
