"""``repr`` of a tensor, laid out as PyTorch lays it out, so printed output transfers:

    tensor([1., 2., 3.], requires_grad=True)
    tensor([[0.1000, 0.2000],
            [0.3000, 0.4000]], grad_fn=<MulBackward0>)

Floats print with 4 decimals, or as ``1.`` when all are whole numbers, or in scientific notation
when their magnitudes span more than a factor of 1000 (or reach 1e8, or go below 1e-4). All
values share one width; rows wrap at 80 characters; tensors over 1000 elements are summarised
with ``...``. Nothing run-dependent is printed (no addresses), so notebooks stay reproducible.
"""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .backend import device_of, to_device

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    """Decides one format and width for every element of a tensor (or its summary)."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if not self.floating:
            for v in arr.reshape(-1).tolist():
                self.width = max(self.width, len(str(v)))
            return
        values = arr.astype(np.float64).reshape(-1)
        finite = values[np.isfinite(values) & (values != 0)]
        if finite.size == 0:
            return
        abs_vals = np.abs(finite)
        lo, hi = float(abs_vals.min()), float(abs_vals.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            if hi / lo > 1000.0 or hi > 1.0e8:
                self.sci_mode = True
                self.width = max(len(f"{v:.{PRECISION}e}") for v in finite.tolist())
            else:
                self.width = max(len(f"{v:.0f}") + 1 for v in finite.tolist())
        elif hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4:
            self.sci_mode = True
            self.width = max(len(f"{v:.{PRECISION}e}") for v in finite.tolist())
        else:
            self.width = max(len(f"{v:.{PRECISION}f}") for v in finite.tolist())

    def format(self, value):
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.width}.{PRECISION}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{PRECISION}f}"
        else:
            text = str(value)
        return " " * (self.width - len(text)) + text


def _summarized(arr):
    """The elements that are shown when a big tensor is summarised (the edges of each axis)."""
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        if arr.shape[0] > 2 * EDGEITEMS:
            return np.concatenate([arr[:EDGEITEMS], arr[-EDGEITEMS:]])
        return arr
    if arr.shape[0] > 2 * EDGEITEMS:
        rows = list(arr[:EDGEITEMS]) + list(arr[-EDGEITEMS:])
    else:
        rows = list(arr)
    return np.stack([_summarized(r) for r in rows])


def _vector(arr, indent, summarize, fmt):
    per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
    if summarize and arr.shape[0] > 2 * EDGEITEMS:
        items = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                 + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
    else:
        items = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        parts = ([_nested(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                 + [_nested(arr[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        parts = [_nested(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _with_suffixes(text, suffixes, indent):
    out = [text]
    last = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last + len(suffix) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + suffix)
            last = indent + len(suffix)
        else:
            out.append(", " + suffix)
            last += len(suffix) + 2
    out.append(")")
    return "".join(out)


def tensor_repr(t):
    data = t._data
    arr = data if type(data) is np.ndarray else to_device(data, "cpu")
    dt = dtypes.from_numpy(arr.dtype)
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    dev = device_of(data)
    if dev.type != "cpu":
        suffixes.append(f"device='{dev}'")
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dt != dtypes.default_float:
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if dt not in (dtypes.default_float, dtypes.int64, dtypes.bool_):
            suffixes.append(f"dtype={dt!r}")
        shown = arr.astype(np.float32) if arr.dtype == np.float16 else arr
        summarize = arr.size > THRESHOLD
        fmt = _Formatter(_summarized(shown) if summarize else shown)
        body = _nested(shown, indent, summarize, fmt)
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
