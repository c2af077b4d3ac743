"""Running a learner's code safely: a time limit, errors turned into messages, global state kept.

A check calls the learner's function through :func:`call`. Whatever happens in there — an
exception, an endless loop, a change to the random generator or to the grad mode — must come back
as a failure message, never crash or stall the kernel, and never leave traces in the notebook.

Two ways to interrupt code that runs too long, both on the *calling* thread, so the learner's
code runs where the learner's notebook runs (Jupyter executes cells on the main thread):

* on the main thread (where POSIX has ``SIGALRM``): an interval timer whose handler raises
  :class:`TimeLimitExceeded`; it repeats every 0.1 s, so a ``try/except`` that swallows it once does
  not escape; ``time.sleep`` is interrupted too;
* elsewhere (a worker thread, Windows): a watchdog thread that raises the same exception in the
  calling thread (``PyThreadState_SetAsyncExc``), again every 0.1 s until the code stops.

Both stop Python code between bytecodes; a single long call into compiled code (one huge matrix
product) finishes first. ``TimeLimitExceeded`` derives from ``BaseException`` so that the usual
``except Exception`` in learner code does not catch it.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

_REPEAT_S = 0.1


class TimeLimitExceeded(BaseException):
    """Raised inside learner code that runs past its time limit."""


@dataclass
class Outcome:
    """What happened when learner code ran: its value, or why there is none."""
    ok: bool
    value: object = None
    error: str | None = None          # "ZeroDivisionError: division by zero"
    where: str | None = None          # "in central_difference, line 3"
    kind: str | None = None           # "raised" | "timeout" | "not_started"


# ---- the time limit -------------------------------------------------------------------------
def _main_thread_with_alarm():
    return (threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


_OWN_FILES = {os.path.abspath(__file__), os.path.abspath(contextlib.__file__)}


def _stop_everywhere(frame, armed):
    """Escalation for code that swallows the time-limit exception (a bare ``except:`` in a
    loop): trace every frame on the stack and raise again at each line it runs — inside an
    ``except`` body too — until the exception escapes to :func:`call`. Returns a function that
    puts the frames' previous tracers back."""
    def tracer(f, event, arg):
        if armed[0] and event == "line" and os.path.abspath(f.f_code.co_filename) not in _OWN_FILES:
            raise TimeLimitExceeded()
        return tracer

    touched = []
    while frame is not None:
        touched.append((frame, frame.f_trace))
        frame.f_trace = tracer
        frame = frame.f_back
    sys.settrace(tracer)

    def undo():
        for f, previous in touched:
            f.f_trace = previous
        touched.clear()
    return undo


@contextlib.contextmanager
def _alarm(seconds):
    armed = [True]
    fired = [0]
    undo_tracing = []

    def handler(signum, frame):
        if armed[0]:
            fired[0] += 1
            if fired[0] > 1 and not undo_tracing:      # the first one was swallowed
                undo_tracing.append(_stop_everywhere(frame, armed))
            raise TimeLimitExceeded()

    def disarm():
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if undo_tracing:
            sys.settrace(previous_trace)
            undo_tracing.pop()()

    previous = signal.signal(signal.SIGALRM, handler)
    if previous is None:              # a handler installed from C: put the default back after
        previous = signal.SIG_DFL
    previous_trace = sys.gettrace()
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), _REPEAT_S)
    try:
        try:
            yield
        finally:
            disarm()
    except TimeLimitExceeded:
        disarm()          # the handler may have fired inside the first disarm(); make sure
        raise


@contextlib.contextmanager
def _watchdog(seconds):
    target = threading.get_ident()
    lock = threading.Lock()
    armed = [True]
    stop = threading.Event()
    set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async.argtypes = (ctypes.c_ulong, ctypes.c_void_p)     # NULL clears a pending one
    exc_class = id(TimeLimitExceeded)     # CPython: an object's id is its address

    def watch():
        if stop.wait(seconds):
            return
        while True:
            with lock:
                if not armed[0]:
                    return
                set_async(target, exc_class)
            if stop.wait(_REPEAT_S):
                return

    def disarm():
        with lock:
            armed[0] = False
            stop.set()
        # An exception sent but not yet delivered must not escape later: run a few bytecodes
        # here, where it is caught. (Clearing it with PyThreadState_SetAsyncExc(id, NULL) instead
        # leaves CPython 3.11's "async exception pending" flag set with none pending; every
        # sys.settrace/setprofile afterwards then hangs the interpreter.)
        try:
            for _ in range(1000):
                pass
        except TimeLimitExceeded:
            pass

    dog = threading.Thread(target=watch, name="autogradkit-exercise-watchdog", daemon=True)
    dog.start()
    try:
        try:
            yield
        finally:
            disarm()
    except TimeLimitExceeded:
        disarm()
        raise


def time_limit(seconds):
    """A context manager that interrupts the code inside after ``seconds`` (see module doc)."""
    return _alarm(seconds) if _main_thread_with_alarm() else _watchdog(seconds)


# ---- calling learner code --------------------------------------------------------------------
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARIES = tuple({os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def _is_learner_file(filename):
    path = os.path.abspath(filename)
    return not (path.startswith(_PACKAGE + os.sep) or path.startswith(_LIBRARIES))


def _where(tb):
    """Where the learner's code failed: the innermost frame that is neither autogradkit's own
    code nor a library's (numpy, the standard library)."""
    frames = [f for f in traceback.extract_tb(tb) if _is_learner_file(f.filename)]
    if not frames:
        return None
    f = frames[-1]
    return f"in {f.name}, line {f.lineno}"


def call(fn, args=(), kwargs=None, seconds=10.0, limit=None):
    """Run ``fn(*args, **kwargs)`` with a time limit; return an :class:`Outcome` (never raises,
    except KeyboardInterrupt, so that the learner can still stop a cell by hand).

    ``seconds`` is the time this call may take; ``limit`` the (whole check's) limit to name in
    the message."""
    kwargs = kwargs or {}
    try:
        with time_limit(seconds):
            value = fn(*args, **kwargs)
    except TimeLimitExceeded:
        return Outcome(False, error="did not finish within the time limit of "
                       f"{_secs(seconds if limit is None else limit)}", kind="timeout")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:        # SystemExit, GeneratorExit, anything: a message, not a crash
        kind = "not_started" if isinstance(exc, NotImplementedError) else "raised"
        text = str(exc)
        error = type(exc).__name__ + (f": {text}" if text else "")
        return Outcome(False, error=error, where=_where(exc.__traceback__), kind=kind)
    return Outcome(True, value=value)


def _secs(seconds):
    return f"{seconds:g} s"


# ---- global state a check must leave as it found it -------------------------------------------
@contextlib.contextmanager
def preserved_state():
    """Run the block as a fresh session would (gradients enabled, float32 the default dtype),
    whatever the notebook set before the check — a learner's ``set_grad_enabled(False)`` must not
    turn a right answer wrong — and restore autogradkit's random generator, grad mode and default
    dtype, numpy's and Python's global random state, and the recursion limit after it, whatever
    the learner's code did. Warnings (and numpy's floating-point warnings) are silenced."""
    import random

    from .. import creation, dtypes
    from ..autograd.grad_mode import GradMode

    gen = creation._generator
    gen_state = gen.bit_generator.state
    grad_mode = GradMode.enabled
    default_float = dtypes.default_float
    np_state = np.random.get_state()
    py_state = random.getstate()
    limit = sys.getrecursionlimit()
    GradMode.enabled = True
    dtypes.default_float = dtypes.FRESH_DEFAULT_FLOAT
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")      # the report says what went wrong; no stray stderr
            yield
    finally:
        creation._generator = gen
        gen.bit_generator.state = gen_state
        GradMode.enabled = grad_mode
        dtypes.default_float = default_float
        np.random.set_state(np_state)
        random.setstate(py_state)
        sys.setrecursionlimit(limit)


class Clock:
    """One time budget shared by all the calls a check makes."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self):
        return max(self.deadline - time.monotonic(), 0.01)
