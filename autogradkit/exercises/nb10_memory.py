"""Notebook 10's "your turn" tasks: memory and numerical stability, written by the learner.

* ``SavedBytesCounter``: a pair of saved-tensor hooks (``pack``, ``unpack``) that counts the
  tensors a forward pass saves for backward and their bytes, and hands each one back unchanged
  in the backward pass (``autograd.graph.saved_tensors_hooks``);
* ``backprop_norms(jacobians, g)``: the norm of ∂L/∂hₗ at every layer, from the top gradient and
  the layers' Jacobians (ḡ ← Jᵀ ḡ, from the last layer down), in numpy;
* ``logsumexp(x)``: log Σ exp along the last axis without overflow, in numpy;
* ``cross_entropy_grad(logits, targets)``: the gradient of the mean cross-entropy, (p − y)/N,
  in numpy.

The right answers are worked out only after the learner's code has returned: the bytes by a
counter of the checker's own on a second run of the same forward pass, the rest in float64 from
autogradkit's own autograd (numbers the learner's code never sees).

Each task has a reference implementation (``_reference_*``): ``turn.use`` hands it back while the
learner's answer does not pass yet, so the rest of the notebook can go on.
"""
from __future__ import annotations

import numpy as np

import autogradkit as ag
from autogradkit import nn
from autogradkit.autograd.graph import saved_tensors_hooks
from autogradkit.examples import article

from .compare import NotNumbers
from .core import Exercise, as_numbers
from .guards import NUMPY_ONLY

exercise = Exercise("nb10_memory", "Notebook 10: memory and numerical stability", chapter=10,
                    heading="Your turn")


# ---- reference implementations (what the notebook goes on with) -------------------------------
class _ReferenceSavedBytesCounter:
    """Saved-tensor hooks that count what a forward pass keeps for backward."""

    def __init__(self):
        self.count, self.nbytes = 0, 0

    def pack(self, tensor):
        self.count += 1
        self.nbytes += tensor.numel() * tensor.element_size()
        return tensor

    def unpack(self, packed):
        return packed


_ReferenceSavedBytesCounter.__name__ = _ReferenceSavedBytesCounter.__qualname__ = \
    "SavedBytesCounter"


def _reference_backprop_norms(jacobians, g):
    """‖ḡ‖ at the top, then ḡ ← Jₗᵀ ḡ for l = L … 1, recording the norm after each step."""
    norms = [float(np.linalg.norm(g))]
    for J in reversed(jacobians):
        g = J.T @ g
        norms.append(float(np.linalg.norm(g)))
    return norms


def _reference_logsumexp(x):
    """log Σ exp(x) along the last axis, with the largest element shifted out first."""
    m = np.max(x, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))[..., 0]


def _reference_cross_entropy_grad(logits, targets):
    """∂/∂logits of the mean cross-entropy: (softmax(logits) − onehot(targets)) / N."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    return p / len(targets)


# ---- turn 1: SavedBytesCounter -----------------------------------------------------------------
def _article_net():
    ag.manual_seed(0)
    return article.Net()


def _deep_net(dtype):
    ag.manual_seed(1)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(16, 16, dtype=dtype), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(16, 1, dtype=dtype))


def _program(kind):
    """(a fresh model, its input, its target) for one case of the counter's check."""
    if kind == "article":
        x = ag.tensor(np.linspace(-1, 1, 1000, dtype=np.float32).reshape(100, 10))
        return _article_net(), x, ag.zeros(100, 1)
    dtype = ag.float64 if kind == "deep float64" else ag.float32
    x = ag.tensor(np.linspace(-2, 2, 64).reshape(4, 16), dtype=dtype)
    return _deep_net(dtype), x, ag.zeros(4, 1, dtype=dtype)


def _forward(kind, hooks=None, grad=True):
    model, x, y = _program(kind)
    with ag.set_grad_enabled(grad):
        if hooks is None:
            loss = nn.MSELoss()(model(x), y)
        else:
            with saved_tensors_hooks(*hooks):
                loss = nn.MSELoss()(model(x), y)
    return model, loss


_COUNTER_HINTS = {
    "counted_elements": (
        "elements counted, not bytes",
        "A float32 number takes 4 bytes, a float64 one 8: a tensor's bytes are "
        "tensor.numel() * tensor.element_size()."),
    "unpack_changed": (
        "unpack does not give back what was saved",
        "The backward pass runs on what unpack returns: it must be a tensor equal to the one "
        "pack received (here, simply return what pack returned)."),
}


def _read(t, counter, name):
    value = vars(counter).get(name) if hasattr(counter, "__dict__") else None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        t.fail(f"counter.{name} is {type(value).__name__}, expected a whole number",
               hint="Start with self.count = 0 and self.nbytes = 0 in __init__ and add to them "
                    "in pack.")
    return int(value)


@exercise.task(
    "SavedBytesCounter", kind="class",
    goal="saved-tensor hooks that count the tensors a forward pass saves for backward, and their "
         "bytes, and give each one back unchanged",
    hint="pack(tensor) runs once for every tensor an op saves: add 1 to self.count and the "
         "tensor's bytes to self.nbytes, and return the tensor. unpack(packed) runs in backward "
         "with what pack returned: give the tensor back.",
    hints=_COUNTER_HINTS,
    reference=_ReferenceSavedBytesCounter)
def _check_saved_bytes_counter(t, Counter):
    for kind in ("article", "deep float32", "deep float64"):
        t.case(f"the {kind} network's forward pass and MSE loss, then backward")
        counter = t.call(Counter)
        t.call(_forward, kind, (lambda x: counter.pack(x), lambda p: counter.unpack(p)))
        count, nbytes = _read(t, counter, "count"), _read(t, counter, "nbytes")
        right = _ReferenceSavedBytesCounter()
        _forward(kind, (right.pack, right.unpack))
        t.compare(count, right.count, what="counter.count (tensors saved)", rtol=0, atol=0)
        t.compare(nbytes, right.nbytes, what="counter.nbytes (bytes saved)", rtol=0, atol=0,
                  alternatives=[("counted_elements", right.nbytes // (8 if "64" in kind else 4))])
        model, loss = t.call(_forward, kind, (counter.pack, counter.unpack))
        t.call(loss.backward)
        plain, plain_loss = _forward(kind)
        plain_loss.backward()
        for (name, p), q in zip(model.named_parameters(), plain.parameters()):
            if p.grad is None or not np.array_equal(p.grad.numpy(), q.grad.numpy()):
                t.fail(f"with your hooks, {name}.grad differs from the gradient without hooks",
                       "unpack_changed")
    t.case("the same forward pass under no_grad: nothing is saved")
    counter = t.call(Counter)
    t.call(_forward, "article", (counter.pack, counter.unpack), False)
    t.compare(_read(t, counter, "count"), 0, what="counter.count under no_grad", rtol=0, atol=0)


# ---- turn 2: backprop_norms --------------------------------------------------------------------
_NORMS_HINTS = {
    "used_engine": ("the library doing the work",
                    "Multiply by the Jacobians yourself, with numpy: ḡ ← Jᵀ ḡ."),
    "not_transposed": ("J ḡ instead of Jᵀ ḡ",
                       "The backward pass multiplies the upstream gradient by the *transposed* "
                       "Jacobian: ∂L/∂hₗ₋₁ = Jₗᵀ ∂L/∂hₗ (a vector-Jacobian product)."),
    "wrong_order": ("the layers in forward order",
                    "The gradient starts at the top and travels down: use the last layer's "
                    "Jacobian first."),
}


def _jacobian_stack(seed, sizes, scale):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(sizes, sizes[1:])]


@exercise.task(
    "backprop_norms",
    goal="the norm of ∂L/∂hₗ at every layer, from the top gradient and the layers' Jacobians",
    hint="Start with ḡ = g (the gradient at the top layer) and record its norm; then, for the "
         "Jacobians from the last to the first, set ḡ = Jᵀ ḡ and record the new norm. Return "
         "the L + 1 norms as a list of floats, top first.",
    hints=_NORMS_HINTS,
    reference=_reference_backprop_norms)
def _check_backprop_norms(t, answer):
    cases = [("6 square layers of width 6 that shrink the gradient", 1, [6] * 7, 0.5),
             ("4 square layers of width 5 that grow it", 2, [5] * 5, 1.8),
             ("3 layers, sizes 4 → 5 → 3 → 2", 0, [4, 5, 3, 2], 1.0)]
    for text, seed, sizes, scale in cases:
        t.case(text)
        jacobians = _jacobian_stack(seed, sizes, scale)
        g = np.random.default_rng(seed + 10).standard_normal(sizes[-1])
        got = t.call_watching(answer, NUMPY_ONLY, "used_engine",
                              [J.copy() for J in jacobians], g.copy())
        right = _reference_backprop_norms(jacobians, g)
        wrong = []
        if len(set(sizes)) == 1:
            wrong.append(("not_transposed",
                          _reference_backprop_norms([J.T for J in jacobians], g)))
            wrong.append(("wrong_order", _reference_backprop_norms(jacobians[::-1], g)))
        t.compare(got, right, what="norms, top layer first", rtol=1e-9, atol=1e-12,
                  alternatives=wrong)


# ---- turn 3: logsumexp -------------------------------------------------------------------------
_LSE_HINTS = {
    "used_engine": ("the library doing the work",
                    "Write it with numpy alone (np.max, np.exp, np.log, np.sum)."),
    "overflow": ("exp overflowed (or underflowed)",
                 "exp(1000) is inf in floating point and exp(−1000) is 0. Subtract the row's "
                 "largest element m before exp: log Σ eˣ = m + log Σ e^(x−m)."),
    "max_not_added": ("the shift not added back",
                      "log Σ e^(x−m) is log Σ eˣ − m: add m back."),
}


def _naive_logsumexp(x):
    with np.errstate(all="ignore"):
        return np.log(np.sum(np.exp(x), axis=-1))


@exercise.task(
    "logsumexp",
    goal="log Σ exp(x) along the last axis, correct for x = ±1000, with numpy",
    hint="Let m be the largest element along the last axis. Then log Σ eˣ = m + log Σ e^(x−m): "
         "every e^(x−m) is at most 1, and one of them is exactly 1, so nothing overflows or "
         "rounds to log 0.",
    hints=_LSE_HINTS,
    reference=_reference_logsumexp)
def _check_logsumexp(t, answer):
    rng = np.random.default_rng(3)
    cases = [("x = [1, 2, 3]", np.array([1.0, 2.0, 3.0])),
             ("x = [1000, 1000.5] (exp overflows)", np.array([1000.0, 1000.5])),
             ("x = [−1000, −1001, −1002] (exp underflows)", np.array([-1000.0, -1001.0, -1002.0])),
             ("a 4 × 5 array, rows shifted by −800 … +800", rng.standard_normal((4, 5))
              + np.array([[-800.0], [-1.0], [1.0], [800.0]])),
             ("a 2 × 3 × 4 array", rng.standard_normal((2, 3, 4)))]
    for text, x in cases:
        t.case(f"{text}, float64")
        got = t.call_watching(answer, NUMPY_ONLY, "used_engine", x.copy())
        right = _reference_logsumexp(x)
        m = x.max(axis=-1)
        t.compare(got, right, what="logsumexp(x)", rtol=1e-12, atol=1e-12,
                  alternatives=[("overflow", _naive_logsumexp(x)), ("max_not_added", right - m)])


# ---- turn 4: cross_entropy_grad ----------------------------------------------------------------
_CE_HINTS = {
    "used_engine": ("the library doing the work",
                    "Write it with numpy alone: softmax of each row, minus the one-hot target, "
                    "divided by N."),
    "not_averaged": ("the gradient of the sum, not of the mean",
                     "The loss is the mean over the N rows, so each row's p − y is divided by N."),
    "sign_flipped": ("y − p instead of p − y",
                     "Raising the right class's logit lowers the loss: its gradient, p_y − 1, "
                     "is negative."),
    "no_onehot": ("softmax alone",
                  "The target's one-hot y is subtracted: ∂L/∂z = p − y (divided by N)."),
    "overflow": ("exp overflowed",
                 "Shift each row by its largest logit before exp: softmax does not change."),
}


def _ce_grad_by_autograd(logits, targets):
    z = ag.tensor(logits, dtype=ag.float64, requires_grad=True)
    nn.functional.cross_entropy(z, ag.tensor(targets)).backward()
    return z.grad.numpy()


def _naive_softmax(z):
    with np.errstate(all="ignore"):
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


@exercise.task(
    "cross_entropy_grad",
    goal="∂L/∂logits for the mean cross-entropy of N rows: (softmax(logits) − onehot) / N, "
         "with numpy",
    hint="p = softmax of each row (shift by the row's maximum first); subtract 1 at each row's "
         "target class; divide by N, the number of rows.",
    hints=_CE_HINTS,
    reference=_reference_cross_entropy_grad)
def _check_cross_entropy_grad(t, answer):
    rng = np.random.default_rng(4)
    cases = [("N = 3 rows, 4 classes", rng.standard_normal((3, 4)), np.array([0, 3, 1])),
             ("N = 1 row", np.array([[0.5, -1.0, 2.0]]), np.array([2])),
             ("logits near 1000 (exp overflows)", 1000 + rng.standard_normal((2, 3)),
              np.array([1, 0])),
             ("N = 5 rows, 2 classes", rng.standard_normal((5, 2)), np.array([0, 1, 1, 0, 1]))]
    for text, logits, targets in cases:
        t.case(text)
        got = t.call_watching(answer, NUMPY_ONLY, "used_engine", logits.copy(), targets.copy())
        right = _ce_grad_by_autograd(logits, targets)
        try:
            not_finite = not np.isfinite(as_numbers(got)).all()
        except NotNumbers:
            not_finite = False
        t.require(not not_finite, "∂L/∂logits has inf or NaN entries; the right one is finite",
                  "overflow")
        n = len(targets)
        onehot = np.eye(logits.shape[1])[targets]
        t.compare(got, right, what="∂L/∂logits", rtol=1e-9, atol=1e-12,
                  alternatives=[("not_averaged", right * n), ("sign_flipped", -right),
                                ("no_onehot", (right * n + onehot) / n),
                                ("overflow", (_naive_softmax(logits) - onehot) / n)])


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
