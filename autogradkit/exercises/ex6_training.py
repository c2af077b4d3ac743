"""Exercise 6 (chapter 6): the article's training example, written by the learner.

The network is the article's ``Net`` (Linear(10, 20) → relu → Linear(20, 1)) on its data,
``x = randn(100, 10)``, ``y = randn(100, 1)``, both seeded exactly as
``autogradkit.examples.article.train`` seeds them. Every check builds its own network and data,
so nothing the learner holds is touched.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag
from autogradkit import nn, optim
from autogradkit.examples.article import Net, make_data

from .core import Exercise

exercise = Exercise("ex6_training", "Exercise 6: training the article's network", chapter=6)

GOAL_LOSS = 0.2          # task 4: the loss to get below …
BUDGET = 1000            # … with at most this many forward passes (the article's 1000 epochs)
_F32 = dict(rtol=1e-4, atol=1e-6)


def _setup():
    """The article's network and data, as ``article.train`` makes them (seed 0)."""
    ag.manual_seed(0)
    net = Net()
    x, y = make_data(1)
    return net, x, y


def _numbers(p):
    return p.detach().numpy().astype(np.float64).copy()


def _mse(net, x, y):
    return nn.MSELoss()(net(x), y)


_SUMMED = ("the squared errors added up instead of averaged",
           "Your loss is as many times too large as there are samples: the article's MSELoss "
           "averages the squared errors.")


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "compute_loss", goal="the article's loss: the network's predictions against y, by MSE",
    hint="Run the network forward on x and measure the predictions against y with the mean "
         "squared error. Return the loss tensor itself (not a float), so that backward can start "
         "from it.",
    hints={"summed": _SUMMED,
           "detached": ("a loss cut off from the graph",
                        "The loss must be the tensor the computation produced; a float or a new "
                        "tensor has no graph for backward to walk.")})
def _check_compute_loss(t, answer):
    for description, rows in (("the article's data, x of shape (100, 10)", slice(None)),
                              ("the first 7 rows of the data", slice(0, 7))):
        net, x, y = _setup()
        x, y = x[rows].detach(), y[rows].detach()
        t.case(description)
        loss = t.call(answer, net, x, y)
        ref = _mse(net, x, y)
        if isinstance(loss, ag.Tensor) and loss.grad_fn is None:
            t.fail("your loss has no grad_fn, so backward() cannot start from it", "detached")
        pred = net(x).detach().numpy().astype(np.float64)
        d = pred - y.numpy()
        t.compare(loss, ref.item(), what="loss", **_F32,
                  alternatives={"summed": float(np.sum(d ** 2))})
        if not isinstance(loss, ag.Tensor):
            t.fail(f"your loss is a {type(loss).__name__}; return the loss tensor itself",
                   "detached")


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "parameter_gradients", goal="∂L/∂θ for every parameter θ of the network, by backward()",
    hint="Compute the loss, let backward() fill in every parameter's .grad, and collect them in a "
         "dict by parameter name (net.named_parameters()). The function may be called more than "
         "once on the same network.",
    hints={"forgot_zero_grad": ("twice the right gradients: a forgotten zero_grad",
                       "On the second call your gradients are twice as large. backward() adds "
                       "into .grad, and the first call's gradients were still there. Clear them "
                       "before the backward pass.")})
def _check_parameter_gradients(t, answer):
    net, x, y = _setup()
    ref_net, _, _ = _setup()
    _mse(ref_net, x, y).backward()
    right = {name: _numbers(p.grad) for name, p in ref_net.named_parameters()}
    for call in ("first", "second"):
        t.case(f"the {call} call on the same network" + (" (its .grad fields already hold the "
                                                        "first call's gradients)" if call == "second"
                                                        else ""))
        got = t.call(answer, net, x, y)
        if not isinstance(got, dict):
            t.fail(f"expected a dict from parameter names to gradients, got a {type(got).__name__}")
        for name in right:
            if name not in got:
                t.fail(f"no gradient for {name!r} (the parameters are {', '.join(right)})")
            t.compare(got[name], right[name], what=f"grad of {name}", **_F32,
                      alternatives={"forgot_zero_grad": 2 * right[name]})


# ---- task 3 -----------------------------------------------------------------------------------
def _steps(n, zero_grad=True):
    """The reference: parameters and losses after each of n article steps (lr = 0.1)."""
    net, x, y = _setup()
    opt = optim.SGD(net.parameters(), lr=0.1)
    out = []
    for _ in range(n):
        loss = _mse(net, x, y)
        loss.backward()
        opt.step()
        if zero_grad:
            opt.zero_grad()
        out.append((loss.item(), {k: _numbers(p) for k, p in net.named_parameters()}))
    return out


@exercise.task(
    "training_step", goal="one iteration of the article's loop; return the loss as a number",
    hint="One iteration is five lines: forward, loss, backward, step, zero_grad. Return the loss "
         "of this iteration (computed before the step) as a Python float.",
    hints={"forgot_zero_grad": ("a forgotten zero_grad: old gradients are still added in",
                                "From the second step on, your parameters move as if each "
                                "gradient were the sum of this step's and the earlier ones: "
                                "backward() adds into .grad, and nothing cleared it."),
           "no_update": ("the parameters did not move",
                         "After your step the parameters are unchanged. When the optimizer "
                         "steps, the gradients have to be there: check the order of the five "
                         "lines.")},
    time_limit=20.0)
def _check_training_step(t, answer):
    n = 3
    net, x, y = _setup()
    opt = optim.SGD(net.parameters(), lr=0.1)
    right, stale = _steps(n), _steps(n, zero_grad=False)
    start = {k: _numbers(p) for k, p in net.named_parameters()}
    for i in range(n):
        t.case(f"step {i + 1} of {n} on the article's data (SGD, lr = 0.1)")
        got_loss = t.call(answer, net, x, y, opt)
        params = {k: _numbers(p) for k, p in net.named_parameters()}
        if i == 0 and all(np.array_equal(params[k], start[k]) for k in start):
            t.fail("no parameter changed in step 1", "no_update")
        for name, value in params.items():
            t.compare(value, right[i][1][name], what=name, **_F32,
                      alternatives={"forgot_zero_grad": stale[i][1][name]})
        t.compare(got_loss, right[i][0], what=f"the loss returned by step {i + 1}", **_F32)


# ---- task 4 -----------------------------------------------------------------------------------
class _CountingNet(Net):
    """The article's Net, counting how often it is run forward (the training budget)."""

    def __init__(self):
        super().__init__()
        self.forward_calls = 0

    def forward(self, x):
        self.forward_calls += 1
        return super().forward(x)


_CountingNet.__name__ = _CountingNet.__qualname__ = "Net"


@exercise.task(
    "fit", goal=f"train the article's network to a loss below {GOAL_LOSS} in at most {BUDGET} "
    "forward passes",
    hint="Start from the article's loop and watch the loss it reaches.",
    hints={"over_budget": ("more forward passes than the budget",
                           f"The goal must be reached within {BUDGET} forward passes of the "
                           "network — as many as the article's 1000 epochs."),
           "not_trained": ("the network it was given is untouched",
                           "fit must train the network it receives (in place), not a copy of "
                           "it or a new one."),
           "nan": ("a training run that blew up",
                   "The loss became nan or infinite: the steps were so large that the weights "
                   "overshot and grew without bound. Try smaller steps."),
           "too_slow": ("a loss still too high",
                        "Your training lowers the loss, but not far enough within the budget. Is "
                        "the loss still falling steadily at the end? Then each step is more "
                        "cautious than it needs to be.")},
    time_limit=60.0)
def _check_fit(t, answer):
    ag.manual_seed(0)
    net = _CountingNet()
    x, y = make_data(1)
    x_eval, y_eval = x.clone(), y.clone()
    start = {k: _numbers(p) for k, p in net.named_parameters()}
    with ag.no_grad():
        first = _mse(net, x_eval, y_eval).item()
    net.forward_calls = 0
    t.case(f"the article's network and data; goal: loss < {GOAL_LOSS} within {BUDGET} forward "
           f"passes (the loss starts at {first:.4f})")
    t.call(answer, net, x, y)
    calls = net.forward_calls
    if calls > BUDGET:
        t.fail(f"your fit ran the network forward {calls} times; the budget is {BUDGET}",
               "over_budget")
    if all(np.array_equal(_numbers(p), start[k]) for k, p in net.named_parameters()):
        t.fail("after fit, the network's parameters are exactly as they were", "not_trained")
    with ag.no_grad():
        final = _mse(net, x_eval, y_eval).item()
    if not np.isfinite(final):
        t.fail(f"after fit, the loss is {final}", "nan")
    if final >= GOAL_LOSS:
        t.fail(f"after fit, the loss is {final:.4f}; the goal is below {GOAL_LOSS}", "too_slow")


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
