"""Notebook 5's "your turn" tasks: a linear layer, ReLU, the MSE loss and SGD from primitives.

The learner builds ``MyLinear``, ``my_relu``, ``my_mse`` and ``MySGD`` out of autogradkit tensor
operations (``@``, ``.T``, ``+``, ``where``, ``mean``, ``no_grad`` …). What they rebuild may not be
used while the check runs: a call into ``autogradkit.nn``'s layers, losses, ``nn.functional`` or
``nn.init``, into the fused layer ops (``autogradkit.ops.layers``) or into ``autogradkit.optim``
fails the check with a message saying so (``nn.Module`` and ``nn.Parameter`` are allowed). ``relu``
itself lives with the tensor ops (``autogradkit.functional``), so ``my_relu`` is checked on the
graph it records instead: a ``ReluBackward0`` node in it means relu did the work.

The right answers come from ``nn.Linear``, ``nn.ReLU``, ``nn.MSELoss`` and ``optim.SGD`` run on
the same weights and inputs when the check runs. Each task has a reference implementation
(``_reference_*``) that ``turn.use`` hands back while the learner's answer does not pass yet.
"""
from __future__ import annotations

import math

import numpy as np

import autogradkit as ag
from autogradkit import nn, optim

from .compare import describe_type
from .core import Exercise
from .guards import watching

exercise = Exercise("nb05_modules", "Notebook 5: modules, losses, optimizers", chapter=5,
                    heading="Your turn")

# What the learner rebuilds (and may not call while the check runs).
REBUILT = ("autogradkit.nn.layers", "autogradkit.nn.losses", "autogradkit.nn.functional",
           "autogradkit.nn.init", "autogradkit.ops.layers", "autogradkit.optim", "torch")


# ---- reference implementations (what the notebook goes on with) -------------------------------
class _reference_MyLinear:
    """Y = X Wᵀ + b from primitives. W: (n_out, n_in) and b: (n_out,) are leaves that require
    grad, drawn like nn.Linear's from U(−1/√n_in, 1/√n_in)."""

    def __init__(self, n_in, n_out):
        bound = 1 / math.sqrt(n_in)
        self.weight = ((ag.rand(n_out, n_in) * 2 - 1) * bound).requires_grad_()
        self.bias = ((ag.rand(n_out) * 2 - 1) * bound).requires_grad_()

    def __call__(self, X):
        return X @ self.weight.T + self.bias          # (B, n_in) @ (n_in, n_out) + (n_out,)

    def parameters(self):
        return [self.weight, self.bias]


def _reference_my_relu(z):
    """max(z, 0) elementwise, with relu′(0) = 0: z where z > 0, else 0."""
    return ag.where(z > 0, z, 0.0)


def _reference_my_mse(prediction, target):
    """The mean over every element of (prediction − target)²."""
    return ((prediction - target) ** 2).mean()


class _reference_MySGD:
    """θ ← θ − lr·∂L/∂θ for every parameter that has a gradient, in place and unrecorded."""

    def __init__(self, params, lr):
        self.params = list(params)        # a list: a generator would be empty after one pass
        self.lr = lr

    def step(self):
        with ag.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None


# ---- helpers ----------------------------------------------------------------------------------
_F32 = dict(rtol=1e-5, atol=1e-6)        # float32 answers against float32 reference results


def _t(array, grad=False):
    return ag.tensor(np.asarray(array, dtype=np.float32), requires_grad=grad)


def _np(x):
    return x.detach().numpy().astype(np.float64)


def _caught(fn):
    """``fn`` returning (value, None), or (None, the exception it raised)."""
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:            # noqa: BLE001 — classified, or re-raised by _raise
            return None, exc
    return run


def _raise(exc):
    raise exc


def _from_primitives(t, fn, *args, what="your code", **kwargs):
    """Call learner code, failing if it calls what it is rebuilding; errors that have a name
    (an unrecorded update missing, a parameter without a gradient) are said as such."""
    (value, error), used = t.call(watching(_caught(fn), REBUILT), *args, **kwargs)
    if used:                        # said first, even when the library call then failed
        t.fail(f"{what} called {used}", "used_library")
    if error is not None:
        text = f"{type(error).__name__}: {error}"
        if isinstance(error, RuntimeError) and "leaf tensor that requires grad" in str(error):
            t.fail(f"{what} raised {text}", "update_recorded")
        if isinstance(error, (TypeError, AttributeError)) and "NoneType" in str(error):
            t.fail(f"{what} raised {text}", "none_grad")
        t.call(_raise, error)          # reported as the learner's error (or "not started")
    return value


def _tensor_out(t, out, what):
    if not isinstance(out, ag.Tensor):
        t.fail(f"{what} is {describe_type(out)}, not an autogradkit tensor",
               hint="Build the result from autogradkit tensor operations, so that it is a tensor "
                    "and autograd can trace it.")
    if out.grad_fn is None:
        t.fail(f"{what} has no grad_fn: it is not connected to the graph of its input, so "
               "backward() cannot reach the input", "detached")
    return out


def _graph_names(out):
    """The names of every node in the graph that produced ``out``."""
    seen, names, stack = set(), [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(node.name())
        stack.extend(n for n, _ in node.next_functions)
    return names


# The library's own nodes for what is being rebuilt. autogradkit's fast paths (autogradkit/fast.py)
# replace nn.functional.linear and the fused ops' methods with functions of their own module,
# which the module guard cannot name; the graph they record says what did the work in any mode.
_LIBRARY_NODES = {"Relu": "relu itself (ag.relu, Tensor.relu or F.relu)",
                  "Addmm": "nn.functional.linear (the fused addmm node)",
                  "MseLoss": "nn.functional.mse_loss (the fused MseLoss node)"}


def _library_graph(t, out, what):
    """Fail when ``out``'s graph holds a node of the library op the learner is rebuilding."""
    for name in _graph_names(out):
        for prefix, who in _LIBRARY_NODES.items():
            if name.startswith(prefix):
                t.fail(f"{what} was computed by {who}: its graph contains {name}",
                       "used_library")


def _backward_with(out, g):
    """backward() from ``out`` with upstream gradient ȳ = g (through L = Σ out · g)."""
    (out * _t(g)).sum().backward()


def _unchanged(t, x, before, name):
    if not np.array_equal(x.detach().numpy(), before):
        t.fail(f"your code changed its input {name} in place", "input_changed")


_USED_LIBRARY = ("the library's own version doing the work",
                 "This turn rebuilds it from primitives (tensor operations such as @, .T, +, "
                 "comparisons, where, mean, and no_grad): autogradkit.nn's layers and losses, "
                 "nn.functional, nn.init, relu and autogradkit.optim are what you are "
                 "rebuilding, so your code may not call them. (nn.Module and nn.Parameter are "
                 "fine.)")
_DETACHED = ("an output cut off from the graph",
             "Somewhere the computation left autogradkit's tensors (numpy, .data, .item(), a new "
             "tensor(...)): autograd only sees operations on tensors.")
_INPUT_CHANGED = ("an input changed in place",
                  "Compute a new tensor instead of writing into the input.")
_COMMON = {"used_library": _USED_LIBRARY, "detached": _DETACHED, "input_changed": _INPUT_CHANGED}


def _hints(**own):
    out = dict(_COMMON)
    out.update(own)
    return out


# ---- turn 1 -----------------------------------------------------------------------------------
def _init_problem(v, n_in, n_out, name):
    """(message, misconception) when ``v`` does not look drawn from U(−1/√n_in, 1/√n_in)."""
    bound = 1 / math.sqrt(n_in)
    lo, hi = float(v.min()), float(v.max())
    reach = max(abs(lo), abs(hi))
    says = f"±1/√{n_in} = ±{bound:g}"
    if np.all(v == v.flat[0]):
        key = "zero_bias" if name == "bias" and v.flat[0] == 0 else "symmetric"
        return f"every entry of {name} starts at {v.flat[0]:g}", key
    if lo >= 0:
        return (f"every entry of {name} is ≥ 0 (from {lo:.4g} to {hi:.4g}); expected {says}, "
                "centred on 0", "not_centred")
    spread = f"the entries of {name} reach {reach:.4g} (from {lo:.4g} to {hi:.4g}); expected {says}"
    if float(v.std()) < 0.45 * reach:          # a normal sample reaches ~4 standard deviations
        return f"{spread}, and they look normally distributed", "normal"
    for key, other in (("unscaled", 1.0), ("fan_out", 1 / math.sqrt(n_out)),
                       ("bound_1_over_n", 1 / n_in), ("xavier", math.sqrt(6 / (n_in + n_out)))):
        if abs(reach - other) < 0.05 * other and abs(reach - bound) > 0.05 * bound:
            return spread, key
    if reach > bound * (1 + 1e-5) or reach < 0.9 * bound:
        return spread, None
    if abs(float(v.std()) - bound / math.sqrt(3)) > 0.1 * bound / math.sqrt(3) \
            or abs(float(v.mean())) > 0.1 * bound:
        return (f"the entries of {name} stay within {says} but are not spread evenly (mean "
                f"{v.mean():.4g}, standard deviation {v.std():.4g}; uniform would give 0 and "
                f"{bound / math.sqrt(3):.4g})", None)
    return None


@exercise.task(
    "MyLinear", kind="class",
    goal="a linear layer from primitives: weight (n_out, n_in) and bias (n_out,), leaves drawn "
         "from U(−1/√n_in, 1/√n_in); calling it returns X Wᵀ + b",
    hint="Draw weight and bias uniformly between −1/√n_in and +1/√n_in (ag.rand gives [0, 1); "
         "stretch and shift it), make them leaves that require grad, and compute X @ Wᵀ + b "
         "in __call__.",
    hints=_hints(
        transposed=("the weight stored transposed",
                    "PyTorch and autogradkit store a Linear weight as (n_out, n_in): one row per "
                    "output unit. The forward pass then uses its transpose."),
        not_leaf=("a parameter that is not a leaf",
                  "Your parameter is the result of an operation on a tensor that requires grad, "
                  "so backward() does not store a .grad in it (it is not a leaf). Compute the "
                  "numbers first, then switch on requires_grad: `(...).requires_grad_()`."),
        no_grad_required=("a parameter that does not require grad",
                          "backward() only fills .grad for tensors that require grad: call "
                          "`.requires_grad_()` on each parameter (or wrap it in nn.Parameter)."),
        symmetric=("every weight started equal",
                   "Units that start equal receive equal gradients and stay equal forever "
                   "(symmetry): draw the initial values at random."),
        zero_bias=("the bias started at zero",
                   "Zero biases are a fine choice elsewhere, but nn.Linear (and PyTorch's) draws "
                   "the bias from the same U(−1/√n_in, 1/√n_in) as the weight, and this turn is "
                   "checked against it."),
        not_centred=("values drawn from [0, …) instead of around 0",
                     "ag.rand draws from [0, 1). To get U(−k, k), stretch it to [0, 2k) and shift "
                     "it down by k."),
        unscaled=("values drawn from (−1, 1), not scaled by 1/√n_in",
                  "The bound 1/√n_in keeps the outputs at a sensible size whatever the number of "
                  "inputs: multiply the (−1, 1) numbers by it."),
        normal=("a normal distribution instead of a uniform one",
                "nn.Linear draws uniformly between −1/√n_in and +1/√n_in (no value outside); "
                "randn draws from a bell curve with no bound. Start from ag.rand."),
        fan_out=("a bound from n_out instead of n_in",
                 "The bound is 1/√n_in, from the number of *inputs* each output adds up."),
        bound_1_over_n=("a bound of 1/n_in instead of 1/√n_in",
                        "The bound is one over the *square root* of n_in."),
        xavier=("Xavier/Glorot's bound √(6/(n_in + n_out))",
                "That is Xavier/Glorot initialisation; nn.Linear (like PyTorch's) uses "
                "U(−1/√n_in, 1/√n_in)."),
        no_bias=("the bias left out of the output",
                 "Your output matches X Wᵀ but not X Wᵀ + b.")),
    reference=_reference_MyLinear)
def _check_linear(t, answer):
    n_in, n_out = 16, 400
    t.case(f"constructing MyLinear({n_in}, {n_out})")
    ag.manual_seed(0)
    layer = _from_primitives(t, answer, n_in, n_out, what="MyLinear(...)")
    t.case("its weight and bias: tensors of the right shapes, leaves that require grad")
    for name, shape in (("weight", (n_out, n_in)), ("bias", (n_out,))):
        p = getattr(layer, name, None)
        if not isinstance(p, ag.Tensor):
            t.fail(f"layer.{name} is {describe_type(p)}, expected a tensor of shape {shape}",
                   hint="Store the parameters as tensors in self.weight and self.bias.")
        if tuple(p.shape) != shape:
            key = "transposed" if tuple(p.shape) == shape[::-1] else None
            t.fail(f"layer.{name} has shape {tuple(p.shape)}, expected {shape}", key)
        if p.grad_fn is not None:
            t.fail(f"layer.{name} has grad_fn {p.grad_fn.name()}: it is not a leaf", "not_leaf")
        if not p.requires_grad:
            t.fail(f"layer.{name} does not require grad", "no_grad_required")
    got = t.call(lambda: list(layer.parameters()))
    if len(got) != 2 or got[0] is not layer.weight or got[1] is not layer.bias:
        t.fail(f"layer.parameters() gave {len(got)} item(s), expected [layer.weight, layer.bias]",
               hint="parameters() returns the layer's own tensors, weight first, so that an "
                    "optimizer can change them in place.")
    t.case(f"the initial values: uniform in ±1/√{n_in} = ±{1 / math.sqrt(n_in):g}, as in "
           "nn.Linear, for the weight and the bias")
    for name in ("weight", "bias"):
        problem = _init_problem(_np(getattr(layer, name)), n_in, n_out, name)
        if problem:
            t.fail(*problem)

    rng = np.random.default_rng(51)
    x, g = np.round(rng.normal(size=(5, 4)), 2), np.round(rng.normal(size=(5, 3)), 2)
    t.case("forward: X of shape (5, 4) through MyLinear(4, 3), against nn.Linear(4, 3) with the "
           "same weight and bias")
    ag.manual_seed(1)
    mine = _from_primitives(t, answer, 4, 3, what="MyLinear(...)")
    theirs = nn.Linear(4, 3)
    with ag.no_grad():
        theirs.weight.copy_(mine.weight)
        theirs.bias.copy_(mine.bias)
    X, X_ref = _t(x, grad=True), _t(x, grad=True)
    out = _tensor_out(t, _from_primitives(t, mine, X, what="layer(X)"), "layer(X)")
    _library_graph(t, out, "layer(X)")
    _unchanged(t, X, x.astype(np.float32), "X")
    expected = theirs(X_ref)
    W, b = _np(mine.weight), _np(mine.bias)
    t.compare(out, _np(expected), what="output", **_F32, alternatives={"no_bias": x @ W.T})
    t.case("backward with Ȳ of shape (5, 3): the gradients of weight, bias and X, against "
           "nn.Linear's")
    t.call(_backward_with, out, g)
    _backward_with(expected, g)
    for what, p, q in (("weight", mine.weight, theirs.weight), ("bias", mine.bias, theirs.bias),
                       ("X", X, X_ref)):
        if p.grad is None:
            t.fail(f"{what}.grad is None after backward(): the output does not depend on it",
                   "detached")
        t.compare(p.grad, _np(q.grad), what=f"grad of {what}", **_F32)


# ---- turn 2 -----------------------------------------------------------------------------------
@exercise.task(
    "my_relu", goal="relu(z) = max(z, 0) elementwise from tensor operations, with relu′(0) = 0",
    hint="Keep the entries of z that are positive and put 0 everywhere else, with tensor "
         "operations so that backward works; then check what your choice does exactly at 0.",
    hints=_hints(
        kept_negative=("the negative part kept instead of the positive part",
                       "Your output keeps the entries below zero and drops the others."),
        kink_convention=("a different derivative at the kink z = 0",
                         "relu has no derivative at exactly 0; frameworks pick one, and "
                         "autogradkit and PyTorch use relu′(0) = 0. Your gradient at 0 is "
                         "different: which comparison or function decides what happens at "
                         "exactly 0?")),
    reference=_reference_my_relu)
def _check_relu(t, answer):
    rng = np.random.default_rng(52)
    grid = np.where(np.arange(12).reshape(3, 4) == 5, 0.0, np.round(rng.normal(size=(3, 4)), 2))
    for description, z in (("z = [−2, −0.5, 0, 0.5, 3]", np.array([-2.0, -0.5, 0.0, 0.5, 3.0])),
                           ("z of shape (3, 4) with a zero in it", grid)):
        t.case(f"{description}: the output, against nn.ReLU's")
        zt, z_ref = _t(z, grad=True), _t(z, grad=True)
        out = _tensor_out(t, _from_primitives(t, answer, zt, what="my_relu(z)"), "my_relu(z)")
        _unchanged(t, zt, z.astype(np.float32), "z")
        _library_graph(t, out, "my_relu(z)")
        expected = nn.ReLU()(z_ref)
        t.compare(out, _np(expected), what="output", **_F32,
                  alternatives={"kept_negative": np.minimum(z, 0)})
        t.case(f"{description}: the gradient with ȳ = 1, 2, 3, …, against nn.ReLU's")
        g = np.arange(1, z.size + 1, dtype=np.float64).reshape(z.shape)
        t.call(_backward_with, out, g)
        _backward_with(expected, g)
        if zt.grad is None:
            t.fail("z.grad is None after backward(): the output does not depend on z", "detached")
        t.compare(zt.grad, _np(z_ref.grad), what="grad of z", **_F32,
                  alternatives=[("kink_convention", g * (z >= 0)),
                                ("kink_convention", g * (z > 0) + 0.5 * g * (z == 0))])


# ---- turn 3 -----------------------------------------------------------------------------------
@exercise.task(
    "my_mse", goal="the mean squared error, mean((prediction − target)²) over every element, "
                   "from tensor operations",
    hint="Subtract, square, and average over every element. The result is one number (a 0-d "
         "tensor) that backward can start from.",
    hints=_hints(
        summed=("the squared errors added up instead of averaged",
                "Your loss grows with the number of elements: it adds the squared errors up. "
                "The *mean* squared error divides by how many there are (nn.MSELoss's default, "
                "reduction='mean'; 'sum' is the other choice)."),
        per_row=("divided by the number of rows, not of elements",
                 "With more than one output per sample, the mean runs over *every* element: "
                 "divide by prediction's total number of entries, not by its first dimension."),
        halved=("half the mean squared error",
                "Some texts put a ½ in front so that the derivative loses its 2; nn.MSELoss and "
                "PyTorch's do not."),
        not_squared=("the errors averaged without squaring",
                     "Positive and negative errors must not cancel: square each before "
                     "averaging."),
        absolute=("the mean absolute error (L1), not the squared one",
                  "That is the mean *absolute* error; this turn asks for the squared one."),
        not_reduced=("a loss that is not a single number",
                     "A loss is one number: reduce the squared errors to their mean over every "
                     "element (no axis).")),
    reference=_reference_my_mse)
def _check_mse(t, answer):
    rng = np.random.default_rng(53)
    for shape in ((4, 1), (3, 2)):
        pred, target = np.round(rng.normal(size=shape), 2), np.round(rng.normal(size=shape), 2)
        t.case(f"prediction and target of shape {shape}: the loss, against nn.MSELoss's")
        pt, tt, p_ref = _t(pred, grad=True), _t(target), _t(pred, grad=True)
        loss = _tensor_out(t, _from_primitives(t, answer, pt, tt, what="my_mse(...)"),
                           "the loss")
        _library_graph(t, loss, "the loss")
        _unchanged(t, pt, pred.astype(np.float32), "prediction")
        _unchanged(t, tt, target.astype(np.float32), "target")
        expected = nn.MSELoss()(p_ref, _t(target))
        d = pred - target
        t.compare(loss, _np(expected), what="loss", **_F32,
                  alternatives={"summed": np.sum(d ** 2),
                                "per_row": np.sum(d ** 2) / shape[0] if shape[1] > 1 else None,
                                "halved": 0.5 * np.mean(d ** 2), "not_squared": np.mean(d),
                                "absolute": np.mean(np.abs(d))})
        t.case(f"prediction and target of shape {shape}: the gradient with respect to the "
               "prediction, against nn.MSELoss's")
        t.call(loss.backward)
        expected.backward()
        t.compare(pt.grad, _np(p_ref.grad), what="grad of prediction", **_F32)


# ---- turn 4 -----------------------------------------------------------------------------------
def _params():
    return (_t([[0.4, -1.2, 2.0], [1.5, 0.25, -0.8]], grad=True),
            _t([0.3, -0.6, 0.9], grad=True),
            _t([1.0, 2.0], grad=True))                 # takes no part in the loss


def _loss(p1, p2):
    c = _t([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    return (p1 * c).sum() + (p2 * p2 * p2).sum()


def _clones(params):
    return [p.detach().clone().requires_grad_() for p in params]


@exercise.task(
    "MySGD", kind="class",
    goal="plain gradient descent: step() moves each parameter by −lr·grad, in place and "
         "unrecorded; zero_grad() clears the gradients",
    hint="Keep the parameters in a list. step() changes each parameter tensor itself (in place) "
         "with recording switched off, and skips parameters whose .grad is None; zero_grad() "
         "makes the next backward start from nothing.",
    hints=_hints(
        negated=("a step uphill",
                 "Your step went up the gradient, which makes the loss larger. Gradient descent "
                 "moves *against* the gradient."),
        no_update=("the parameters left unchanged",
                   "After step() the parameter tensors still hold their old numbers. The update "
                   "has to change the tensors the optimizer was given (in place, `-=`); binding "
                   "a name to a new tensor changes nothing outside your method."),
        update_recorded=("an update that autograd would record",
                         "Changing a leaf that requires grad while autograd records would make "
                         "the update part of the next step's graph, so autogradkit refuses (as "
                         "PyTorch does). The update is not part of the model: do it inside "
                         "`with ag.no_grad():`."),
        graph_recorded=("the update recorded in the graph",
                        "After step() a parameter has a grad_fn: the update itself became part "
                        "of a graph. Do the update in place with recording switched off."),
        none_grad=("a parameter without a gradient not skipped",
                   "A parameter that took no part in the loss has .grad None after backward(): "
                   "skip it in step() and in zero_grad()."),
        params_generator=("a generator of parameters kept, empty after the first step",
                          "model.parameters() of an nn.Module is a generator: it can be walked "
                          "through once. Keep `list(params)`, or every step after the first "
                          "finds no parameters at all.")),
    reference=_reference_MySGD)
def _check_sgd(t, answer):
    lr = 0.1
    mine = _params()
    theirs = _clones(mine)
    t.case(f"MySGD([p1, p2, p3], lr={lr}): one step() after backward(), against optim.SGD "
           "(p3 took no part in the loss: its .grad is None)")
    opt = _from_primitives(t, answer, list(mine), lr=lr, what="MySGD(...)")
    ref = optim.SGD(theirs, lr=lr)
    start = [_np(p) for p in mine]
    _loss(*mine[:2]).backward()
    _loss(*theirs[:2]).backward()
    grads = [_np(p.grad) for p in mine[:2]]
    _from_primitives(t, opt.step, what="step()")
    ref.step()
    for name, p, q, s, g in zip(("p1", "p2"), mine, theirs, start, grads):
        if p.grad_fn is not None or not p.requires_grad:
            t.fail(f"after step(), {name} has grad_fn "
                   f"{p.grad_fn.name() if p.grad_fn else None} and requires_grad="
                   f"{p.requires_grad}", "graph_recorded")
        if np.array_equal(_np(p), s):
            t.fail(f"{name} did not change in step()", "no_update")
        t.compare(p, _np(q), what=name, **_F32, alternatives={"negated": s + lr * g})
    t.compare(mine[2], start[2], what="p3 (it has no gradient)", **_F32)

    t.case("zero_grad() (p3 still has no gradient)")
    _from_primitives(t, opt.zero_grad, what="zero_grad()")
    for name, p in zip(("p1", "p2"), mine):
        if p.grad is not None and np.any(p.grad.numpy()):
            t.fail(f"after zero_grad(), {name}.grad still holds "
                   f"{np.round(p.grad.numpy(), 4).tolist()}", "forgot_zero_grad")

    t.case("a second backward() and step(), against optim.SGD")
    ref.zero_grad()
    _loss(*mine[:2]).backward()
    _loss(*theirs[:2]).backward()
    _from_primitives(t, opt.step, what="step()")
    ref.step()
    for name, p, q in zip(("p1", "p2"), mine, theirs):
        t.compare(p, _np(q), what=name, **_F32)

    lr = 0.05
    t.case(f"MySGD(a generator of parameters, lr={lr}), as `model.parameters()` gives: two "
           "steps, against optim.SGD")
    mine, theirs = _params()[:2], _params()[:2]
    opt = _from_primitives(t, answer, (p for p in mine), lr=lr, what="MySGD(...)")
    ref = optim.SGD(theirs, lr=lr)
    for k in (1, 2):
        before = [_np(p) for p in mine]
        for ps in (mine, theirs):
            for p in ps:
                p.grad = None
            _loss(*ps).backward()
        _from_primitives(t, opt.step, what="step()")
        ref.step()
        if k == 2 and all(np.array_equal(_np(p), b) for p, b in zip(mine, before)):
            t.fail("the second step() changed nothing", "params_generator")
        for name, p, q in zip(("p1", "p2"), mine, theirs):
            t.compare(p, _np(q), what=f"{name} after step {k}", **_F32)


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
