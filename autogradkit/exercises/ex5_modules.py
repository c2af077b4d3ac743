"""Exercise 5 (chapter 5): new modules, a new loss and a new optimizer — LeakyReLU, HuberLoss, an
MLP container and SGD with momentum, each with PyTorch's semantics.

Notebook 5 has the learner write Linear, ReLU, MSE and plain SGD; this exercise asks for the next
ones, which it does not show. The learner's classes are built on autogradkit (``nn.Module``,
tensor operations), so the checks run them forward, call ``backward()`` and compare values and
gradients with numpy (LeakyReLU, HuberLoss) or with autogradkit's own ``optim.SGD(momentum=…)``
and autograd (the MLP, SGDMomentum). An answer that hands the task to the library's own class
(``nn.LeakyReLU`` / ``F.leaky_relu``, ``nn.Sequential``, ``optim.SGD``) fails with a message saying
so.
"""
from __future__ import annotations

import types

import numpy as np

import autogradkit as ag
from autogradkit import nn, optim

from .core import Exercise
from .guards import watching

exercise = Exercise("ex5_modules", "Exercise 5: modules, losses and optimizers, further", chapter=5)

_F32 = dict(rtol=1e-5, atol=1e-6)        # float32 answers against float64 arithmetic


def _t(array, grad=False):
    return ag.tensor(np.asarray(array, dtype=np.float32), requires_grad=grad)


def _f64(x):
    """A float32 array's exact values in float64 (the reference computes from these)."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


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


def _module(t, answer, args, kwargs, text):
    t.case(f"constructing {text}")
    module = t.call(answer, *args, **kwargs)
    if not isinstance(module, nn.Module):
        t.fail(f"{text} is not an nn.Module; write `class {answer.__name__}(nn.Module)` so that "
               "calling it runs forward and its parts are registered")
    return module


# ---- task 1 -----------------------------------------------------------------------------------
def _leaky(x, slope):
    return np.where(x > 0, x, slope * x)


@exercise.task(
    "LeakyReLU", kind="class", goal="a LeakyReLU module: x where x > 0, negative_slope · x "
    "elsewhere, with PyTorch's derivative at 0",
    hint="Keep positive entries, scale the others by negative_slope (0.01 unless the constructor "
         "is given another one), with tensor operations so that backward works. At exactly 0, "
         "PyTorch's derivative is negative_slope: check what your formula does there.",
    hints={"slope_on_positive": ("the slope applied to the positive part",
                                 "negative_slope scales the entries at or below zero; positive "
                                 "entries pass through unchanged."),
           "relu_only": ("a plain ReLU: the negative part dropped",
                         "Your output is 0 wherever x < 0; a leaky ReLU lets a small part of the "
                         "negative values through."),
           "default_slope": ("the default slope used although another one was given",
                             "The constructor's negative_slope argument must set the slope; "
                             "0.01 is only its default."),
           "kink_convention": ("a different derivative at the kink x = 0",
                               "The function has a kink at 0; PyTorch's leaky_relu uses the "
                               "slope of the left side there, negative_slope. Your formula gives "
                               "something else at exactly 0 (autodiff differentiates the "
                               "program you wrote, not the function): which comparison, max or "
                               "relu decides what happens at 0?"),
           "used_library": ("autogradkit's own leaky ReLU doing the work",
                            "nn.LeakyReLU and F.leaky_relu are what this task rebuilds: write the "
                            "formula with tensor operations (a comparison, where, relu, *)."),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_leaky_relu(t, answer):
    rng = np.random.default_rng(51)
    grid = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    other = np.where(np.arange(12).reshape(3, 4) == 5, 0.0, np.round(rng.normal(size=(3, 4)), 2))
    for kwargs, text, x in (({}, "LeakyReLU()", grid),
                            ({"negative_slope": 0.2}, "LeakyReLU(negative_slope=0.2)", grid),
                            ({"negative_slope": 0.1}, "LeakyReLU(negative_slope=0.1)", other)):
        slope = kwargs.get("negative_slope", 0.01)
        module = _module(t, answer, (), kwargs, text)
        where = f"{text}, x = [−2, −0.5, 0, 0.5, 3]" if x.ndim == 1 else \
            f"{text}, x of shape (3, 4) with a zero in it"
        t.case(f"{where}: the output")
        xt = _t(x, grad=True)
        before = xt.detach().numpy().copy()
        out, used = t.call(watching(module, ("autogradkit.nn.activations",)), xt)
        if used:
            t.fail(f"your forward called {used}", "used_library")
        out = _as_tensor_out(t, out, "the output")
        _input_unchanged(t, xt, before)
        t.compare(out, _leaky(x, slope), what="output", **_F32,
                  alternatives={"slope_on_positive": np.where(x > 0, slope * x, x),
                                "relu_only": np.maximum(x, 0),
                                "default_slope": _leaky(x, 0.01) if slope != 0.01 else None})
        t.case(f"{where}: the gradient, ḡ = 1, 2, 3, …")
        g = np.arange(1, x.size + 1, dtype=np.float64).reshape(x.shape)
        t.call(_backward_with, out, g)
        if xt.grad is None:
            t.fail("x.grad is None after backward(): the output does not depend on x", "detached")
        zero = x == 0
        right = g * np.where(x > 0, 1.0, slope)
        t.compare(xt.grad, right, what="grad of x", **_F32,
                  alternatives=[("kink_convention", np.where(zero, g, right)),
                                ("kink_convention", np.where(zero, g * (1 + slope) / 2, right)),
                                ("kink_convention", np.where(zero, 0.0, right))])


# ---- task 2 -----------------------------------------------------------------------------------
def _huber(d, delta):
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def _reduce(v, reduction):
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


@exercise.task(
    "HuberLoss", kind="class", goal="PyTorch's HuberLoss(reduction, delta): quadratic for small "
    "errors, linear for large ones",
    hint="Per element, with d = pred − target: ½d² where |d| < delta, delta · (|d| − ½delta) "
         "elsewhere (the two pieces meet with the same slope at |d| = delta). Then reduce as "
         "`reduction` says: 'mean' over every element, 'sum', or 'none' (one loss per element).",
    hints={"summed": ("the per-element losses added up instead of averaged",
                      "With reduction='mean' the loss is the mean over every element."),
           "averaged": ("the per-element losses averaged instead of added up",
                        "With reduction='sum' the loss is the sum over every element."),
           "no_half": ("d² instead of ½d² for the small errors",
                       "Huber's quadratic piece is ½d²: with the ½, its slope d meets the linear "
                       "piece's slope ±delta at |d| = delta."),
           "quadratic_only": ("½d² everywhere: the linear piece is missing",
                              "Beyond |d| = delta the loss grows linearly, delta · (|d| − "
                              "½delta); that is what makes it robust to outliers."),
           "smooth_l1": ("PyTorch's SmoothL1Loss, not HuberLoss",
                         "SmoothL1Loss is HuberLoss divided by delta (½d²/delta, |d| − "
                         "½delta). HuberLoss keeps the factor delta on the linear piece and no "
                         "1/delta on the quadratic one."),
           "delta_factor": ("|d| − ½delta for the large errors, without the factor delta",
                            "The linear piece is delta · (|d| − ½delta): its slope is ±delta, "
                            "the quadratic piece's slope where they meet."),
           "unsummed_broadcast": ("per-element losses where one number was asked for",
                                  "With reduction 'mean' or 'sum' the loss is one number: reduce "
                                  "the per-element losses."),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_huber(t, answer):
    rng = np.random.default_rng(52)
    exact = (np.array([1.5, -0.25, 0.0, 2.0, -3.0, 0.75]),          # d = 1 exactly, and both sides
             np.array([0.5, 0.0, 0.5, -0.5, -1.0, 0.25]))
    cases = (({}, "HuberLoss()", exact),
             ({"delta": 0.5}, "HuberLoss(delta=0.5)", None),
             ({"reduction": "sum", "delta": 2.0}, "HuberLoss(reduction='sum', delta=2.0)", None),
             ({"reduction": "none", "delta": 1.5}, "HuberLoss(reduction='none', delta=1.5)", None))
    shapes = iter(((3, 2), (5,), (2, 3)))
    for kwargs, text, data in cases:
        reduction, delta = kwargs.get("reduction", "mean"), kwargs.get("delta", 1.0)
        criterion = _module(t, answer, (), kwargs, text)
        if data is None:
            shape = next(shapes)
            data = (np.round(rng.normal(size=shape) * 2, 2), np.round(rng.normal(size=shape), 2))
        pred, target = (_f64(a) for a in data)
        d = pred - target
        shape_text = "(" + ", ".join(map(str, pred.shape)) + ("," if pred.ndim == 1 else "") + ")"
        t.case(f"{text}, pred and target of shape {shape_text}: the loss")
        pt, tt = _t(pred, grad=True), _t(target)
        before = (pt.detach().numpy().copy(), tt.detach().numpy().copy())
        loss = _as_tensor_out(t, t.call(criterion, pt, tt), "the loss")
        _input_unchanged(t, pt, before[0], "pred")
        _input_unchanged(t, tt, before[1], "target")
        per = _huber(d, delta)
        a = np.abs(d)
        wrong = {"summed": per.sum() if reduction == "mean" else None,
                 "averaged": per.mean() if reduction == "sum" else None,
                 "no_half": _reduce(np.where(a < delta, d * d, delta * (a - 0.5 * delta)), reduction),
                 "quadratic_only": _reduce(0.5 * d * d, reduction),
                 "smooth_l1": _reduce(per / delta, reduction) if delta != 1 else None,
                 "delta_factor": _reduce(np.where(a < delta, 0.5 * d * d, a - 0.5 * delta),
                                         reduction) if delta != 1 else None}
        if reduction != "none" and tuple(loss.shape) == d.shape and d.size > 1:
            t.fail(f"the loss has shape {tuple(loss.shape)}; with reduction={reduction!r} it is "
                   "one number", "unsummed_broadcast")
        t.compare(loss, _reduce(per, reduction), what="loss", **_F32, alternatives=wrong)
        t.case(f"{text}, pred and target of shape {shape_text}: the gradient of the loss"
               + (", ḡ = 1, 2, 3, …" if reduction == "none" else ""))
        g = np.arange(1, d.size + 1, dtype=np.float64).reshape(d.shape)
        if reduction == "none":
            t.call(_backward_with, loss, g)
            scale = g
        else:
            t.call(loss.backward)
            scale = 1 / d.size if reduction == "mean" else 1.0
        if pt.grad is None:
            t.fail("pred.grad is None after backward(): the loss does not depend on pred",
                   "detached")
        t.compare(pt.grad, np.clip(d, -delta, delta) * scale, what="grad of pred", **_F32)


# ---- task 3 -----------------------------------------------------------------------------------
def _plain_lists_of_modules(module):
    return [name for name, v in vars(module).items()
            if isinstance(v, (list, tuple)) and any(isinstance(m, nn.Module) for m in v)]


@exercise.task(
    "MLP", kind="class", goal="an MLP container: MLP(sizes) chains Linear layers with ReLU "
    "between them (none after the last), every layer registered",
    hint="MLP([4, 8, 3]) is Linear(4, 8) → relu → Linear(8, 3). Make the layers in __init__ and "
         "register each one with the module, so that parameters() finds them; forward runs them "
         "in order with a ReLU between two layers, none after the last.",
    hints={"unregistered": ("layers kept where the module cannot see them",
                            "A module finds its parts through attributes that are modules or "
                            "parameters. A plain Python list of layers is neither: parameters() "
                            "does not look inside it, so an optimizer would never train those "
                            "layers (and .to() would never move them). Register the layers: "
                            "nn.ModuleList, or one attribute per layer (setattr, add_module)."),
           "relu_on_output": ("a ReLU after the last layer too",
                              "The output of an MLP for regression can be negative: the last "
                              "layer's output goes out as it is, with no activation after it."),
           "no_activation": ("no ReLU between the layers",
                             "Without a nonlinearity between them, a chain of linear layers is "
                             "one linear map. Apply relu between two layers."),
           "used_library": ("the library's container doing the work",
                            "The task is to write the container yourself: keep the layers in "
                            "an nn.ModuleList (or one attribute each), not in nn.Sequential, "
                            "and write forward's loop."),
           "detached": _DETACHED, "input_changed": _INPUT_CHANGED})
def _check_mlp(t, answer):
    rng = np.random.default_rng(53)
    for sizes, batch in (([4, 8, 8, 3], 5), ([3, 2], 4), ([2, 6, 1], 3)):
        ag.manual_seed(0)
        model = _module(t, answer, (list(sizes),), {}, f"MLP({sizes})")
        if any(isinstance(m, nn.Sequential) for m in model.modules()):
            t.fail(f"MLP({sizes}) holds an nn.Sequential", "used_library")
        t.case(f"MLP({sizes}): its parameters, in order")
        params = list(model.parameters())
        shapes = [s for i, o in zip(sizes, sizes[1:]) for s in ((o, i), (o,))]
        found = [tuple(p.shape) for p in params]
        if not params or (len(params) < len(shapes) and _plain_lists_of_modules(model)):
            where = _plain_lists_of_modules(model)
            t.fail(f"parameters() found {len(params)} tensors, expected {len(shapes)}"
                   + (f" (the layers in the plain list {where[0]!r} are not registered)"
                      if where else ""), "unregistered")
        if found != shapes:
            t.fail(f"the parameter shapes are {found}, expected {shapes} (weight, bias of each "
                   "layer in order, weights of shape (out, in))")
        x = np.round(rng.normal(size=(batch, sizes[0])), 2)
        t.case(f"MLP({sizes}): forward on x of shape ({batch}, {sizes[0]})")
        xt = _t(x, grad=True)
        before = xt.detach().numpy().copy()
        out = _as_tensor_out(t, t.call(model, xt), "the output")
        _input_unchanged(t, xt, before)
        values = [p.detach().numpy().astype(np.float64) for p in params]
        layers = list(zip(values[::2], values[1::2]))

        def run(relu_between=True, relu_last=False):
            h = _f64(x)
            for k, (W, b) in enumerate(layers):
                h = h @ W.T + b
                last = k == len(layers) - 1
                if (relu_last if last else relu_between):
                    h = np.maximum(h, 0)
            return h
        t.compare(out, run(), what="output", **_F32,
                  alternatives={"relu_on_output": run(relu_last=True),
                                "no_activation": run(relu_between=False)
                                if len(layers) > 1 else None})
        t.case(f"MLP({sizes}): backward reaches every parameter")
        t.call(_backward_with, out, np.ones(tuple(out.shape)))
        for (name, p) in model.named_parameters():
            if p.grad is None:
                t.fail(f"after backward(), {name}.grad is None: the output does not depend on it",
                       "detached")


# ---- task 4 -----------------------------------------------------------------------------------
_C = ([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], [[0.5, 1.0, -1.5], [-2.0, 1.0, 0.25]],
      [[-1.0, 0.5, 2.0], [0.0, -0.5, 1.0]])


def _params():
    p1 = _t([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], grad=True)
    p2 = _t([0.3, -0.6, 0.9], grad=True)
    p3 = _t([1.0, 2.0], grad=True)                 # gets no gradient until step 3
    return p1, p2, p3


def _loss(k, p1, p2, p3):
    """Step k's loss: a different linear term each step, and p3 only from step 3 on."""
    out = (p1 * _t(_C[k])).sum() + (p2 * p2).sum()
    return out + (p3 * p3 * p3).sum() if k == 2 else out


def _numbers(p):
    return p.detach().numpy().astype(np.float64).copy()


_OPTIM = ("autogradkit.optim",)


@exercise.task(
    "SGDMomentum", kind="class", goal="SGD with momentum, PyTorch's formula: v ← μ·v + g "
    "(v = g at the first step), θ ← θ − lr·v; and zero_grad()",
    hint="Keep one velocity per parameter, from one step() to the next. step() skips parameters "
         "without a gradient, updates each velocity, then moves the parameter in place with "
         "recording switched off; zero_grad() clears the gradients, not the velocities.",
    hints={"negated": ("a step uphill",
                       "Your step went up the gradient, which makes the loss larger. Descent moves "
                       "against the velocity."),
           "no_momentum": ("no memory of earlier gradients: plain SGD from step 2 on",
                           "From the second step on your update uses only this step's gradient. "
                           "The velocity must outlive step(): keep it per parameter on the "
                           "optimizer, do not rebuild it from zero each time, and do not let "
                           "zero_grad() clear it (or share its numbers with .grad)."),
           "dampened": ("an average of the gradients (v ← μ·v + (1 − μ)·g), not PyTorch's sum",
                        "PyTorch's momentum is an exponentially weighted *sum* of the gradients, "
                        "v ← μ·v + g, with v = g at the first step; (1 − μ)·g would make it an "
                        "average, with steps 1/(1 − μ) times shorter."),
           "no_update": ("the parameters left unchanged",
                         "After step() the parameter tensors still hold their old numbers. The "
                         "update has to change the tensors the optimizer was given (in place); "
                         "binding a name to a new tensor changes nothing outside your method."),
           "graph_recorded": ("the update recorded in the graph",
                              "After step() a parameter has a grad_fn: the update itself became "
                              "part of a graph. Do the update with recording switched off."),
           "generator_params": ("the parameters kept as a generator, empty after one pass",
                                "The optimizer was given a generator (what model.parameters() "
                                "returns). A generator can be iterated over only once: your "
                                "first loop used it up, and later ones see no parameters. Make a "
                                "list of them in __init__."),
           "used_library": ("the library's optimizer doing the work",
                            "The task is to write the optimizer yourself, from tensor "
                            "operations: no autogradkit.optim class (not as a base class "
                            "either) and no call into it.")})
def _check_sgd_momentum(t, answer):
    if issubclass(answer, optim.Optimizer):
        t.case("the class SGDMomentum")
        t.fail(f"SGDMomentum is a subclass of {answer.__mro__[1].__module__}."
               f"{answer.__mro__[1].__name__}", "used_library")
    for lr, mu in ((0.1, 0.9), (0.03, 0.5)):    # the step size and momentum given must be used
        _momentum_run(t, answer, lr, mu)


def _momentum_run(t, answer, lr, mu):
    p1, p2, p3 = _params()
    t.case(f"constructing SGDMomentum(model.parameters(), lr={lr}, momentum={mu}) — the "
           "parameters come as a generator, as from a model")
    opt = t.call(answer, (p for p in (p1, p2, p3)), lr=lr, momentum=mu)
    for k in range(3):
        t.case(f"lr={lr}, momentum={mu}, step {k + 1}: backward(), then step()"
               + (" (p3 has no gradient yet: its .grad is None)" if k < 2 else
                  " (p3 gets a gradient for the first time)"))
        start = [_numbers(p) for p in (p1, p2, p3)]
        _loss(k, p1, p2, p3).backward()
        _, used = t.call(watching(opt.step, _OPTIM))
        _judge_momentum_step(t, k, lr, mu, used, (p1, p2, p3), start)
        t.case(f"lr={lr}, momentum={mu}, step {k + 1}: zero_grad()")
        _, used = t.call(watching(opt.zero_grad, _OPTIM))
        if used:
            t.fail(f"your zero_grad() called {used}", "used_library")
        for name, p in (("p1", p1), ("p2", p2), ("p3", p3)):
            if p.grad is not None and np.any(p.grad.numpy()):
                if any(isinstance(v, types.GeneratorType) for v in vars(opt).values()):
                    t.fail(f"after zero_grad(), {name}.grad still holds "
                           f"{np.round(p.grad.numpy(), 4).tolist()}", "generator_params")
                t.fail(f"after zero_grad(), {name}.grad still holds "
                       f"{np.round(p.grad.numpy(), 4).tolist()}", "forgot_zero_grad")


def _momentum_reference(steps, lr, mu):
    """autogradkit's ``optim.SGD(momentum=mu)`` run for ``steps`` steps on fresh parameters: the
    parameters' numbers after the last step, and each step's gradients of p1 and p2. Run anew
    after each of the learner's steps, so no frame their code could look into holds it."""
    ref = _params()
    reference = optim.SGD(ref, lr=lr, momentum=mu)
    grads = []
    for k in range(steps):
        _loss(k, *ref).backward()
        grads.append([_numbers(p.grad) for p in ref[:2]])
        reference.step()
        reference.zero_grad()
    return [_numbers(p) for p in ref], grads


def _velocity(grads, mu, share):
    """v ← μ·v + share·g over ``grads`` (v = share·g at the first), or None before any."""
    v = None
    for g in grads:
        v = share * g if v is None else mu * v + share * g
    return v


def _judge_momentum_step(t, k, lr, mu, used, params, start):
    if used:
        t.fail(f"your step() called {used}", "used_library")
    after, grads = _momentum_reference(k + 1, lr, mu)
    for i, name in enumerate(("p1", "p2")):
        p, s, g = params[i], start[i], grads[k][i]
        if p.grad_fn is not None or not p.requires_grad:
            t.fail(f"after step(), {name} has grad_fn "
                   f"{p.grad_fn.name() if p.grad_fn else None} and requires_grad="
                   f"{p.requires_grad}", "graph_recorded")
        if np.array_equal(_numbers(p), s):
            t.fail(f"{name} did not change in step {k + 1}", "no_update")
        v_prev = _velocity([gs[i] for gs in grads[:k]], mu, 1.0)
        d_prev = _velocity([gs[i] for gs in grads[:k]], mu, 1 - mu)
        wrong = {"negated": s + lr * (g if v_prev is None else mu * v_prev + g),
                 "no_momentum": s - lr * g if v_prev is not None else None,
                 "dampened": s - lr * (1 - mu) * g if d_prev is None
                 else s - lr * (mu * d_prev + (1 - mu) * g)}
        t.compare(p, after[i], what=name, **_F32, alternatives=wrong)
    t.compare(params[2], after[2], what="p3" + (" (it has no gradient)" if k < 2 else ""),
              **_F32)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
