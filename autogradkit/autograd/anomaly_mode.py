"""Anomaly detection (PyTorch's ``torch.autograd.detect_anomaly``)::

    with autograd.detect_anomaly():
        y = x.sqrt()                    # x has a negative entry: y holds nan
        y.sum().backward()              # RuntimeError: Function 'SqrtBackward0' returned nan
                                        # values in its 0th output. … created at file.py:12: …

While it is on, every op recorded remembers where the learner's code created it (the frames of the
call stack outside the ``autogradkit`` package), and the backward pass checks every gradient a
node's rule returns: the first node that returns a NaN or an infinity raises an error naming it,
which input, and the learner's line that created its forward op. (PyTorch checks NaN only; an
infinity is reported here too, since a gradient of ±inf is as broken.)

It costs nothing while off: ``Op.apply`` reads one class attribute, the engine one call per
backward pass. While on, the speed shortcuts of ``autogradkit/fast.py`` step aside (every op is
recorded by ``Op.apply``, which remembers its creation stack).
"""
from __future__ import annotations

import os
import traceback
import warnings
import weakref

import numpy as np

from ..backend import array_module
from ..tensor_base import TensorBase
from .graph import need_reference

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))    # autogradkit/


class AnomalyMode:
    """Whether anomaly detection is on (``Op.apply`` reads ``enabled``), and whether it checks
    gradients for NaN/inf."""
    enabled = False
    check_nan = True


_created_at = weakref.WeakKeyDictionary()      # node -> the learner's frames when it was recorded


def _set(mode, check_nan):
    """Switch anomaly mode to ``mode``; the shortcuts step aside while it is on."""
    if bool(mode) != AnomalyMode.enabled:
        need_reference(bool(mode))
    AnomalyMode.enabled, AnomalyMode.check_nan = bool(mode), bool(check_nan)


def is_anomaly_enabled():
    return AnomalyMode.enabled


def is_anomaly_check_nan_enabled():
    return AnomalyMode.check_nan


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly detection on inside it (PyTorch's)."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self._previous = (AnomalyMode.enabled, AnomalyMode.check_nan)
        _set(True, self.check_nan)

    def __exit__(self, *exc):
        _set(*self._previous)
        return False

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            previous = (AnomalyMode.enabled, AnomalyMode.check_nan)
            _set(True, self.check_nan)
            try:
                return fn(*args, **kwargs)
            finally:
                _set(*previous)
        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(True)`` turns anomaly detection on now (``False`` off); used as a
    context manager, it puts the previous setting back at the end (PyTorch's)."""

    def __init__(self, mode, check_nan=True):
        self._previous = (AnomalyMode.enabled, AnomalyMode.check_nan)
        _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(*self._previous)
        return False


# ---- recording: where the learner created each node ---------------------------------------------
def remember(node):
    """Keep the learner's frames of the current call stack for ``node`` (those outside the
    package; all of them when the op was created inside it, e.g. by a test of the package)."""
    stack = traceback.extract_stack()[:-2]
    mine = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE + os.sep)]
    _created_at[node] = mine or stack


def creation_stack(node):
    """The frames remembered for ``node`` (``traceback.FrameSummary``), or ``[]``."""
    return _created_at.get(node, [])


# ---- backward: the check ----------------------------------------------------------------------
class Watch:
    """What the engine observes steps with while anomaly mode is on: it checks each node's
    gradients, then passes every event on to the trace being recorded, if any."""

    def __init__(self, tracer):
        self.tracer = tracer

    def step(self, node, grad, grads):
        if AnomalyMode.check_nan:
            check(node, grads)
        if self.tracer is not None:
            self.tracer.step(node, grad, grads)

    def sum(self, *args):
        if self.tracer is not None:
            self.tracer.sum(*args)

    def accumulate(self, *args):
        if self.tracer is not None:
            self.tracer.accumulate(*args)


def watch(tracer):
    """The engine's observer for one backward pass: ``tracer`` itself while anomaly mode is off."""
    return Watch(tracer) if AnomalyMode.enabled else tracer


def check(node, grads):
    """Raise when a gradient ``node`` returned holds NaN or ±inf (PyTorch's message, and the line
    where the learner created the node's forward op)."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g._data if isinstance(g, TensorBase) else g
        if isinstance(a, (float, int, np.generic)):
            a = np.asarray(a)
        xp = array_module(a)
        if bool(xp.isfinite(a).all()):
            continue
        what = "nan" if bool(xp.isnan(a).any()) else "inf"
        raise RuntimeError(f"Function '{node.name()}' returned {what} values in its {i}th output."
                           f"{_where(node)}")


def _where(node):
    frames = creation_stack(node)
    if not frames:
        return (" (Its forward op was recorded before anomaly detection was turned on: run the "
                "forward pass inside detect_anomaly() to see where it was created.)")
    last = frames[-1]
    lines = "".join(traceback.format_list(frames[-6:]))
    return (f"\nIts forward op was created at {last.filename}:{last.lineno}: {last.line}\n"
            f"Traceback of the forward call that created it (most recent call last):\n{lines}")
