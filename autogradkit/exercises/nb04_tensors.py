"""Notebook 4's "your turn" tasks: vector-Jacobian products written by hand on numpy arrays.

The learner writes the matrix product's VJP, ``sum_to_shape`` (a broadcast gradient summed back
to its operand's shape) and the VJPs of the elementwise product and maximum with broadcasting
(the maximum routes ȳ to the larger input and splits a tie evenly, as autogradkit and PyTorch
do).
Each rule must use numpy alone: a call into autogradkit (or PyTorch) while it runs fails the check
with a message saying the task is to write the rule by hand. The right answers come from
autogradkit's own backward (``y.backward(ȳ)`` in float64), computed when the check runs.

Each task has a reference implementation (``_reference_*``): ``turn.use`` hands it back while the
learner's answer does not pass yet, so the rest of the notebook can go on.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag

from .compare import NotNumbers, describe_type
from .core import Exercise, as_numbers
from .guards import NUMPY_ONLY

exercise = Exercise("nb04_tensors", "Notebook 4: from scalars to tensors", chapter=4,
                    heading="Your turn")


# ---- reference implementations (what the notebook goes on with) -------------------------------
def _reference_matmul_vjp(Y_bar, X, W):
    """Y = X @ W:  X̄ = Ȳ Wᵀ (shape of X) and W̄ = Xᵀ Ȳ (shape of W)."""
    return Y_bar @ W.T, X.T @ Y_bar


def _reference_sum_to_shape(g, shape):
    """``g`` summed back to ``shape``: over the leading axes that broadcasting added, then over
    every axis where ``shape`` has size 1 (kept, with size 1)."""
    g = np.asarray(g)
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=ones, keepdims=True)


def _reference_mul_vjp(y_bar, a, b):
    """y = a * b (broadcasting):  ā = ȳ·b and b̄ = ȳ·a, each summed back to its operand's shape."""
    return (_reference_sum_to_shape(y_bar * b, np.shape(a)),
            _reference_sum_to_shape(y_bar * a, np.shape(b)))


def _reference_maximum_vjp(y_bar, a, b):
    """y = maximum(a, b) (broadcasting): ȳ goes to the larger input, half to each at a tie;
    each gradient summed back to its operand's shape."""
    tie = 0.5 * (a == b)
    return (_reference_sum_to_shape(y_bar * ((a > b) + tie), np.shape(a)),
            _reference_sum_to_shape(y_bar * ((b > a) + tie), np.shape(b)))


# ---- helpers ----------------------------------------------------------------------------------
def _rng(seed):
    return np.random.default_rng(seed)


def _arr(rng, shape):
    """Numbers with two decimals (readable in a report), as a float64 array."""
    return np.asarray(np.round(rng.normal(size=shape), 2), dtype=np.float64)


def _engine_vjp(fn, y_bar, *arrays):
    """∂L/∂(each array) for L = Σ ȳ · fn(arrays), by autogradkit's own backward in float64."""
    ts = [ag.tensor(a, dtype=ag.float64, requires_grad=True) for a in arrays]
    fn(*ts).backward(ag.tensor(y_bar, dtype=ag.float64))
    return [t.grad.numpy() for t in ts]


_USED_ENGINE = ("the library doing the work",
                "This rule is to be written by hand with numpy: the point is to find the "
                "vector-Jacobian product yourself. Use numpy arrays and numpy functions only "
                "(no autogradkit tensors, no backward(), no PyTorch).")
_INPUT_CHANGED = ("an input changed in place",
                  "A backward rule must leave ȳ and the saved inputs as they were: compute new "
                  "arrays (`g = g.sum(...)`, `y_bar * b`) instead of writing into them "
                  "(`+=`, `[...] =`).")
_NO_UPSTREAM = ("the local derivative without the upstream gradient",
                "A vector-Jacobian product multiplies the local derivative by ȳ, the gradient "
                "arriving from above; your answer leaves ȳ out.")
_COMMON = {"used_engine": _USED_ENGINE, "input_changed": _INPUT_CHANGED}


def _hints(**own):
    out = dict(_COMMON)
    out.update(own)
    return out


def _by_hand(t, answer, args, names):
    """Call the learner's rule watching that it uses numpy alone and changes none of its inputs."""
    originals = [np.array(a, copy=True) for a in args]
    value = t.call_watching(answer, NUMPY_ONLY, "used_engine", *args)
    for a, c, name in zip(args, originals, names):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c):
            t.fail(f"your function changed its input {name} in place", "input_changed")
    return value


def _grads(t, got, names):
    """The learner's answer as a tuple with one gradient per name."""
    n = len(names)
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = (f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                else describe_type(got))
        t.fail(f"expected {n} gradients ({', '.join(names)}) as a tuple, got {what}",
               hint=f"Return a tuple: return {', '.join(names)}")
    return got


def _shape(s):
    return "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")"


# ---- turn 1 -----------------------------------------------------------------------------------
@exercise.task(
    "matmul_vjp", goal="the VJP of Y = X @ W: return (X̄, W̄) from Ȳ, X and W, with numpy",
    hint="Each gradient has the shape of its matrix: X̄ is (B, n) like X, W̄ is (n, m) like W, "
         "and Ȳ is (B, m). Turn the sums X̄ᵢₖ = Σⱼ Ȳᵢⱼ Wₖⱼ and W̄ₖⱼ = Σᵢ Xᵢₖ Ȳᵢⱼ into "
         "matrix products: which factor, transposed or not, goes on which side?",
    hints=_hints(
        missing_transpose=("a transpose missing",
                           "With square matrices the shapes still fit, so nothing crashes, but "
                           "the numbers are wrong: in X̄ᵢₖ = Σⱼ Ȳᵢⱼ Wₖⱼ the sum runs over W's "
                           "*second* index. Which matrix has to be transposed for that?")),
    reference=_reference_matmul_vjp)
def _check_matmul_vjp(t, answer):
    rng = _rng(41)
    for B, n, m in ((3, 3, 3), (2, 3, 4), (4, 2, 1), (1, 5, 2)):
        X, W, Y_bar = _arr(rng, (B, n)), _arr(rng, (n, m)), _arr(rng, (B, m))
        t.case(f"X of shape ({B}, {n}), W of shape ({n}, {m}), Ȳ of shape ({B}, {m})")
        got = _grads(t, _by_hand(t, answer, (Y_bar, X, W), ("Ȳ", "X", "W")),
                     ("X_bar", "W_bar"))
        X_grad, W_grad = _engine_vjp(lambda x, w: x @ w, Y_bar, X, W)
        t.compare(got[0], X_grad, what="X̄", rtol=1e-9, atol=1e-12,
                  alternatives={"missing_transpose": Y_bar @ W if n == m else None})
        t.compare(got[1], W_grad, what="W̄", rtol=1e-9, atol=1e-12,
                  alternatives={"missing_transpose": X @ Y_bar if B == n else None})


# ---- turn 2 -----------------------------------------------------------------------------------
@exercise.task(
    "sum_to_shape", goal="sum a broadcast gradient g back to the shape its operand had, with numpy",
    hint="Broadcasting can add leading axes and can stretch axes of size 1. Undo both: sum over "
         "every added leading axis, then over every axis where the operand had size 1 (keeping "
         "it, with size 1).",
    hints=_hints(
        averaged=("averaged instead of summed",
                  "Each broadcast copy was used once and sends back its own gradient; a value "
                  "used several times receives the *sum* of its gradients, not their mean."),
        reshaped=("the right numbers with the wrong axes",
                  "The leading axes that broadcasting added must disappear, but an axis that "
                  "had size 1 in the operand must stay, with size 1 (`keepdims=True`)."),
        unsummed_broadcast=("an axis left un-summed",
                            "Your result still has an axis that broadcasting stretched. Sum "
                            "over the added leading axes *and* over every axis where the "
                            "operand had size 1.")),
    reference=_reference_sum_to_shape)
def _check_sum_to_shape(t, answer):
    rng = _rng(42)
    for g_shape, shape in (((4, 3), (3,)), ((4, 3), (4, 1)), ((2, 3, 4), (3, 1)),
                           ((2, 3), (2, 3)), ((5,), ()), ((2, 1, 3), (1, 1, 3)),
                           ((2, 3, 4), (1, 4))):
        g = _arr(rng, g_shape)
        t.case(f"g of shape {_shape(g_shape)} back to shape {_shape(shape)}")
        got = _by_hand(t, answer, (g, shape), ("g", "shape"))
        (right,) = _engine_vjp(lambda x: ag.zeros(*g_shape, dtype=ag.float64) + x, g,
                               np.zeros(shape))
        copies = g.size // max(right.size, 1)
        t.compare(got, right, what="result", rtol=1e-9, atol=1e-12,
                  alternatives={"averaged": right / copies if copies > 1 else None})


# ---- turn 3 -----------------------------------------------------------------------------------
@exercise.task(
    "mul_vjp", goal="the VJP of y = a * b with broadcasting: return (ā, b̄), with numpy",
    hint="Elementwise, ∂y/∂a = b and ∂y/∂b = a. Multiply each by ȳ elementwise, then bring each "
         "gradient back to the shape of its operand with your sum_to_shape.",
    hints=_hints(
        swapped=("the two local derivatives swapped",
                 "For a product, the local derivative with respect to one factor is the *other* "
                 "factor: ā uses b, b̄ uses a."),
        no_upstream=_NO_UPSTREAM),
    reference=_reference_mul_vjp)
def _check_mul_vjp(t, answer):
    rng = _rng(43)
    sum_to = _reference_sum_to_shape
    for a_shape, b_shape in (((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)),
                             ((4, 1, 3), (2, 1))):
        a, b = _arr(rng, a_shape), _arr(rng, b_shape)
        y_bar = _arr(rng, np.broadcast_shapes(a_shape, b_shape))
        t.case(f"a of shape {_shape(a_shape)}, b of shape {_shape(b_shape)}")
        got = _grads(t, _by_hand(t, answer, (y_bar, a, b), ("ȳ", "a", "b")), ("a_bar", "b_bar"))
        a_grad, b_grad = _engine_vjp(lambda x, w: x * w, y_bar, a, b)
        same = a_shape == b_shape
        t.compare(got[0], a_grad, what="ā", rtol=1e-9, atol=1e-12,
                  alternatives={"swapped": y_bar * a if same else None,
                                "no_upstream": sum_to(np.broadcast_to(b, y_bar.shape), a_shape)})
        t.compare(got[1], b_grad, what="b̄", rtol=1e-9, atol=1e-12,
                  alternatives={"swapped": y_bar * b if same else None,
                                "no_upstream": sum_to(np.broadcast_to(a, y_bar.shape), b_shape)})


# ---- turn 4 -----------------------------------------------------------------------------------
def _with_ties(rng, a_shape, b_shape):
    """a and b, broadcast against each other, with some exact ties (a == b) among the pairs."""
    a, b = _arr(rng, a_shape), _arr(rng, b_shape)
    if a.size and b.size:
        out = np.broadcast_shapes(a_shape, b_shape)
        flat = np.broadcast_to(b, out)
        where = np.unravel_index(np.arange(0, int(np.prod(out)), 3), out)
        if a.shape == out:                      # copy some of b's values into a
            a = a.copy()
            a[where] = flat[where]
        elif b.shape == out:                    # b has the full shape: copy a's into b
            b = b.copy()
            b[where] = np.broadcast_to(a, out)[where]
        else:                                   # both broadcast: one tie, at the first pair
            a = a.copy()
            a.flat[0] = b.flat[0]
    return a, b


@exercise.task(
    "maximum_vjp",
    goal="the VJP of y = maximum(a, b) elementwise with broadcasting, ties split evenly: return "
         "(ā, b̄), with numpy",
    hint="∂y/∂a is 1 where a is the larger, 0 where b is, and ½ at a tie (a == b), and the other "
         "way round for b: ȳ is routed to the input that won. Multiply ȳ by each mask, then "
         "bring each gradient back to the shape of its operand with your sum_to_shape.",
    hints=_hints(
        swapped=("ȳ routed to the smaller input",
                 "The maximum passes on the value of the *larger* input, so that is the input "
                 "whose change moves y: ȳ goes to the winner, not to the loser."),
        tie_to_both=("a tie counted for both inputs",
                     "At a tie your ā and b̄ both receive the whole ȳ, so together they pass on "
                     "twice what arrived. autogradkit and PyTorch split a tie evenly: ½ ȳ each."),
        tie_to_one=("a tie given to one input",
                    "y = maximum(a, b) has no derivative where a == b; which value a framework "
                    "returns there is a convention. autogradkit and PyTorch split a tie evenly "
                    "(½ ȳ to each input), and this turn is checked against them."),
        tie_to_none=("a tie given to neither input",
                     "At a tie your gradients drop ȳ altogether, though y does change when a "
                     "and b move together. autogradkit and PyTorch split a tie evenly: ½ ȳ to "
                     "each input."),
        no_upstream=_NO_UPSTREAM),
    reference=_reference_maximum_vjp)
def _check_maximum_vjp(t, answer):
    rng = _rng(44)
    sum_to = _reference_sum_to_shape
    for a_shape, b_shape in (((2, 3), (2, 3)), ((3, 4), (4,)), ((2, 1), (1, 3)), ((2, 3), ()),
                             ((3,), (2, 1))):
        a, b = _with_ties(rng, a_shape, b_shape)
        y_bar = _arr(rng, np.broadcast_shapes(a_shape, b_shape))
        ties = int(np.sum(np.broadcast_to(a == b, y_bar.shape)))
        t.case(f"a of shape {_shape(a_shape)}, b of shape {_shape(b_shape)}, "
               f"{ties} tie{'s' if ties != 1 else ''} among the pairs")
        got = _grads(t, _by_hand(t, answer, (y_bar, a, b), ("ȳ", "a", "b")), ("a_bar", "b_bar"))
        a_grad, b_grad = _engine_vjp(ag.maximum, y_bar, a, b)
        tie = np.broadcast_to(a == b, y_bar.shape)
        a_wins, b_wins = (np.broadcast_to(x, y_bar.shape) for x in (a > b, b > a))
        shares = [(sum_to(y_bar * w, s), sum_to(y_bar * (w + tie), s))   # ties: none, whole ȳ
                  for w, s in ((a_wins, a_shape), (b_wins, b_shape))]
        key = _tie_mistake(got, *shares)
        for got_one, right, wins, loses, shape, name in (
                (got[0], a_grad, a_wins, b_wins, a_shape, "ā"),
                (got[1], b_grad, b_wins, a_wins, b_shape, "b̄")):
            alternatives = [(key, got_one)] if key else []
            alternatives += [("swapped", sum_to(y_bar * (loses + 0.5 * tie), shape)),
                             ("no_upstream", sum_to(wins + 0.5 * tie, shape))]
            t.compare(got_one, right, what=name, rtol=1e-9, atol=1e-12, alternatives=alternatives)


def _tie_mistake(got, a_options, b_options):
    """Which tie convention the pair (ā, b̄) follows, judged on both gradients together:
    ``*_options`` are (the winner's share without ties, with the whole ȳ at ties)."""
    try:
        ga, gb = as_numbers(got[0]), as_numbers(got[1])
    except NotNumbers:
        return None

    def same(x, y):
        return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-9, atol=1e-12))

    (a_none, a_all), (b_none, b_all) = a_options, b_options
    if same(ga, a_all) and same(gb, b_all):
        return "tie_to_both"
    if (same(ga, a_all) and same(gb, b_none)) or (same(ga, a_none) and same(gb, b_all)):
        return "tie_to_one"
    if same(ga, a_none) and same(gb, b_none):
        return "tie_to_none"
    return None


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
