"""Exercise 6 (chapter 6): training the article's network beyond the article's loop.

The network is the article's ``Net`` (Linear(10, 20) → relu → Linear(20, 1)). Notebook 6 runs
the article's full-batch loop (1000 epochs, training loss 0.6116) and rebuilds it by hand in
numpy; this exercise asks for what a real training script adds around it: evaluation on held-out
data without recording a graph, gradient clipping by the global norm (PyTorch's
``clip_grad_norm_``), one epoch of shuffled mini-batches from a ``DataLoader``, and a ``fit``
with early stopping that restores the best weights.

Every check builds its own networks, data, loaders and optimizers (float64, seeded), and runs a
reference beside the learner's code, so nothing the learner holds is touched. The whole exercise
is checked in a few seconds.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag
from autogradkit import nn, optim
from autogradkit.data import DataLoader, TensorDataset
from autogradkit.examples.article import Net

from .core import Exercise
from .guards import watching

exercise = Exercise("ex6_training", "Exercise 6: training the article's network, further",
                    chapter=6)

_F64 = dict(rtol=1e-7, atol=1e-10)
EPS = 1e-6                              # PyTorch's clip_grad_norm_: max_norm / (norm + 1e-6)


# ---- networks and data ------------------------------------------------------------------------
class _WatchedNet(Net):
    """The article's Net, noting for every forward pass its batch size and whether autograd
    was recording (so a check can tell evaluation passes from training passes)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append((int(x.shape[0]), ag.is_grad_enabled()))
        return super().forward(x)


_WatchedNet.__name__ = _WatchedNet.__qualname__ = "Net"


def _net(seed, watched=False):
    ag.manual_seed(seed)
    return (_WatchedNet() if watched else Net()).double()


def _article_data():
    """Notebook 6's seeding: manual_seed(0), the network, then x and y (here in float64)."""
    ag.manual_seed(0)
    Net()
    return ag.randn(100, 10).double(), ag.randn(100, 1).double()


def _signal_data(seed, n=100):
    """Targets that do depend on x (a tanh of a random projection, plus noise)."""
    ag.manual_seed(seed + 100)
    x = ag.randn(n, 10, dtype=ag.float64)
    w = ag.randn(10, 1, dtype=ag.float64)
    return x, (x @ w / 3).tanh() + 0.3 * ag.randn(n, 1, dtype=ag.float64)


def _loader(x, y, batch_size, seed):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=np.random.default_rng(seed))


def _numbers(p):
    return p.detach().numpy().astype(np.float64).copy()


def _state(net):
    return {k: _numbers(p) for k, p in net.named_parameters()}


class _CountingSGD(optim.SGD):
    """autogradkit's SGD, counting step() calls (an answer that ignores it is caught)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


_CountingSGD.__name__ = _CountingSGD.__qualname__ = "SGD"


# ---- the reference ------------------------------------------------------------------------------
def _mse(net, x, y):
    return nn.MSELoss()(net(x), y)


def _evaluate(net, x, y):
    with ag.no_grad():
        return _mse(net, x, y).item()


def _clip(params, max_norm, per_parameter=False):
    params = [p for p in params if p.grad is not None]
    norms = [float(np.sqrt(np.sum(_numbers(p.grad) ** 2))) for p in params]
    total = float(np.sqrt(sum(n * n for n in norms)))
    for p, n in zip(params, norms):
        coef = max_norm / ((n if per_parameter else total) + EPS)
        if coef < 1:
            p.grad = p.grad * coef
    return total


def _epoch(net, loader, optimizer, max_norm=None, zero_grad=True, weighted=True):
    """One epoch of mini-batches; returns the mean loss over the samples (or over the batches)."""
    losses, sizes = [], []
    for xb, yb in loader:
        if zero_grad:
            optimizer.zero_grad()
        loss = _mse(net, xb, yb)
        loss.backward()
        if max_norm is not None:
            _clip(net.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
        sizes.append(int(xb.shape[0]))
    if weighted:
        return float(np.dot(losses, sizes) / np.sum(sizes))
    return float(np.mean(losses))


def _stop_after(history, patience, reset=True):
    """How many epochs early stopping runs for, given the full history of held-out losses."""
    best, bad = np.inf, 0
    for epoch, value in enumerate(history, start=1):
        if value < best:
            best = value
            if reset:
                bad = 0
        else:
            bad += 1
            if bad >= patience:
                return epoch
    return len(history)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "evaluate", goal="the mean squared error of net on held-out data, as a float, without "
    "recording a graph",
    hint="Run the network forward on x and measure it against y with the mean squared error, "
         "the way training does, but with graph recording switched off for the whole "
         "computation; return the loss as a Python float. Evaluating must not change the "
         "network, its parameters or their gradients.",
    hints={"graph_recorded": ("a forward pass that records a graph nobody will use",
                              "Evaluation never calls backward(), so recording the graph only "
                              "costs memory and time (and keeps every intermediate result alive). "
                              "Switch recording off around the forward pass."),
           "backward_called": ("gradients computed during evaluation",
                               "After your evaluate the parameters hold gradients: evaluation "
                               "measures the network, it does not compute gradients (a later "
                               "training step would add them into its own)."),
           "summed": ("the squared errors added up instead of averaged",
                      "The loss is the *mean* squared error, like the article's MSELoss."),
           "not_float": ("a tensor where a number was asked for",
                         "Return a Python float: the tensor's single value, read out of it.")})
def _check_evaluate(t, answer):
    x, y = _article_data()
    for description, seed, rows in (
            ("the article's network on notebook 6's data, held-out rows 80 to 99", 0,
             slice(80, 100)),
            ("another network (seed 3) on the first 7 rows", 3, slice(0, 7))):
        net = _net(seed, watched=True)
        start = _state(net)
        xs, ys = x[rows].detach(), y[rows].detach()
        t.case(description)
        got = t.call(answer, net, xs, ys)
        _judge_evaluate(t, got, net, start, seed, xs, ys)


def _judge_evaluate(t, got, net, start, seed, xs, ys):
    """After the learner's evaluate returned: the right loss (a fresh network with the same seed),
    computed only now, in a frame of its own."""
    if any(p.grad is not None for p in net.parameters()):
        t.fail("after your evaluate, the network's parameters have gradients",
               "backward_called")
    if any(grad for _, grad in net.calls):
        t.fail("your evaluate ran the network forward with graph recording on",
               "graph_recorded")
    if any(not np.array_equal(_numbers(p), start[k]) for k, p in net.named_parameters()):
        t.fail("your evaluate changed the network's parameters")
    if isinstance(got, ag.Tensor):
        t.fail(f"your evaluate returned a tensor of shape {tuple(got.shape)}", "not_float")
    with ag.no_grad():
        d = (net(xs) - ys).numpy()
    t.compare(got, _evaluate(_net(seed), xs, ys), what="held-out loss", **_F64,
              alternatives={"summed": float(np.sum(d ** 2))})


# ---- task 2 -----------------------------------------------------------------------------------
def _grad_params(scale):
    """Three float64 parameters whose gradients are fixed numbers times ``scale``, and one
    without a gradient."""
    values = ([[0.5, -1.0], [2.0, 0.25]], [0.3, -0.6, 0.9], [1.5], [1.0, 2.0])
    grads = ([[3.0, -4.0], [1.0, 2.0]], [-2.0, 0.5, 1.0], [6.0])
    ps = [ag.tensor(v, dtype=ag.float64, requires_grad=True) for v in values]
    loss = sum((p * ag.tensor(g, dtype=ag.float64)).sum() for p, g in zip(ps, grads)) * scale
    loss.backward()
    return ps


@exercise.task(
    "clip_grad_norm", goal="PyTorch's clip_grad_norm_: scale all gradients together so that "
    "their global norm is at most max_norm; return the norm before clipping",
    hint="The global norm is the length of all the gradients taken as one long vector: the "
         "square root of the sum of every gradient element squared (parameters without a "
         "gradient are skipped). If it is larger than max_norm, multiply every gradient by "
         "max_norm / (norm + 1e-6), in place; otherwise leave them. `parameters` may be a "
         "generator, which can be walked through only once.",
    hints={"per_parameter": ("each gradient clipped on its own",
                             "clip_grad_norm_ scales every gradient by the *same* factor, from the "
                             "norm of all of them together, so the direction of the whole "
                             "update is kept. Clipping each tensor by its own norm changes the "
                             "direction."),
           "always_rescaled": ("gradients scaled up to max_norm",
                               "Clipping only ever shrinks: when the norm is already at most "
                               "max_norm, the gradients stay as they are."),
           "not_clipped": ("the gradients left as they were",
                           "The norm is above max_norm, yet the parameters' gradients did not "
                           "change. Scale the tensors in .grad themselves (or assign the scaled "
                           "ones to .grad). If you loop over `parameters` twice, note that a "
                           "generator is empty the second time: make a list first."),
           "clipped_norm_returned": ("the norm after clipping returned",
                                     "Like PyTorch, return the total norm *before* clipping: "
                                     "it is what you would log to see how large the "
                                     "gradients were."),
           "squared_norm": ("the squared norm",
                            "The norm is the square root of the sum of squares."),
           "used_library": ("autogradkit's own clip_grad_norm_ doing the work",
                            "nn.utils.clip_grad_norm_ is what this task rebuilds: add up the "
                            "squares yourself and scale the gradients in place.")})
def _check_clip_grad_norm(t, answer):
    for scale, max_norm, what in ((1.0, 2.0, "above max_norm: clipped"),
                                  (0.1, 2.0, "below max_norm: left as they are"),
                                  (10.0, 0.5, "far above max_norm: clipped")):
        ps = _grad_params(scale)
        t.case(f"p0, p1, p2 with gradients of global norm {_norm_text(scale)}, "
               f"max_norm={max_norm} ({what}); p3 without a gradient; the parameters given as a "
               "generator")
        got, used = t.call(watching(answer, ("autogradkit.nn.utils",)), (p for p in ps),
                           max_norm)
        if used:
            t.fail(f"your code called {used}", "used_library")
        _judge_clip(t, got, ps, scale, max_norm)


def _unclipped(scale):
    """The gradients of p0, p1, p2 before clipping, and their global norm."""
    grads = [_numbers(p.grad) for p in _grad_params(scale)[:3]]
    return grads, float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))


def _norm_text(scale):
    return f"{_unclipped(scale)[1]:.4g}"


def _judge_clip(t, got, ps, scale, max_norm):
    """After the learner's function returned: the right gradients and norm, computed only now
    (on fresh parameters), in a frame of its own."""
    ref = _grad_params(scale)
    grads, total = _unclipped(scale)
    right_total = _clip(ref, max_norm)
    if ps[3].grad is not None:
        t.fail("p3, which had no gradient, has one after clipping")
    clipped = [_numbers(p.grad) for p in ref[:3]]
    per = [g * min(1.0, max_norm / (np.sqrt(np.sum(g ** 2)) + EPS)) for g in grads]
    up = [g * max_norm / (total + EPS) for g in grads]
    for i, p in enumerate(ps[:3]):
        wrong = {"per_parameter": per[i] if total > max_norm else None,
                 "always_rescaled": up[i] if total <= max_norm else None,
                 "not_clipped": grads[i] if total > max_norm else None}
        t.compare(p.grad, clipped[i], what=f"grad of p{i}", rtol=1e-9, atol=1e-12,
                  alternatives=wrong)
    t.compare(got, right_total, what="the returned norm", rtol=1e-9, atol=1e-12,
              alternatives={"clipped_norm_returned": min(total, max_norm),
                            "squared_norm": total ** 2})


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "train_epoch", goal="one epoch of shuffled mini-batches from a DataLoader with the given "
    "optimizer, gradients clipped when max_norm is given; return the mean loss over the samples",
    hint="For every batch of the loader (go through it once): clear the gradients, forward, MSE "
         "loss, backward, clip with your clip_grad_norm when max_norm is not None, then the "
         "optimizer's step. Weight each batch's loss by its number of samples, so that the "
         "result is the mean over every sample of the epoch.",
    hints={"ignored_optimizer": ("the optimizer it was given never used",
                                 "train_epoch must step the optimizer it receives: that one "
                                 "holds the settings (learning rate, momentum) and the state "
                                 "(velocities) that carry over from epoch to epoch."),
           "forgot_zero_grad": ("a forgotten zero_grad: old gradients are still added in",
                                "From the second batch on, your parameters move as if each "
                                "gradient were the sum of this batch's and the earlier ones: "
                                "backward() adds into .grad, and nothing cleared it."),
           "unweighted_mean": ("the mean of the batch losses, not the mean over the samples",
                               "The last batch is smaller (100 samples in batches of 32: 32, "
                               "32, 32, 4), so its mean loss counts for fewer samples. Weight "
                               "each batch's loss by its size and divide by the number of "
                               "samples."),
           "not_clipped": ("gradients not clipped before the step",
                           "With max_norm given, clip between backward() and step(): clipping "
                           "after the step changes nothing that step did."),
           "wrong_steps": ("not one optimizer step per batch",
                           "Mini-batch training takes one step for every batch the loader "
                           "gives.")})
def _check_train_epoch(t, answer):
    x, y = _signal_data(2)
    for description, seed, max_norm, epochs in (
            ("one epoch: 100 samples in batches of 32 (32, 32, 32, 4), SGD(lr=0.05, "
             "momentum=0.9)", 4, None, 1),
            ("two epochs in a row with the same network, loader and optimizer (the loader "
             "shuffles anew each time)", 4, None, 2),
            ("max_norm=0.5: every batch's gradients clipped before the step", 5, 0.5, 1)):
        t.case(description)
        net = _net(seed)
        loader = _loader(x, y, 32, seed)
        opt = _CountingSGD(net.parameters(), lr=0.05, momentum=0.9)
        for epoch in range(epochs):
            steps = opt.steps
            got = t.call(answer, net, loader, opt, max_norm)
            if opt.steps == steps:
                t.fail("the optimizer given to train_epoch never took a step",
                       "ignored_optimizer")
            if opt.steps - steps != len(loader):
                t.fail(f"the optimizer took {opt.steps - steps} step(s) in one epoch; the "
                       f"loader gave {len(loader)} batches", "wrong_steps")
        _judge_epochs(t, got, net, seed, x, y, epochs, max_norm)


def _judge_epochs(t, got, net, seed, x, y, epochs, max_norm):
    """After the learner's last epoch: the reference's parameters and loss after ``epochs``
    epochs (a fresh run with the same seed), computed only now, in a frame of its own."""
    state, right = _replay(seed, x, y, epochs, max_norm, weighted=True)
    wrong = {"forgot_zero_grad": _replay(seed, x, y, epochs, max_norm, zero_grad=False)[0],
             "not_clipped": _replay(seed, x, y, epochs, None)[0] if max_norm else None}
    for name, value in _state(net).items():
        t.compare(value, state[name], what=name, **_F64,
                  alternatives={k: (v[name] if v else None) for k, v in wrong.items()})
    t.compare(got, right, what="the returned loss", **_F64,
              alternatives={"unweighted_mean": _replay(seed, x, y, epochs, max_norm)[1]})


def _replay(seed, x, y, epochs, max_norm, zero_grad=True, weighted=False):
    """A fresh reference run of ``epochs`` epochs: the parameters after it, and the last
    epoch's mean loss (over the samples when ``weighted``, else of the batch losses)."""
    net, loader = _net(seed), _loader(x, y, 32, seed)
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(epochs):
        value = _epoch(net, loader, opt, max_norm, zero_grad=zero_grad, weighted=weighted)
    return _state(net), value


# ---- task 4 -----------------------------------------------------------------------------------
def _fit_reference(net, loader, x_val, y_val, optimizer, max_epochs):
    """Every epoch up to max_epochs (no stopping): held-out losses and the state after each."""
    history, states, training = [], [], []
    for _ in range(max_epochs):
        training.append(_epoch(net, loader, optimizer))
        history.append(_evaluate(net, x_val, y_val))
        states.append(_state(net))
    return history, states, training


@exercise.task(
    "fit", goal="train with train_epoch until the held-out loss has not improved for `patience` "
    "epochs; restore the best weights; return the held-out losses",
    hint="After each epoch, evaluate on (x_val, y_val) and keep the list of these losses. When "
         "the loss is lower than the best so far, remember it and a copy of the weights, and "
         "reset the count of epochs without improvement; otherwise add one to it, and stop when "
         "it reaches patience (or after max_epochs). Before returning, put the best weights "
         "back into the network.",
    hints={"not_restored": ("the last epoch's weights kept instead of the best ones",
                            "After stopping, the network must hold the weights of its best "
                            "epoch. Either they were never put back, or the saved copy was not "
                            "a copy: state_dict() shares its numbers with the live parameters, "
                            "so it changes as training goes on — clone each tensor."),
           "never_stopped": ("training ran to max_epochs",
                             "The held-out loss stopped improving long before, but training "
                             "went on: stop once patience epochs in a row bring no improvement."),
           "patience_off_by_one": ("stopped one epoch too early or too late",
                                   "Stop right after the patience-th epoch in a row without "
                                   "improvement: with patience 3 and a best epoch 4, the last "
                                   "epoch run is 7."),
           "no_reset": ("the count of bad epochs never reset",
                        "The count is of epochs *in a row* without improvement: set it back to "
                        "0 whenever the held-out loss reaches a new best."),
           "graph_recorded": ("held-out passes that record a graph",
                              "Evaluate the held-out data with recording switched off (your "
                              "evaluate does)."),
           "ignored_optimizer": ("the optimizer it was given never used",
                                 "fit must train with the optimizer it receives."),
           "training_losses": ("the training losses returned, not the held-out ones",
                               "Return the held-out loss of each epoch: that is what early "
                               "stopping watches.")},
    time_limit=20.0)
def _check_fit(t, answer):
    article_x, article_y = _article_data()
    for description, seed, data, lr, patience, max_epochs in (
            ("the article's network and notebook 6's data (targets that are pure noise), rows "
             "0–79 for training in batches of 16, rows 80–99 held out; SGD(lr=0.01, "
             "momentum=0.9), patience 3, at most 30 epochs", 0, (article_x, article_y), 0.01, 3,
             30),
            ("targets that depend on x, the same split; SGD(lr=0.03, momentum=0.9), patience 3, "
             "at most 30 epochs", 1, _signal_data(1), 0.03, 3, 30)):
        x, y = data
        xt, yt, xv, yv = x[:80], y[:80], x[80:], y[80:]
        net = _net(seed, watched=True)
        opt = _CountingSGD(net.parameters(), lr=lr, momentum=0.9)
        best, n = _fit_plan(seed, xt, yt, xv, yv, lr, patience, max_epochs)
        t.case(f"{description} (the best held-out loss comes at epoch {best + 1}; training "
               f"stops after epoch {n})")
        got = t.call(answer, net, _loader(xt, yt, 16, seed), xv, yv, opt, max_epochs, patience)
        _judge_fit(t, got, net, opt, description, seed, (xt, yt, xv, yv), lr, patience,
                   max_epochs)


def _fit_run(seed, xt, yt, xv, yv, lr, max_epochs):
    """The reference: a fresh network with the same seed trained for every epoch."""
    ref = _net(seed)
    return _fit_reference(ref, _loader(xt, yt, 16, seed), xv, yv,
                          optim.SGD(ref.parameters(), lr=lr, momentum=0.9), max_epochs)


def _fit_plan(seed, xt, yt, xv, yv, lr, patience, max_epochs):
    """(the best epoch, the epoch training stops after) — all the case's description says. The
    reference's losses and weights stay in this frame, which is gone before the learner's fit
    runs."""
    history, _, _ = _fit_run(seed, xt, yt, xv, yv, lr, max_epochs)
    n = _stop_after(history, patience)
    return int(np.argmin(history[:n])), n


def _judge_fit(t, got, net, opt, description, seed, data, lr, patience, max_epochs):
    """After the learner's fit returned: the reference run again (it is cheap), compared."""
    history, states, training = _fit_run(seed, *data, lr, max_epochs)
    n = _stop_after(history, patience)
    best = int(np.argmin(history[:n]))
    if opt.steps == 0:
        t.fail("the optimizer given to fit never took a step", "ignored_optimizer")
    if any(rows == 20 and grad for rows, grad in net.calls):
        t.fail("fit ran the network forward on the held-out data with graph recording on",
               "graph_recorded")
    if not isinstance(got, (list, tuple)):
        t.fail(f"fit returned {'None' if got is None else 'a ' + type(got).__name__}; "
               "return the list of held-out losses, one per epoch",
               hint="Return the list of held-out losses, one float per epoch run.")
    if len(got) != n:
        lengths = {"never_stopped": max_epochs,
                   "patience_off_by_one": {_stop_after(history, patience - 1),
                                           _stop_after(history, patience + 1)},
                   "no_reset": _stop_after(history, patience, reset=False)}
        key = next((k for k, v in lengths.items()
                    if len(got) in (v if isinstance(v, set) else {v}) and len(got) != n), None)
        t.fail(f"fit ran {len(got)} epochs (it returned {len(got)} held-out losses); early "
               f"stopping with patience {patience} stops after epoch {n}", key)
    t.compare(list(got), history[:n], what="held-out loss of epoch {}", **_F64,
              names=[str(i + 1) for i in range(n)],
              alternatives={"training_losses": training[:n]})
    t.case(f"{description}: the weights after fit, those of the best epoch ({best + 1})")
    for name, value in _state(net).items():
        t.compare(value, states[best][name], what=name, **_F64,
                  alternatives={"not_restored": states[n - 1][name] if best != n - 1
                                else None})


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
