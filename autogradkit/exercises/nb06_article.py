"""Notebook 6's "your turn" tasks: the article's network rebuilt by hand in numpy.

The article's network is ``Linear(10, 20) → relu → Linear(20, 1)`` with ``MSELoss`` and
``SGD(lr=0.01)``. In row-batch form, X of shape (N, in), parameters in a dict of float64 arrays
``{"W1": (hidden, in), "b1": (hidden,), "W2": (out, hidden), "b2": (out,)}``::

    Z1 = X W1ᵀ + b1,   H1 = relu(Z1),   ŷ = H1 W2ᵀ + b2,   L = mean((ŷ − y)²)

The learner writes, with numpy alone (a call into autogradkit or PyTorch while the answer runs
fails the check, seen through ``sys.setprofile``):

1. ``forward_by_hand(params, X, y)`` → ``(y_hat, loss, cache)``;
2. ``backward_by_hand(params, cache)`` → ``{"W1": W̄1, "b1": b̄1, "W2": W̄2, "b2": b̄2}``;
3. ``sgd_step_by_hand(params, grads, lr)`` → the new parameters, a new dict;
4. ``train_by_hand(params, X, y, epochs, lr)`` → ``(losses, params)``.

The right answers come from autogradkit's own engine in float64 (``nn.functional.linear``,
``relu``, ``mse_loss``, ``backward()``, ``optim.SGD``), computed at check time on the checks' own
networks and data (the article's shapes, a layer with three outputs, a square first layer, and
pre-activations that are exactly 0). Each gradient is compared in the order backward reaches it
(W2, b2, W1, b1), so a report names the first wrong element of the first wrong gradient; the
classic mistakes are recognised by the answer they give (the forgotten 2, dividing by N instead of
N·out, no relu mask, the mask times the relu's output, relu'(0) = 1, an averaged bias gradient, a
transposed weight gradient …).

``answer(question, yours)`` holds the notebook's two "check yourself" questions, so the expected
answers live here and not in the notebook.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag
from autogradkit import nn, optim

from . import questions
from .core import Exercise
from .guards import NUMPY_ONLY, watching

exercise = Exercise("nb06_article", "Notebook 6: the article's network by hand in numpy",
                    chapter=6, heading="Your turn")

NAMES = ("W1", "b1", "W2", "b2")          # the parameters, in the network's order
BACKWARD_ORDER = ("W2", "b2", "W1", "b1")  # the order backward reaches them
CACHE_KEYS = ("X", "y", "Z1", "H1", "y_hat")
_TOL = dict(rtol=1e-9, atol=1e-12)         # float64 against float64: rounding only


# ---- the reference implementations (what the notebook goes on with) ----------------------------
def _reference_forward_by_hand(params, X, y):
    """The article's network forward in numpy: ŷ, the MSE loss, and what backward needs.

    Z1 = X W1ᵀ + b1 (N, hidden), H1 = relu(Z1), ŷ = H1 W2ᵀ + b2 (N, out),
    L = the mean of (ŷ − y)² over all N·out elements."""
    Z1 = X @ params["W1"].T + params["b1"]         # (N, hidden): the pre-activation
    H1 = np.maximum(Z1, 0.0)                        # (N, hidden): relu
    y_hat = H1 @ params["W2"].T + params["b2"]      # (N, out)
    loss = float(np.mean((y_hat - y) ** 2))
    cache = {"X": X, "y": y, "Z1": Z1, "H1": H1, "y_hat": y_hat}
    return y_hat, loss, cache


def _reference_backward_by_hand(params, cache):
    """∂L/∂θ for every parameter, by the chain rule from the loss back to the first layer."""
    X, Z1, H1 = cache["X"], cache["Z1"], cache["H1"]
    y_hat, y = cache["y_hat"], cache["y"]
    y_bar = 2.0 * (y_hat - y) / y_hat.size          # (N, out): ∂L/∂ŷ, the mean over N·out
    W2_bar = y_bar.T @ H1                           # (out, hidden)
    b2_bar = y_bar.sum(axis=0)                      # (out,): b2 was added to every row
    H1_bar = y_bar @ params["W2"]                   # (N, hidden)
    Z1_bar = H1_bar * (Z1 > 0)                      # relu's mask, relu'(0) = 0
    W1_bar = Z1_bar.T @ X                           # (hidden, in)
    b1_bar = Z1_bar.sum(axis=0)                     # (hidden,)
    return {"W1": W1_bar, "b1": b1_bar, "W2": W2_bar, "b2": b2_bar}


def _reference_sgd_step_by_hand(params, grads, lr):
    """One SGD step, θ ← θ − lr·θ̄, as a new dict (the arrays passed in stay as they were)."""
    return {name: params[name] - lr * grads[name] for name in params}


def _reference_train_by_hand(params, X, y, epochs, lr):
    """The article's loop by hand: each epoch forward, backward, step; the losses and the
    parameters after the last step. Each loss is the one computed before that epoch's step."""
    losses = []
    for _ in range(epochs):
        _, loss, cache = _reference_forward_by_hand(params, X, y)
        grads = _reference_backward_by_hand(params, cache)
        params = _reference_sgd_step_by_hand(params, grads, lr)
        losses.append(loss)
    return losses, params


# ---- the checks' own networks and data, and the engine's answers --------------------------------
def _network(seed, n, n_in, hidden, out, kink=False):
    """Parameters (nn.Linear's uniform initialisation) and data, float64 numpy arrays.

    ``kink``: the first row of X is zero and every other first-layer bias is zero, so some
    pre-activations are exactly 0 (where relu has a kink)."""
    rng = np.random.default_rng(seed)
    u1, u2 = 1 / np.sqrt(n_in), 1 / np.sqrt(hidden)
    params = {"W1": rng.uniform(-u1, u1, (hidden, n_in)), "b1": rng.uniform(-u1, u1, hidden),
              "W2": rng.uniform(-u2, u2, (out, hidden)), "b2": rng.uniform(-u2, u2, out)}
    X, y = rng.normal(size=(n, n_in)), rng.normal(size=(n, out))
    if kink:
        X[0] = 0.0
        params["b1"][::2] = 0.0
    return params, X, y


def _engine_model(P, X):
    """Z1, H1 and ŷ of the article's network, recorded by autogradkit."""
    Z1 = nn.functional.linear(X, P["W1"], P["b1"])
    H1 = ag.relu(Z1)
    return Z1, H1, nn.functional.linear(H1, P["W2"], P["b2"])


def _engine(params, X, y):
    """The engine's forward values and ∂L/∂θ (autogradkit's backward, float64)."""
    P = {k: ag.tensor(v, dtype=ag.float64, requires_grad=True) for k, v in params.items()}
    Xt, yt = ag.tensor(X, dtype=ag.float64), ag.tensor(y, dtype=ag.float64)
    Z1, H1, y_hat = _engine_model(P, Xt)
    loss = nn.functional.mse_loss(y_hat, yt)
    loss.backward()
    return {"Z1": Z1.detach().numpy(), "H1": H1.detach().numpy(),
            "y_hat": y_hat.detach().numpy(), "loss": loss.item(),
            "grads": {k: P[k].grad.numpy().copy() for k in NAMES}}


def _engine_training(params, X, y, epochs, lr):
    """The engine's losses for ``epochs + 1`` forward passes of the article's loop (the last one
    after the final step), and the parameters after ``epochs`` steps."""
    P = {k: ag.tensor(v, dtype=ag.float64, requires_grad=True) for k, v in params.items()}
    Xt, yt = ag.tensor(X, dtype=ag.float64), ag.tensor(y, dtype=ag.float64)
    opt = optim.SGD([P[k] for k in NAMES], lr=lr)
    losses = []
    for epoch in range(epochs + 1):
        loss = nn.functional.mse_loss(_engine_model(P, Xt)[2], yt)
        losses.append(loss.item())
        if epoch == epochs:
            break
        loss.backward()
        opt.step()
        opt.zero_grad()
    final = {k: P[k].detach().numpy().copy() for k in NAMES}
    return losses, final


def _mistaken_backward(params, cache, mistake):
    """The gradients a classic mistake gives (the checks name an answer that matches one)."""
    X, Z1, H1 = cache["X"], cache["Z1"], cache["H1"]
    residual = cache["y_hat"] - cache["y"]
    n_rows = residual.shape[0]
    y_bar = 2.0 * residual / residual.size
    if mistake == "forgot_two":
        y_bar = residual / residual.size
    elif mistake == "rows_only":
        y_bar = 2.0 * residual / n_rows
    mask = (Z1 > 0).astype(float)
    if mistake == "no_mask":
        mask = np.ones_like(Z1)
    elif mistake == "mask_values":
        mask = H1
    elif mistake == "relu_at_zero":
        mask = (Z1 >= 0).astype(float)
    Z1_bar = (y_bar @ params["W2"]) * mask
    grads = {"W1": Z1_bar.T @ X, "b1": Z1_bar.sum(axis=0),
             "W2": y_bar.T @ H1, "b2": y_bar.sum(axis=0)}
    if mistake == "bias_averaged":
        grads["b1"], grads["b2"] = grads["b1"] / n_rows, grads["b2"] / n_rows
    return grads


_BACKWARD_MISTAKES = ("forgot_two", "rows_only", "no_mask", "mask_values", "relu_at_zero",
                      "bias_averaged")


# ---- what every check needs: numpy only, inputs left alone, the answer's form -------------------
_USED_ENGINE = ("an autodiff library doing the work",
                "This part is written by hand with numpy: the point is to do what backward() "
                "does yourself. Use numpy arrays and functions only (no autogradkit tensors, no "
                "nn or optim, no backward(), no PyTorch).")
_INPUT_CHANGED = ("an input changed in place",
                  "Leave the arrays you are given as they were: the notebook uses them again "
                  "(the starting weights, the data). Compute new arrays instead of writing into "
                  "them (`a = a - …`, not `a -= …`).")
_FLOAT32 = ("float32 numbers",
            "Work in float64, numpy's default: the comparison with autogradkit is to 1e-9, and "
            "float32 keeps only about 7 digits.")
_COMMON = {"used_engine": _USED_ENGINE, "input_changed": _INPUT_CHANGED, "float32": _FLOAT32}


def _hints(**own):
    out = dict(_COMMON)
    out.update(own)
    return out


def _copies(*dicts_or_arrays):
    out = []
    for item in dicts_or_arrays:
        if isinstance(item, dict):
            out.append({k: np.array(v, copy=True) for k, v in item.items()})
        else:
            out.append(np.array(item, copy=True))
    return out


def _unchanged(t, given, copies, names):
    for item, copy, name in zip(given, copies, names):
        if isinstance(item, dict):
            for k in copy:
                if not np.array_equal(item[k], copy[k]):
                    t.fail(f"your function changed {name}[{k!r}] in place", "input_changed")
        elif not np.array_equal(item, copy):
            t.fail(f"your function changed its input {name} in place", "input_changed")


def _run(t, answer, *args):
    """Call the learner's answer, numpy only."""
    value, used = t.call(watching(answer, NUMPY_ONLY), *args)
    if used:
        t.fail(f"your code called {used}", "used_engine")
    return value


def _as_dict(t, got, what, names=NAMES):
    got = t.plain_dict(got, what)
    if not isinstance(got, dict):
        t.fail(f"{what}: expected a dict with the keys {', '.join(names)}, got a "
               f"{type(got).__name__}",
               hint=f"Return a dict: {{{', '.join(f'{n!r}: …' for n in names)}}}.")
    missing = [n for n in names if n not in got]
    if missing:
        t.fail(f"{what}: no {', '.join(repr(m) for m in missing)} in your dict (its keys: "
               f"{', '.join(repr(k) for k in got) or 'none'})",
               hint=f"Use exactly these keys: {', '.join(names)}.")
    return got


def _float64(t, value, what):
    """Stop with the float32 hint when an answer's numbers are float32."""
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype == np.float32:
        t.fail(f"{what} is float32", "float32")


_CASES = (  # (description, seed, N, in, hidden, out, kink)
    ("the article's shapes: Linear(10, 20) → relu → Linear(20, 1), 100 rows", 61, 100, 10, 20, 1,
     False),
    ("three outputs: Linear(3, 4) → relu → Linear(4, 3), 5 rows", 62, 5, 3, 4, 3, False),
    ("a square first layer: Linear(4, 4) → relu → Linear(4, 1), 6 rows", 63, 6, 4, 4, 1, False),
    ("pre-activations exactly 0 (a zero row of X, zero biases): Linear(3, 6) → relu → "
     "Linear(6, 2), 4 rows", 64, 4, 3, 6, 2, True),
)


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "forward_by_hand", reference=_reference_forward_by_hand,
    goal="the article's network forward in numpy: ŷ, the MSE loss, and the cache for backward",
    hint="Three lines of algebra: Z1 = X W1ᵀ + b1, H1 = relu(Z1), ŷ = H1 W2ᵀ + b2; then the "
         "mean of the squared errors over every element. Keep X, y, Z1, H1 and ŷ in the cache.",
    hints=_hints(
        summed=("the squared errors added up instead of averaged",
                "nn.MSELoss averages: divide the sum of the squared errors by how many there "
                "are."),
        rows_only=("divided by the number of rows, not the number of elements",
                   "With more than one output, ŷ has N·out elements and MSELoss averages over all "
                   "of them, not over the N rows."),
        no_relu=("the relu left out",
                 "ŷ is what a purely linear network gives: the hidden layer goes through relu "
                 "(max(z, 0), elementwise) before the second layer."),
        not_transposed=("a weight used without its transpose",
                        "W1 has shape (hidden, in), one row per hidden unit, as nn.Linear keeps "
                        "it. A row-batch X (N, in) meets it as X W1ᵀ."),
        cached_post_relu=("the cache's Z1 holds relu's output",
                          "Z1 is the pre-activation X W1ᵀ + b1, before relu. Was it overwritten "
                          "in place (Z1[Z1 < 0] = 0, np.maximum(Z1, 0, out=Z1))?")))
def _check_forward_by_hand(t, answer):
    for description, seed, n, n_in, hidden, out, kink in _CASES[:3]:
        params, X, y = _network(seed, n, n_in, hidden, out, kink)
        t.case(description)
        copies = _copies(params, X, y)
        got = _run(t, answer, params, X, y)
        _unchanged(t, [params, X, y], copies, ["params", "X", "y"])
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            t.fail(f"expected (y_hat, loss, cache), got a {type(got).__name__}"
                   + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""),
                   hint="Return three things: return y_hat, loss, cache")
        y_hat, loss, cache = got
        params, X, y = copies
        right = _engine(params, X, y)
        Z1 = X @ params["W1"].T + params["b1"]
        linear = Z1 @ params["W2"].T + params["b2"]
        untransposed = None
        if n_in == hidden:
            untransposed = np.maximum(X @ params["W1"] + params["b1"], 0) @ params["W2"].T \
                + params["b2"]
        _float64(t, y_hat, "y_hat")
        t.compare(y_hat, right["y_hat"], what="y_hat", **_TOL,
                  alternatives={"no_relu": linear, "not_transposed": untransposed})
        residual = right["y_hat"] - y
        t.compare(loss, right["loss"], what="loss", **_TOL,
                  alternatives={"summed": float(np.sum(residual ** 2)),
                                "rows_only": float(np.sum(residual ** 2) / n) if out > 1 else None})
        cache = _as_dict(t, cache, "cache", CACHE_KEYS)
        t.compare(cache["Z1"], right["Z1"], what="cache['Z1']", **_TOL,
                  alternatives={"cached_post_relu": right["H1"]})
        t.compare(cache["H1"], right["H1"], what="cache['H1']", **_TOL)
        t.compare(cache["y_hat"], right["y_hat"], what="cache['y_hat']", **_TOL)
        t.compare(cache["X"], X, what="cache['X']", **_TOL)
        t.compare(cache["y"], y, what="cache['y']", **_TOL)


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "backward_by_hand", reference=_reference_backward_by_hand,
    goal="∂L/∂W1, ∂L/∂b1, ∂L/∂W2, ∂L/∂b2 by the chain rule, from the loss back",
    hint="Go backward one step at a time and write each adjoint's shape next to it: "
         "ȳ = ∂L/∂ŷ (N, out), then the second layer's W̄2, b̄2 and H̄1, then relu's mask, then the "
         "first layer's W̄1 and b̄1. Each gradient has the shape of its parameter.",
    hints=_hints(
        forgot_two=("half the right gradients: the 2 of the square forgotten",
                    "The derivative of (ŷ − y)² is 2(ŷ − y): ∂L/∂ŷ starts with a factor 2."),
        rows_only=("divided by N instead of N·out",
                   "MSELoss averages over all N·out elements of ŷ, so ∂L/∂ŷ = 2(ŷ − y)/(N·out). "
                   "With one output (the article's network) N and N·out agree; with three they "
                   "do not."),
        no_mask=("relu's mask left out (or a mask that is 1 everywhere)",
                 "The first layer's gradients are what they would be without relu. Backward "
                 "through relu multiplies H̄1 by relu'(Z1), 1 where Z1 > 0 and 0 elsewhere. "
                 "(Taking it from H1 works too, H1 > 0 exactly where Z1 > 0; but H1 >= 0 is true "
                 "everywhere.)"),
        mask_values=("H̄1 multiplied by relu's output H1 instead of its derivative",
                     "relu's local derivative is 0 or 1, an indicator: 1 where Z1 > 0. "
                     "Multiplying by H1 itself scales each gradient by the activation's size."),
        relu_at_zero=("relu'(0) taken as 1",
                      "Where a pre-activation is exactly 0, autogradkit and PyTorch take relu'(0) "
                      "= 0 (the mask is Z1 > 0, not Z1 >= 0). It is a convention at the kink, "
                      "and it shows in b̄1 here."),
        bias_averaged=("a bias gradient averaged over the rows instead of summed",
                       "Each bias was added to every row of the batch, so its gradient adds up "
                       "every row's share: sum ȳ (or Z̄1) over the rows. The 1/N of the mean is "
                       "already inside ȳ."),
        transposed=("a transposed weight gradient",
                    "A gradient has its parameter's shape: W2 is (out, hidden), so W̄2 = ȳᵀ H1, "
                    "(out, N)·(N, hidden); W1 is (hidden, in), so W̄1 = Z̄1ᵀ X.")))
def _check_backward_by_hand(t, answer):
    for description, seed, n, n_in, hidden, out, kink in _CASES:
        params, X, y = _network(seed, n, n_in, hidden, out, kink)
        _, _, cache = _reference_forward_by_hand(params, X, y)
        t.case(description)
        copies = _copies(params, cache)
        got = _run(t, answer, params, cache)
        _unchanged(t, [params, cache], copies, ["params", "cache"])
        got = _as_dict(t, got, "your gradients")
        params, cache = copies
        right = _engine(params, cache["X"], cache["y"])["grads"]
        wrong = {m: _mistaken_backward(params, cache, m) for m in _BACKWARD_MISTAKES}
        for name in BACKWARD_ORDER:
            _float64(t, got[name], f"grad of {name}")
            t.compare(got[name], right[name], what=f"grad of {name}", **_TOL,
                      alternatives=[(m, wrong[m][name]) for m in _BACKWARD_MISTAKES])


# ---- task 3 -----------------------------------------------------------------------------------
@exercise.task(
    "sgd_step_by_hand", reference=_reference_sgd_step_by_hand,
    goal="one SGD step θ ← θ − lr·θ̄ for every parameter, returned as a new dict",
    hint="For every name in params: the parameter minus lr times its gradient. Build a new dict "
         "of new arrays; leave params and grads as they were.",
    hints=_hints(
        ascent=("a step up the loss: + instead of −",
                "The gradient points uphill; gradient descent steps the other way: θ − lr·θ̄."),
        forgot_lr=("a step of the whole gradient: lr left out",
                   "The step is the gradient times the learning rate lr."),
        step_only=("the step itself instead of the new parameters",
                   "Return the parameters after the step, θ − lr·θ̄, not just −lr·θ̄.")))
def _check_sgd_step_by_hand(t, answer):
    for description, seed, lr in (("the article's shapes, lr = 0.01", 71, 0.01),
                                  ("the article's shapes, lr = 0.5", 72, 0.5)):
        params, _, _ = _network(seed, 3, 10, 20, 1)
        rng = np.random.default_rng(seed + 100)
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        t.case(description)
        copies = _copies(params, grads)
        got = _run(t, answer, params, grads, lr)
        _unchanged(t, [params, grads], copies, ["params", "grads"])
        got = _as_dict(t, got, "your new parameters")
        params, grads = copies
        for name in NAMES:
            P = ag.tensor(params[name], dtype=ag.float64, requires_grad=True)
            P.grad = ag.tensor(grads[name], dtype=ag.float64)
            optim.SGD([P], lr=lr).step()
            _float64(t, got[name], name)
            t.compare(got[name], P.detach().numpy(), what=f"new {name}", **_TOL,
                      alternatives={"ascent": params[name] + lr * grads[name],
                                    "forgot_lr": params[name] - grads[name],
                                    "step_only": -lr * grads[name]})


# ---- task 4 -----------------------------------------------------------------------------------
@exercise.task(
    "train_by_hand", reference=_reference_train_by_hand,
    goal="the article's training loop by hand: every epoch's loss and the final parameters",
    hint="Each epoch: forward (keep the loss), backward, one SGD step with the new parameters "
         "taking the old ones' place. Return the list of the epochs' losses (each computed "
         "before that epoch's step) and the parameters after the last step.",
    hints=_hints(
        not_updated=("a loss that never changes: the parameters are never replaced",
                     "sgd_step_by_hand returns the new parameters; the next epoch must use them "
                     "(params = sgd_step_by_hand(...)), or every epoch starts from the same "
                     "weights."),
        recorded_after_step=("each epoch's loss measured after its step",
                             "Your losses are one epoch ahead: the article records the loss "
                             "computed in the forward pass, before the step."),
        ascent=("a loss that climbs: steps up the gradient",
                "Each step must go against the gradient: θ − lr·θ̄.")),
    time_limit=20.0)
def _check_train_by_hand(t, answer):
    for description, seed, n, n_in, hidden, out, epochs, lr in (
            ("three outputs: Linear(3, 4) → relu → Linear(4, 3), 5 rows, 12 epochs, lr = 0.1",
             81, 5, 3, 4, 3, 12, 0.1),
            ("the article's shapes and learning rate, 100 rows, 150 epochs, lr = 0.01",
             82, 100, 10, 20, 1, 150, 0.01)):
        params, X, y = _network(seed, n, n_in, hidden, out)
        t.case(description)
        copies = _copies(params, X, y)
        got = _run(t, answer, params, X, y, epochs, lr)
        _unchanged(t, [params, X, y], copies, ["params", "X", "y"])
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            t.fail(f"expected (losses, params), got a {type(got).__name__}"
                   + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""),
                   hint="Return two things: return losses, params")
        losses, final = got
        params, X, y = copies
        right, right_final = _engine_training(params, X, y, epochs, lr)
        with np.errstate(all="ignore"):              # a climbing run may overflow
            climbing, _ = _reference_train_by_hand(params, X, y, epochs, -lr)
        t.compare(losses, right[:epochs], what="losses", **_TOL,
                  alternatives={"not_updated": [right[0]] * epochs,
                                "recorded_after_step": right[1:],
                                "ascent": climbing[:epochs]})
        final = _as_dict(t, final, f"the parameters after {epochs} epochs")
        for name in NAMES:
            t.compare(final[name], right_final[name], what=f"{name} after {epochs} epochs",
                      **_TOL)


# ---- the notebook's "check yourself" questions ------------------------------------------------
answer = questions.answer      # the notebook's "check yourself" questions (answers kept there)


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
