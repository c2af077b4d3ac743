"""Exercise 9 (chapter 4, more practice): ten VJP puzzles, written by hand on numpy arrays.

Each task is one op's vector-Jacobian product: mean, max with ties, softmax, log-softmax,
indexing with repeated indices, ``where``, reshape + permute, cumsum, a broadcast addition and a
batched matrix product. The right answers come from autogradkit's own engine (``y.backward(ḡ)``
in float64, as in exercise 4; cumsum, which autogradkit has no op for, from a product with a
triangular matrix of ones), on several shapes including the edge cases (ties, repeated indices,
size-1 axes). Every check ends with a central-difference gradient check of the learner's rule,
⟨ḡ, f(x + h·e) − f(x − h·e)⟩ / 2h for every element, independent of the engine.

The learner's rule must use numpy alone: a call into autogradkit or PyTorch while it runs (seen
through ``sys.setprofile``) fails the check.
"""
from __future__ import annotations


import numpy as np

import autogradkit as ag

from .compare import shape_str
from .core import Exercise
from .vjp_rules import (arr as _arr, case as _case, engine_vjp as _engine_vjp, hints as _hints,
                        judge as _judge, numpy_only as _numpy_only, rng as _rng)

exercise = Exercise("ex9_vjp_puzzles", "Exercise 9: VJP puzzles", chapter=4)

_H = 1e-6                      # central-difference step
_GC_RTOL, _GC_ATOL = 1e-4, 1e-6


def _numeric_vjp(forward, g, arrays):
    """⟨ḡ, f(x + h·e) − f(x − h·e)⟩ / 2h for every element of every array."""
    grads = []
    for i, a in enumerate(arrays):
        grad = np.zeros(a.shape)
        for j in np.ndindex(*a.shape):
            up, down = [x.copy() for x in arrays], [x.copy() for x in arrays]
            up[i][j] += _H
            down[i][j] -= _H
            grad[j] = np.sum(g * (np.asarray(forward(*up)) - np.asarray(forward(*down)))) / (2 * _H)
        grads.append(grad)
    return grads


# ---- numpy only -------------------------------------------------------------------------------
def _gradcheck(t, answer, description, forward, g, inputs, extra, names):
    """The last case of every check: the learner's rule against central differences."""
    def solve():
        return _numeric_vjp(lambda *xs: forward(*xs, *extra), g, inputs), None
    _case(t, answer, "central-difference gradient check, ⟨ḡ, f(x+h·e) − f(x−h·e)⟩/2h per "
          f"element: {description}", g, inputs, extra, names, solve,
          rtol=_GC_RTOL, atol=_GC_ATOL)


# ---- numpy forward functions (for the gradient checks and the wrong answers) --------------------
def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _swap(a):
    return np.swapaxes(a, -1, -2)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_broadcast_add", goal="the VJP of y = a + b with broadcasting: both gradients",
    hint="∂y/∂a and ∂y/∂b are 1 elementwise, so each gradient is ḡ — in the broadcast shape. "
         "Broadcasting may add leading dimensions and stretch dimensions of size 1; bring each "
         "gradient back to its operand's shape by summing over both kinds.",
    hints=_hints(
        averaged=("averaged instead of summed",
                  "Each broadcast copy of an operand contributes its full gradient, so the copies' "
                  "gradients add up; they are not averaged."),
        reshaped=("the right numbers with the wrong dimensions",
                  "Leading dimensions that broadcasting added must disappear, but a dimension "
                  "that was 1 in the operand must stay there, as size 1.")))
def _check_broadcast_add(t, answer):
    rng = _rng(71)
    for a_shape, b_shape in (((2, 3), (3,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                             ((), (2, 2)), ((2, 3), (2, 3)), ((1,), (3, 1))):
        a, b = _arr(rng, a_shape), _arr(rng, b_shape)
        g = _arr(rng, np.broadcast_shapes(a_shape, b_shape))

        def solve(a=a, b=b, g=g):
            ga, gb = _engine_vjp(lambda x, y: x + y, g, a, b)
            n_a, n_b = g.size // max(a.size, 1), g.size // max(b.size, 1)
            return [ga, gb], [{"averaged": ga / n_a if n_a > 1 else None},
                              {"averaged": gb / n_b if n_b > 1 else None}]
        _case(t, answer, f"a of shape {shape_str(a_shape)}, b of shape {shape_str(b_shape)}",
              g, [a, b], (), ["a", "b"], solve)
    a, b, g = _arr(rng, (2, 1)), _arr(rng, (3,)), _arr(rng, (2, 3))
    _gradcheck(t, answer, "a (2, 1), b (3,)", lambda x, y: x + y, g, [a, b], (), ["a", "b"])


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_mean", goal="the VJP of y = x.mean(axis, keepdims)",
    hint="Every element that went into one mean gets an equal share of that mean's ḡ: ḡ divided "
         "by how many elements were averaged. The result has x's shape; when keepdims is False, "
         "ḡ first needs its reduced axes back (as size 1) before it can broadcast.",
    hints=_hints(
        summed=("the gradient of a sum, not of a mean",
                "A mean divides by the number of elements averaged; so must its gradient."),
        lost_axis=("ḡ spread along the wrong axis",
                   "With keepdims=False the reduced axis is gone from ḡ. Broadcasting lines "
                   "shapes up from the right, so ḡ was stretched along the wrong axis: put the "
                   "reduced axes back (as size 1) first.")))
def _check_mean(t, answer):
    rng = _rng(72)
    for shape, axis, keepdims in (((3, 4), None, False), ((4, 3), 0, False), ((3, 3), 1, False),
                                  ((2, 3, 4), -1, True), ((2, 3, 4), (0, 2), False),
                                  ((3, 1), 1, False), ((2, 3), None, True)):
        x = _arr(rng, shape)
        g = _arr(rng, x.mean(axis=axis, keepdims=keepdims).shape)

        def solve(x=x, g=g, shape=shape, axis=axis, keepdims=keepdims):
            if axis is None:
                fn = ((lambda v: v.mean().reshape((1,) * len(shape))) if keepdims
                      else (lambda v: v.mean()))
            else:
                fn = lambda v: v.mean(dim=axis, keepdim=keepdims)  # noqa: E731
            (gx,) = _engine_vjp(fn, g, x)
            n = x.size // max(g.size, 1)
            lost = None
            if not keepdims and axis is not None:
                try:
                    lost = np.broadcast_to(g, shape) / n
                except ValueError:
                    lost = None
            return [gx], [{"summed": gx * n if n > 1 else None, "lost_axis": lost}]
        _case(t, answer, f"x of shape {shape_str(shape)}, axis={axis}, keepdims={keepdims}",
              g, [x], (axis, keepdims), ["x"], solve)
    x = _arr(rng, (2, 3))
    _gradcheck(t, answer, "x (2, 3), axis=0, keepdims=False",
               lambda v, axis, keepdims: v.mean(axis=axis, keepdims=keepdims),
               _arr(rng, (3,)), [x], (0, False), ["x"])


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_reshape_permute", goal="the VJP of y = x.reshape(shape).transpose(axes)",
    hint="Neither op computes anything: they only move elements. Send each element of ḡ back "
         "to where it came from, undoing the steps in reverse order — first the transpose, then "
         "the reshape.",
    hints=_hints(
        forward_permutation=("ḡ permuted by `axes` again instead of by its inverse",
                             "Applying the same permutation twice is not the identity (unless it "
                             "swaps just two axes). Which permutation undoes `axes`? Axis "
                             "`axes[i]` of the input became axis i of the output."),
        reshape_only=("reshaped without undoing the transpose",
                      "A reshape reads elements in memory order, so reshaping ḡ straight to "
                      "x's shape puts transposed elements in the wrong places. Undo the "
                      "transpose first.")))
def _check_reshape_permute(t, answer):
    rng = _rng(73)
    for x_shape, shape, axes in (((2, 3, 4), (6, 4), (1, 0)), ((24,), (2, 3, 4), (1, 2, 0)),
                                 ((4, 6), (2, 2, 3, 2), (3, 0, 2, 1)), ((1, 5), (5, 1), (1, 0)),
                                 ((2, 3), (3, 2), (0, 1))):
        x = _arr(rng, x_shape)
        g = _arr(rng, x.reshape(shape).transpose(axes).shape)

        def solve(x=x, g=g, x_shape=x_shape, shape=shape, axes=axes):
            (gx,) = _engine_vjp(lambda v: v.reshape(shape).permute(*axes), g, x)
            return [gx], [{"forward_permutation": g.transpose(axes).reshape(x_shape),
                           "reshape_only": g.reshape(x_shape)}]
        _case(t, answer, f"x of shape {shape_str(x_shape)}, shape={shape_str(shape)}, axes={axes}",
              g, [x], (shape, axes), ["x"], solve)
    x = _arr(rng, (6,))
    _gradcheck(t, answer, "x (6,), shape=(1, 2, 3), axes=(2, 0, 1)",
               lambda v, shape, axes: v.reshape(shape).transpose(axes), _arr(rng, (3, 1, 2)),
               [x], ((1, 2, 3), (2, 0, 1)), ["x"])


# ---- task 4 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_where", goal="the VJP of y = where(cond, a, b): both gradients",
    hint="Each element of y is either an element of a (where cond is true) or of b (where it is "
         "false), never both. ḡ goes to whichever one was picked; the other gets 0 there.",
    hints=_hints(
        swapped=("the two masks swapped",
                 "a is picked where cond is true, b where it is false; your gradients go the "
                 "other way round."),
        same_mask=("b masked by cond instead of by its opposite",
                   "b's elements are the ones picked where cond is *false*."),
        not_masked=("ḡ passed through unmasked",
                    "An element that was not picked had no effect on y, so its gradient is 0.")))
def _check_where(t, answer):
    rng = _rng(74)
    for shape, kind in (((3, 4), "mixed"), ((5,), "mixed"), ((2, 3), "all true"),
                        ((2, 2), "all false"), ((2, 3, 2), "mixed")):
        if kind == "mixed":
            cond = rng.random(shape) < 0.5
            cond.flat[0], cond.flat[1] = True, False
        else:
            cond = np.full(shape, kind == "all true")
        a, b, g = _arr(rng, shape), _arr(rng, shape), _arr(rng, shape)

        def solve(cond=cond, a=a, b=b, g=g):
            ga, gb = _engine_vjp(lambda x, y: ag.where(ag.tensor(cond), x, y), g, a, b)
            return [ga, gb], [{"swapped": g * ~cond, "not_masked": g},
                              {"same_mask": g * cond, "not_masked": g}]
        _where_call(t, answer, f"{kind} cond of shape {shape_str(shape)}", cond, a, b, g, solve,
                    1e-5, 1e-8)
    cond = np.array([[True, False, True], [False, False, True]])
    a, b, g = _arr(rng, (2, 3)), _arr(rng, (2, 3)), _arr(rng, (2, 3))

    def numeric():
        return _numeric_vjp(lambda x, y: np.where(cond, x, y), g, [a, b]), None
    _where_call(t, answer, "central-difference gradient check, ⟨ḡ, f(x+h·e) − f(x−h·e)⟩/2h per "
                "element: cond, a, b (2, 3)", cond, a, b, g, numeric, _GC_RTOL, _GC_ATOL)


def _where_call(t, answer, description, cond, a, b, g, solve, rtol, atol):
    # cond is passed as an argument but is not differentiated: it comes first, like np.where
    t.case(description)
    originals = [g.copy(), cond.copy(), a.copy(), b.copy()]
    value, used = t.call(_numpy_only(answer), g, cond, a, b)
    _judge(t, value, used, [g, cond, a, b], originals, ["ḡ", "cond", "a", "b"], ["a", "b"],
           solve, rtol, atol)


# ---- task 5 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_index", goal="the VJP of y = x[idx] for an integer array idx that may repeat",
    hint="y[i] is x[idx[i]], so ḡ[i] belongs to row idx[i] of the gradient. When an index "
         "appears several times, x was used several times, and every use adds its share.",
    hints=_hints(
        missing_accumulation=(
            "a missing accumulation: repeated indices keep only one share",
            "With repeated indices, numpy's fancy-index assignment (with = and also with +=) "
            "writes each element once: the last share wins, the others are lost. You need an "
            "operation that adds every share, repeats included (numpy has an unbuffered one, or "
            "write a loop).")))
def _check_index(t, answer):
    rng = _rng(75)
    for shape, idx in (((5,), [0, 2, 2, 4, 0, 0]), ((4, 3), [1, 1, 3]), ((3,), [2, 2, 2, 2]),
                       ((6,), [5, 0, 3]), ((5,), [-1, 4, 1]), ((1, 2), [0, 0, 0])):
        idx = np.array(idx)
        x = _arr(rng, shape)
        g = _arr(rng, x[idx].shape)

        def solve(x=x, g=g, idx=idx, shape=shape):
            (gx,) = _engine_vjp(lambda v: v[idx], g, x)
            assigned = np.zeros(shape)
            assigned[idx] = g
            return [gx], [{"missing_accumulation": assigned}]
        _case(t, answer, f"x of shape {shape_str(shape)}, idx = {idx.tolist()}", g, [x], (idx,),
              ["x"], solve)
    idx = np.array([1, 1, 0, 1])
    _gradcheck(t, answer, "x (3, 2), idx = [1, 1, 0, 1]", lambda v, i: v[i], _arr(rng, (4, 2)),
               [_arr(rng, (3, 2))], (idx,), ["x"])


# ---- task 6 -----------------------------------------------------------------------------------
def _engine_cumsum(v, axis):
    """cumsum along ``axis`` as a product with an upper-triangular matrix of ones (autogradkit has
    no cumsum op): the engine's own matmul and transpose rules give the VJP."""
    n = v.shape[axis]
    ones = ag.tensor(np.triu(np.ones((n, n))), dtype=ag.float64)
    if v.ndim == 1:
        return v @ ones
    return (v.transpose(axis, -1) @ ones).transpose(axis, -1)


@exercise.task(
    "vjp_cumsum", goal="the VJP of y = np.cumsum(x, axis)",
    hint="y[j] = x[0] + … + x[j] along the axis, so x[i] appears in y[i], y[i+1], …, y[n−1]. Its "
         "gradient is the sum of ḡ over those positions: a cumulative sum too, but running the "
         "other way.",
    hints=_hints(
        forward_direction=("a cumulative sum in the forward direction",
                           "x[i] feeds y[j] for j ≥ i, not for j ≤ i: its gradient gathers ḡ "
                           "from position i to the end of the axis.")))
def _check_cumsum(t, answer):
    rng = _rng(76)
    for shape, axis in (((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -2), ((4, 1), 1)):
        x, g = _arr(rng, shape), _arr(rng, shape)

        def solve(x=x, g=g, axis=axis):
            (gx,) = _engine_vjp(lambda v: _engine_cumsum(v, axis), g, x)
            return [gx], [{"forward_direction": np.cumsum(g, axis=axis)}]
        _case(t, answer, f"x of shape {shape_str(shape)}, axis={axis}", g, [x], (axis,), ["x"],
              solve)
    _gradcheck(t, answer, "x (2, 3), axis=1", lambda v, axis: np.cumsum(v, axis=axis),
               _arr(rng, (2, 3)), [_arr(rng, (2, 3))], (1,), ["x"])


# ---- task 7 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_max", goal="the VJP of y = x.max() (all elements) when the maximum may be tied",
    hint="Only the element(s) equal to the maximum affect y. autogradkit and PyTorch's x.max() "
         "share ḡ equally among tied maxima, so the gradients still add up to ḡ; every other "
         "element gets 0.",
    hints=_hints(
        ties_full=("every tied maximum gets the full gradient",
                   "With k tied maxima, giving each the whole ḡ hands out k times ḡ in total. "
                   "The convention here (autogradkit's and PyTorch's x.max()) splits ḡ equally "
                   "among the tied elements."),
        first_only=("only one of the tied maxima gets the gradient",
                    "argmax picks a single element, but the maximum here is tied: the convention "
                    "for x.max() of a whole tensor shares ḡ equally among all tied maxima.")))
def _check_max(t, answer):
    cases = ((np.array([[0.5, 2.0, -1.0], [2.0, 0.25, 1.5]]), "two tied maxima"),
             (np.array([3.0, -1.0, 3.0, 0.0, 3.0]), "three tied maxima"),
             (np.array([[0.1, -0.4], [0.7, 0.2]]), "one maximum"),
             (np.full((2, 2), -1.5), "all four elements tied"),
             (np.array([4.25]), "a single element"),
             (np.array([[[1.0], [-2.0], [1.0]]]), "ties in a (1, 3, 1) array"))
    for x, what in cases:
        g = np.array(1.7)

        def solve(x=x, g=g):
            (gx,) = _engine_vjp(lambda v: v.max(), g, x)
            first = np.zeros(x.shape)
            first[np.unravel_index(np.argmax(x), x.shape)] = g
            return [gx], [{"ties_full": g * (x == x.max()), "first_only": first}]
        _case(t, answer, f"{what}, x = {x.tolist()}, ḡ = 1.7", g, [x], (), ["x"], solve)
    x = np.array([[0.3, -1.2, 0.9], [0.1, 0.8, -0.5]])
    _gradcheck(t, answer, "x (2, 3) without ties", lambda v: v.max(), np.array(-0.6), [x], (),
               ["x"])


# ---- task 8 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_bmm", goal="the VJP of C = A @ B for stacks of matrices, (b, n, k) @ (b, k, m)",
    hint="Each matrix in the stack is an ordinary matrix product, and their gradients are those "
         "of exercise 4, batch by batch. Shapes guide you: grad of A is (b, n, k), grad of B is "
         "(b, k, m). Careful: on a 3-D array .T reverses all three axes, batch included.",
    hints=_hints(
        transposed=("the last two axes swapped",
                    "Your gradient has the shape of the matrix's transpose. Write down the shapes "
                    "of ḡ (b, n, m) and of the other factor, and find the product, with which "
                    "factor transposed, that has the right shape."),
        batch_summed=("summed over the batch",
                      "Each matrix in the stack of B is its own operand, used by one product "
                      "only: its gradient comes from that batch entry alone, with the batch axis "
                      "kept.")))
def _check_bmm(t, answer):
    rng = _rng(78)
    for b, n, k, m in ((2, 3, 4, 5), (3, 2, 2, 2), (1, 4, 3, 1), (4, 1, 5, 2)):
        A, B, g = _arr(rng, (b, n, k)), _arr(rng, (b, k, m)), _arr(rng, (b, n, m))

        def solve(A=A, B=B, g=g, b=b):
            gA, gB = _engine_vjp(lambda x, y: x @ y, g, A, B)
            return [gA, gB], [{"transposed": _swap(gA)},
                              {"transposed": _swap(gB),
                               "batch_summed": gB.sum(axis=0) if b > 1 else None}]
        _case(t, answer, f"A of shape ({b}, {n}, {k}), B of shape ({b}, {k}, {m})", g, [A, B], (),
              ["A", "B"], solve)
    _gradcheck(t, answer, "A (2, 2, 3), B (2, 3, 2)", lambda x, y: x @ y, _arr(rng, (2, 2, 2)),
               [_arr(rng, (2, 2, 3)), _arr(rng, (2, 3, 2))], (), ["A", "B"])


# ---- task 9 -----------------------------------------------------------------------------------
@exercise.task(
    "vjp_softmax", goal="the VJP of y = softmax(x, axis)",
    hint="With y = softmax(x), ∂y_j/∂x_i = y_j (δ_ij − y_i) along the axis. Multiply by ḡ_j and "
         "sum over j, without building the Jacobian: a term with ḡ_i and a term with a sum over "
         "the axis (which must keep its dimension to broadcast).",
    hints=_hints(
        missing_sum=("the Σ term is missing",
                     "Changing one x_i changes every y_j along the axis (they must still add up "
                     "to 1), so x_i's gradient also collects −y_i · Σ_j ḡ_j y_j."),
        diagonal_only=("only the Jacobian's diagonal used",
                       "y_i(1 − y_i) is ∂y_i/∂x_i only; the off-diagonal entries −y_i y_j are "
                       "not zero. Sum over j of ḡ_j ∂y_j/∂x_i instead.")))
def _check_softmax(t, answer):
    rng = _rng(79)
    for shape, axis in (((2, 3), 1), ((3, 4), 0), ((2, 3, 4), -1), ((5,), 0), ((4, 1), 1)):
        x, g = _arr(rng, shape), _arr(rng, shape)

        def solve(x=x, g=g, axis=axis):
            (gx,) = _engine_vjp(lambda v: v.softmax(axis), g, x)
            y = _softmax(x, axis)
            return [gx], [{"missing_sum": y * g, "diagonal_only": y * (1 - y) * g}]
        _case(t, answer, f"x of shape {shape_str(shape)}, axis={axis}", g, [x], (axis,), ["x"],
              solve)
    _gradcheck(t, answer, "x (2, 3), axis=0", lambda v, axis: _softmax(v, axis),
               _arr(rng, (2, 3)), [_arr(rng, (2, 3))], (0,), ["x"])


# ---- task 10 ----------------------------------------------------------------------------------
@exercise.task(
    "vjp_log_softmax", goal="the VJP of y = log_softmax(x, axis) = x − log Σ exp(x)",
    hint="∂y_j/∂x_i = δ_ij − softmax(x)_i along the axis. Multiplied by ḡ_j and summed over j: ḡ_i "
         "minus softmax(x)_i times a sum of ḡ over the axis (kept as size 1).",
    hints=_hints(
        missing_sum=("the log Σ exp term left out",
                     "y = x − log Σ exp(x): the second term depends on every x along the axis, so "
                     "each x_i also gets −softmax(x)_i · Σ_j ḡ_j."),
        softmax_rule=("the softmax rule used for log-softmax",
                      "That is the VJP of softmax itself. log-softmax's local derivative is "
                      "δ_ij − softmax(x)_i, without the factor y_j.")))
def _check_log_softmax(t, answer):
    rng = _rng(80)
    for shape, axis in (((2, 3), 1), ((3, 4), 0), ((2, 3, 4), -1), ((5,), 0), ((4, 1), 1)):
        x, g = _arr(rng, shape), _arr(rng, shape)

        def solve(x=x, g=g, axis=axis):
            (gx,) = _engine_vjp(lambda v: v.log_softmax(axis), g, x)
            s = _softmax(x, axis)
            return [gx], [{"missing_sum": g,
                           "softmax_rule": s * (g - (g * s).sum(axis=axis, keepdims=True))}]
        _case(t, answer, f"x of shape {shape_str(shape)}, axis={axis}", g, [x], (axis,), ["x"],
              solve)
    _gradcheck(t, answer, "x (3, 2), axis=1", lambda v, axis: _log_softmax(v, axis),
               _arr(rng, (3, 2)), [_arr(rng, (3, 2))], (1,), ["x"])


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
