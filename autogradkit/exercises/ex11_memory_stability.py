"""Exercise 11 (chapter 10): memory and numerical stability, by hand.

Notebook 10 has the learner count saved tensors with hooks, compute per-layer gradient norms from
Jacobians, and write log-sum-exp and the softmax cross-entropy gradient. This exercise asks for
transfer to what the notebook does not write:

* ``bce_with_logits``: the binary cross-entropy of logits, value and gradient (σ(z) − y)/N,
  finite for logits of ±1000 (numpy);
* ``norm_and_grad``: the Euclidean norm along the last axis and its gradient, exact for entries
  of 1e200 and 1e-200, and 0 (not NaN) at the zero vector (numpy);
* ``leaky_he_std``: He initialisation derived again, for a leaky ReLU;
* ``RecomputedTanhLayer``: checkpointing by hand, a custom ``autograd.Function`` for
  tanh(x Wᵀ) that saves only its inputs and recomputes the rest in backward;
* ``train_chunks``: truncated backpropagation through time, a recurrent state carried from chunk
  to chunk without its history (the graph that grows by mistake, avoided).

The right answers come from autogradkit's own autograd in float64 (or the formula), worked out
only after the learner's code has returned. The numpy tasks must use numpy alone; the Function
may not call autogradkit's own checkpointing.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

import autogradkit as ag
from autogradkit import autograd
from autogradkit.autograd.graph import saved_tensors_hooks
from autogradkit.autograd.growth import GrowingGraphWarning
from autogradkit.autograd.node import BackwardTwiceError, InplaceModifiedError

from .core import Exercise
from .guards import NUMPY_ONLY, watching

exercise = Exercise("ex11_memory_stability", "Exercise 11: memory and numerical stability",
                    chapter=10)

_USED_ENGINE = ("a library doing the work",
                "Write this one with numpy alone: no autogradkit tensors, no PyTorch, no "
                "scipy.special.")
_BY_HAND = NUMPY_ONLY + ("scipy",)


# ---- task 1: bce_with_logits --------------------------------------------------------------------
def _bce_by_autograd(z, y):
    zt = ag.tensor(z, dtype=ag.float64, requires_grad=True)
    loss = ag.nn.functional.binary_cross_entropy_with_logits(zt, ag.tensor(y, dtype=ag.float64))
    loss.backward()
    return loss.item(), zt.grad.numpy()


def _naive_bce(z, y):
    with np.errstate(all="ignore"):
        s = 1 / (1 + np.exp(-z))
        return float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s))))


def _pair(t, got, what):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        t.fail(f"{what} returned {type(got).__name__}, expected a pair (value, gradient)",
               hint="Return two things: return value, grad.")
    return got


@exercise.task(
    "bce_with_logits",
    goal="the mean binary cross-entropy of logits z and targets y, and its gradient "
         "(σ(z) − y)/N, finite for z = ±1000, with numpy",
    hint="−[y log σ(z) + (1−y) log(1−σ(z))] = max(z, 0) − z·y + log1p(exp(−|z|)): no "
         "exponential of a large number, no log of 0. The gradient of the mean is (σ(z) − y)/N; "
         "compute σ(z) stably too (e.g. from exp(−|z|)).",
    hints={"used_engine": _USED_ENGINE,
           "overflow": ("log σ(z) taken as written",
                        "For z = −1000, σ(z) rounds to 0 and log 0 = −inf. Use the rearranged "
                        "form max(z, 0) − z·y + log1p(exp(−|z|))."),
           "not_averaged": ("the gradient of the sum",
                            "The loss is a mean over N elements: divide σ(z) − y by N."),
           "sign_flipped": ("y − σ(z)", "∂L/∂z = σ(z) − y: raising z raises the predicted "
                                        "probability, which raises the loss when y = 0.")})
def _check_bce(t, answer):
    rng = np.random.default_rng(11)
    cases = [("z = [0.5, −1, 2], y = [1, 0, 1]", np.array([0.5, -1.0, 2.0]),
              np.array([1.0, 0.0, 1.0])),
             ("z = [1000, −1000, 30, −30] (exp overflows)", np.array([1000.0, -1000.0, 30.0, -30.0]),
              np.array([0.0, 1.0, 1.0, 0.0])),
             ("8 logits, soft targets in [0, 1]", 3 * rng.standard_normal(8), rng.uniform(size=8))]
    for text, z, y in cases:
        t.case(text)
        got = t.call_watching(answer, _BY_HAND, "used_engine", z.copy(), y.copy())
        value, grad = _pair(t, got, "bce_with_logits")
        right_value, right_grad = _bce_by_autograd(z, y)
        t.compare(value, right_value, what="the loss", rtol=1e-9, atol=1e-12,
                  alternatives=[("overflow", _naive_bce(z, y))])
        n = len(z)
        t.compare(grad, right_grad, what="∂L/∂z", rtol=1e-9, atol=1e-15,
                  alternatives=[("not_averaged", right_grad * n), ("sign_flipped", -right_grad)])


# ---- task 2: norm_and_grad ----------------------------------------------------------------------
def _right_norm(x):
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    norm = (scale * np.sqrt(np.sum((x / safe) ** 2, axis=-1, keepdims=True)))
    grad = np.where(norm > 0, x / np.where(norm > 0, norm, 1.0), 0.0)
    return norm[..., 0], grad


def _naive_norm(x):
    with np.errstate(all="ignore"):
        n = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
        return n[..., 0], x / n


@exercise.task(
    "norm_and_grad",
    goal="‖x‖ along the last axis and its gradient x/‖x‖, exact for entries of 1e200 and "
         "1e-200, and a gradient of 0 (not NaN) where x = 0, with numpy",
    hint="Squaring 1e200 overflows and squaring 1e-200 underflows: divide each row by its "
         "largest |entry| s first, ‖x‖ = s·‖x/s‖. Where ‖x‖ = 0, choose the subgradient 0 (as "
         "PyTorch does) instead of 0/0.",
    hints={"used_engine": _USED_ENGINE,
           "overflow": ("squares overflowed or underflowed",
                        "x·x is inf for x = 1e200 and 0 for x = 1e-200: scale each row by its "
                        "largest |entry| before squaring, then multiply back."),
           "nan_at_zero": ("NaN at the zero vector",
                           "x/‖x‖ is 0/0 at x = 0. The norm has a kink there; return the "
                           "subgradient 0 for such rows (np.where), so that a NaN never reaches "
                           "training.")})
def _check_norm(t, answer):
    cases = [("x = [3, 4]", np.array([3.0, 4.0])),
             ("x = [1e200, 1e200, −1e200] (squares overflow)", np.array([1e200, 1e200, -1e200])),
             ("x = [3e-200, 4e-200] (squares underflow)", np.array([3e-200, 4e-200])),
             ("x = [0, 0, 0]", np.zeros(3)),
             ("3 rows, one of them zero", np.array([[1.0, -2.0, 2.0], [0.0, 0.0, 0.0],
                                                   [0.5, 1e-3, -0.25]]))]
    for text, x in cases:
        t.case(text)
        got = t.call_watching(answer, _BY_HAND, "used_engine", x.copy())
        norm, grad = _pair(t, got, "norm_and_grad")
        right_norm, right_grad = _right_norm(x)
        naive_norm, naive_grad = _naive_norm(x)
        t.compare(norm, right_norm, what="‖x‖", rtol=1e-12, atol=0,
                  alternatives=[("overflow", naive_norm)])
        if np.isnan(np.asarray(grad, dtype=float)).any() and not np.isnan(right_grad).any():
            t.fail("the gradient has NaN entries", "nan_at_zero")
        t.compare(grad, right_grad, what="∂‖x‖/∂x", rtol=1e-12, atol=1e-300,
                  alternatives=[("overflow", naive_grad)])


# ---- task 3: leaky_he_std -----------------------------------------------------------------------
@exercise.task(
    "leaky_he_std",
    goal="the standard deviation of W that keeps the activations' variance level through "
         "leaky-ReLU layers (slope a below 0), for fan_in inputs",
    hint="For a symmetric z, leaky_relu(z)² is z² on the positive half and a²z² on the negative "
         "half: E[f(z)²] = (1 + a²)/2 · Var(z). Keeping n·Var(W)·E[f(z)²] = Var(z) gives "
         "Var(W) = 2 / ((1 + a²) n); return its square root.",
    hints={"used_engine": ("a library doing the work",
                           "Derive it and compute it with math or numpy (no nn.init)."),
           "variance_not_std": ("the variance, not the standard deviation",
                                "Return √(2 / ((1 + a²) n)), the standard deviation."),
           "slope_ignored": ("the ReLU answer",
                             "He's 2/n is for a = 0. The negative half now keeps a² of its "
                             "variance: E[f(z)²] = (1 + a²)/2 · Var(z)."),
           "slope_not_squared": ("(1 + a) instead of (1 + a²)",
                                 "The variance scales with the square of the slope: the "
                                 "negative half contributes a²·Var(z)/2.")})
def _check_leaky_he(t, answer):
    for fan_in, a in [(100, 0.0), (256, 0.01), (64, 0.2), (10, 1.0)]:
        t.case(f"fan_in = {fan_in}, negative slope a = {a}")
        got = t.call_watching(answer, NUMPY_ONLY + ("autogradkit.nn",), "used_engine", fan_in, a)
        right = math.sqrt(2.0 / ((1 + a * a) * fan_in))
        t.compare(got, right, what="std", rtol=1e-9, atol=0,
                  alternatives=[("variance_not_std", right ** 2),
                                ("slope_ignored", math.sqrt(2.0 / fan_in)),
                                ("slope_not_squared", math.sqrt(2.0 / ((1 + a) * fan_in)))])


# ---- task 4: RecomputedTanhLayer ----------------------------------------------------------------
class _Bytes:
    def __init__(self):
        self.nbytes = 0

    def pack(self, tensor):
        self.nbytes += tensor.numel() * tensor.element_size()
        return tensor

    def unpack(self, packed):
        return packed


_CTX_OWN = {"_node_ref", "_to_save", "_for_forward"}


def _kept_on_ctx(ctx):
    """Names of tensors or arrays kept on ``ctx`` other than through ``save_for_backward``."""
    kept = []
    for name, value in vars(ctx).items():
        if name in _CTX_OWN:
            continue
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, (ag.Tensor, np.ndarray)) for v in values):
            kept.append(name)
    return kept


def _apply_layer(Layer, x, W, counter):
    with saved_tensors_hooks(counter.pack, counter.unpack):
        return Layer.apply(x, W)


@exercise.task(
    "RecomputedTanhLayer", kind="class",
    goal="y = tanh(x Wᵀ) as a custom autograd.Function that saves only x and W and recomputes "
         "what backward needs (checkpointing by hand)",
    hint="In forward, save the two inputs and nothing else, and return the activation (forward "
         "runs without recording). In backward, take the saved inputs back, compute the "
         "activation again from them, multiply the incoming gradient by tanh's slope at it, and "
         "turn that into one gradient per input with two matrix products.",
    hints={"saved_output": ("the output kept for backward",
                            "Saving y (or x Wᵀ) costs as many bytes as the activation itself — "
                            "exactly what checkpointing avoids. Save only x and W, and recompute "
                            "y in backward."),
           "used_checkpoint": ("autogradkit's checkpointing doing the work",
                               "Write the recomputation yourself inside backward; "
                               "utils.checkpoint is what this task rebuilds."),
           "transposed": ("a gradient transposed",
                          "∂L/∂x = ḡ' W has x's shape (N, in); ∂L/∂W = ḡ'ᵀ x has W's shape "
                          "(out, in)."),
           "no_tanh_slope": ("tanh's slope left out",
                             "d tanh(u)/du = 1 − tanh(u)²: multiply ḡ by it before the "
                             "matrix products.")},
    time_limit=20.0)
def _check_recomputed(t, Layer):
    if not (isinstance(Layer, type) and issubclass(Layer, autograd.Function)):
        t.fail("RecomputedTanhLayer must be a subclass of autograd.Function",
               hint="class RecomputedTanhLayer(autograd.Function): with @staticmethod forward "
                    "and backward.")
    rng = np.random.default_rng(12)
    for n, d_in, d_out in [(4, 3, 2), (16, 8, 8), (1, 5, 3)]:
        t.case(f"x of shape ({n}, {d_in}), W of shape ({d_out}, {d_in}), float64")
        xa, Wa = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in)) / 2
        x = ag.tensor(xa, requires_grad=True)
        W = ag.tensor(Wa, requires_grad=True)
        counter = _Bytes()
        (y, used) = t.call(watching(_apply_layer, ("autogradkit.utils.checkpoint",)),
                           Layer, x, W, counter)
        if used:
            t.fail(f"your code called {used}", "used_checkpoint")
        if not isinstance(y, ag.Tensor) or y.grad_fn is None:
            t.fail("RecomputedTanhLayer.apply(x, W) did not return a tensor in the graph",
                   hint="forward returns a tensor; apply records the node.")
        kept = _kept_on_ctx(y.grad_fn.ctx)
        if kept:
            t.fail(f"forward kept tensors on ctx ({', '.join(kept)}), outside save_for_backward",
                   "saved_output")
        allowed = xa.nbytes + Wa.nbytes
        t.require(counter.nbytes <= allowed,
                  f"forward saved {counter.nbytes} bytes for backward; x and W are {allowed}",
                  "saved_output")
        right_y = np.tanh(xa @ Wa.T)
        t.compare(y.detach().numpy(), right_y, what="y", rtol=1e-12, atol=1e-12)
        g = rng.standard_normal((n, d_out))
        used = t.call(watching(y.backward, ("autogradkit.utils.checkpoint",)), ag.tensor(g))[1]
        if used:
            t.fail(f"your backward called {used}", "used_checkpoint")
        xr = ag.tensor(xa, requires_grad=True)
        Wr = ag.tensor(Wa, requires_grad=True)
        ag.tanh(xr @ Wr.t()).backward(ag.tensor(g))
        for name, got, right, raw in [("∂L/∂x", x.grad, xr.grad, g @ Wa),
                                      ("∂L/∂W", W.grad, Wr.grad, g.T @ xa)]:
            if got is None:
                t.fail(f"{name} is None: backward returned no gradient for it",
                       hint="backward returns one gradient per input of forward: (grad_x, "
                            "grad_W).")
            t.compare(got.numpy(), right.numpy(), what=name, rtol=1e-9, atol=1e-12,
                      alternatives=[("no_tanh_slope", raw)])


# ---- task 5: train_chunks ----------------------------------------------------------------------
class _TinyRNN(ag.nn.Module):
    """A recurrent cell h' = tanh(W_x x + W_h h), its initial state and its loss (float64)."""

    def __init__(self, seed=5):
        super().__init__()
        ag.manual_seed(seed)
        self.wx = ag.nn.Linear(2, 3, dtype=ag.float64)
        self.wh = ag.nn.Linear(3, 3, bias=False, dtype=ag.float64)

    def initial_state(self):
        return ag.zeros(1, 3, dtype=ag.float64)

    def step(self, x, h):
        return ag.tanh(self.wx(x) + self.wh(h))

    def loss(self, h, y):
        return ((h - y) ** 2).mean()


def _chunks(seed, n_chunks, steps):
    rng = np.random.default_rng(seed)
    return [([ag.tensor(rng.standard_normal((1, 2))) for _ in range(steps)],
             [ag.tensor(0.5 * rng.standard_normal((1, 3))) for _ in range(steps)])
            for _ in range(n_chunks)]


def _train_chunks_by(model, chunks, carry):
    """The right loop (``carry="detach"``), or the one that starts each chunk afresh."""
    optimizer = ag.optim.SGD(model.parameters(), lr=0.1)
    h, losses = model.initial_state(), []
    for xs, ys in chunks:
        h = h.detach() if carry == "detach" else model.initial_state()
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _run_learner_loop(answer, model, optimizer, chunks):
    """The learner's loop, with what it warned and which error it raised, if any."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", GrowingGraphWarning)
        try:
            return answer(model, optimizer, chunks), said, None
        except (BackwardTwiceError, InplaceModifiedError) as error:
            return None, said, error


@exercise.task(
    "train_chunks",
    goal="truncated backpropagation through time: train a recurrent cell chunk by chunk, its "
         "state carried into the next chunk without its history; return the losses as floats",
    hint="Before each chunk, cut h from the previous chunk's graph (its numbers stay, its "
         "history goes); then zero the gradients, run the chunk's steps adding up the losses, "
         "call backward() once and step. Append loss.item(), a Python number.",
    hints={"not_detached": ("the state carried with its history",
                            "h still belongs to the previous chunk's graph, which that chunk's "
                            "backward() freed. Cut it loose where each chunk starts: detach() "
                            "keeps a tensor's numbers and drops its history."),
           "retain_graph": ("retain_graph=True instead of detach",
                            "retain_graph=True keeps every chunk's graph, and the next backward "
                            "runs through the previous chunks again (with weights the optimizer "
                            "has since changed in place). Detach h instead: each chunk's graph "
                            "ends where the chunk starts."),
           "reset_state": ("the state started afresh each chunk",
                           "Truncated BPTT cuts the *history*, not the state: h keeps its "
                           "numbers from the previous chunk (detached), it is not reset to the "
                           "initial state."),
           "returned_tensors": ("tensors instead of numbers",
                                "A loss tensor keeps its graph alive; return loss.item() for "
                                "each chunk (Python floats)."),
           "graph_grows": ("a graph that grows across chunks",
                           "Something adds up tensors from different chunks (a running total "
                           "of losses?): use loss.item() for anything kept across chunks.")},
    time_limit=20.0)
def _check_train_chunks(t, answer):
    for seed, n_chunks, steps in [(0, 3, 4), (1, 4, 2), (2, 2, 5)]:
        t.case(f"{n_chunks} chunks of {steps} steps (the cell, SGD with lr = 0.1, float64)")
        model = _TinyRNN()
        optimizer = ag.optim.SGD(model.parameters(), lr=0.1)
        got, said, error = t.call(_run_learner_loop, answer, model, optimizer,
                                  _chunks(seed, n_chunks, steps))
        if isinstance(error, BackwardTwiceError):
            t.fail(f"your loop raised {type(error).__name__}: {str(error)[:160]}…", "not_detached")
        if error is not None:
            t.fail(f"your loop raised {type(error).__name__}: {str(error)[:160]}…", "retain_graph")
        if said:
            t.fail("your loop tied the graphs of two chunks together (a GrowingGraphWarning)",
                   "graph_grows")
        if isinstance(got, (list, tuple)) and any(isinstance(v, ag.Tensor) for v in got):
            t.fail("the losses are tensors", "returned_tensors")
        right, params = _train_chunks_by(_TinyRNN(), _chunks(seed, n_chunks, steps), "detach")
        reset, _ = _train_chunks_by(_TinyRNN(), _chunks(seed, n_chunks, steps), "reset")
        t.compare(got, right, what="the chunk losses", rtol=1e-9, atol=1e-12,
                  alternatives=[("reset_state", reset)])
        for (name, p), q in zip(model.named_parameters(), params):
            t.compare(p.detach().numpy(), q, what=f"{name} after training", rtol=1e-9,
                      atol=1e-12)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
