"""``repr`` of a tensor, laid out like PyTorch's: ``tensor([1., 2.], grad_fn=<MulBackward0>)``.

Floats print with 4 decimals (``0.1000``), or as ``1.`` when they are all whole numbers, or in
scientific notation when their magnitudes span a wide range, so printed output is stable for
notebooks (no addresses, no run-dependent text).
"""
from __future__ import annotations

import numpy as np

from . import dtypes

_THRESHOLD = 1000


def _format(arr):
    """numpy's layout (aligned columns, scientific notation for wide ranges) with PyTorch's
    choices: 4 decimals, or ``1.`` when every value is a whole number."""
    kw = dict(separator=", ", prefix="tensor(", threshold=_THRESHOLD, edgeitems=3,
              max_line_width=80)
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        whole = finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8
        kw.update(precision=4, floatmode="maxprec" if whole else "fixed")
    return "tensor(" + np.array2string(arr, **kw)


def tensor_repr(t):
    from .backend import device_of, to_device
    data = t._data
    arr = data if type(data) is np.ndarray else to_device(data, "cpu")
    if arr.size == 0:
        body = f"tensor([], size={tuple(arr.shape)}" if arr.ndim > 1 else "tensor([]"
    else:
        body = _format(arr)
    extras = []
    dev = device_of(data)
    if dev.type != "cpu":
        extras.append(f"device='{dev}'")
    dt = dtypes.from_numpy(arr.dtype)
    if dt not in (dtypes.default_float, dtypes.int64, dtypes.bool_) or arr.size == 0 and dt != dtypes.default_float:
        extras.append(f"dtype={dt!r}")
    if t._grad_fn is not None:
        extras.append(f"grad_fn=<{t._grad_fn.name}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    if not extras:
        return body + ")"
    joiner = ",\n       " if "\n" in body else ", "
    return body + joiner + ", ".join(extras) + ")"
