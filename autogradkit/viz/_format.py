"""Short, deterministic text for numbers, shapes and arrays (shared by every visualizer).

Everything printed here must be the same on every run (notebooks are checked by nbval in strict
mode): no addresses, no timestamps, a fixed number of significant digits.
"""
from __future__ import annotations

import html

import numpy as np


def to_numpy(x):
    """A NumPy copy of a tensor, an array or a number (``None`` stays ``None``)."""
    if x is None:
        return None
    from ..tensor import Tensor
    if isinstance(x, Tensor):
        x = x._data                         # (a traced 0-d gradient may be a NumPy scalar)
    if isinstance(x, (np.ndarray, np.generic)):
        return np.array(x, copy=True)
    if hasattr(x, "get"):                   # a CuPy array
        return np.asarray(x.get())
    return np.asarray(x)


def num(v):
    """One number, 4 significant digits, no ``-0``."""
    v = float(v)
    if v == 0:
        return "0"
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.4g}"


def shape(s):
    """``(3,)``, ``()`` or ``(100, 20)``."""
    return str(tuple(int(d) for d in s))


def _nested(a):
    if a.ndim == 0:
        return num(a)
    return "[" + ", ".join(_nested(r) for r in a) + "]"


def values(arr, max_items=4):
    """Every value when there are at most ``max_items``, else the first few and the count."""
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.int8)
    if a.size == 0:
        return "[]"
    if a.size <= max_items:
        return _nested(a)
    flat = a.reshape(-1)
    head = ", ".join(num(v) for v in flat[:3])
    return f"[{head}, …] ({a.size} values)"


def short(arr, max_items=3):
    """Compact, for graph labels: every value when few, else the first two and ``…``."""
    a = np.asarray(arr)
    if a.size <= max_items:
        return values(a, max_items)
    flat = a.reshape(-1)
    return "[" + ", ".join(f"{float(v) + 0.0:.3g}" for v in flat[:2]) + ", …]"


def stats(arr):
    """``min … max, mean …`` for a larger array (one line)."""
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        return "empty"
    return f"min {num(a.min())}, max {num(a.max())}, mean {num(a.mean())}"


def array_block(arr, precision=4, max_line_width=78):
    """A multi-line, NumPy-style rendering (for the node inspector)."""
    a = np.asarray(arr)
    if a.dtype.kind == "f":
        a = a + 0.0                         # no -0
    return np.array2string(a, precision=precision, suppress_small=True, threshold=48,
                           edgeitems=3, max_line_width=max_line_width, separator=", ")


def esc(text):
    """Escape for HTML (and Graphviz HTML-like labels)."""
    return html.escape(str(text), quote=True)


def nbytes(n):
    """Bytes for people: ``12 B``, ``3.1 KB``, ``2.4 MB`` (1 KB = 1024 bytes; 3 significant
    digits)."""
    n = int(n)
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024.0
        if n < 1024 or unit == "TB":
            return f"{n:.3g} {unit}" if n < 1000 else f"{n:.0f} {unit}"
    return f"{n} B"      # not reached
