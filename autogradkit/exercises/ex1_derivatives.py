"""Exercise 1 (chapter 1): derivatives by hand and by finite differences."""
from __future__ import annotations

import math

import numpy as np

from .core import Exercise

exercise = Exercise("ex1_derivatives", "Exercise 1: derivatives and finite differences", chapter=1)


def f(x):
    """The function of task 1: f(x) = x³ − 2x."""
    return x ** 3 - 2 * x


# (name shown in reports, function, its derivative)
_FUNCTIONS = {
    "x²": (lambda x: x * x, lambda x: 2 * x),
    "sin(x)": (math.sin, math.cos),
    "exp(x)": (math.exp, math.exp),
    "x³ − 2x": (f, lambda x: 3 * x * x - 2),
}


def _forward(fn, x, h):
    return (fn(x + h) - fn(x)) / h


def _backward(fn, x, h):
    return (fn(x) - fn(x - h)) / h


def _central(fn, x, h):
    return (fn(x + h) - fn(x - h)) / (2 * h)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "dfdx", goal="f′(x) for f(x) = x³ − 2x, worked out by hand",
    hint="Differentiate term by term, then test your formula at a point you can check by hand: "
         "a finite difference with a small h should come out close.",
    hints={"missed_term": ("one term of f was not differentiated",
                           "Your answer is off by the same amount at every x. Every term of f "
                           "contributes to f′ — check the one that is linear in x."),
           "missed_exponent": ("the power rule applied halfway",
                               "The power rule has two parts: the exponent drops by one, and the "
                               "old exponent becomes a factor. Check both.")})
def _check_dfdx(t, answer):
    for x in (2.0, -1.5, 0.5, 0.0, 3.0):
        t.case(f"x = {x:g}")
        got = t.call(answer, x)
        t.compare(got, 3 * x ** 2 - 2, what=f"f′({x:g})", rtol=1e-9, atol=1e-12,
                  alternatives={"missed_term": 3 * x ** 2, "missed_exponent": x ** 2 - 2})


# ---- task 2 -----------------------------------------------------------------------------------
_DIFF_CASES = [("x²", 1.0, 0.5), ("sin(x)", 0.3, 1e-3), ("exp(x)", -1.0, 1e-4), ("x³ − 2x", 2.0, 0.1)]

_DIFF_HINTS = {
    "central_used": ("the central difference", "That is the central difference; this task asks "
                     "for the forward one, which looks only to the right of x."),
    "forward_used": ("the forward difference", "That is the forward difference, which looks only "
                     "to the right of x. The central difference looks both ways."),
    "backward_used": ("the backward difference", "That is the backward difference, which looks "
                      "to the left of x."),
}


@exercise.task(
    "forward_difference", goal="approximate f′(x) by the forward difference quotient",
    hint="The forward quotient is the slope of the straight line through two points of the "
         "curve: the one at x and the one a step h to the right.",
    hints={k: _DIFF_HINTS[k] for k in ("central_used", "backward_used")})
def _check_forward(t, answer):
    for name, x, h in _DIFF_CASES:
        fn = _FUNCTIONS[name][0]
        t.case(f"f(x) = {name}, x = {x:g}, h = {h:g}")
        got = t.call(answer, fn, x, h)
        t.compare(got, _forward(fn, x, h), what="forward difference", rtol=1e-9, atol=1e-12,
                  alternatives={"central_used": _central(fn, x, h),
                                "backward_used": _backward(fn, x, h)})


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "central_difference", goal="approximate f′(x) by the central difference quotient",
    hint="The central quotient is the slope of the line through the points a step h to the left "
         "and a step h to the right of x.",
    hints={"forward_used": _DIFF_HINTS["forward_used"],
           "backward_used": _DIFF_HINTS["backward_used"],
           "doubled": ("twice the central difference",
                       "Your result is exactly twice the slope. How far apart are the two points "
                       "at which you evaluate f?")})
def _check_central(t, answer):
    for name, x, h in _DIFF_CASES:
        fn = _FUNCTIONS[name][0]
        t.case(f"f(x) = {name}, x = {x:g}, h = {h:g}")
        got = t.call(answer, fn, x, h)
        t.compare(got, _central(fn, x, h), what="central difference", rtol=1e-9, atol=1e-12,
                  alternatives={"forward_used": _forward(fn, x, h),
                                "backward_used": _backward(fn, x, h)})


# ---- task 4 -----------------------------------------------------------------------------------
def _numerical_gradient(fn, x, h, quotient=_central):
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        def along(v, idx=idx):
            moved = x.copy()
            moved[idx] = v
            return fn(moved)
        out[idx] = quotient(along, x[idx], h)
    return out


def _gradient_cases():
    rng = np.random.default_rng(1)
    w = np.round(rng.normal(size=(2, 3)), 2)
    return [
        ("f(x) = sum(x²), x of shape (3,)", lambda x: float(np.sum(x * x)),
         np.array([0.5, -1.0, 2.0]), 1e-6, lambda x: 2 * x),
        ("f(x) = sum(w · sin(x)), x of shape (2, 3)", lambda x: float(np.sum(w * np.sin(x))),
         np.round(rng.normal(size=(2, 3)), 2), 1e-6, lambda x: w * np.cos(x)),
        ("f(x) = x[0, 1]·x[1, 0] − x[1, 1]², x of shape (2, 2), h = 0.1",
         lambda x: float(x[0, 1] * x[1, 0] - x[1, 1] ** 2),
         np.array([[0.3, -0.7], [1.2, 0.9]]), 0.1, None),
    ]


@exercise.task(
    "numerical_gradient", goal="the gradient of f at an array x, one central difference per element",
    hint="Nudge one element of x at a time — up by h, then down by h — and read the slope of f "
         "along that element. The gradient has one entry per element of x, in x's shape.",
    hints={"input_changed": ("an input left changed",
                             "After your function returns, the caller's x must hold exactly the "
                             "numbers it held before: put every nudged element back (or nudge a "
                             "copy)."),
           "forward_used": _DIFF_HINTS["forward_used"],
           "backward_used": _DIFF_HINTS["backward_used"]})
def _check_numerical_gradient(t, answer):
    for description, fn, x, h, exact in _gradient_cases():
        t.case(description)
        before = x.copy()
        got = t.call(answer, fn, x, h)
        if not np.array_equal(x, before):
            index = tuple(int(i) for i in np.argwhere(x != before)[0])
            where = "x[" + ", ".join(map(str, index)) + "]"
            t.fail(f"your function changed its input: {where} was {before[index]:g} and is now "
                   f"{x[index]:.10g}", "input_changed")
        if exact is not None:
            t.compare(got, exact(before), what="grad", rtol=1e-5, atol=1e-6)
        else:
            t.compare(got, _numerical_gradient(fn, before, h), what="grad", rtol=1e-7, atol=1e-9,
                      alternatives={
                          "forward_used": _numerical_gradient(fn, before, h, _forward),
                          "backward_used": _numerical_gradient(fn, before, h, _backward)})


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
