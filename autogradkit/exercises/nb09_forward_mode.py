"""Notebook 9's "your turn" tasks: forward mode, written by the learner.

* ``Dual``: dual numbers x + ẋε (ε² = 0) with ``+``, ``*`` (either side a plain number),
  ``sin`` and ``exp``: each op carries the tangent along with its value, ẏ = f'(x) ẋ. Written with
  plain Python (``math`` or numpy); calling autogradkit (or PyTorch) while it runs fails the check.
* ``jacobian_by_columns(f, x)``: the m×n Jacobian of f: ℝⁿ → ℝᵐ from n forward passes, one per
  input direction eⱼ (``autograd.forward_ad``); no backward pass, no ready-made Jacobian.
* ``jacobian_by_rows(f, x)``: the same Jacobian from m backward passes (``autograd.grad`` with a
  one-hot ȳ per output); no tangents, no ready-made Jacobian.
* ``hvp(f, x, v)``: the Hessian-vector product H v of a scalar f, forward-over-reverse: the JVP, in
  the direction v, of the gradient (f runs on a dual x and the gradient is taken with
  ``create_graph=True``); no Hessian built, no finite differences.

The right answers come from autogradkit's ``func.jacrev`` / ``func.hessian`` in float64, worked
out only after the learner's code returned. The functions a check hands over count how often they
run, so an answer that pays for more passes than its mode needs is told so.

Each task has a reference implementation (``_reference_*``): ``turn.use`` hands it back while the
learner's answer does not pass yet, so the rest of the notebook can go on.
"""
from __future__ import annotations

import math

import numpy as np

import autogradkit as ag
from autogradkit import autograd
from autogradkit.autograd import forward_ad
from autogradkit.autograd.node import ForwardMode

from .compare import NotNumbers
from .core import Exercise, as_numbers
from .guards import NUMPY_ONLY

exercise = Exercise("nb09_forward_mode", "Notebook 9: forward mode", chapter=9,
                    heading="Your turn")


# ---- reference implementations (what the notebook goes on with) -------------------------------
class _ReferenceDual:
    """A dual number value + tangent·ε with ε² = 0: the tangent is the derivative carried along."""

    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        D = type(self)
        other = other if isinstance(other, D) else D(other)
        return D(self.value + other.value, self.tangent + other.tangent)

    __radd__ = __add__

    def __mul__(self, other):
        D = type(self)
        other = other if isinstance(other, D) else D(other)
        return D(self.value * other.value, self.tangent * other.value + self.value * other.tangent)

    __rmul__ = __mul__

    def sin(self):
        return type(self)(math.sin(self.value), math.cos(self.value) * self.tangent)

    def exp(self):
        e = math.exp(self.value)
        return type(self)(e, e * self.tangent)

    def __repr__(self):
        return f"Dual({self.value:.6g}, {self.tangent:.6g})"


_ReferenceDual.__name__ = _ReferenceDual.__qualname__ = "Dual"


def _reference_jacobian_by_columns(f, x):
    """n forward passes: column j is the tangent of f(x) when x carries the tangent eⱼ."""
    n = x.shape[0]
    columns = []
    for j in range(n):
        e_j = ag.zeros(n, dtype=x.dtype)
        e_j[j] = 1.0
        with forward_ad.dual_level():
            y = f(forward_ad.make_dual(x, e_j))
            columns.append(forward_ad.unpack_dual(y).tangent.numpy())
    return np.stack(columns, axis=1)


def _reference_jacobian_by_rows(f, x):
    """One forward pass, m backward passes: row i is the gradient of yᵢ (ȳ = eᵢ)."""
    x = x.detach().requires_grad_()
    y = f(x)
    m = y.shape[0]
    rows = []
    for i in range(m):
        e_i = ag.zeros(m, dtype=y.dtype)
        e_i[i] = 1.0
        (row,) = autograd.grad(y, [x], grad_outputs=[e_i], retain_graph=True)
        rows.append(row.numpy())
    return np.stack(rows, axis=0)


def _reference_hvp(f, x, v):
    """Forward over reverse: the gradient computed on a dual x (tangent v) carries H v."""
    with forward_ad.dual_level():
        x_dual = forward_ad.make_dual(x.detach().requires_grad_(), v)
        (g,) = autograd.grad(f(x_dual), [x_dual], create_graph=True)
        return forward_ad.unpack_dual(g).tangent.detach().numpy()


# ---- helpers ----------------------------------------------------------------------------------
_COMMON_BY_HAND = ("the library doing the work",
                   "Dual numbers are to be written by hand: plain Python numbers and `math` (or "
                   "numpy). No autogradkit tensors, no forward_ad, no PyTorch: the point is to "
                   "see the tangent rules yourself.")


def _guarded(t, fn, args, forbidden, key):
    """Call learner code watching that it calls nothing in ``forbidden``: a backward pass is
    reported as ``key``, anything else as "used_engine"."""
    def which(used):
        backward = used.startswith(("autogradkit.autograd.engine", "autogradkit.autograd.api"))
        return key if backward else "used_engine"
    return t.call_watching(fn, forbidden, which, *args)


# ---- turn 1: Dual -----------------------------------------------------------------------------
_DUAL_HINTS = {
    "used_engine": _COMMON_BY_HAND,
    "product_of_tangents": (
        "the tangents multiplied together",
        "(a + ȧε)(b + ḃε) = ab + (ȧb + aḃ)ε + ȧḃε², and ε² = 0: the tangent of a product is "
        "the product rule ȧ·b + a·ḃ, not ȧ·ḃ."),
    "one_product_term": (
        "half of the product rule",
        "A product changes when either factor moves: its tangent is ȧ·b + a·ḃ, both terms."),
    "no_tangent_factor": (
        "the local derivative without the incoming tangent",
        "The chain rule in forward mode multiplies the local derivative by the tangent that "
        "arrives with the input: sin(x + ẋε) = sin x + cos(x)·ẋ ε. Your tangent leaves ẋ out."),
    "wrong_sign": (
        "a sign flipped",
        "d/dx sin x = +cos x (it is the derivative of cos that has the minus sign)."),
    "constant_tangent": (
        "a plain number given a tangent",
        "A plain number is a constant: it does not move when x moves, so its tangent is 0. "
        "Wrap it as Dual(number) (tangent 0.0), not Dual(number, 1.0)."),
}


def _dual(t, D, value, tangent):
    out = _guarded(t, D, (value, tangent), NUMPY_ONLY, "used_engine")
    _expect_dual(t, D, out, f"Dual({value:g}, {tangent:g})")
    return out


def _expect_dual(t, D, out, expr):
    if not isinstance(out, D):
        t.fail(f"{expr} returned {type(out).__name__!r}, expected a Dual",
               hint="Each operation returns a new Dual: return Dual(value, tangent).")
    for name in ("value", "tangent"):
        number = _own(out, name)
        if not isinstance(number, (int, float, np.floating, np.integer)):
            t.fail(f"({expr}).{name} is {type(number).__name__}, expected a number",
                   hint="A Dual keeps two plain numbers: .value and .tangent.")


def _own(obj, name):
    """``obj.name`` as stored on the instance (its ``__dict__`` or a slot), or None."""
    try:
        return vars(obj).get(name)
    except TypeError:                  # __slots__: no __dict__
        slot = getattr(type(obj), name, None)
        return slot.__get__(obj) if type(slot).__name__ == "member_descriptor" else None


_OPS = {
    "a + b": (lambda a, b: a + b, 2),
    "a + 1.5": (lambda a: a + 1.5, 1),
    "1.5 + a": (lambda a: 1.5 + a, 1),
    "a * b": (lambda a, b: a * b, 2),
    "a * 1.5": (lambda a: a * 1.5, 1),
    "1.5 * a": (lambda a: 1.5 * a, 1),
    "a.sin()": (lambda a: a.sin(), 1),
    "a.exp()": (lambda a: a.exp(), 1),
}


def _right_dual(expr, pairs):
    """(value, tangent, [(mistake, tangent)]) for ``expr`` on (value, tangent) pairs — worked out
    only after the learner's code returned."""
    (a, da), (b, db) = pairs[0], (pairs[1] if len(pairs) > 1 else (None, None))
    if expr == "a + b":
        return a + b, da + db, []
    if expr in ("a + 1.5", "1.5 + a"):
        return a + 1.5, da, [("constant_tangent", da + 1.0)]
    if expr == "a * b":
        return a * b, da * b + a * db, [("product_of_tangents", da * db),
                                        ("one_product_term", da * b),
                                        ("one_product_term", a * db)]
    if expr in ("a * 1.5", "1.5 * a"):
        return a * 1.5, da * 1.5, [("constant_tangent", da * 1.5 + a),
                                   ("product_of_tangents", da * 0.0)]
    if expr == "a.sin()":
        return math.sin(a), math.cos(a) * da, [("no_tangent_factor", math.cos(a)),
                                               ("wrong_sign", -math.cos(a) * da)]
    return math.exp(a), math.exp(a) * da, [("no_tangent_factor", math.exp(a))]


def _composite(D, x):
    """g(x) = x·sin(x) + exp(2x) + 3: every op of the task, chained."""
    return x * x.sin() + (2.0 * x).exp() + 3.0


@exercise.task(
    "Dual", kind="class",
    goal="a Dual number class: value and tangent, with +, *, sin and exp carrying the tangent",
    hint="Write each input as x + ẋε and expand, dropping ε²: the value is the usual result and "
         "the tangent is the local derivative times the incoming tangent (for two inputs, the "
         "sum over both).",
    hints=_DUAL_HINTS,
    reference=_ReferenceDual)
def _check_dual(t, D):
    cases = [("a + b", ((2.0, 1.0), (-3.0, 0.5))), ("a + 1.5", ((2.0, 1.0),)),
             ("1.5 + a", ((2.0, 1.0),)), ("a * b", ((2.0, 1.0), (-3.0, 0.5))),
             ("a * b", ((0.5, -2.0), (4.0, 1.5))), ("a * 1.5", ((2.0, 1.0),)),
             ("1.5 * a", ((2.0, 1.0),)), ("a.sin()", ((0.5, 2.0),)),
             ("a.sin()", ((-1.2, 1.0),)), ("a.exp()", ((0.5, -1.5),)),
             ("a.exp()", ((-1.0, 1.0),))]
    for expr, pairs in cases:
        names = "ab"
        t.case(f"{expr} with " + ", ".join(f"{n} = Dual({v:g}, {d:g})"
                                            for n, (v, d) in zip(names, pairs)))
        inputs = [_dual(t, D, v, d) for v, d in pairs]
        fn, _ = _OPS[expr]
        out = _guarded(t, fn, tuple(inputs), NUMPY_ONLY, "used_engine")
        _expect_dual(t, D, out, expr)
        for x, (v, d) in zip(inputs, pairs):
            t.require(x.value == v and x.tangent == d, f"{expr} changed its input",
                      hint="An operation returns a new Dual and leaves its inputs as they were.")
        value, tangent, wrong = _right_dual(expr, pairs)
        t.compare(out.value, value, what=f"({expr}).value", rtol=1e-12, atol=1e-12)
        t.compare(out.tangent, tangent, what=f"({expr}).tangent", rtol=1e-12, atol=1e-12,
                  alternatives=[(k, w) for k, w in wrong])
    t.case("every op in one function: g(x) = x·sin(x) + exp(2x) + 3 at x = Dual(0.7, 1.0), "
           "so that the tangent is g′(0.7)")
    x = _dual(t, D, 0.7, 1.0)
    out = _guarded(t, _composite, (D, x), NUMPY_ONLY, "used_engine")
    _expect_dual(t, D, out, "g(x)")
    v = 0.7
    t.compare(out.value, v * math.sin(v) + math.exp(2 * v) + 3.0, what="g(x).value",
              rtol=1e-12, atol=1e-12)
    t.compare(out.tangent, math.sin(v) + v * math.cos(v) + 2 * math.exp(2 * v),
              what="g(x).tangent = g′(0.7)", rtol=1e-12, atol=1e-12)


# ---- the functions the Jacobian and HVP checks hand over ---------------------------------------
class _Counted:
    """``fn`` that counts its calls and whether its input carried a tangent."""

    def __init__(self, fn):
        self.fn, self.calls, self.with_tangent = fn, 0, 0

    def __call__(self, x):
        self.calls += 1
        if ForwardMode.level is not None and vars(x).get("_tangent") is not None:
            self.with_tangent += 1         # read directly: no library call runs from here
        return self.fn(x)


_A = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
_B = np.array([[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4], [0.6, 0.1]])
_C = np.array([[0.2, 1.0, -0.4], [-0.7, 0.3, 0.9], [1.1, -0.6, 0.5]])


def _t(a):
    return ag.tensor(a, dtype=ag.float64)


def _f_mix(x):          # ℝ³ → ℝ²
    return (_t(_A) @ ag.sin(x)) * ag.exp(x[:2])


def _f_wide(x):         # ℝ² → ℝ⁴
    return ag.exp(_t(_B) @ x) * x[0]


def _f_square(x):       # ℝ³ → ℝ³, a Jacobian that is not symmetric
    return ag.sin(_t(_C) @ x) + x * x[1]


def _f_one_out(x):      # ℝ⁴ → ℝ¹
    return (ag.sin(x) * x).sum().reshape(1)


_JACOBIAN_CASES = [
    ("f(x) = (A sin x) ⊙ exp(x[:2]), x in ℝ³, f(x) in ℝ²", _f_mix, [0.3, -0.8, 1.1]),
    ("f(x) = exp(B x)·x₀, x in ℝ², f(x) in ℝ⁴", _f_wide, [0.4, -0.6]),
    ("f(x) = sin(C x) + x·x₁, x in ℝ³, f(x) in ℝ³ (square)", _f_square, [0.5, 1.2, -0.7]),
    ("f(x) = [Σ x sin x], x in ℝ⁴, f(x) in ℝ¹", _f_one_out, [0.1, 0.9, -1.3, 2.0]),
]

_FORWARD_FORBIDDEN = ("autogradkit.autograd.engine", "autogradkit.autograd.api",
                      "autogradkit.autograd.functional", "autogradkit.func", "torch", "jax")
_READY_FORBIDDEN = ("autogradkit.autograd.functional", "autogradkit.func", "torch", "jax")
_READY_MADE = ("the library doing the work",
               "`autograd.functional.jacobian`, `autogradkit.func` (jacfwd, jacrev, hessian, …) "
               "and PyTorch build this for you: the point of this turn is to build it yourself.")


def _right_jacobian(f, x0):
    return ag.func.jacrev(f)(_t(x0)).numpy()


_TRANSPOSED = ("columns and rows swapped",
               "The Jacobian is m×n: row i belongs to output yᵢ, column j to input xⱼ. Forward "
               "mode gives a column per pass, reverse mode a row: stack them along the right "
               "axis.")


@exercise.task(
    "jacobian_by_columns",
    goal="the m×n Jacobian of f: ℝⁿ → ℝᵐ from n forward passes (forward_ad), one column each",
    hint="For each j, run f on x carrying the tangent eⱼ (the j-th unit vector) inside a "
         "dual_level; the tangent of the output is column j of J. Stack the n columns side by "
         "side.",
    hints={"transposed": _TRANSPOSED,
           "used_reverse": ("a backward pass in forward mode",
                            "This turn builds the Jacobian with forward passes only: tangents "
                            "with forward_ad.make_dual and unpack_dual, no backward() or "
                            "autograd.grad."),
           "used_engine": _READY_MADE,
           "no_tangents": ("no tangents",
                           "Forward mode pushes a tangent through f: run f on "
                           "forward_ad.make_dual(x, e_j) inside `with forward_ad.dual_level():` "
                           "and read the output's tangent with unpack_dual."),
           "too_many_passes": ("more forward passes than input directions",
                               "Forward mode needs one forward pass per input direction: n "
                               "passes for n inputs, each giving a whole column.")},
    reference=_reference_jacobian_by_columns)
def _check_jacobian_by_columns(t, answer):
    for text, fn, x0 in _JACOBIAN_CASES:
        t.case(text)
        f, x = _Counted(fn), _t(x0)
        got = _guarded(t, answer, (f, x), _FORWARD_FORBIDDEN, "used_reverse")
        if f.with_tangent == 0 and f.calls:
            t.fail("f never ran on an x carrying a tangent", "no_tangents")
        n = len(x0)
        t.require(f.calls <= n + 1, f"f ran {f.calls} times for n = {n} inputs",
                  "too_many_passes")
        right = _right_jacobian(fn, x0)
        t.compare(got, right, what="J", rtol=1e-9, atol=1e-12)


@exercise.task(
    "jacobian_by_rows",
    goal="the m×n Jacobian of f: ℝⁿ → ℝᵐ from m backward passes (autograd.grad), one row each",
    hint="Run f once on a copy of x that requires grad. For each output i, ask autograd.grad for "
         "the gradient with grad_outputs = eᵢ (one-hot, the shape of y) and retain_graph=True: "
         "that VJP eᵢᵀJ is row i of J. Stack the m rows.",
    hints={"transposed": _TRANSPOSED,
           "used_forward": ("tangents in reverse mode",
                            "This turn builds the Jacobian with backward passes: autograd.grad "
                            "with a one-hot ȳ per output, no forward_ad."),
           "used_engine": _READY_MADE,
           "too_many_passes": ("more passes than outputs",
                               "Reverse mode needs one backward pass per output; one forward "
                               "pass is enough if you keep the graph (retain_graph=True).")},
    reference=_reference_jacobian_by_rows)
def _check_jacobian_by_rows(t, answer):
    for text, fn, x0 in _JACOBIAN_CASES:
        t.case(text)
        f, x = _Counted(fn), _t(x0)
        got = _guarded(t, answer, (f, x), _READY_FORBIDDEN, "used_engine")
        if f.with_tangent:
            t.fail("f ran on an x carrying a tangent (forward mode)", "used_forward")
        m = fn(_t(x0)).shape[0]
        t.require(f.calls <= m, f"f ran {f.calls} times for m = {m} outputs",
                  "too_many_passes")
        right = _right_jacobian(fn, x0)
        t.compare(got, right, what="J", rtol=1e-9, atol=1e-12)


# ---- turn: Hessian-vector product ---------------------------------------------------------------
def _L_sin_exp(x):
    return (ag.sin(x) * ag.exp(x)).sum()


def _L_coupled(x):
    return (x * x).sum() * x[0] + ag.exp(x[1] * x[2])


def _L_quadratic(x):
    return (x * (_t(_C) @ x)).sum()


_HVP_CASES = [
    ("L(x) = Σ sin(x)·exp(x), x in ℝ³", _L_sin_exp, [0.5, 1.0, -0.3], [1.0, 2.0, 0.5]),
    ("L(x) = (Σ x²)·x₀ + exp(x₁x₂), x in ℝ³", _L_coupled, [0.7, -0.4, 1.1], [0.5, -1.0, 2.0]),
    ("L(x) = xᵀ C x (C not symmetric: H = C + Cᵀ), x in ℝ³", _L_quadratic, [1.0, -2.0, 0.5],
     [0.0, 1.0, 0.0]),
]


@exercise.task(
    "hvp",
    goal="the Hessian-vector product H v of a scalar L, forward over reverse: the JVP of ∇L "
         "in the direction v, without building H",
    hint="Inside a dual_level, make x a dual number with tangent v that also requires grad. "
         "Take the gradient g = ∇L(x) with autograd.grad(..., create_graph=True), so that the "
         "backward pass is made of ops that push the tangent along: the tangent of g is H v.",
    hints={"used_engine": _READY_MADE,
           "gradient_instead": ("the gradient, not H v",
                                "You returned ∇L(x), the primal of the gradient. H v is its "
                                "*tangent*: unpack_dual(g).tangent."),
           "no_tangent": ("L never saw the direction v",
                          "Forward over reverse: L must run on x carrying the tangent v "
                          "(forward_ad.make_dual inside a dual_level), once. Finite "
                          "differences of the gradient, or building H, are not this turn."),
           "directional_derivative": ("one number instead of a vector",
                                      "∇L·v (a JVP of L) is one number, the slope of L along v. "
                                      "H v is a vector: how the whole gradient changes along "
                                      "v.")},
    reference=_reference_hvp)
def _check_hvp(t, answer):
    for text, fn, x0, v0 in _HVP_CASES:
        t.case(f"{text}, v = {v0}")
        f = _Counted(fn)
        got = _guarded(t, answer, (f, _t(x0), _t(v0)), _READY_FORBIDDEN, "used_engine")
        try:
            shape = as_numbers(got).shape
        except NotNumbers:
            shape = None
        if shape == ():
            t.fail("H v: expected a vector of 3 numbers, got one number",
                   "directional_derivative")
        if f.with_tangent != 1 or f.calls != 1:
            t.fail(f"L ran {f.calls} time{'s' if f.calls != 1 else ''}, "
                   f"{f.with_tangent} of them on an x carrying a tangent; forward over "
                   "reverse runs it once, on x carrying v", "no_tangent")
        x = _t(x0).requires_grad_()
        (grad,) = autograd.grad(fn(x), [x])
        right = ag.func.hessian(fn)(_t(x0)).numpy() @ np.array(v0)
        t.compare(got, right, what="H v", rtol=1e-9, atol=1e-12,
                  alternatives=[("gradient_instead", grad.numpy())])


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
