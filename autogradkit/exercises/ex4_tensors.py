"""Exercise 4 (chapter 4): from scalars to tensors — new vector-Jacobian products on numpy arrays.

Notebook 4 has the learner write ``sum_to_shape`` and the VJPs of elementwise ops such as
``a * b`` and of ``A @ B``; this exercise asks for rules it does not show: an elementwise √(a² + b²) with
broadcasting, a power whose exponent is differentiated too, a variance over one axis, a
batch of bilinear forms ``x·A·y`` and a linear layer applied to every position of a sequence (a
3-D input).

The right answers come from autogradkit's own engine (``y.backward(ḡ)`` in float64). The
learner's rule must use numpy alone: a call into autogradkit or PyTorch while it runs (seen
through ``sys.setprofile``) fails the check.
"""
from __future__ import annotations

import numpy as np

from .compare import shape_str
from .core import Exercise
from .vjp_rules import arr as _arr, case as _case, engine_vjp as _engine_vjp, hints as _hints
from .vjp_rules import rng as _rng

exercise = Exercise("ex4_tensors", "Exercise 4: from scalars to tensors", chapter=4)


def _sum_to(arr, shape):
    """``arr`` summed back to ``shape`` (for building wrong answers in a broadcast case)."""
    lead = arr.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1)
    return arr.sum(axis=axes, keepdims=True).reshape(shape)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "hypot_vjp", goal="the VJP of y = √(a² + b²), elementwise with broadcasting: both gradients",
    hint="y is a square root of a sum of squares: the chain rule multiplies the square root's "
         "derivative, 1/(2y), by the inner derivative with respect to a (or b). Multiply by ḡ, "
         "then bring each gradient back to its operand's shape: broadcasting may have added "
         "leading dimensions and stretched dimensions of size 1, and every copy adds its share.",
    hints=_hints(
        outer_missing=("2a: the derivative of a² alone, without the square root's",
                       "y = √u with u = a² + b²: the chain rule multiplies du/da by dy/du = "
                       "1/(2√u) = 1/(2y)."),
        inner_missing=("1/(2y): the square root's derivative alone",
                       "The square root's derivative 1/(2y) is only the outer factor; multiply "
                       "by the inner derivative of a² + b² with respect to the input."),
        half=("a/(2y): half the right answer",
              "The 2 from the derivative of a² cancels the 2 of the square root's 1/(2y).")))
def _check_hypot(t, answer):
    rng = _rng(41)
    for a_shape, b_shape in (((2, 3), (2, 3)), ((2, 3), (3,)), ((3, 1), (1, 4)),
                             ((), (2, 2)), ((2, 3, 2), (3, 1))):
        a, b = _arr(rng, a_shape), _arr(rng, b_shape)
        a = np.where(np.abs(a) < 0.1, 0.5, a)                  # y = 0 has no derivative
        g = _arr(rng, np.broadcast_shapes(a_shape, b_shape))

        def solve(a=a, b=b, g=g, a_shape=a_shape, b_shape=b_shape):
            ga, gb = _engine_vjp(lambda x, z: (x * x + z * z).sqrt(), g, a, b)
            A, B = np.broadcast_to(a, g.shape), np.broadcast_to(b, g.shape)
            y = np.sqrt(A * A + B * B)
            wrong = [{"outer_missing": _sum_to(2 * g * V, shape),
                      "inner_missing": _sum_to(g / (2 * y), shape),
                      "half": _sum_to(g * V / (2 * y), shape),
                      "unsummed_broadcast": g * V / y if shape != g.shape else None}
                     for V, shape in ((A, a_shape), (B, b_shape))]
            return [ga, gb], wrong
        _case(t, answer, f"a of shape {shape_str(a_shape)}, b of shape {shape_str(b_shape)}",
              g, [a, b], (), ["a", "b"], solve)


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "pow_vjp", goal="the VJP of y = a ** b (a > 0): the gradient of the base and of the exponent",
    hint="Two different rules: as a function of a (b fixed) a ** b is a power, as a function of "
         "b (a fixed) it is an exponential, b ↦ e^(b·ln a). When b is one number (shape ()) it "
         "was used for every element, so its gradient collects every element's share.",
    hints=_hints(
        exponent_not_lowered=("b · a**b for the base, instead of b · a**(b − 1)",
                              "The power rule lowers the exponent by one."),
        missing_log=("a**b for the exponent, without ln a",
                     "d/db e^(b·ln a) = ln a · e^(b·ln a): the exponential's chain rule brings "
                     "down the derivative of b·ln a with respect to b."),
        power_rule_on_exponent=("the power rule used for the exponent too",
                                "As a function of b, a ** b is not a power of b: a is the base, b "
                                "is in the exponent. It is an exponential in b.")))
def _check_pow(t, answer):
    rng = _rng(42)
    for a_shape, b_shape in (((2, 3), (2, 3)), ((4,), ()), ((2, 2), ()), ((1, 3), (1, 3))):
        a = 0.5 + rng.random(a_shape).round(2) * 2
        b = _arr(rng, b_shape) * 1.5
        g = _arr(rng, a_shape)

        def solve(a=a, b=b, g=g, b_shape=b_shape):
            ga, gb = _engine_vjp(lambda x, y: x ** y, g, a, b)
            y = a ** b
            summed = (lambda v: np.sum(v).reshape(b_shape)) if b_shape == () else (lambda v: v)
            per_element = g * y * np.log(a) if b_shape == () else None
            return [ga, gb], [{"exponent_not_lowered": g * b * y},
                              {"missing_log": summed(g * y),
                               "power_rule_on_exponent": summed(g * a * b ** (a - 1)),
                               "unsummed_broadcast": per_element}]
        _case(t, answer, f"a of shape {shape_str(a_shape)}, b of shape {shape_str(b_shape)}"
              + (" (one exponent for every element)" if b_shape == () else ""),
              g, [a, b], (), ["a", "b"], solve)


# ---- task 3 -----------------------------------------------------------------------------------
def _var(x, dim, ddof=1):
    return x.var(axis=dim, ddof=ddof, keepdims=True)


@exercise.task(
    "var_vjp", goal="the VJP of y = x.var(dim, keepdim=True), the unbiased variance (n − 1)",
    hint="Write the variance with the mean m: y = Σ (x_i − m)² / (n − 1). Differentiate with "
         "respect to one x_j: the direct term, and the term through m — whose contributions add "
         "up to something simple, because Σ (x_i − m) = 0. ḡ has a 1 at `dim`, so it broadcasts "
         "back over that axis.",
    hints=_hints(
        biased=("the population variance's gradient (÷ n instead of ÷ (n − 1))",
                "PyTorch's and autogradkit's var divide by n − 1 by default (the unbiased "
                "estimate); so does its gradient."),
        mean_not_subtracted=("2x/(n − 1): the mean left out",
                             "Every x_i enters through its deviation x_i − m from the mean."),
        missing_two=("half the right answer: the 2 of the square is missing",
                     "The derivative of a square (x_i − m)² brings down a factor 2.")))
def _check_var(t, answer):
    rng = _rng(43)
    for shape, dim in (((3, 4), 1), ((4, 3), 0), ((2, 3, 5), -1), ((2, 2), 0), ((3, 2, 4), 1)):
        x = _arr(rng, shape)
        g = _arr(rng, _var(x, dim).shape)

        def solve(x=x, g=g, dim=dim, n=shape[dim]):
            (gx,) = _engine_vjp(lambda v: v.var(dim=dim, keepdim=True), g, x)
            dev = x - x.mean(axis=dim, keepdims=True)
            return [gx], [{"biased": g * 2 * dev / n, "mean_not_subtracted": g * 2 * x / (n - 1),
                           "missing_two": g * dev / (n - 1)}]
        _case(t, answer, f"x of shape {shape_str(shape)}, dim={dim}", g, [x], (dim,), ["x"], solve)


# ---- task 4 -----------------------------------------------------------------------------------
@exercise.task(
    "bilinear_vjp", goal="the VJP of s_n = x_n · A · y_n for every row n: grads of x, A and y",
    hint="Start from one element: s_n = Σ_ij x_ni A_ij y_nj. Differentiate with respect to one "
         "x_ni, one A_ij, one y_nj; multiply by ḡ_n; and sum over what is not an index of that "
         "input. A is shared by every row, so its gradient sums over n. Shapes check the result: "
         "each gradient has its input's shape.",
    hints=_hints(
        forgot_upstream=("ḡ left out: the gradients of Σ_n s_n",
                         "Each row's share is multiplied by its own ḡ_n: ḡ weights the rows."),
        unsummed_broadcast=("one gradient of A per row, not summed",
                            "A is used by every row: its gradient is the sum of the rows' "
                            "shares, with A's shape (p, q)."),
        swapped=("the gradients of x and y swapped (A used the wrong way round)",
                 "x multiplies A from the left and y from the right: x's gradient comes from A "
                 "applied to y, y's from x applied to A. Check the shapes: grad of x is (N, p), "
                 "grad of y is (N, q).")))
def _check_bilinear(t, answer):
    rng = _rng(44)
    for n, p, q in ((4, 3, 2), (5, 3, 3), (1, 2, 4), (6, 1, 1)):
        x, A, y, g = _arr(rng, (n, p)), _arr(rng, (p, q)), _arr(rng, (n, q)), _arr(rng, (n,))

        def solve(x=x, A=A, y=y, g=g, n=n, p=p, q=q):
            gx, gA, gy = _engine_vjp(lambda x, A, y: ((x @ A) * y).sum(dim=1), g, x, A, y)
            per_row = np.einsum("n,ni,nj->nij", g, x, y)
            swapped_x = g[:, None] * (x @ A) if p == q else None
            swapped_y = g[:, None] * (y @ A.T) if p == q else None
            return [gx, gA, gy], [
                {"forgot_upstream": (y @ A.T) if n > 1 or g[0] != 1 else None,
                 "swapped": swapped_x},
                {"forgot_upstream": x.T @ y, "unsummed_broadcast": per_row if n > 1 else None},
                {"forgot_upstream": x @ A, "swapped": swapped_y}]
        _case(t, answer, f"x of shape ({n}, {p}), A of shape ({p}, {q}), y of shape ({n}, {q})",
              g, [x, A, y], (), ["x", "A", "y"], solve)


# ---- task 5 -----------------------------------------------------------------------------------
@exercise.task(
    "sequence_linear_vjp", goal="all three gradients of a linear layer applied to a sequence: "
    "y = x @ Wᵀ + b with x of shape (B, T, in)",
    hint="Every one of the B·T positions is a row through the same layer: flatten the positions "
         "into one batch of rows, or sum over both leading axes. W and b are shared by every "
         "position, so their gradients collect every position's share; x's gradient keeps x's "
         "shape.",
    hints=_hints(
        unsummed_broadcast=("a shared parameter's gradient not summed over every position",
                            "W and b are used at every one of the B·T positions: their gradients "
                            "add up over both leading axes, not just one."),
        averaged=("the bias gradient averaged over the positions",
                  "Every position adds its own share to the bias gradient: the shares add up, "
                  "they are not averaged.")))
def _check_sequence_linear(t, answer):
    rng = _rng(45)
    for B, T, n_in, n_out in ((2, 3, 4, 5), (3, 1, 2, 2), (1, 4, 3, 1), (2, 2, 3, 3)):
        x, W, b = _arr(rng, (B, T, n_in)), _arr(rng, (n_out, n_in)), _arr(rng, (n_out,))
        g = _arr(rng, (B, T, n_out))

        def solve(x=x, W=W, b=b, g=g, B=B, T=T):
            gx, gW, gb = _engine_vjp(lambda x, W, b: x @ W.T + b, g, x, W, b)
            per_batch_W = np.einsum("bto,bti->boi", g, x)
            return [gx, gW, gb], [
                None,
                {"unsummed_broadcast": per_batch_W if B > 1 else None},
                {"unsummed_broadcast": g.sum(axis=0) if B > 1 and T > 1 else None,
                 "averaged": gb / (B * T) if B * T > 1 else None}]
        _case(t, answer, f"x of shape ({B}, {T}, {n_in}), W of shape ({n_out}, {n_in}), b of "
              f"shape ({n_out},)", g, [x, W, b], (), ["x", "W", "b"], solve)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
