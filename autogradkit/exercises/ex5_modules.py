"""Exercise 5 (chapter 5): modules, a loss and an optimizer rebuilt — ReLU, MSELoss, Linear, SGD.

The learner's classes are built on autogradkit (``nn.Module``, ``nn.Parameter``, tensor ops), so
the checks run them forward, call ``backward()`` and compare values and gradients with numpy.
"""
from __future__ import annotations

import math

import numpy as np

import autogradkit as ag
from autogradkit import nn

from .core import Exercise

exercise = Exercise("ex5_modules", "Exercise 5: modules, losses and optimizers, rebuilt", chapter=5)

_F32 = dict(rtol=1e-5, atol=1e-6)        # float32 answers against float64 arithmetic


def _t(array, grad=False):
    return ag.tensor(np.asarray(array, dtype=np.float32), requires_grad=grad)


def _as_tensor_out(t, out, what):
    if not isinstance(out, ag.Tensor):
        t.fail(f"{what} is {'None' if out is None else 'a ' + type(out).__name__}, not an "
               "autogradkit tensor", hint="Build the result from autogradkit tensor operations, "
               "so that it is a tensor and autograd can trace it.")
    if out.grad_fn is None:
        t.fail(f"{what} has no grad_fn: it is not connected to the graph of its input, so "
               "backward() cannot reach the input", "detached")
    return out


_DETACHED = ("an output cut off from the graph",
             "Somewhere the computation left autogradkit's tensors (numpy, .data, .item(), "
             "a new tensor(...)): autograd only sees operations on tensors.")
_INPUT_CHANGED = ("an input changed in place",
                  "A module's forward must leave its input as it was; compute a new tensor.")


def _backward_with(out, g):
    """backward() from ``out`` with upstream gradient ḡ = g (through L = sum(out · g))."""
    (out * _t(g)).sum().backward()


def _input_unchanged(t, x, before, name="input"):
    if not np.array_equal(x.detach().numpy(), before):
        t.fail(f"your forward changed its {name} in place", "input_changed")


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "ReLU", kind="class", goal="a ReLU module: max(x, 0) elementwise, with relu′(0) = 0",
    hint="relu keeps positive entries and replaces the others by 0. Use tensor operations so "
         "that backward works, and check what your choice does exactly at 0.",
    hints={"kept_negative": ("the negative part kept instead of the positive part",
                             "Your output keeps the entries below zero and drops the others."),
           "kink_convention": ("a different derivative at the kink x = 0",
                               "relu has no derivative at exactly 0; frameworks pick one, and "
                               "autogradkit and PyTorch use relu′(0) = 0. Your gradient at 0 is "
                               "different: which comparison or function decides what happens "
                               "at exactly 0?"),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_relu(t, answer):
    t.case("constructing ReLU()")
    module = t.call(answer)
    rng = np.random.default_rng(11)
    for description, x in (("x = [−2, −0.5, 0, 0.5, 3]", np.array([-2.0, -0.5, 0.0, 0.5, 3.0])),
                           ("x of shape (3, 4) with a zero in it",
                            np.where(np.arange(12).reshape(3, 4) == 5, 0.0,
                                     np.round(rng.normal(size=(3, 4)), 2)))):
        t.case(f"{description}: the output")
        xt = _t(x, grad=True)
        before = xt.detach().numpy().copy()
        out = _as_tensor_out(t, t.call(module, xt), "the output")
        _input_unchanged(t, xt, before)
        t.compare(out, np.maximum(x, 0), what="output", **_F32,
                  alternatives={"kept_negative": np.minimum(x, 0)})
        t.case(f"{description}: the gradient, ḡ = 1, 2, 3, …")
        g = np.arange(1, x.size + 1, dtype=np.float64).reshape(x.shape)
        t.call(_backward_with, out, g)
        got = xt.grad
        if got is None:
            t.fail("x.grad is None after backward(): the output does not depend on x", "detached")
        right = g * (x > 0)
        t.compare(got, right, what="grad of x", **_F32,
                  alternatives=[("kink_convention", g * (x >= 0)),
                                ("kink_convention", g * (x > 0) + 0.5 * g * (x == 0))])


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "MSELoss", kind="class", goal="the mean squared error, L = mean((pred − target)²)",
    hint="Subtract, square, and average over every element. The result is one number (a 0-d "
         "tensor) that backward can start from.",
    hints={"summed": ("the squared errors added up instead of averaged",
                      "Your loss grows with the number of elements: it adds the squared errors "
                      "up. The *mean* squared error divides by how many there are."),
           "not_squared": ("the errors averaged without squaring",
                           "Positive and negative errors must not cancel: each one is squared "
                           "before averaging."),
           "absolute": ("the mean absolute error (L1), not the squared one",
                        "That is the mean *absolute* error; this task asks for the squared one."),
           "unsummed_broadcast": ("a loss that is not a single number",
                                  "A loss is one number: reduce the per-element errors to "
                                  "their mean."),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_mse(t, answer):
    t.case("constructing MSELoss()")
    criterion = t.call(answer)
    rng = np.random.default_rng(12)
    for shape in ((4, 1), (3, 2)):
        pred, target = np.round(rng.normal(size=shape), 2), np.round(rng.normal(size=shape), 2)
        t.case(f"pred and target of shape {shape}: the loss")
        pt, tt = _t(pred, grad=True), _t(target)
        before = (pt.detach().numpy().copy(), tt.detach().numpy().copy())
        loss = _as_tensor_out(t, t.call(criterion, pt, tt), "the loss")
        _input_unchanged(t, pt, before[0], "pred")
        _input_unchanged(t, tt, before[1], "target")
        d = pred - target
        t.compare(loss, np.mean(d ** 2), what="loss", **_F32,
                  alternatives={"summed": np.sum(d ** 2), "not_squared": np.mean(d),
                                "absolute": np.mean(np.abs(d))})
        t.case(f"pred and target of shape {shape}: the gradient of the loss")
        t.call(loss.backward)
        t.compare(pt.grad, 2 * d / d.size, what="grad of pred", **_F32)


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "Linear", kind="class", goal="a Linear layer: y = x @ Wᵀ + b, parameters registered and initialised",
    hint="Give the module two nn.Parameter attributes, weight of shape (out_features, "
         "in_features) and bias of shape (out_features,), drawn uniformly from ±1/√in_features; "
         "forward multiplies by the transposed weight and adds the bias.",
    hints={"transposed": ("the weight stored transposed",
                          "PyTorch and autogradkit store a Linear weight as (out_features, "
                          "in_features): one row per output."),
           "no_bias": ("the bias left out of forward",
                       "Your output matches x @ Wᵀ but not x @ Wᵀ + b."),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_linear(t, answer):
    n_in, n_out = 4, 3
    t.case(f"constructing Linear({n_in}, {n_out})")
    ag.manual_seed(0)                    # the same initial weights every time the check runs
    layer = t.call(answer, n_in, n_out)
    if not isinstance(layer, nn.Module):
        t.fail("Linear should be an nn.Module (class Linear(nn.Module)) so that its parameters "
               "are found by .parameters()")
    t.case("its parameters: names, shapes, requires_grad")
    params = dict(layer.named_parameters())
    for name, shape in (("weight", (n_out, n_in)), ("bias", (n_out,))):
        if name not in params:
            found = ", ".join(params) or "none"
            t.fail(f"no parameter called {name!r} (found: {found})", hint="Assign "
                   "nn.Parameter(...) objects to self.weight and self.bias, so that the module "
                   "registers them.")
        p = params[name]
        if tuple(p.shape) != shape:
            key = "transposed" if tuple(p.shape) == shape[::-1] else None
            t.fail(f"{name} has shape {tuple(p.shape)}, expected {shape}", key)
        if not p.requires_grad:
            t.fail(f"{name} does not require grad")
    t.case(f"the initial values: uniform in ±1/√{n_in} = ±{1 / math.sqrt(n_in):g}")
    W, b = (params[n].detach().numpy().astype(np.float64) for n in ("weight", "bias"))
    bound = 1 / math.sqrt(n_in) + 1e-6
    for name, v in (("weight", W), ("bias", b)):
        if np.abs(v).max() > bound:
            t.fail(f"{name} has an entry {v.flat[np.abs(v).argmax()]:.4g} outside ±{bound:.4g}")
        if np.all(v == v.flat[0]):
            t.fail(f"all entries of {name} start with the same value {v.flat[0]:g}",
                   hint="Draw the initial values at random: units that start equal receive equal "
                   "gradients and stay equal.")
    rng = np.random.default_rng(13)
    x = np.round(rng.normal(size=(5, n_in)), 2)
    t.case("forward on x of shape (5, 4)")
    xt = _t(x, grad=True)
    before = xt.detach().numpy().copy()
    out = _as_tensor_out(t, t.call(layer, xt), "the output")
    _input_unchanged(t, xt, before)
    t.compare(out, x @ W.T + b, what="output", **_F32, alternatives={"no_bias": x @ W.T})
    t.case("backward with ḡ of shape (5, 3)")
    g = np.round(rng.normal(size=(5, n_out)), 2)
    t.call(_backward_with, out, g)
    for name, right in (("weight", g.T @ x), ("bias", g.sum(0))):
        t.compare(params[name].grad, right, what=f"grad of {name}", **_F32)
    t.compare(xt.grad, g @ W, what="grad of x", **_F32)


# ---- task 4 -----------------------------------------------------------------------------------
def _params():
    p1 = _t([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], grad=True)
    p2 = _t([0.3, -0.6, 0.9], grad=True)
    p3 = _t([1.0, 2.0], grad=True)                 # gets no gradient
    return p1, p2, p3


def _loss(p1, p2):
    c = _t([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    return (p1 * c).sum() + (p2 * p2).sum()


@exercise.task(
    "SGD", kind="class", goal="plain gradient descent: step() moves each parameter by −lr · grad, "
    "zero_grad() clears the gradients",
    hint="step() changes each parameter tensor itself (in place), with graph recording switched "
         "off, and skips parameters that have no gradient; zero_grad() makes the next backward "
         "start from nothing.",
    hints={"negated": ("a step uphill",
                       "Your step went up the gradient, which makes the loss larger. Gradient "
                       "descent moves against the gradient."),
           "no_update": ("the parameters left unchanged",
                         "After step() the parameter tensors still hold their old numbers. The "
                         "update has to change the tensors the optimizer was given (in place); "
                         "binding a name to a new tensor changes nothing outside your method."),
           "graph_recorded": ("the update recorded in the graph",
                              "After step() a parameter has a grad_fn: the update itself became "
                              "part of a graph. Do the update with recording switched off.")})
def _check_sgd(t, answer):
    lr = 0.1
    p1, p2, p3 = _params()
    t.case(f"constructing SGD([p1, p2, p3], lr={lr})")
    opt = t.call(answer, [p1, p2, p3], lr=lr)
    start = [p.detach().numpy().astype(np.float64).copy() for p in (p1, p2, p3)]
    _loss(p1, p2).backward()
    grads = [p1.grad.numpy().astype(np.float64), p2.grad.numpy().astype(np.float64)]
    t.case("one step() (p3 got no gradient: its .grad is None)")
    t.call(opt.step)
    for name, p, s, g in (("p1", p1, start[0], grads[0]), ("p2", p2, start[1], grads[1])):
        if p.grad_fn is not None or not p.requires_grad:
            t.fail(f"after step(), {name} has grad_fn {p.grad_fn.name() if p.grad_fn else None} and "
                   f"requires_grad={p.requires_grad}", "graph_recorded")
        now = p.detach().numpy()
        if np.array_equal(now, s):
            t.fail(f"{name} did not change in step()", "no_update")
        t.compare(now, s - lr * g, what=name, **_F32, alternatives={"negated": s + lr * g})
    t.compare(p3, start[2], what="p3 (it has no gradient)", **_F32)
    t.case("zero_grad()")
    t.call(opt.zero_grad)
    for name, p in (("p1", p1), ("p2", p2)):
        if p.grad is not None and np.any(p.grad.numpy()):
            t.fail(f"after zero_grad(), {name}.grad still holds {np.round(p.grad.numpy(), 4).tolist()}",
                   "forgot_zero_grad")
    t.case("a second backward() and step()")
    after_one = [p.detach().numpy().astype(np.float64).copy() for p in (p1, p2)]
    _loss(p1, p2).backward()
    g2 = [p1.grad.numpy().astype(np.float64), p2.grad.numpy().astype(np.float64)]
    t.call(opt.step)
    for name, p, s, g in (("p1", p1, after_one[0], g2[0]), ("p2", p2, after_one[1], g2[1])):
        t.compare(p, s - lr * g, what=name, **_F32)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
