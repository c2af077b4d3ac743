"""Exercise 4 (chapter 4): from scalars to tensors — vector-Jacobian products on numpy arrays.

The right answers come from autogradkit's own engine (``y.backward(ḡ)`` in float64), so the
learner's rules are compared with what the engine really does.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag

from .compare import sum_to
from .core import Exercise

exercise = Exercise("ex4_tensors", "Exercise 4: from scalars to tensors", chapter=4)


def _rng(seed):
    return np.random.default_rng(seed)


def _arr(rng, shape):
    return np.round(rng.normal(size=shape), 2)


def _engine_vjp(fn, g, *arrays):
    """∂L/∂(each array) for L = sum(ḡ · fn(*tensors)), by autogradkit's backward."""
    ts = [ag.tensor(a, dtype=ag.float64, requires_grad=True) for a in arrays]
    fn(*ts).backward(ag.tensor(g, dtype=ag.float64))
    return [t.grad.numpy() for t in ts]


def _pair(t, got, names):
    n = len(names)
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list))
                                             else "")
        t.fail(f"expected {n} gradients ({', '.join(names)}) as a tuple, got {what}",
               hint=f"Return a tuple: ({', '.join(names)}).")
    return got


def _unchanged(t, arrays, copies, names):
    for a, c, name in zip(arrays, copies, names):
        if not np.array_equal(a, c):
            t.fail(f"your function changed its input {name} in place", "input_changed")


_INPUT_CHANGED = ("an input changed in place",
                  "A backward rule must leave ḡ and the saved inputs as they were; compute new "
                  "arrays instead of writing into them.")


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "sum_to_shape", goal="sum a broadcast gradient back to the shape its operand had",
    hint="Broadcasting can add leading dimensions and can stretch dimensions of size 1. Undo "
         "both: sum over every added dimension, and over every stretched one (keeping it, as "
         "size 1).",
    hints={"averaged": ("averaged instead of summed",
                        "Each broadcast copy contributes its full gradient, so the copies' "
                        "gradients add up; they are not averaged."),
           "reshaped": ("the right numbers with the wrong dimensions",
                        "The leading dimensions that broadcasting added must disappear, and "
                        "dimensions that were 1 in the operand must stay 1."),
           "input_changed": _INPUT_CHANGED})
def _check_sum_to_shape(t, answer):
    rng = _rng(4)
    for g_shape, shape in (((4, 3), (3,)), ((4, 3), (4, 1)), ((2, 3, 4), (3, 1)),
                           ((2, 3), (2, 3)), ((5,), ()), ((2, 1, 3), (1, 1, 3))):
        g = _arr(rng, g_shape)
        t.case(f"ḡ of shape {g_shape} back to shape {shape}")
        copy = g.copy()
        got = t.call(answer, g, shape)
        _unchanged(t, [g], [copy], ["ḡ"])
        right = sum_to(copy, shape).reshape(shape)
        counts = copy.size // max(right.size, 1)
        t.compare(got, right, what="result", rtol=1e-9, atol=1e-12,
                  alternatives={"averaged": right / counts if counts > 1 else None})


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "mul_vjp", goal="the vector-Jacobian product of out = a * b, with broadcasting",
    hint="Elementwise, ∂out/∂a is b and ∂out/∂b is a. Multiply by ḡ elementwise, then make "
         "each gradient the shape of its operand (your sum_to_shape).",
    hints={"swapped": ("the two local derivatives swapped",
                       "For a product, the local derivative with respect to one factor is the "
                       "*other* factor."),
           "input_changed": _INPUT_CHANGED})
def _check_mul_vjp(t, answer):
    rng = _rng(5)
    for a_shape, b_shape in (((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2))):
        a, b = _arr(rng, a_shape), _arr(rng, b_shape)
        g = _arr(rng, np.broadcast_shapes(a_shape, b_shape))
        t.case(f"a of shape {a_shape}, b of shape {b_shape}")
        copies = [g.copy(), a.copy(), b.copy()]
        got = _pair(t, t.call(answer, g, a, b), ("grad of a", "grad of b"))
        _unchanged(t, [g, a, b], copies, ["ḡ", "a", "b"])
        ga, gb = _engine_vjp(lambda x, y: x * y, copies[0], copies[1], copies[2])
        swapped = a_shape == b_shape
        t.compare(got[0], ga, what="grad of a", alternatives={"swapped": g * a if swapped else None})
        t.compare(got[1], gb, what="grad of b", alternatives={"swapped": g * b if swapped else None})


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "matmul_vjp", goal="the vector-Jacobian product of C = A @ B",
    hint="Each gradient must have the shape of its matrix: grad of A is (n, k) like A, grad of "
         "B is (k, m) like B. ḡ is (n, m). Find the product of ḡ with the other matrix (or its "
         "transpose) that has that shape.",
    hints={"input_changed": _INPUT_CHANGED})
def _check_matmul_vjp(t, answer):
    rng = _rng(6)
    for n, k, m in ((2, 3, 4), (3, 3, 3), (4, 2, 1), (1, 5, 2)):
        A, B, g = _arr(rng, (n, k)), _arr(rng, (k, m)), _arr(rng, (n, m))
        t.case(f"A of shape ({n}, {k}), B of shape ({k}, {m})")
        copies = [g.copy(), A.copy(), B.copy()]
        got = _pair(t, t.call(answer, g, A, B), ("grad of A", "grad of B"))
        _unchanged(t, [g, A, B], copies, ["ḡ", "A", "B"])
        gA, gB = _engine_vjp(lambda x, y: x @ y, copies[0], copies[1], copies[2])
        t.compare(got[0], gA, what="grad of A")
        t.compare(got[1], gB, what="grad of B")


# ---- task 4 -----------------------------------------------------------------------------------
@exercise.task(
    "linear_vjp", goal="all three gradients of a linear layer, y = x @ Wᵀ + b",
    hint="Split the layer into a matrix product and a broadcast addition. Your matmul_vjp gives "
         "the first; the bias was broadcast over the batch, so its gradient is summed back to "
         "its own shape.",
    hints={"averaged": ("the bias gradient averaged over the batch",
                        "Every row of the batch adds its own share to the bias gradient: the "
                        "shares add up, they are not averaged."),
           "input_changed": _INPUT_CHANGED})
def _check_linear_vjp(t, answer):
    rng = _rng(7)
    for batch, n_in, n_out in ((5, 4, 3), (1, 2, 2), (8, 3, 6)):
        x, W, b = _arr(rng, (batch, n_in)), _arr(rng, (n_out, n_in)), _arr(rng, (n_out,))
        g = _arr(rng, (batch, n_out))
        t.case(f"x of shape ({batch}, {n_in}), W of shape ({n_out}, {n_in}), b of shape ({n_out},)")
        copies = [g.copy(), x.copy(), W.copy(), b.copy()]
        got = _pair(t, t.call(answer, g, x, W, b), ("grad of x", "grad of W", "grad of b"))
        _unchanged(t, [g, x, W, b], copies, ["ḡ", "x", "W", "b"])
        gx, gW, gb = _engine_vjp(lambda x, W, b: x @ W.T + b, *copies)
        t.compare(got[0], gx, what="grad of x")
        t.compare(got[1], gW, what="grad of W")
        t.compare(got[2], gb, what="grad of b",
                  alternatives={"averaged": gb / batch if batch > 1 else None})


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
