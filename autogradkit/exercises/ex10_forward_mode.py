"""Exercise 10 (chapter 9): forward mode — Jacobian-vector products written by hand on numpy arrays.

Notebook 9 has the learner write dual numbers, Jacobians by columns (forward passes) and by rows
(backward passes) and a Hessian-vector product; this exercise asks for transfer: the JVP rules of
operations the notebook does not write — tanh(W x) with both W and x carrying a tangent, a softmax
along the last axis, the Euclidean norm along the last axis — and J v recovered from
vector-Jacobian products alone.

The right answers come from autogradkit's own forward mode (``autograd.forward_ad`` in float64),
worked out only after the learner's code has returned. The learner's rule must use numpy alone: a
call into autogradkit or PyTorch while it runs (seen through ``sys.setprofile``) fails the check.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag
from autogradkit.autograd import forward_ad

from .compare import shape_str
from .core import Exercise
from .guards import NUMPY_ONLY, watching

exercise = Exercise("ex10_forward_mode", "Exercise 10: forward mode", chapter=9)


def _rng(seed):
    return np.random.default_rng(seed)


def _arr(rng, shape):
    return np.round(rng.normal(size=shape), 2)


def _t64(a):
    return ag.tensor(np.asarray(a, dtype=np.float64), dtype=ag.float64)


def _engine_jvp(fn, primals, tangents):
    """The tangent of fn(*primals) in the direction ``tangents``, by autogradkit's forward mode."""
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(_t64(p), _t64(d)) for p, d in zip(primals, tangents)]
        tangent = forward_ad.unpack_dual(fn(*duals)).tangent
        return tangent.numpy().copy()


_USED_ENGINE = ("an autodiff library doing the work",
                "These rules are to be written by hand with numpy: the point is to find the "
                "Jacobian-vector product yourself. Use numpy functions only (no autogradkit "
                "tensors, no forward_ad or backward(), no PyTorch), even for the forward values.")
_INPUT_CHANGED = ("an input changed in place",
                  "A JVP rule must leave the primals and the tangents as they were; compute new "
                  "arrays instead of writing into them.")


def _hints(**own):
    out = {"used_engine": _USED_ENGINE, "input_changed": _INPUT_CHANGED}
    out.update(own)
    return out


def _case(t, answer, description, inputs, names, solve, what):
    """One case: call ``answer(*inputs)`` (numpy only, inputs left as they were) and compare its
    tangent with the right one. ``solve()`` gives (the right tangent, the known wrong ones); it
    runs only after the learner's code has returned."""
    t.case(description)
    originals = [np.array(a, copy=True) for a in inputs]
    value, used = t.call(watching(answer, NUMPY_ONLY), *inputs)
    if used:
        t.fail(f"your code called {used}", "used_engine")
    for a, c, name in zip(inputs, originals, names):
        if not np.array_equal(a, c):
            t.fail(f"your function changed its input {name} in place", "input_changed")
    expected, alternatives = solve()
    t.compare(value, expected, what=what, alternatives=alternatives)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "jvp_tanh_matmul", goal="the JVP of y = tanh(W x) when both W and x carry a tangent (Ẇ, ẋ)",
    hint="Two steps, as a forward pass runs them: first the tangent of u = W x, where both "
         "factors move (the product rule gives two terms), then the tangent of tanh(u), which "
         "multiplies u̇ elementwise by tanh's derivative at u.",
    hints=_hints(
        missing_product_term=("only one term of the product rule",
                              "u = W x changes when x changes and when W changes: u̇ has a term "
                              "for each, with the other factor held at its value."),
        outer_missing=("u̇ alone: tanh's derivative left out",
                       "After the product comes tanh: its derivative at u, 1 − tanh(u)², "
                       "multiplies u̇ elementwise."),
        wrong_tanh_derivative=("1 − tanh(u) used as tanh's derivative",
                               "The derivative of tanh is 1 − tanh(u)², the square of tanh "
                               "subtracted from 1.")))
def _check_tanh_matmul(t, answer):
    rng = _rng(101)
    for m, n in ((3, 4), (2, 2), (1, 3), (4, 1)):
        x, xd, W, Wd = _arr(rng, (n,)), _arr(rng, (n,)), _arr(rng, (m, n)) / 2, _arr(rng, (m, n))

        def solve(x=x, xd=xd, W=W, Wd=Wd):
            expected = _engine_jvp(lambda x, W: (W @ x).tanh(), [x, W], [xd, Wd])
            u = W @ x
            d = 1 - np.tanh(u) ** 2
            return expected, {"missing_product_term": d * (W @ xd),
                              "outer_missing": Wd @ x + W @ xd,
                              "wrong_tanh_derivative": (1 - np.tanh(u)) * (Wd @ x + W @ xd)}
        _case(t, answer, f"x of shape ({n},), W of shape ({m}, {n})", [x, xd, W, Wd],
              ["x", "x_dot", "W", "W_dot"], solve, "tangent of y")
    # the other term alone, too
    x, xd, W, Wd = _arr(rng, (3,)), _arr(rng, (3,)), _arr(rng, (2, 3)) / 2, _arr(rng, (2, 3))

    def solve(x=x, xd=xd, W=W, Wd=Wd):
        expected = _engine_jvp(lambda x, W: (W @ x).tanh(), [x, W], [xd, Wd])
        return expected, {"missing_product_term": (1 - np.tanh(W @ x) ** 2) * (Wd @ x)}
    _case(t, answer, "x of shape (3,), W of shape (2, 3), both moving", [x, xd, W, Wd],
          ["x", "x_dot", "W", "W_dot"], solve, "tangent of y")


# ---- task 2 -----------------------------------------------------------------------------------
def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@exercise.task(
    "jvp_softmax", goal="the JVP of s = softmax(x) along the last axis, for x of any shape",
    hint="Write s_i = e^(x_i) / Σ_k e^(x_k) and differentiate in the direction ẋ: the numerator "
         "moves by s_i·ẋ_i, and the denominator moves with every ẋ_k at once. The result is s "
         "times (ẋ minus one weighted average of ẋ per row); rows do not mix.",
    hints=_hints(
        diagonal_only=("s(1 − s)·ẋ: only the diagonal of the Jacobian",
                       "Every output s_i depends on every input of its row through the sum in "
                       "the denominator, not just on x_i: the off-diagonal terms −s_i·s_k·ẋ_k "
                       "count too."),
        missing_sum=("s·ẋ: the denominator held fixed",
                     "The denominator Σ_k e^(x_k) moves as well; its change subtracts s times "
                     "the s-weighted sum of ẋ over the row."),
        wrong_axis=("the weighted sum taken over the wrong axis (or over everything)",
                    "Softmax normalises each row along the last axis; the weighted sum of ẋ "
                    "belongs to the same row, with keepdims so it broadcasts back.")))
def _check_softmax(t, answer):
    rng = _rng(102)
    for shape in ((4,), (2, 3), (3, 1), (2, 3, 4), (1, 5)):
        x, xd = _arr(rng, shape), _arr(rng, shape)
        x = x * 2

        def solve(x=x, xd=xd):
            expected = _engine_jvp(lambda v: v.softmax(dim=-1), [x], [xd])
            s = _softmax(x)
            whole = s * (xd - np.sum(s * xd)) if x.ndim > 1 else None
            return expected, {"diagonal_only": s * (1 - s) * xd, "missing_sum": s * xd,
                              "wrong_axis": whole}
        _case(t, answer, f"x of shape {shape_str(shape)}", [x, xd], ["x", "x_dot"], solve,
              "tangent of s")


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "jvp_norm", goal="the JVP of r = ‖x‖ along the last axis (one norm per row), x ≠ 0",
    hint="r = √(Σ x_i²): the chain rule gives ṙ = (1/(2r))·Σ 2x_i ẋ_i. Sum over the last axis "
         "only, so the result has x's shape without its last axis.",
    hints=_hints(
        missing_division=("⟨x, ẋ⟩: the square root's derivative left out",
                          "r is the square root of Σ x_i²; its derivative 1/(2r) multiplies the "
                          "inner tangent Σ 2x_i ẋ_i."),
        squared_norm=("2⟨x, ẋ⟩: the tangent of ‖x‖², not of ‖x‖",
                      "That is the tangent of the squared norm; the norm itself has the square "
                      "root on top, whose derivative is 1/(2r)."),
        unsummed=("x·ẋ/r per element, not summed over the row",
                  "r is one number per row: the contributions of the row's elements add up.")))
def _check_norm(t, answer):
    rng = _rng(103)
    for shape in ((3,), (2, 4), (5, 1), (2, 2, 3), (1,)):
        x, xd = _arr(rng, shape), _arr(rng, shape)
        x = np.where(np.abs(x) < 0.1, 0.7, x)

        def solve(x=x, xd=xd):
            expected = _engine_jvp(lambda v: (v * v).sum(dim=-1).sqrt(), [x], [xd])
            r = np.sqrt(np.sum(x * x, axis=-1))
            inner = np.sum(x * xd, axis=-1)
            return expected, {"missing_division": inner, "squared_norm": 2 * inner,
                              "unsummed": x * xd / r[..., None] if shape[-1] > 1 else None}
        _case(t, answer, f"x of shape {shape_str(shape)}", [x, xd], ["x", "x_dot"], solve,
              "tangent of r")


# ---- task 4 -----------------------------------------------------------------------------------
class _CountedVJP:
    """u ↦ uᵀ J for f(x) = tanh(A x) · c at a fixed x, in numpy, counting its calls."""

    def __init__(self, A, x, c):
        self.A, self.x, self.c, self.calls = A, x, c, 0
        self.m = A.shape[0]

    def __call__(self, u):
        self.calls += 1
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (self.m,):
            raise ValueError(f"vjp: u must have the output's shape ({self.m},), got "
                             f"{shape_str(u.shape)}")
        d = (1 - np.tanh(self.A @ self.x) ** 2) * self.c
        return self.A.T @ (d * u)


@exercise.task(
    "jvp_from_vjps", goal="J v for f: ℝⁿ → ℝᵐ given only its VJP u ↦ uᵀJ, with at most m calls",
    hint="uᵀJ is row i of J when u is the one-hot eᵢ, and (J v)ᵢ is that row dotted with v. So "
         "each output component costs one VJP: m calls in all, one per output, never per input.",
    hints=_hints(
        vjp_of_v=("vjp(v) = Jᵀv: the transpose's product, not J's",
                  "A VJP multiplies from the left: vjp(v) is vᵀJ = Jᵀv. J v needs the rows of J "
                  "(one-hot u's), each dotted with v."),
        too_many_calls=("more VJP calls than outputs",
                        "One VJP per output component gives a whole row of J: m calls are "
                        "enough, whatever n is."),
        column_sums=("the rows of J summed instead of dotted with v",
                     "Each row of J is to be weighted by the entries of v (a dot product), not "
                     "added up.")))
def _check_jvp_from_vjps(t, answer):
    rng = _rng(104)
    for m, n in ((3, 3), (2, 5), (4, 2), (1, 3)):
        A, x, c, v = _arr(rng, (m, n)) / 2, _arr(rng, (n,)), _arr(rng, (m,)), _arr(rng, (n,))
        vjp = _CountedVJP(A, x, c)
        t.case(f"f: ℝ^{n} → ℝ^{m}, v of shape ({n},)")
        v0 = v.copy()
        value, used = t.call(watching(answer, NUMPY_ONLY), vjp, v, m)
        if used:
            t.fail(f"your code called {used}", "used_engine")
        if not np.array_equal(v, v0):
            t.fail("your function changed its input v in place", "input_changed")
        if vjp.calls > m:
            t.fail(f"your code called vjp {vjp.calls} times; m = {m} calls are enough",
                   "too_many_calls")
        expected = _engine_jvp(lambda w: (_t64(A) @ w).tanh() * _t64(c), [x], [v])
        J = np.stack([vjp(e) for e in np.eye(m)])
        t.compare(value, expected, what="J v",
                  alternatives={"vjp_of_v": J.T @ v[:m] if m == n else None,
                                "column_sums": J.sum(axis=1) if n > 1 else None})


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
