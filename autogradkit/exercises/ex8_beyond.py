"""Exercise 8 (chapter 8, beyond the basics): a custom autograd Function, detach, gradient hooks.

``Softplus`` must be an ``autograd.Function`` whose own ``backward`` does the work: the checks
look at its ``grad_fn`` (the learner's ``SoftplusBackward`` node), compare values and gradients
with numpy (also far out, where a naive formula overflows), and run ``autograd.gradcheck`` at
several points including x = 0. ``td_target`` must give a constant target (no ``grad_fn``)
without switching gradients off for good or freezing the network. ``clip_grad_hook`` is checked
through the gradient a leaf receives, before and after its handle is removed.
"""
from __future__ import annotations

import inspect

import numpy as np

import autogradkit as ag
from autogradkit import nn
from autogradkit.autograd import Function, gradcheck
from autogradkit.autograd.function import CustomNode

from .core import Exercise
from .guards import watching

exercise = Exercise("ex8_beyond", "Exercise 8: beyond the basics — custom Functions, detach, hooks",
                    chapter=8)


def _t64(a, grad=True):
    return ag.tensor(np.asarray(a, dtype=np.float64), dtype=ag.float64, requires_grad=grad)


def _sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


_OVERFLOW = ("an overflow far from 0",
             "exp(x) overflows to inf for large x (and 1 + exp(x) rounds to 1 for very negative "
             "x). Rewrite softplus so that exp only ever sees a number ≤ 0 — split off the "
             "positive part of x — and do the same for its derivative.")


# ---- task 1 -----------------------------------------------------------------------------------
def _without_library(t, fn, *args):
    """``t.call(fn, *args)``, failing when it calls the library's own softplus."""
    value, used = t.call(watching(fn, ("autogradkit.nn.activations",)), *args)
    if used:
        t.fail(f"your Softplus called {used}", "used_library")
    return value


@exercise.task(
    "Softplus", kind="class",
    goal="an autograd.Function for softplus(x) = log(1 + eᵡ), stable, with its own backward",
    hint="forward computes the values (and saves what backward needs with ctx.save_for_backward); "
         "backward multiplies the upstream gradient by softplus′(x), which is the sigmoid of x.",
    hints={"not_function": ("not a custom autograd.Function",
                            "Softplus must subclass autograd.Function and define forward(ctx, x) "
                            "and backward(ctx, grad_output) as static methods; it is used as "
                            "Softplus.apply(x)."),
           "not_custom": ("the gradient comes from somewhere else",
                          "The output's grad_fn must be your own SoftplusBackward node, so that "
                          "your backward is the one autograd runs. Return the result of "
                          "forward; call the op through Softplus.apply."),
           "overflow": _OVERFLOW,
           "used_library": ("autogradkit's own softplus doing the work",
                            "F.softplus, nn.Softplus and F.logsigmoid are what this task "
                            "rebuilds: compute the values and the derivative yourself, with "
                            "tensor (or numpy) operations."),
           "forgot_upstream": ("the upstream gradient left out",
                               "backward returns ∂L/∂x, which is grad_output times the local "
                               "derivative, not the local derivative alone."),
           "mirrored": ("the derivative of softplus(−x)",
                        "The slope of softplus goes from 0 (far left) to 1 (far right); yours "
                        "goes the other way. Check the sign inside your sigmoid.")})
def _check_softplus(t, answer):
    t.case("Softplus is an autograd.Function")
    if not (inspect.isclass(answer) and issubclass(answer, Function)):
        t.fail("Softplus does not subclass autograd.Function", "not_function")
    x = np.array([-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0])
    t.case("forward: x = [−30, −2, −0.5, 0, 0.5, 2, 30]")
    xt = _t64(x)
    y = _without_library(t, answer.apply, xt)
    if not isinstance(y, ag.Tensor):
        t.fail(f"Softplus.apply returned {type(y).__name__}, expected a tensor", "not_function")
    t.compare(y.detach().numpy(), np.logaddexp(0, x), what="softplus(x)", rtol=1e-7, atol=1e-12)
    t.case("the output's grad_fn")
    node = y.grad_fn
    name = node.name() if node is not None else None
    if not isinstance(node, CustomNode) or name != f"{answer.__name__}Backward":
        t.fail(f"the output's grad_fn is {name!r}, expected {answer.__name__ + 'Backward'!r}",
               "not_custom")
    t.case("backward with an upstream gradient ḡ = [1, −2, 0.5, 3, −1, 2, 0.25]")
    g = np.array([1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25])
    _without_library(t, lambda: y.backward(_t64(g, grad=False)))
    if xt.grad is None:
        t.fail("x.grad is None after backward", "not_custom")
    t.compare(xt.grad.numpy(), g * _sigmoid(x), what="grad of x", rtol=1e-7, atol=1e-12,
              alternatives={"forgot_upstream": _sigmoid(x), "mirrored": g * _sigmoid(-x)})
    far = np.array([-800.0, -40.0, 40.0, 800.0])
    t.case("far from 0: x = [−800, −40, 40, 800], values and gradients")
    xt = _t64(far)
    y = _without_library(t, answer.apply, xt)
    values = y.detach().numpy()
    if not np.all(np.isfinite(values)):
        t.fail(f"softplus(x) = {values.tolist()} is not finite", "overflow")
    t.compare(values, np.logaddexp(0, far), what="softplus(x)", rtol=1e-7, atol=1e-12)
    t.call(lambda: y.sum().backward())
    grad = xt.grad.numpy()
    if not np.all(np.isfinite(grad)):
        t.fail(f"grad of x = {grad.tolist()} is not finite", "overflow")
    t.compare(grad, _sigmoid(far), what="grad of x", rtol=1e-7, atol=1e-12)
    for point in ([0.0], [-3.0, -0.7, 0.0, 1e-3, 0.7, 4.0], [[0.0, 1.5], [-1.5, 10.0]]):
        t.case(f"autograd.gradcheck (backward against central differences) at x = {point}")
        ok = t.call(gradcheck, answer.apply, (_t64(point),), raise_exception=False)
        if not ok:
            t.fail("your backward's gradients do not match central differences of your forward")


# ---- task 2 -----------------------------------------------------------------------------------
def _net(seed):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


@exercise.task(
    "td_target", goal="reward + gamma · net(next_x), as a constant: no gradient flows into it",
    hint="Compute the target from the network's output, then cut it from the graph (or compute "
         "it where no graph is recorded), so that the loss treats it as a fixed number.",
    hints={"not_detached": ("a target still connected to the graph",
                            "Gradients would flow into the target too and pull it towards the "
                            "prediction. Return a tensor with no history: cut it off the graph."),
           "grad_mode_left_off": ("gradients switched off for good",
                                  "After your function returns, autograd must still record "
                                  "operations. Switch recording off only for the target's "
                                  "computation (a `with` block), not globally."),
           "froze_params": ("the network frozen",
                            "Don't change the network's parameters (requires_grad included): "
                            "only the target must be constant, the prediction still trains.")})
def _check_td_target(t, answer):
    rng = np.random.default_rng(80)
    for seed, gamma in ((0, 0.9), (1, 0.5)):
        x = ag.tensor(np.round(rng.normal(size=(5, 3)), 2).astype(np.float32))
        next_x = ag.tensor(np.round(rng.normal(size=(5, 3)), 2).astype(np.float32))
        reward = ag.tensor(np.round(rng.normal(size=(5, 1)), 2).astype(np.float32))
        t.case(f"a batch of 5, gamma = {gamma}: the target")
        net = _net(seed)
        target = t.call(answer, net, next_x, reward, gamma)
        _judge_target(t, target, net, seed, next_x, reward, gamma)
        t.case(f"a batch of 5, gamma = {gamma}: the parameters' gradients of mse(net(x), target)")
        t.call(lambda: ((net(x) - target) ** 2).mean().backward())
        _judge_target_grads(t, net, seed, x, next_x, reward, gamma)


def _right_target(seed, next_x, reward, gamma):
    """The right target, from a fresh network with the same seed — computed only after the
    learner's code returned, in a frame of its own."""
    with ag.no_grad():
        return (reward + gamma * _net(seed)(next_x)).numpy()


def _judge_target(t, target, net, seed, next_x, reward, gamma):
    if not ag.is_grad_enabled():
        ag.set_grad_enabled(True)
        t.fail("gradient recording is off after td_target returned", "grad_mode_left_off")
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    if frozen:
        t.fail(f"{', '.join(frozen)} no longer require grad", "froze_params")
    if not isinstance(target, ag.Tensor):
        t.fail(f"td_target returned {type(target).__name__}, expected a tensor",
               hint="Return an autogradkit tensor of shape (batch, 1).")
    if target.grad_fn is not None or target.requires_grad:
        name = target.grad_fn.name() if target.grad_fn is not None else None
        t.fail(f"the target has grad_fn {name!r} (requires_grad={target.requires_grad}), "
               "expected none", "not_detached")
    t.compare(target, _right_target(seed, next_x, reward, gamma), what="target", rtol=1e-5,
              atol=1e-6)


def _judge_target_grads(t, net, seed, x, next_x, reward, gamma):
    ref = _net(seed)
    want = _right_target(seed, next_x, reward, gamma)
    ((ref(x) - ag.tensor(want)) ** 2).mean().backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        t.compare(p.grad, q.grad, what=f"grad of {name}", rtol=1e-5, atol=1e-6)


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "clip_grad_hook", goal="register a hook on t that clamps its gradient to [−limit, limit]",
    hint="A tensor hook is a function of the gradient; what it returns replaces the gradient. "
         "Register one on t that clamps elementwise, and return the handle register_hook gives.",
    hints={"no_handle": ("no handle returned",
                         "Return what register_hook returns: the caller needs its .remove() to "
                         "take the hook off again."),
           "not_clipped": ("the gradient was not clipped",
                           "The gradient arrived unchanged. A hook changes the gradient only "
                           "through its return value; one that returns nothing leaves it as it "
                           "was."),
           "one_sided": ("clipped on one side only",
                         "Clamp to both bounds: large negative gradients must become −limit."),
           "changed_value": ("the tensor's values changed",
                             "Clip the gradient, not the tensor: t's own numbers stay as they "
                             "were."),
           "not_removed": ("the hook stays after remove()",
                           "After handle.remove() the gradient must come through unclipped: "
                           "return the handle of the hook you registered.")})
def _check_clip_grad_hook(t, answer):
    w = np.array([[3.0, -0.2, 0.5], [-7.0, 1.0, 0.99]])
    values = np.array([[10.0, -4.0, 0.3], [2.0, -1.5, 0.0]])
    for limit in (1.0, 0.4):
        t.case(f"limit = {limit}: t.grad after (t · w).sum().backward(), w = {w.tolist()}")
        x = _t64(values)
        handle = t.call(answer, x, limit)
        if not callable(getattr(handle, "remove", None)):
            t.fail(f"clip_grad_hook returned {type(handle).__name__}, expected the hook's handle",
                   "no_handle")
        t.call(lambda: (x * _t64(w, grad=False)).sum().backward())
        if not np.array_equal(x.detach().numpy(), values):
            t.fail("t's values changed", "changed_value")
        if x.grad is None:
            t.fail("t.grad is None after backward", "not_clipped")
        t.compare(x.grad, np.clip(w, -limit, limit), what="t.grad",
                  alternatives={"not_clipped": w, "one_sided": np.minimum(w, limit)})
        t.case(f"limit = {limit}: after handle.remove(), a second backward")
        t.call(handle.remove)
        x.grad = None
        t.call(lambda: (x * _t64(w, grad=False)).sum().backward())
        t.compare(x.grad, w, what="t.grad", alternatives={"not_removed": np.clip(w, -limit, limit)})


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
