"""Exercise 1 (chapter 1): derivatives by hand and by finite differences."""
from __future__ import annotations

import math

import numpy as np

from .compare import fmt
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
    for x in (1.5, 2.0, -1.5, 0.5, 0.0, 3.0):    # at 1.5 every mistake gives its own number
        t.case(f"x = {x:g}")
        got = t.call(answer, x)
        t.compare(got, 3 * x ** 2 - 2, what=f"f′({x:g})", rtol=1e-9, atol=1e-12,
                  alternatives={"missed_term": 3 * x ** 2, "missed_exponent": x ** 2 - 2})


# ---- task 2 -----------------------------------------------------------------------------------
def _second(fn, x, h):
    return (fn(x + h) - 2 * fn(x) + fn(x - h)) / (h * h)


# (name, x, h): the first case tells every known mistake apart (f′(1.5) = 3, f″(1.5) = 2)
_SECOND_CASES = [("x²", 1.5, 0.25), ("sin(x)", 0.3, 0.1), ("exp(x)", -1.0, 0.05),
                 ("x³ − 2x", 2.0, 0.01)]


@exercise.task(
    "second_difference",
    goal="approximate f″(x) by the central second difference, derived from Taylor's theorem",
    hint="Add the Taylor expansions of f(x + h) and f(x − h): the odd powers of h cancel. Solve "
         "what is left for f″(x) and drop the terms of order h².",
    hints={"missing_two": ("f(x) counted once instead of twice",
                           "When you add f(x + h) and f(x − h), f(x) appears in both "
                           "expansions. How many times must you take it away?"),
           "first_derivative": ("the first derivative (the central difference)",
                                "That is the central difference, an estimate of f′(x). The task "
                                "asks for the second derivative, f″(x): it needs f(x) too."),
           "halved": ("half the second difference",
                      "Your result is exactly half the right one. In the sum of the two "
                      "expansions, the term with f″(x) is h²·f″(x): there is no ½ left in it."),
           "h_not_squared": ("divided by h instead of h²",
                             "A second derivative has the units of f divided by the units of x "
                             "squared. What power of h must you divide by?")})
def _check_second(t, answer):
    for name, x, h in _SECOND_CASES:
        fn = _FUNCTIONS[name][0]
        t.case(f"f(x) = {name}, x = {x:g}, h = {h:g}")
        got = t.call(answer, fn, x, h)
        right = _second(fn, x, h)
        t.compare(got, right, what="second difference", rtol=1e-9, atol=1e-9,
                  alternatives={"missing_two": (fn(x + h) - fn(x) + fn(x - h)) / (h * h),
                                "first_derivative": _central(fn, x, h),
                                "halved": right / 2,
                                "h_not_squared": right * h})


# ---- task 3 -----------------------------------------------------------------------------------
def _richardson(fn, x, h):
    return (4 * _central(fn, x, h) - _central(fn, x, 2 * h)) / 3


# f′(1.5) of x³ − 2x is 4.75; at h = 0.1 the central difference is off by h² = 0.01
_RICHARDSON_CASES = [("x³ − 2x", 1.5, 0.1), ("sin(x)", 0.3, 0.1), ("exp(x)", -1.0, 0.2),
                     ("sin(x)", 2.0, 0.05)]


@exercise.task(
    "richardson_difference",
    goal="a fourth-order estimate of f′(x): combine central differences with steps h and 2h",
    hint="Write both central differences as f′(x) + c·(step)² + O(h⁴), with the same c. Find "
         "the two weights that make the h² terms cancel while f′(x) is kept exactly once.",
    hints={"central_used": ("the central difference alone",
                            "That is the central difference with step h, whose error is of "
                            "order h². Combine it with the one with step 2h so that the h² "
                            "terms cancel."),
           "weights_swapped": ("the weights of the two steps swapped",
                               "You gave the large weight to the step 2h. Its h² error is four "
                               "times larger, so the step h must get the larger weight for the "
                               "errors to cancel."),
           "unnormalised": ("three times the answer: the weights do not add up to 1",
                            "Your h² terms cancel, but f′(x) is counted three times. Divide by "
                            "the sum of your weights."),
           "averaged": ("the average of the two central differences",
                        "Averaging keeps both h² errors (with the same sign): they add up "
                        "instead of cancelling. One weight has to be negative."),
           "half_step": ("steps h/2 and h instead of h and 2h",
                         "The task's points are x ± h and x ± 2h: combine the central "
                         "differences with steps h and 2h.")})
def _check_richardson(t, answer):
    for name, x, h in _RICHARDSON_CASES:
        fn = _FUNCTIONS[name][0]
        t.case(f"f(x) = {name}, x = {x:g}, h = {h:g}")
        got = t.call(answer, fn, x, h)
        small, big = _central(fn, x, h), _central(fn, x, 2 * h)
        t.compare(got, _richardson(fn, x, h), what="estimate of f′", rtol=1e-9, atol=1e-12,
                  alternatives={"central_used": small,
                                "weights_swapped": (4 * big - small) / 3,
                                "unnormalised": 4 * small - big,
                                "averaged": (small + big) / 2,
                                "half_step": _richardson(fn, x, h / 2)})


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
    """(description, f, x, h, exact gradient or None). Where ``exact`` is None the check wants the
    central differences with the given h, which differ from the derivative there."""
    rng = np.random.default_rng(1)
    w = np.round(rng.normal(size=(2, 3)), 2)
    return [
        ("f(x) = sum(x²), x of shape (3,), h = 1e-6", lambda x: float(np.sum(x * x)),
         np.array([0.5, -1.0, 2.0]), 1e-6, lambda x: 2 * x),
        ("f(x) = sum(w · sin(x)), x of shape (2, 3), h = 1e-6",
         lambda x: float(np.sum(w * np.sin(x))),
         np.round(rng.normal(size=(2, 3)), 2), 1e-6, lambda x: w * np.cos(x)),
        ("f(x) = x[0, 1]·x[1, 0] − x[1, 1]³ + sin(x[0, 0]), x of shape (2, 2), h = 0.1",
         lambda x: float(x[0, 1] * x[1, 0] - x[1, 1] ** 3 + np.sin(x[0, 0])),
         np.array([[0.3, -0.7], [1.2, 0.9]]), 0.1,
         lambda x: np.array([[np.cos(x[0, 0]), x[1, 0]], [x[0, 1], -3 * x[1, 1] ** 2]])),
        ("f(x) = sum(exp(x)), x of shape (3,), h = 0.5", lambda x: float(np.sum(np.exp(x))),
         np.array([0.2, -1.0, 0.7]), 0.5, np.exp),
    ]


@exercise.task(
    "numerical_gradient",
    goal="the gradient of f at an array x, one central difference per element",
    hint="Nudge one element of x at a time — up by h, then down by h — and read the slope of f "
         "along that element. The gradient has one entry per element of x, in x's shape.",
    hints={"input_changed": ("an input left changed",
                             "After your function returns, the caller's x must hold exactly the "
                             "numbers it held before: put every nudged element back (or nudge a "
                             "copy)."),
           "ignored_h": ("the step h you were given left unused",
                         "Your numbers are central differences with a step of your own (or "
                         "the exact derivative), not with the h passed to your function. The "
                         "check compares with central differences of exactly that step — with "
                         "h = 0.1 they differ visibly from the derivative."),
           "forward_used": ("the forward difference",
                            "That is the forward difference, which looks only to the right of "
                            "each element. The central difference looks both ways."),
           "backward_used": ("the backward difference",
                             "That is the backward difference, which looks only to the left of "
                             "each element. The central difference looks both ways.")})
def _check_numerical_gradient(t, answer):
    for description, fn, x, h, exact in _gradient_cases():
        t.case(description)
        before = x.copy()
        got = t.call(answer, fn, x, h)
        if not np.array_equal(x, before):
            index = tuple(int(i) for i in np.argwhere(x != before)[0])
            where = "x[" + ", ".join(map(str, index)) + "]"
            t.fail(f"your function changed its input: {where} was "
                   f"{fmt(before[index], x[index])} and is now {fmt(x[index], before[index])}",
                   "input_changed")
        right = _numerical_gradient(fn, before, h)
        wrong = [("forward_used", _numerical_gradient(fn, before, h, _forward)),
                 ("backward_used", _numerical_gradient(fn, before, h, _backward))]
        if h >= 1e-3:                      # a tiny step of one's own gives the derivative
            wrong += [("ignored_h", exact(before))]
        wrong += [("ignored_h", _numerical_gradient(fn, before, step))
                  for step in (1e-2, 1e-3, 1e-4, 1e-5) if step != h]
        t.compare(got, right, what="grad", rtol=1e-7, atol=1e-9, alternatives=wrong)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
