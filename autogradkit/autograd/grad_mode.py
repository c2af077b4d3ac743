"""Switching graph recording off and on: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Each works as a context manager and as a decorator. While recording is off, ops compute their
values but build no graph (no ``grad_fn``), which is what optimizer updates and evaluation want.
"""
from __future__ import annotations

import functools


class GradMode:
    """The one switch every op reads (a class attribute: the cheapest lookup on the hot path)."""
    enabled = True


def is_grad_enabled():
    return GradMode.enabled


class _GradModeContext:
    _target = True

    def __new__(cls, *args):
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])           # used as a bare decorator: @no_grad
        if cls is not set_grad_enabled and args:
            raise TypeError(f"{cls.__name__}() takes no arguments (use it as `with {cls.__name__}():` "
                            f"or as a decorator)")
        return super().__new__(cls)

    def __enter__(self):
        self._prev = GradMode.enabled
        GradMode.enabled = self._target

    def __exit__(self, *exc):
        GradMode.enabled = self._prev
        return False

    def __call__(self, fn):
        """Use as a decorator: the function runs with recording switched as this context says."""
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = GradMode.enabled
            GradMode.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                GradMode.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """``with no_grad():`` — compute without recording a graph."""
    _target = False


class enable_grad(_GradModeContext):
    """``with enable_grad():`` — record a graph even inside ``no_grad``."""
    _target = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` — switch recording by a flag; also usable as a plain call."""

    def __init__(self, mode):
        self._target = bool(mode)
        self._prev = GradMode.enabled
        GradMode.enabled = self._target   # like PyTorch, it takes effect when called

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        GradMode.enabled = self._prev
        return False

    def __call__(self, fn):
        GradMode.enabled = self._prev   # as a decorator it must not change the mode now
        return super().__call__(fn)


class inference_mode:
    """``with inference_mode():`` (or ``@inference_mode()``) — PyTorch's mode for evaluation and
    serving. Here it is ``no_grad`` (PyTorch also skips version counters in it, which autogradkit
    keeps); ``inference_mode(False)`` changes nothing."""
    depth = 0                           # how many inference_mode(True) blocks are open

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            return cls()(mode)          # used as a bare decorator: @inference_mode
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = GradMode.enabled
        if self.mode:
            GradMode.enabled = False
            inference_mode.depth += 1

    def __exit__(self, *exc):
        GradMode.enabled = self._prev
        if self.mode:
            inference_mode.depth -= 1
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper


def is_inference_mode_enabled():
    return inference_mode.depth > 0
