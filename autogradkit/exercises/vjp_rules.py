"""Checking a vector-Jacobian product written by hand on numpy arrays (exercises 4 and 9).

``case`` calls the learner's rule ``answer(ḡ, *inputs, *extra)`` with autogradkit and PyTorch
forbidden (numpy only), checks it left its inputs as they were, and compares each gradient with
the right one — which ``solve()`` computes only after the learner's code has returned, so no frame
that code could look into holds it. ``engine_vjp`` gives the right answers from autogradkit's own
backward in float64.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag

from .compare import NotNumbers, shape_str, to_array
from .core import as_numbers
from .guards import NUMPY_ONLY, watching


def rng(seed):
    return np.random.default_rng(seed)


def arr(rng, shape):
    return np.round(rng.normal(size=shape), 2)


def tensor64(a):
    return ag.tensor(np.asarray(a, dtype=np.float64), dtype=ag.float64, requires_grad=True)


def engine_vjp(fn, g, *arrays):
    """∂L/∂(each array) for L = sum(ḡ · fn(*tensors)), by autogradkit's backward."""
    ts = [tensor64(a) for a in arrays]
    fn(*ts).backward(ag.tensor(np.asarray(g, dtype=np.float64), dtype=ag.float64))
    return [t.grad.numpy() for t in ts]


def numpy_only(fn):
    """``fn`` wrapped so that it returns (value, the first autogradkit/torch function it called)."""
    return watching(fn, NUMPY_ONLY)


USED_ENGINE = ("an autodiff library doing the work",
                "These rules are to be written by hand with numpy: the point is to find the "
                "vector-Jacobian product yourself. Use numpy functions only (no autogradkit "
                "tensors, no backward(), no PyTorch), even for the forward values you need.")
INPUT_CHANGED = ("an input changed in place",
                  "A backward rule must leave ḡ and the saved inputs as they were; compute new "
                  "arrays instead of writing into them.")
COMMON = {"used_engine": USED_ENGINE, "input_changed": INPUT_CHANGED}


def hints(**own):
    out = dict(COMMON)
    out.update(own)
    return out


def grads(t, got, names):
    """The learner's answer as a list of gradients, one per name."""
    n = len(names)
    if n == 1:
        return [got[0] if isinstance(got, (tuple, list)) and len(got) == 1 else got]
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list))
                                             else "")
        t.fail(f"expected {n} gradients ({', '.join(names)}) as a tuple, got {what}",
               hint=f"Return a tuple: ({', '.join(names)}).")
    return list(got)


def compare_shaped(t, got, expected, what, alternatives=None, rtol=1e-5, atol=1e-8):
    """``t.compare``, but an answer of the wrong shape that equals a known wrong answer is named
    as that mistake (e.g. a batched gradient with its last two axes swapped)."""
    try:
        g = as_numbers(got)                # no learner code runs beside `expected`
    except NotNumbers:
        g = None
    e = to_array(expected)
    if g is not None and g.shape != e.shape:
        for key, wrong in (alternatives or {}).items():
            if wrong is None:
                continue
            w = to_array(wrong)
            if w.shape == g.shape and np.allclose(g, w, rtol=rtol, atol=atol):
                t.fail(f"{what} has shape {shape_str(g.shape)}, expected {shape_str(e.shape)}", key)
    t.compare(got, expected, what=what, rtol=rtol, atol=atol, alternatives=alternatives)


def case(t, answer, description, g, inputs, extra, names, solve, rtol=1e-5, atol=1e-8):
    """One case: call ``answer(g, *inputs, *extra)``; compare each gradient with the right one.
    ``solve()`` gives (the right gradients, the known wrong ones per gradient or None); it runs
    only after the learner's code has returned, so no frame that code could look into holds the
    right answer."""
    t.case(description)
    originals = [np.array(g, copy=True)] + [np.array(a, copy=True) for a in inputs]
    value, used = t.call(numpy_only(answer), g, *inputs, *extra)
    judge(t, value, used, [g, *inputs], originals, ["ḡ", *names], names, solve, rtol, atol)


def judge(t, value, used, given, originals, given_names, names, solve, rtol, atol):
    if used:
        t.fail(f"your code called {used}", "used_engine")
    for a, c, name in zip(given, originals, given_names):
        if not np.array_equal(a, c):
            t.fail(f"your function changed its input {name} in place", "input_changed")
    got = grads(t, value, [f"grad of {n}" for n in names])
    expected, alternatives = solve()
    alternatives = alternatives or [None] * len(names)
    for gi, ei, name, alt in zip(got, expected, names, alternatives):
        compare_shaped(t, gi, ei, f"grad of {name}", alt, rtol, atol)
