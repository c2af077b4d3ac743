"""The self-graded exercises: checks, hints, time limits, the generator and the grade command.

What CI proves here (issue 6):
* every solution source passes 100% of its checks (in process, and by ``autogradkit grade``);
* every generated learner notebook, untouched, fails every task, and ``grade`` scores it 0 and
  exits non-zero;
* a deliberately wrong answer per task is caught, labelled with the intended mistake and hint;
* the committed learner notebooks are what their sources generate (``exercises --check``);
* the learner notebooks and the sources pass *strict* nbval (stored outputs compared).
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit.cli import main
from autogradkit.exercises import EXERCISES, load, misconceptions, notebooks, sandbox

ROOT = Path(__file__).resolve().parents[1]
EXERCISE_DIR = ROOT / "exercises"
SOURCES = {p.stem: p for p in sorted((EXERCISE_DIR / "source").glob("ex*.ipynb"))}
LEARNERS = {p.stem: p for p in sorted(EXERCISE_DIR.glob("ex*.ipynb"))}
ALL_TASKS = [(e, t) for e in EXERCISES for t in load(e).tasks]


def _run_cells(path):
    """Execute a notebook's code cells in one fresh namespace, in this process (output captured)."""
    nb = nbformat.read(path, as_version=4)
    ns = {"__name__": "__exercise__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, f"<{path.name}>", "exec"), ns)
    return ns


_NAMESPACES = {}


def solutions(exercise_id):
    if exercise_id not in _NAMESPACES:
        _NAMESPACES[exercise_id] = _run_cells(SOURCES[exercise_id])
    return _NAMESPACES[exercise_id]


# ---- the exercises exist as the course needs them ------------------------------------------
def test_one_exercise_per_chapter_with_at_least_three_tasks_and_a_goal_each():
    # ex9_vjp_puzzles is more practice for chapter 4; ex10 and ex11 are chapters 9's and 10's
    assert [load(e).chapter for e in EXERCISES] == [1, 2, 3, 4, 5, 6, 7, 8, 4, 9, 10]
    assert sorted(SOURCES) == sorted(EXERCISES) == sorted(LEARNERS)
    for e in EXERCISES:
        ex = load(e)
        assert len(ex.tasks) >= 3, e
        for spec in ex.tasks.values():
            assert spec.goal and "\n" not in spec.goal and spec.hint


# ---- solutions pass, stubs fail ------------------------------------------------------------
@pytest.mark.parametrize("exercise_id,task", ALL_TASKS)
def test_the_solution_source_passes_the_check(exercise_id, task):
    result = load(exercise_id).evaluate(solutions(exercise_id)[task], task)
    assert result.passed, result.report()
    assert result.cases >= 1


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_untouched_learner_notebook_fails_every_task(exercise_id):
    ns = _run_cells(LEARNERS[exercise_id])
    ex = load(exercise_id)
    for task in ex.tasks:
        result = ex.evaluate(ns[task], task)
        assert not result.passed and result.status == "not_started", result.report()
        assert "not started" in result.report()


# ---- a wrong answer per task: caught, with the intended hint ---------------------------------
# (exercise, task, the mistake it should be recognised as, the wrong code). The code runs in a
# copy of the solution notebook's namespace, so helpers (e.g. topological_order) are the right ones.
WRONG = [
    ("ex1_derivatives", "dfdx", "missed_term", "def dfdx(x):\n    return 3 * x**2"),
    ("ex1_derivatives", "dfdx", "negated", "def dfdx(x):\n    return 2 - 3 * x**2"),
    ("ex1_derivatives", "second_difference", "missing_two",
     "def second_difference(f, x, h):\n    return (f(x + h) - f(x) + f(x - h)) / h**2"),
    ("ex1_derivatives", "second_difference", "first_derivative",
     "def second_difference(f, x, h):\n    return (f(x + h) - f(x - h)) / (2 * h)"),
    ("ex1_derivatives", "second_difference", "halved",
     "def second_difference(f, x, h):\n    return (f(x + h) - 2 * f(x) + f(x - h)) / (2 * h**2)"),
    ("ex1_derivatives", "second_difference", "h_not_squared",
     "def second_difference(f, x, h):\n    return (f(x + h) - 2 * f(x) + f(x - h)) / h"),
    ("ex1_derivatives", "second_difference", "negated",
     "def second_difference(f, x, h):\n    return (2 * f(x) - f(x + h) - f(x - h)) / h**2"),
    ("ex1_derivatives", "richardson_difference", "central_used",
     "def richardson_difference(f, x, h):\n    return (f(x + h) - f(x - h)) / (2 * h)"),
    ("ex1_derivatives", "richardson_difference", "weights_swapped", """
def richardson_difference(f, x, h):
    c = lambda s: (f(x + s) - f(x - s)) / (2 * s)
    return (4 * c(2 * h) - c(h)) / 3"""),
    ("ex1_derivatives", "richardson_difference", "unnormalised", """
def richardson_difference(f, x, h):
    c = lambda s: (f(x + s) - f(x - s)) / (2 * s)
    return 4 * c(h) - c(2 * h)"""),
    ("ex1_derivatives", "richardson_difference", "averaged", """
def richardson_difference(f, x, h):
    c = lambda s: (f(x + s) - f(x - s)) / (2 * s)
    return (c(h) + c(2 * h)) / 2"""),
    ("ex1_derivatives", "richardson_difference", "half_step", """
def richardson_difference(f, x, h):
    c = lambda s: (f(x + s) - f(x - s)) / (2 * s)
    return (4 * c(h / 2) - c(h)) / 3"""),
    ("ex1_derivatives", "numerical_gradient", "input_changed", """
def numerical_gradient(f, x, h=1e-6):
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h; up = f(x)
        x[i] = old - h; down = f(x)          # x[i] is never put back
        grad[i] = (up - down) / (2 * h)
    return grad"""),
    ("ex1_derivatives", "numerical_gradient", "forward_used", """
def numerical_gradient(f, x, h=1e-6):
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        moved = x.copy(); moved[i] += h
        grad[i] = (f(moved) - f(x)) / h
    return grad"""),
    ("ex1_derivatives", "numerical_gradient", "ignored_h", """
def numerical_gradient(f, x, h=1e-6):
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        e = np.zeros(x.shape); e[i] = 1e-6          # a step of its own: h is never used
        grad[i] = (f(x + e) - f(x - e)) / 2e-6
    return grad"""),
    ("ex2_chain_rule", "grad_sin_square", "missing_inner",
     "def grad_sin_square(x):\n    return math.cos(x**2)"),
    ("ex2_chain_rule", "grad_sin_square", "negated",
     "def grad_sin_square(x):\n    return -math.cos(x**2) * 2 * x"),
    ("ex2_chain_rule", "neuron_grads", "tanh_of_wrong_node", """
def neuron_grads(w, x, b):
    z = w * x + b
    dz = 1 - z**2
    return {"w": dz * x, "x": dz * w, "b": dz}"""),
    ("ex2_chain_rule", "neuron_grads", "swapped_inputs", """
def neuron_grads(w, x, b):
    dz = 1 - math.tanh(w * x + b) ** 2
    return {"w": dz * w, "x": dz * x, "b": dz}"""),
    ("ex2_chain_rule", "adjoints", "missing_accumulation", """
def adjoints(x, y):
    a, b = x * y, x + y
    return {"L": 1.0, "a": b, "b": a, "x": b * y, "y": b * x}"""),
    ("ex2_chain_rule", "tape_backward", "missing_accumulation", """
def tape_backward(tape):
    adjoint = {tape[-1][0]: 1.0}
    for node, inputs in reversed(tape):
        for name, local in inputs:
            adjoint[name] = adjoint.get(node, 0.0) * local
    return adjoint"""),
    ("ex2_chain_rule", "tape_backward", "wrong_order", """
def tape_backward(tape):
    adjoint = {tape[-1][0]: 1.0}
    for node, inputs in tape:
        for name, local in inputs:
            adjoint[name] = adjoint.get(name, 0.0) + adjoint.get(node, 0.0) * local
    return adjoint"""),
    ("ex3_backward", "sub_backward", "sub_sign",
     "def sub_backward(a, b, out):\n    a.grad += out.grad\n    b.grad += out.grad"),
    ("ex3_backward", "sub_backward", "missing_accumulation",
     "def sub_backward(a, b, out):\n    a.grad = out.grad\n    b.grad = -out.grad"),
    ("ex3_backward", "sub_backward", "forgot_upstream",
     "def sub_backward(a, b, out):\n    a.grad += 1.0\n    b.grad -= 1.0"),
    ("ex3_backward", "sub_backward", "no_update",
     "def sub_backward(a, b, out):\n    return out.grad, -out.grad"),
    ("ex3_backward", "sub_backward", "used_engine",
     "def sub_backward(a, b, out):\n    out._backward()"),
    ("ex3_backward", "div_backward", "quotient_sign",
     "def div_backward(a, b, out):\n    a.grad += out.grad / b.data\n"
     "    b.grad += out.grad * a.data / b.data**2"),
    ("ex3_backward", "div_backward", "missing_square",
     "def div_backward(a, b, out):\n    a.grad += out.grad / b.data\n"
     "    b.grad -= out.grad * a.data / b.data"),
    ("ex3_backward", "div_backward", "as_product",
     "def div_backward(a, b, out):\n    a.grad += b.data * out.grad\n    b.grad += a.data * out.grad"),
    ("ex3_backward", "div_backward", "swapped",
     "def div_backward(a, b, out):\n    a.grad -= out.grad * a.data / b.data**2\n"
     "    b.grad += out.grad / b.data"),
    ("ex3_backward", "div_backward", "missing_accumulation",
     "def div_backward(a, b, out):\n    a.grad = out.grad / b.data\n"
     "    b.grad = -out.grad * a.data / b.data**2"),
    ("ex3_backward", "div_backward", "used_engine", """
def div_backward(a, b, out):
    copy = Value(a.data) / Value(b.data)        # the engine's rule on a copy of the graph
    copy.grad = out.grad
    copy._backward()
    a.grad += copy._prev[0].grad
    b.grad += copy._prev[1].grad"""),
    ("ex3_backward", "exp_backward", "input_value",
     "def exp_backward(a, out):\n    a.grad += a.data * out.grad"),
    ("ex3_backward", "exp_backward", "power_rule",
     "def exp_backward(a, out):\n    a.grad += a.data * math.exp(a.data - 1) * out.grad"),
    ("ex3_backward", "exp_backward", "exp_of_output",
     "def exp_backward(a, out):\n    a.grad += math.exp(out.data) * out.grad"),
    ("ex3_backward", "exp_backward", "forgot_upstream",
     "def exp_backward(a, out):\n    a.grad += out.data"),
    ("ex3_backward", "exp_backward", "missing_accumulation",
     "def exp_backward(a, out):\n    a.grad = out.data * out.grad"),
    ("ex3_backward", "consumer_counts", "counted_once", """
def consumer_counts(root):
    counts, stack = {root: 0}, [root]
    while stack:
        node = stack.pop()
        for child in node._prev:
            if child not in counts:
                stack.append(child)
            counts[child] = 1                   # = where += is needed
    return counts"""),
    ("ex3_backward", "consumer_counts", "per_consumer", """
def consumer_counts(root):
    counts, stack = {root: 0}, [root]
    while stack:
        node = stack.pop()
        for child in set(node._prev):           # a·a counts a once
            if child not in counts:
                counts[child] = 0
                stack.append(child)
            counts[child] += 1
    return counts"""),
    ("ex3_backward", "consumer_counts", "walked_twice", """
def consumer_counts(root):
    counts, stack = {root: 0}, [root]
    while stack:
        node = stack.pop()
        for child in node._prev:
            counts[child] = counts.get(child, 0) + 1
            stack.append(child)                 # expanded again on every path
    return counts"""),
    ("ex3_backward", "consumer_counts", "root_missing", """
_right_counts = consumer_counts
def consumer_counts(root):
    counts = _right_counts(root)
    del counts[root]
    return counts"""),
    ("ex3_backward", "consumer_counts", "recursion", """
def consumer_counts(root):
    counts = {root: 0}
    def visit(node):
        for child in node._prev:
            if child not in counts:
                counts[child] = 0
                visit(child)
            counts[child] += 1
    visit(root)
    return counts"""),
    ("ex3_backward", "consumer_counts", "used_engine", """
from autogradkit.exercises import scalar
def consumer_counts(root):
    nodes = scalar.topological_order(root)
    counts = {node: 0 for node in nodes}
    for node in nodes:
        for child in node._prev:
            counts[child] += 1
    return counts"""),
    ("ex3_backward", "backward", "zeros", """
def backward(root):
    waiting, ready = consumer_counts(root), [root]
    while ready:
        node = ready.pop()
        node._backward()
        for child in node._prev:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)"""),
    ("ex3_backward", "backward", "before_consumers", """
def backward(root):                             # breadth-first from the root
    root.grad = 1.0
    queue, seen = [root], {root}
    while queue:
        node = queue.pop(0)
        node._backward()
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)"""),
    ("ex3_backward", "backward", "forward_order", """
def backward(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
    root.grad = 1.0
    for node in order:                          # inputs first: not reversed
        node._backward()"""),
    ("ex3_backward", "backward", "ran_twice", """
def backward(root):
    root.grad = 1.0
    stack = [root]
    while stack:
        node = stack.pop()
        node._backward()
        stack.extend(node._prev)"""),
    ("ex3_backward", "backward", "never_ran", """
def backward(root):
    waiting = {node: n + 1 for node, n in consumer_counts(root).items()}   # one too many
    root.grad = 1.0
    ready = [root]
    while ready:
        node = ready.pop()
        node._backward()
        for child in node._prev:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)"""),
    ("ex3_backward", "backward", "cleared_grads", """
_right_backward = backward
def backward(root):
    for node in consumer_counts(root):
        node.grad = 0.0
    _right_backward(root)"""),
    ("ex3_backward", "backward", "used_engine", """
from autogradkit.exercises import scalar
def backward(root):
    scalar.backward(root)"""),
    ("ex4_tensors", "hypot_vjp", "unsummed_broadcast", """
def hypot_vjp(g, a, b):
    y = np.sqrt(a * a + b * b)
    return g * a / y, g * b / y"""),
    ("ex4_tensors", "hypot_vjp", "outer_missing", """
_right_hypot = hypot_vjp
def hypot_vjp(g, a, b):
    y = np.sqrt(a * a + b * b)
    return _right_hypot(g * 2 * y, a, b)"""),
    ("ex4_tensors", "hypot_vjp", "half", """
_right_hypot = hypot_vjp
def hypot_vjp(g, a, b):
    return _right_hypot(g / 2, a, b)"""),
    ("ex4_tensors", "hypot_vjp", "inner_missing", """
def hypot_vjp(g, a, b):
    return g / (2 * np.sqrt(a * a + b * b)), g / (2 * np.sqrt(a * a + b * b))"""),
    ("ex4_tensors", "hypot_vjp", "input_changed", """
_right_hypot = hypot_vjp
def hypot_vjp(g, a, b):
    out = _right_hypot(g.copy(), a, b)
    g *= 0
    return out"""),
    ("ex4_tensors", "pow_vjp", "exponent_not_lowered", """
_right_pow = pow_vjp
def pow_vjp(g, a, b):
    return g * b * a ** b, _right_pow(g, a, b)[1]"""),
    ("ex4_tensors", "pow_vjp", "missing_log", """
_right_pow = pow_vjp
def pow_vjp(g, a, b):
    grad_b = g * a ** b
    return _right_pow(g, a, b)[0], np.reshape(np.sum(grad_b) if b.ndim == 0 else grad_b, b.shape)"""),
    ("ex4_tensors", "pow_vjp", "unsummed_broadcast", """
_right_pow = pow_vjp
def pow_vjp(g, a, b):
    return _right_pow(g, a, b)[0], g * a ** b * np.log(a)"""),
    ("ex4_tensors", "var_vjp", "biased",
     "def var_vjp(g, x, dim):\n    return g * 2 * (x - x.mean(axis=dim, keepdims=True)) / x.shape[dim]"),
    ("ex4_tensors", "var_vjp", "mean_not_subtracted",
     "def var_vjp(g, x, dim):\n    return g * 2 * x / (x.shape[dim] - 1)"),
    ("ex4_tensors", "var_vjp", "missing_two",
     "def var_vjp(g, x, dim):\n    return g * (x - x.mean(axis=dim, keepdims=True)) / (x.shape[dim] - 1)"),
    ("ex4_tensors", "var_vjp", "used_engine", """
import autogradkit as ag
def var_vjp(g, x, dim):
    t = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    t.var(dim=dim, keepdim=True).backward(ag.tensor(g, dtype=ag.float64))
    return t.grad.numpy()"""),
    ("ex4_tensors", "bilinear_vjp", "forgot_upstream",
     "def bilinear_vjp(g, x, A, y):\n    return y @ A.T, x.T @ y, x @ A"),
    ("ex4_tensors", "bilinear_vjp", "unsummed_broadcast", """
_right_bilinear = bilinear_vjp
def bilinear_vjp(g, x, A, y):
    grad_x, _, grad_y = _right_bilinear(g, x, A, y)
    return grad_x, np.einsum("n,ni,nj->nij", g, x, y), grad_y"""),
    ("ex4_tensors", "bilinear_vjp", "transposed", """
_right_bilinear = bilinear_vjp
def bilinear_vjp(g, x, A, y):
    grad_x, grad_A, grad_y = _right_bilinear(g, x, A, y)
    return grad_x, grad_A.T, grad_y"""),
    ("ex4_tensors", "sequence_linear_vjp", "unsummed_broadcast", """
def sequence_linear_vjp(g, x, W, b):
    return g @ W, np.einsum("bto,bti->boi", g, x), g.sum(axis=(0, 1))"""),
    ("ex4_tensors", "sequence_linear_vjp", "averaged", """
def sequence_linear_vjp(g, x, W, b):
    return g @ W, np.einsum("bto,bti->oi", g, x), g.mean(axis=(0, 1))"""),
    ("ex4_tensors", "sequence_linear_vjp", "transposed", """
def sequence_linear_vjp(g, x, W, b):
    return g @ W, np.einsum("bto,bti->io", g, x), g.sum(axis=(0, 1))"""),
    ("ex4_tensors", "sequence_linear_vjp", "negated", """
def sequence_linear_vjp(g, x, W, b):
    return g @ W, -np.einsum("bto,bti->oi", g, x), g.sum(axis=(0, 1))"""),
    ("ex5_modules", "LeakyReLU", "kink_convention", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return ag.where(x >= 0, x, x * self.negative_slope)"""),
    ("ex5_modules", "LeakyReLU", "used_library", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return ag.nn.functional.leaky_relu(x, self.negative_slope)"""),
    ("ex5_modules", "LeakyReLU", "used_library", """
class LeakyReLU(ag.nn.LeakyReLU):
    pass"""),
    ("ex5_modules", "LeakyReLU", "kink_convention", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return x.relu() - self.negative_slope * (-x).relu()    # x at 0 gets 0 from both"""),
    ("ex5_modules", "LeakyReLU", "kink_convention", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return ag.maximum(x, x * self.negative_slope)         # a tie at 0 splits ḡ"""),
    ("ex5_modules", "LeakyReLU", "slope_on_positive", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return ag.where(x > 0, x * self.negative_slope, x)"""),
    ("ex5_modules", "LeakyReLU", "relu_only", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return x.relu()"""),
    ("ex5_modules", "LeakyReLU", "default_slope", """
class LeakyReLU(nn.Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
    def forward(self, x):
        return ag.where(x > 0, x, x * 0.01)"""),
    ("ex5_modules", "LeakyReLU", "detached", """
_RightLeaky = LeakyReLU
class LeakyReLU(_RightLeaky):
    def forward(self, x):
        return super().forward(ag.tensor(x.tolist()))"""),
    ("ex5_modules", "HuberLoss", "summed", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        out = _RightHuber(reduction="none", delta=self.delta)(pred, target)
        return out if self.reduction == "none" else out.sum()"""),
    ("ex5_modules", "HuberLoss", "unsummed_broadcast", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        return _RightHuber(reduction="none", delta=self.delta)(pred, target)"""),
    ("ex5_modules", "HuberLoss", "no_half", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        err = (pred - target).abs()
        per = ag.where(err < self.delta, err * err, self.delta * (err - 0.5 * self.delta))
        return per.mean() if self.reduction == "mean" else per.sum() if self.reduction == "sum" else per"""),
    ("ex5_modules", "HuberLoss", "quadratic_only", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        per = 0.5 * (pred - target) ** 2
        return per.mean() if self.reduction == "mean" else per.sum() if self.reduction == "sum" else per"""),
    ("ex5_modules", "HuberLoss", "smooth_l1", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        return super().forward(pred, target) / self.delta"""),
    ("ex5_modules", "HuberLoss", "delta_factor", """
_RightHuber = HuberLoss
class HuberLoss(_RightHuber):
    def forward(self, pred, target):
        err = (pred - target).abs()
        per = ag.where(err < self.delta, 0.5 * err * err, err - 0.5 * self.delta)
        return per.mean() if self.reduction == "mean" else per.sum() if self.reduction == "sum" else per"""),
    ("ex5_modules", "MLP", "unregistered", """
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:])]
    def forward(self, x):
        for layer in self.layers[:-1]:
            x = layer(x).relu()
        return self.layers[-1](x)"""),
    ("ex5_modules", "MLP", "relu_on_output", """
_RightMLP = MLP
class MLP(_RightMLP):
    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return x"""),
    ("ex5_modules", "MLP", "no_activation", """
_RightMLP = MLP
class MLP(_RightMLP):
    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x"""),
    ("ex5_modules", "MLP", "used_library", """
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])
    def forward(self, x):
        return self.net(x)"""),
    ("ex5_modules", "SGDMomentum", "used_library", """
from autogradkit import optim
class SGDMomentum(optim.SGD):
    pass"""),
    ("ex5_modules", "SGDMomentum", "used_library", """
from autogradkit import optim
class SGDMomentum:
    def __init__(self, params, lr, momentum=0.9):
        self.inner = optim.SGD(params, lr=lr, momentum=momentum)
    def step(self):
        self.inner.step()
    def zero_grad(self):
        self.inner.zero_grad()"""),
    ("ex5_modules", "SGDMomentum", "generator_params", """
class SGDMomentum:
    def __init__(self, params, lr, momentum=0.9):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = {}
    def step(self):
        with ag.no_grad():
            for p in self.params:
                if p.grad is not None:
                    v = self.velocity.get(id(p))
                    v = p.grad.clone() if v is None else self.momentum * v + p.grad
                    self.velocity[id(p)] = v
                    p -= self.lr * v
    def zero_grad(self):
        for p in self.params:
            p.grad = None"""),
    ("ex5_modules", "SGDMomentum", "no_momentum", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def step(self):
        self.velocities = [None] * len(self.params)         # forgotten at every step
        super().step()"""),
    ("ex5_modules", "SGDMomentum", "dampened", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def step(self):
        with ag.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is not None:
                    v = self.velocities[i]
                    v = (0 if v is None else self.momentum * v) + (1 - self.momentum) * p.grad
                    self.velocities[i] = v
                    p -= self.lr * v"""),
    ("ex5_modules", "SGDMomentum", "negated", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def __init__(self, params, lr, momentum=0.9):
        super().__init__(params, -lr, momentum)"""),
    ("ex5_modules", "SGDMomentum", "no_update", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p = p - self.lr * p.grad"""),
    ("ex5_modules", "SGDMomentum", "forgot_zero_grad", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def zero_grad(self):
        pass"""),
    ("ex6_training", "evaluate", "graph_recorded",
     "def evaluate(net, x, y):\n    return nn.MSELoss()(net(x), y).item()"),
    ("ex6_training", "evaluate", "backward_called", """
def evaluate(net, x, y):
    loss = nn.MSELoss()(net(x), y)
    loss.backward()
    return loss.item()"""),
    ("ex6_training", "evaluate", "not_float", """
def evaluate(net, x, y):
    with ag.no_grad():
        return nn.MSELoss()(net(x), y)"""),
    ("ex6_training", "evaluate", "summed", """
def evaluate(net, x, y):
    with ag.no_grad():
        return ((net(x) - y) ** 2).sum().item()"""),
    ("ex6_training", "clip_grad_norm", "per_parameter", """
def clip_grad_norm(parameters, max_norm):
    total = 0.0
    for p in parameters:
        if p.grad is not None:
            norm = float((p.grad * p.grad).sum()) ** 0.5
            total += norm * norm
            if norm > max_norm:
                p.grad.mul_(max_norm / (norm + 1e-6))
    return total ** 0.5"""),
    ("ex6_training", "clip_grad_norm", "used_library", """
def clip_grad_norm(parameters, max_norm):
    return ag.nn.utils.clip_grad_norm_(parameters, max_norm).item()"""),
    ("ex6_training", "clip_grad_norm", "always_rescaled", """
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = sum(float((g * g).sum()) for g in grads) ** 0.5
    for g in grads:
        g.mul_(max_norm / (norm + 1e-6))
    return norm"""),
    ("ex6_training", "clip_grad_norm", "not_clipped", """
def clip_grad_norm(parameters, max_norm):
    norm = sum(float((p.grad * p.grad).sum()) for p in parameters if p.grad is not None) ** 0.5
    for p in parameters:                     # a generator: empty the second time
        if p.grad is not None and norm > max_norm:
            p.grad.mul_(max_norm / (norm + 1e-6))
    return norm"""),
    ("ex6_training", "clip_grad_norm", "clipped_norm_returned", """
_right_clip = clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    return min(_right_clip(parameters, max_norm), max_norm)"""),
    ("ex6_training", "clip_grad_norm", "squared_norm", """
_right_clip = clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    return _right_clip(parameters, max_norm) ** 2"""),
    ("ex6_training", "train_epoch", "ignored_optimizer", """
_right_epoch = train_epoch
def train_epoch(net, loader, optimizer, max_norm=None):
    own = optim.SGD(net.parameters(), lr=0.01)
    return _right_epoch(net, loader, own, max_norm)"""),
    ("ex6_training", "train_epoch", "forgot_zero_grad", """
def train_epoch(net, loader, optimizer, max_norm=None):
    total, count = 0.0, 0
    for xb, yb in loader:
        loss = nn.MSELoss()(net(xb), yb)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(xb), count + len(xb)
    return total / count"""),
    ("ex6_training", "train_epoch", "unweighted_mean", """
def train_epoch(net, loader, optimizer, max_norm=None):
    losses = []
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.MSELoss()(net(xb), yb)
        loss.backward()
        if max_norm is not None:
            clip_grad_norm(net.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)"""),
    ("ex6_training", "train_epoch", "not_clipped", """
def train_epoch(net, loader, optimizer, max_norm=None):
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.MSELoss()(net(xb), yb)
        loss.backward()
        optimizer.step()
        if max_norm is not None:
            clip_grad_norm(net.parameters(), max_norm)      # too late: the step is taken
        total, count = total + loss.item() * len(xb), count + len(xb)
    return total / count"""),
    ("ex6_training", "train_epoch", "wrong_steps", """
def train_epoch(net, loader, optimizer, max_norm=None):
    optimizer.zero_grad()
    total, count = 0.0, 0
    for xb, yb in loader:
        loss = nn.MSELoss()(net(xb), yb)
        loss.backward()
        total, count = total + loss.item() * len(xb), count + len(xb)
    optimizer.step()
    return total / count"""),
    ("ex6_training", "fit", "never_stopped", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history = []
    for epoch in range(max_epochs):
        train_epoch(net, loader, optimizer)
        history.append(evaluate(net, x_val, y_val))
    return history"""),
    ("ex6_training", "fit", "not_restored", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history, best, best_state, waited = [], float("inf"), None, 0
    for epoch in range(max_epochs):
        train_epoch(net, loader, optimizer)
        history.append(evaluate(net, x_val, y_val))
        if history[-1] < best:
            best, waited, best_state = history[-1], 0, net.state_dict()   # not a copy
        else:
            waited += 1
            if waited == patience:
                break
    net.load_state_dict(best_state)
    return history"""),
    ("ex6_training", "fit", "no_reset", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history, best, best_state, bad = [], float("inf"), None, 0
    for epoch in range(max_epochs):
        train_epoch(net, loader, optimizer)
        history.append(evaluate(net, x_val, y_val))
        if history[-1] < best:
            best = history[-1]
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad == patience:
                break
    net.load_state_dict(best_state)
    return history"""),
    ("ex6_training", "fit", "patience_off_by_one", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history, best, best_state, waited = [], float("inf"), None, 0
    for epoch in range(max_epochs):
        train_epoch(net, loader, optimizer)
        history.append(evaluate(net, x_val, y_val))
        if history[-1] < best:
            best, waited = history[-1], 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited > patience:
                break
    net.load_state_dict(best_state)
    return history"""),
    ("ex6_training", "fit", "training_losses", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history, best, best_state, waited = [], float("inf"), None, 0
    for epoch in range(max_epochs):
        history.append(train_epoch(net, loader, optimizer))
        value = evaluate(net, x_val, y_val)
        if value < best:
            best, waited = value, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited == patience:
                break
    net.load_state_dict(best_state)
    return history"""),
    ("ex6_training", "fit", "ignored_optimizer", """
_right_fit = fit
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    own = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    return _right_fit(net, loader, x_val, y_val, own, max_epochs, patience)"""),
    ("ex6_training", "fit", "graph_recorded", """
def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
    history, best, best_state, waited = [], float("inf"), None, 0
    for epoch in range(max_epochs):
        train_epoch(net, loader, optimizer)
        history.append(nn.MSELoss()(net(x_val), y_val).item())       # recording on
        if history[-1] < best:
            best, waited = history[-1], 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited == patience:
                break
    net.load_state_dict(best_state)
    return history"""),
    ("ex7_devices", "pick_device", "hard_coded_cpu", 'def pick_device():\n    return "cpu"'),
    ("ex7_devices", "pick_device", "hard_coded_cuda", 'def pick_device():\n    return "cuda"'),
    ("ex7_devices", "pick_device", "swapped",
     'def pick_device():\n    return "cpu" if ag.cuda.is_available() else "cuda"'),
    ("ex7_devices", "pick_device", "not_a_device",
     "def pick_device():\n    return ag.cuda.is_available()"),
    ("ex7_devices", "to_device", "structure", """
def to_device(batch, device):
    if isinstance(batch, ag.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [to_device(item, device) for item in batch]
    return batch"""),
    ("ex7_devices", "to_device", "in_place", """
def to_device(batch, device):
    if isinstance(batch, ag.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        for key in batch:
            batch[key] = to_device(batch[key], device)
        return batch
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(item, device) for item in batch)
    return batch"""),
    ("ex7_devices", "to_device", "not_moved", """
def to_device(batch, device):
    if isinstance(batch, ag.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: value.to(device) if isinstance(value, ag.Tensor) else value
                for key, value in batch.items()}
    return batch"""),
    ("ex7_devices", "train_steps", "moved_to_cuda", """
_right_train = train_steps
def train_steps(model, x, y, device, steps, lr):
    return _right_train(model, x, y, "cuda" if ag.cuda.is_available() else "cpu", steps, lr)"""),
    ("ex7_devices", "train_steps", "not_moved", """
_right_train = train_steps
def train_steps(model, x, y, device, steps, lr):
    return _right_train(model, x, y, "cpu", steps, lr)"""),
    ("ex7_devices", "train_steps", "not_float", """
def train_steps(model, x, y, device, steps, lr):
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses"""),
    ("ex7_devices", "train_steps", "forgot_zero_grad", """
def train_steps(model, x, y, device, steps, lr):
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses"""),
    ("ex8_beyond", "Softplus", "not_function", """
class Softplus:
    @staticmethod
    def apply(x):
        return (1 + x.exp()).log()"""),
    ("ex8_beyond", "Softplus", "overflow", """
class Softplus(autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ag.tensor(np.log(1 + np.exp(x.detach().numpy())), dtype=x.dtype)
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        e = np.exp(x.detach().numpy())
        return grad_output * ag.tensor(e / (1 + e), dtype=x.dtype)"""),
    ("ex8_beyond", "Softplus", "used_library", """
class Softplus(autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ag.nn.functional.softplus(x)
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ag.sigmoid(x)"""),
    ("ex8_beyond", "Softplus", "forgot_upstream", """
_RightSoftplus = Softplus
class Softplus(autograd.Function):
    forward = _RightSoftplus.forward
    @staticmethod
    def backward(ctx, grad_output):
        return _RightSoftplus.backward(ctx, ag.ones_like(grad_output))"""),
    ("ex8_beyond", "Softplus", "mirrored", """
_RightSoftplus = Softplus
class Softplus(autograd.Function):
    forward = _RightSoftplus.forward
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        a = x.detach().numpy()
        return grad_output * ag.tensor(1 / (1 + np.exp(a)), dtype=x.dtype)"""),
    ("ex8_beyond", "td_target", "not_detached",
     "def td_target(net, next_x, reward, gamma):\n    return reward + gamma * net(next_x)"),
    ("ex8_beyond", "td_target", "grad_mode_left_off", """
def td_target(net, next_x, reward, gamma):
    ag.set_grad_enabled(False)
    return reward + gamma * net(next_x)"""),
    ("ex8_beyond", "td_target", "froze_params", """
def td_target(net, next_x, reward, gamma):
    for p in net.parameters():
        p.requires_grad_(False)
    return reward + gamma * net(next_x)"""),
    ("ex8_beyond", "clip_grad_hook", "no_handle",
     "def clip_grad_hook(t, limit):\n    t.register_hook(lambda grad: grad.clamp(-limit, limit))"),
    ("ex8_beyond", "clip_grad_hook", "not_clipped", """
def clip_grad_hook(t, limit):
    def hook(grad):
        grad.clamp(-limit, limit)
    return t.register_hook(hook)"""),
    ("ex8_beyond", "clip_grad_hook", "one_sided",
     "def clip_grad_hook(t, limit):\n    return t.register_hook(lambda grad: grad.clamp(max=limit))"),
    ("ex8_beyond", "clip_grad_hook", "not_removed", """
class _Handle:
    def remove(self):
        pass
def clip_grad_hook(t, limit):
    t.register_hook(lambda grad: grad.clamp(-limit, limit))
    return _Handle()"""),
    ("ex9_vjp_puzzles", "vjp_broadcast_add", "unsummed_broadcast",
     "def vjp_broadcast_add(g, a, b):\n    return g, g"),
    ("ex9_vjp_puzzles", "vjp_broadcast_add", "averaged", """
def vjp_broadcast_add(g, a, b):
    def mean_to(shape):
        out = g
        while out.ndim > len(shape):
            out = out.mean(axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and out.shape[axis] != 1:
                out = out.mean(axis=axis, keepdims=True)
        return out
    return mean_to(a.shape), mean_to(b.shape)"""),
    ("ex9_vjp_puzzles", "vjp_broadcast_add", "reshaped", """
def vjp_broadcast_add(g, a, b):
    def sum_to(shape):
        out = g
        while out.ndim > len(shape):
            out = out.sum(axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and out.shape[axis] != 1:
                out = out.sum(axis=axis)
        return out
    return sum_to(a.shape), sum_to(b.shape)"""),
    ("ex9_vjp_puzzles", "vjp_mean", "summed",
     "def vjp_mean(g, x, axis=None, keepdims=False):\n"
     "    kept = g if keepdims or axis is None else np.expand_dims(g, axis)\n"
     "    return np.broadcast_to(kept, x.shape).copy()"),
    ("ex9_vjp_puzzles", "vjp_mean", "lost_axis",
     "def vjp_mean(g, x, axis=None, keepdims=False):\n"
     "    return np.broadcast_to(g, x.shape) / (x.size // g.size)"),
    ("ex9_vjp_puzzles", "vjp_mean", "used_engine", """
import autogradkit as ag
def vjp_mean(g, x, axis=None, keepdims=False):
    t = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    y = t.mean() if axis is None else t.mean(dim=axis, keepdim=keepdims)
    if axis is None and keepdims:
        y = y.reshape((1,) * x.ndim)
    y.backward(ag.tensor(g, dtype=ag.float64))
    return t.grad.numpy()"""),
    ("ex9_vjp_puzzles", "vjp_reshape_permute", "forward_permutation",
     "def vjp_reshape_permute(g, x, shape, axes):\n    return g.transpose(axes).reshape(x.shape)"),
    ("ex9_vjp_puzzles", "vjp_reshape_permute", "reshape_only",
     "def vjp_reshape_permute(g, x, shape, axes):\n    return g.reshape(x.shape)"),
    ("ex9_vjp_puzzles", "vjp_where", "swapped",
     "def vjp_where(g, cond, a, b):\n    return g * ~cond, g * cond"),
    ("ex9_vjp_puzzles", "vjp_where", "same_mask",
     "def vjp_where(g, cond, a, b):\n    return g * cond, g * cond"),
    ("ex9_vjp_puzzles", "vjp_where", "not_masked",
     "def vjp_where(g, cond, a, b):\n    return g.copy(), g.copy()"),
    ("ex9_vjp_puzzles", "vjp_where", "input_changed",
     "def vjp_where(g, cond, a, b):\n    other = g * ~cond\n    g[~cond] = 0\n    return g, other"),
    ("ex9_vjp_puzzles", "vjp_index", "missing_accumulation",
     "def vjp_index(g, x, idx):\n    out = np.zeros(x.shape)\n    out[idx] += g\n    return out"),
    ("ex9_vjp_puzzles", "vjp_cumsum", "forward_direction",
     "def vjp_cumsum(g, x, axis):\n    return np.cumsum(g, axis=axis)"),
    ("ex9_vjp_puzzles", "vjp_max", "ties_full",
     "def vjp_max(g, x):\n    return g * (x == x.max())"),
    ("ex9_vjp_puzzles", "vjp_max", "first_only", """
def vjp_max(g, x):
    out = np.zeros(x.shape)
    out[np.unravel_index(np.argmax(x), x.shape)] = g
    return out"""),
    ("ex9_vjp_puzzles", "vjp_bmm", "transposed",
     "def vjp_bmm(g, A, B):\n    return B @ g.swapaxes(-1, -2), g.swapaxes(-1, -2) @ A"),
    ("ex9_vjp_puzzles", "vjp_bmm", "batch_summed",
     "def vjp_bmm(g, A, B):\n    return g @ B.swapaxes(-1, -2), np.einsum('bnk,bnm->km', A, g)"),
    ("ex9_vjp_puzzles", "vjp_softmax", "missing_sum", """
def vjp_softmax(g, x, axis):
    y = np.exp(x - x.max(axis=axis, keepdims=True))
    return g * y / y.sum(axis=axis, keepdims=True)"""),
    ("ex9_vjp_puzzles", "vjp_softmax", "diagonal_only", """
def vjp_softmax(g, x, axis):
    y = np.exp(x - x.max(axis=axis, keepdims=True))
    y = y / y.sum(axis=axis, keepdims=True)
    return g * y * (1 - y)"""),
    ("ex9_vjp_puzzles", "vjp_log_softmax", "missing_sum",
     "def vjp_log_softmax(g, x, axis):\n    return g.copy()"),
    ("ex9_vjp_puzzles", "vjp_log_softmax", "softmax_rule",
     "def vjp_log_softmax(g, x, axis):\n    return vjp_softmax(g, x, axis)"),
    ("ex10_forward_mode", "jvp_tanh_matmul", "missing_product_term", """
def jvp_tanh_matmul(x, x_dot, W, W_dot):
    return (1 - np.tanh(W @ x) ** 2) * (W @ x_dot)"""),
    ("ex10_forward_mode", "jvp_tanh_matmul", "outer_missing",
     "def jvp_tanh_matmul(x, x_dot, W, W_dot):\n    return W_dot @ x + W @ x_dot"),
    ("ex10_forward_mode", "jvp_softmax", "diagonal_only", """
def jvp_softmax(x, x_dot):
    e = np.exp(x)
    s = e / e.sum(axis=-1, keepdims=True)
    return s * (1 - s) * x_dot"""),
    ("ex10_forward_mode", "jvp_norm", "squared_norm",
     "def jvp_norm(x, x_dot):\n    return 2 * np.sum(x * x_dot, axis=-1)"),
    ("ex10_forward_mode", "jvp_norm", "used_engine", """
import autogradkit
def jvp_norm(x, x_dot):
    autogradkit.tensor(x)
    return np.sum(x * x_dot, axis=-1) / np.sqrt(np.sum(x * x, axis=-1))"""),
    ("ex10_forward_mode", "jvp_from_vjps", "vjp_of_v",
     "def jvp_from_vjps(vjp, v, m):\n    return vjp(v)"),
    ("ex10_forward_mode", "jvp_from_vjps", "too_many_calls", """
def jvp_from_vjps(vjp, v, m):
    J = np.stack([vjp(e) for e in np.eye(m)] + [vjp(np.ones(m))])
    return J[:m] @ v"""),
    ("ex11_memory_stability", "bce_with_logits", "overflow", """
def bce_with_logits(z, y):
    s = 1 / (1 + np.exp(-z))
    return float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s)))), (s - y) / len(z)"""),
    ("ex11_memory_stability", "bce_with_logits", "not_averaged", """
def bce_with_logits(z, y):
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    e = np.exp(-np.abs(z))
    return float(loss.mean()), np.where(z >= 0, 1 / (1 + e), e / (1 + e)) - y"""),
    ("ex11_memory_stability", "bce_with_logits", "sign_flipped", """
def bce_with_logits(z, y):
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    e = np.exp(-np.abs(z))
    return float(loss.mean()), (y - np.where(z >= 0, 1 / (1 + e), e / (1 + e))) / len(z)"""),
    ("ex11_memory_stability", "bce_with_logits", "used_engine", """
import autogradkit
def bce_with_logits(z, y):
    zt = autogradkit.tensor(z, requires_grad=True)
    loss = autogradkit.nn.functional.binary_cross_entropy_with_logits(zt, autogradkit.tensor(y))
    loss.backward()
    return loss.item(), zt.grad.numpy()"""),
    ("ex11_memory_stability", "norm_and_grad", "overflow", """
def norm_and_grad(x):
    n = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return n[..., 0], np.where(n > 0, x / np.where(n > 0, n, 1), 0.0)"""),
    ("ex11_memory_stability", "norm_and_grad", "nan_at_zero", """
def norm_and_grad(x):
    s = np.max(np.abs(x), axis=-1, keepdims=True)
    n = s * np.sqrt(np.sum((x / np.where(s > 0, s, 1)) ** 2, axis=-1, keepdims=True))
    with np.errstate(all="ignore"):
        return n[..., 0], x / n"""),
    ("ex11_memory_stability", "leaky_he_std", "slope_ignored",
     "def leaky_he_std(fan_in, negative_slope):\n    return math.sqrt(2 / fan_in)"),
    ("ex11_memory_stability", "leaky_he_std", "variance_not_std",
     "def leaky_he_std(fan_in, negative_slope):\n    return 2 / ((1 + negative_slope ** 2) * fan_in)"),
    ("ex11_memory_stability", "leaky_he_std", "slope_not_squared",
     "def leaky_he_std(fan_in, negative_slope):\n    return math.sqrt(2 / ((1 + negative_slope) * fan_in))"),
    ("ex11_memory_stability", "RecomputedTanhLayer", "saved_output", """
class RecomputedTanhLayer(autograd.Function):
    @staticmethod
    def forward(ctx, x, W):
        y = ag.tanh(x @ W.t())
        ctx.save_for_backward(x, W, y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, W, y = ctx.saved_tensors
        grad_u = grad_y * (1 - y * y)
        return grad_u @ W, grad_u.t() @ x"""),
    ("ex11_memory_stability", "RecomputedTanhLayer", "saved_output", """
class RecomputedTanhLayer(autograd.Function):
    @staticmethod
    def forward(ctx, x, W):
        y = ag.tanh(x @ W.t())
        ctx.save_for_backward(x, W)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, W = ctx.saved_tensors
        grad_u = grad_y * (1 - ctx.y * ctx.y)
        return grad_u @ W, grad_u.t() @ x"""),
    ("ex11_memory_stability", "RecomputedTanhLayer", "no_tanh_slope", """
class RecomputedTanhLayer(autograd.Function):
    @staticmethod
    def forward(ctx, x, W):
        ctx.save_for_backward(x, W)
        return ag.tanh(x @ W.t())

    @staticmethod
    def backward(ctx, grad_y):
        x, W = ctx.saved_tensors
        return grad_y @ W, grad_y.t() @ x"""),
    ("ex11_memory_stability", "RecomputedTanhLayer", "used_checkpoint", """
from autogradkit.utils.checkpoint import checkpoint
class RecomputedTanhLayer(autograd.Function):
    @staticmethod
    def forward(ctx, x, W):
        ctx.save_for_backward(x, W)
        return ag.tanh(x @ W.t())

    @staticmethod
    def backward(ctx, grad_y):
        x, W = ctx.saved_tensors
        x, W = x.detach().requires_grad_(), W.detach().requires_grad_()
        with ag.enable_grad():
            y = checkpoint(lambda a, b: ag.tanh(a @ b.t()), x, W, use_reentrant=False)
        return autograd.grad(y, [x, W], grad_y)"""),
    ("ex11_memory_stability", "train_chunks", "not_detached", """
def train_chunks(model, optimizer, chunks):
    h, losses = model.initial_state(), []
    for xs, ys in chunks:
        pass
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses"""),
    ("ex11_memory_stability", "train_chunks", "retain_graph", """
def train_chunks(model, optimizer, chunks):
    h, losses = model.initial_state(), []
    for xs, ys in chunks:
        pass
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward(retain_graph=True)
        optimizer.step()
        losses.append(loss.item())
    return losses"""),
    ("ex11_memory_stability", "train_chunks", "reset_state", """
def train_chunks(model, optimizer, chunks):
    h, losses = model.initial_state(), []
    for xs, ys in chunks:
        h = model.initial_state()
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses"""),
    ("ex11_memory_stability", "train_chunks", "returned_tensors", """
def train_chunks(model, optimizer, chunks):
    h, losses = model.initial_state(), []
    for xs, ys in chunks:
        h = h.detach()
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses"""),
    ("ex11_memory_stability", "train_chunks", "graph_grows", """
def train_chunks(model, optimizer, chunks):
    h, losses, total = model.initial_state(), [], 0
    for xs, ys in chunks:
        h = h.detach()
        optimizer.zero_grad()
        loss = 0
        for x, y in zip(xs, ys):
            h = model.step(x, h)
            loss = loss + model.loss(h, y)
        loss.backward()
        optimizer.step()
        total = total + loss
        losses.append(loss.item())
    return losses"""),
]


def _code(task, mistake):
    return next(code for _, t, m, code in WRONG if (t, m) == (task, mistake))


def _wrong(exercise_id, task, code):
    ns = dict(solutions(exercise_id))
    exec(compile(code.strip("\n"), f"<wrong {task}>", "exec"), ns)
    return ns[task]


@pytest.mark.parametrize("exercise_id,task,mistake,code", WRONG,
                         ids=[f"{t}-{m}" for _, t, m, _ in WRONG])
def test_a_wrong_answer_is_caught_with_the_intended_hint(exercise_id, task, mistake, code):
    ex = load(exercise_id)
    result = ex.evaluate(_wrong(exercise_id, task, code), task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    own = ex.tasks[task].hints.get(mistake)
    intended = own[1] if own else misconceptions.hint(mistake)
    assert intended and result.hint == intended
    report = result.report()
    assert report.startswith("❌") and f"hint: {intended}" in report and "looks like:" in report


def test_every_task_has_a_deliberately_wrong_answer():
    covered = {(e, t) for e, t, _, _ in WRONG}
    assert set(ALL_TASKS) <= covered, sorted(set(ALL_TASKS) - covered)


def test_the_issue_s_misconception_detectors_are_all_exercised():
    seen = {m for _, _, m, _ in WRONG}
    assert {"negated", "missing_accumulation", "unsummed_broadcast", "forgot_zero_grad"} <= seen


# ---- ex9: the VJP puzzles' own guards ----------------------------------------------------------
EX9 = [t for e, t in ALL_TASKS if e == "ex9_vjp_puzzles"]


@pytest.mark.parametrize("task", EX9)
def test_every_vjp_puzzle_ends_with_a_central_difference_gradient_check(task):
    """A rule that is right on every engine case but wrong on the last (small) case is caught by
    the gradient check, which does not use the engine."""
    ex = load("ex9_vjp_puzzles")
    right = solutions("ex9_vjp_puzzles")[task]
    cases = ex.evaluate(right, task).cases
    calls = []

    def off_on_the_last_case(*args):
        calls.append(1)
        out = right(*args)
        if len(calls) < cases:
            return out
        return tuple(1.01 * o for o in out) if isinstance(out, tuple) else 1.01 * out

    off_on_the_last_case.__name__ = task
    result = ex.evaluate(off_on_the_last_case, task)
    assert not result.passed and result.status == "wrong", result.report()
    assert result.case.startswith("central-difference gradient check"), result.report()
    assert re.search(r"grad of \w+(\[[\d, ]+\])?: expected \S+, got \S+", result.message)


def test_a_vjp_puzzle_answered_by_pytorch_s_autograd_fails():
    pytest.importorskip("torch")
    wrong = _wrong("ex9_vjp_puzzles", "vjp_softmax", """
import torch
def vjp_softmax(g, x, axis):
    t = torch.tensor(x, requires_grad=True)
    torch.softmax(t, axis).backward(torch.tensor(g))
    return t.grad.numpy()""")
    result = load("ex9_vjp_puzzles").evaluate(wrong, "vjp_softmax")
    assert result.misconception == "used_engine" and "torch" in result.message, result.report()
    assert sys.getprofile() is None


def test_the_numpy_only_guard_leaves_no_profiler_behind_after_an_error_or_a_time_out():
    ex = load("ex9_vjp_puzzles")
    ns = {}
    exec("def vjp_max(g, x):\n    raise ValueError('no')\n"
         "def vjp_cumsum(g, x, axis):\n    while True:\n        pass", ns)
    assert ex.evaluate(ns["vjp_max"]).status == "error"
    assert ex.evaluate(ns["vjp_cumsum"], time_limit=0.3).status == "timeout"
    assert sys.getprofile() is None and sys.gettrace() is None


# ---- ex4–ex6: transfer, PyTorch's semantics, speed --------------------------------------------
def test_exercises_4_to_6_ask_for_other_things_than_the_course_notebooks_turns():
    import importlib
    from autogradkit.exercises import TURNS
    asked = {t for e in ("ex4_tensors", "ex5_modules", "ex6_training") for t in load(e).tasks}
    for turn in TURNS:
        try:
            importlib.import_module(f"autogradkit.exercises.{turn}")
        except ModuleNotFoundError:
            continue                       # that notebook's turns are not written yet
        assert not asked & set(load(turn).tasks), (turn, asked & set(load(turn).tasks))


def test_ex6_quotes_the_article_s_final_loss_as_the_course_does():
    """Notebook 6 (and 7) report 0.6116 after 1000 epochs; ex6 says and computes the same."""
    for path in (SOURCES["ex6_training"], LEARNERS["ex6_training"]):
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                            for o in c.outputs)
        assert "0.6116" in text and "training loss 0.6116" in printed
        assert "stochastic" not in text.lower()        # the article's loop is full-batch


def test_ex6_is_checked_in_a_few_seconds():
    ex, ns = load("ex6_training"), solutions("ex6_training")
    start = time.monotonic()
    for task in ex.tasks:
        assert ex.evaluate(ns[task], task).passed
    assert time.monotonic() - start < 20


def test_ex5_and_ex6_solutions_behave_like_pytorch():
    """The checks' expected values are PyTorch's semantics: compare the solutions with torch."""
    torch = pytest.importorskip("torch")
    ns5, ns6 = solutions("ex5_modules"), solutions("ex6_training")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=7), [0.0]])
    for slope in (0.01, 0.2):
        mine = ag.tensor(x, dtype=ag.float64, requires_grad=True)
        ns5["LeakyReLU"](negative_slope=slope)(mine).sum().backward()
        theirs = torch.tensor(x, requires_grad=True)
        torch.nn.LeakyReLU(negative_slope=slope)(theirs).sum().backward()
        assert np.allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    for reduction in ("mean", "sum", "none"):
        for delta in (1.0, 0.5, 2.0):
            pred, target = rng.normal(size=(3, 4)) * 2, rng.normal(size=(3, 4))
            pred[0, 0] = target[0, 0] + delta                 # exactly on the seam
            g = rng.normal(size=(3, 4))
            mine = ag.tensor(pred, dtype=ag.float64, requires_grad=True)
            out = ns5["HuberLoss"](reduction=reduction, delta=delta)(mine, ag.tensor(target, dtype=ag.float64))
            (out * ag.tensor(g, dtype=ag.float64)).sum().backward()
            theirs = torch.tensor(pred, requires_grad=True)
            ref = torch.nn.HuberLoss(reduction=reduction, delta=delta)(theirs, torch.tensor(target))
            (ref * torch.tensor(g)).sum().backward()
            assert np.allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
            assert np.allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    start = [rng.normal(size=(2, 3)), rng.normal(size=3)]
    mine = [ag.tensor(v, dtype=ag.float64, requires_grad=True) for v in start]
    theirs = [torch.tensor(v, requires_grad=True) for v in start]
    opt = ns5["SGDMomentum"](iter(mine), lr=0.1, momentum=0.9)
    ref = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    for step in range(4):
        c = rng.normal(size=(2, 3))
        ((mine[0] * ag.tensor(c, dtype=ag.float64)).sum() + (mine[1] ** 3).sum()).backward()
        ((theirs[0] * torch.tensor(c)).sum() + (theirs[1] ** 3).sum()).backward()
        opt.step(), ref.step()
        opt.zero_grad(), ref.zero_grad()
        for a, b in zip(mine, theirs):
            assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    grads = [rng.normal(size=(2, 2)) * 3, rng.normal(size=3) * 3]
    mine = [ag.tensor(np.zeros(v.shape), dtype=ag.float64, requires_grad=True) for v in grads]
    theirs = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in grads]
    for m, t, v in zip(mine, theirs, grads):
        (m * ag.tensor(v, dtype=ag.float64)).sum().backward()
        t.grad = torch.tensor(v)
    norm = ns6["clip_grad_norm"](iter(mine), 1.5)
    assert np.isclose(float(norm), float(torch.nn.utils.clip_grad_norm_(theirs, 1.5)), rtol=1e-12)
    for m, t in zip(mine, theirs):
        assert np.allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12)


# ---- ex7: device checks leave the backend as they found it ----------------------------------
def test_the_device_checks_restore_cuda_availability_and_the_cupy_backend():
    from autogradkit import backend
    before = (ag.cuda.is_available, backend.cuda_available, backend._cupy, backend._cupy_error)
    ns = solutions("ex7_devices")
    for task in ("pick_device", "to_device", "train_steps"):
        assert load("ex7_devices").evaluate(ns[task], task).passed
    assert (ag.cuda.is_available, backend.cuda_available, backend._cupy,
            backend._cupy_error) == before


# ---- what a report says ---------------------------------------------------------------------
def test_a_wrong_gradient_names_the_first_diverging_element_with_expected_and_got():
    ex = load("ex4_tensors")
    wrong = _wrong("ex4_tensors", "sequence_linear_vjp", _code("sequence_linear_vjp", "negated"))
    result = ex.evaluate(wrong, "sequence_linear_vjp")
    m = re.search(r"grad of W\[0, 0\]: expected (\S+), got (\S+)", result.report())
    assert m and float(m.group(1)) == -float(m.group(2)) != 0, result.report()


def test_a_wrong_backward_pass_names_the_graph_node():
    ex = load("ex3_backward")
    wrong = _wrong("ex3_backward", "backward", _code("backward", "zeros"))
    result = ex.evaluate(wrong, "backward")
    assert result.misconception == "zeros"
    assert re.search(r"grad of node '[^']+': expected \S+, got \S+", result.message), result.message


def test_a_backward_pass_that_runs_a_node_too_early_names_it_with_its_gradient_then_and_now():
    """Breadth-first from the root on c = a + b, L = c + c·c (c = 3): c passes on 1 before c·c
    has added its 6, so ∂L/∂a comes out 1 instead of 7 — the report names c and both numbers."""
    result = load("ex3_backward").evaluate(
        _wrong("ex3_backward", "backward", _code("backward", "before_consumers")), "backward")
    assert result.case.startswith("c = a + b, L = c + c·c"), result.report()
    assert result.message == ("node 'c' ran before its consumer 'c·c': c.grad was 1 when it "
                              "passed it on, but ∂L/∂c = 7"), result.report()


@pytest.mark.parametrize("task", ["sub_backward", "div_backward", "exp_backward",
                                  "consumer_counts", "backward"])
def test_an_ex3_answer_that_calls_the_prewritten_engine_must_write_it_by_hand(task):
    """The scalar engine's own rules (out._backward), backward and topological_order do the work
    for any of these tasks; an answer that calls them fails, whatever numbers it produces."""
    code = {
        "sub_backward": "def sub_backward(a, b, out):\n    out._backward()",
        "div_backward": "def div_backward(a, b, out):\n    out._backward()",
        "exp_backward": "def exp_backward(a, out):\n    out._backward()",
        "consumer_counts": _code("consumer_counts", "used_engine"),
        "backward": _code("backward", "used_engine"),
    }[task]
    result = load("ex3_backward").evaluate(_wrong("ex3_backward", task, code), task)
    assert not result.passed and result.misconception == "used_engine", result.report()
    assert "write it by hand" in result.message and "scalar." in result.message
    assert sys.getprofile() is None


def test_reports_are_deterministic_and_free_of_addresses_and_timings():
    ex = load("ex6_training")
    wrong = _wrong("ex6_training", "train_epoch", _code("train_epoch", "forgot_zero_grad"))
    first, second = (ex.evaluate(wrong, "train_epoch").report() for _ in range(2))
    assert first == second
    assert not re.search(r"0x[0-9a-fA-F]{6,}|\d+\.\d+ ?ms|seconds", first)


def test_check_prints_a_report_and_never_raises(capsys):
    ex = load("ex1_derivatives")
    ex.check(lambda x: 3 * x * x - 2)                  # a lambda has no task name
    ex.check(len, "no_such_task")
    ex.check(42, "dfdx")                               # not a function
    load("ex5_modules").check(solutions("ex5_modules")["LeakyReLU"](), "LeakyReLU")  # an instance
    out = capsys.readouterr().out
    assert "can't tell which task" in out and "no task called 'no_such_task'" in out
    assert "check expects the function dfdx itself" in out
    assert "check expects the class LeakyReLU itself" in out


def test_hints_never_contain_the_solution_code():
    for exercise_id, path in SOURCES.items():
        ex = load(exercise_id)
        nb = nbformat.read(path, as_version=4)
        solution_lines = set()
        for cell in nb.cells:
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
                for line in region.splitlines():
                    line = line.split("#")[0].strip()
                    if len(line) >= 8:
                        solution_lines.add(line)
        hints = [spec.hint for spec in ex.tasks.values()]
        hints += [h for spec in ex.tasks.values() for _, h in spec.hints.values()]
        hints += [h for _, h in misconceptions.CATALOGUE.values()]
        squash = lambda s: re.sub(r"\s+", "", s)           # noqa: E731
        for hint in hints:
            for line in solution_lines:
                assert squash(line) not in squash(hint), (exercise_id, line, hint)


def test_progress_lists_done_and_not_yet_tasks(capsys):
    ex = load("ex2_chain_rule")
    ex.reset()
    ns = solutions("ex2_chain_rule")
    ex.check(ns["grad_sin_square"])
    ex.check(_wrong("ex2_chain_rule", "adjoints", _code("adjoints", "missing_accumulation")), "adjoints")
    ex.progress()
    out = capsys.readouterr().out.splitlines()
    assert "Progress: Exercise 2: the chain rule and computational graphs" in out
    assert any("1. grad_sin_square" in line and line.endswith("done") for line in out)
    assert any("3. adjoints" in line and line.endswith("not yet") for line in out)
    assert any("2. neuron_grads" in line and line.endswith("not checked yet") for line in out)
    assert out[-1] == "1 of 4 tasks done"


# ---- learner code that raises, loops, or changes state -------------------------------------
def test_code_that_raises_is_a_failure_with_its_message_and_where():
    def dfdx(x):
        return 1 / (x - x)
    result = load("ex1_derivatives").evaluate(dfdx)
    assert result.status == "error"
    assert "your code raised ZeroDivisionError: float division by zero (in dfdx, line" in result.message


def test_a_not_yet_written_helper_is_reported_as_an_error_not_as_not_started():
    backward = _wrong("ex3_backward", "consumer_counts",
                      "def consumer_counts(root):\n    raise NotImplementedError("
                      "'consumer_counts: replace this line with your code')\n"
                      + _code("backward", "zeros").replace("waiting, ready = ",
                                                           "root.grad = 1.0\n    waiting, ready = "))
    result = load("ex3_backward").evaluate(backward, "backward")
    assert result.status == "error" and "consumer_counts" in result.message


def test_a_half_finished_class_says_which_part_is_still_the_stub():
    sgd = _wrong("ex5_modules", "SGDMomentum", """
_RightMomentum = SGDMomentum
class SGDMomentum(_RightMomentum):
    def zero_grad(self):
        raise NotImplementedError("SGDMomentum: replace this line with your code")""")
    result = load("ex5_modules").evaluate(sgd)
    assert result.status == "error" and result.case == "lr=0.1, momentum=0.9, step 1: zero_grad()"
    assert "NotImplementedError" in result.message and "still the stub" in result.hint


LOOPS = {
    "a plain endless loop": "def dfdx(x):\n    while True:\n        x = x + 1",
    "a loop that swallows every exception": (
        "def dfdx(x):\n    while True:\n        try:\n            x = x + 1\n        except:\n"
        "            pass"),
    "a long sleep": "import time\ndef dfdx(x):\n    time.sleep(60)",
}


@pytest.mark.parametrize("name", list(LOOPS))
def test_code_that_runs_forever_is_stopped_by_the_time_limit(name):
    ns = {}
    exec(LOOPS[name], ns)
    start = time.monotonic()
    result = load("ex1_derivatives").evaluate(ns["dfdx"], time_limit=0.5)
    assert time.monotonic() - start < 5
    assert result.status == "timeout" and result.misconception == "timeout"
    assert "did not finish within the time limit of 0.5 s" in result.message
    assert sys.gettrace() is None
    time.sleep(0.3)                                  # no stray time-limit exception arrives later


def test_the_time_limit_works_off_the_main_thread_too():
    ns = {}
    exec(LOOPS["a plain endless loop"], ns)
    out = {}

    def worker():
        out["result"] = load("ex1_derivatives").evaluate(ns["dfdx"], time_limit=0.5)
        time.sleep(0.3)
        out["alive"] = True

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert out.get("alive") and out["result"].status == "timeout"


def test_a_check_leaves_random_state_grad_mode_and_dtype_as_it_found_them():
    def fit(net, loader, x_val, y_val, optimizer, max_epochs, patience):
        ag.manual_seed(123)
        ag.set_default_dtype(ag.float64)
        np.random.seed(5)
        ag.set_grad_enabled(False)
        raise RuntimeError("half way")

    ag.manual_seed(7)
    np.random.seed(7)
    expected = ag.randn(4).tolist(), np.random.rand(2).tolist()
    ag.manual_seed(7)
    np.random.seed(7)
    result = load("ex6_training").evaluate(fit)
    assert result.status == "error" and "RuntimeError: half way" in result.message
    assert (ag.randn(4).tolist(), np.random.rand(2).tolist()) == expected
    assert ag.is_grad_enabled() and ag.get_default_dtype() == ag.float32


def test_a_check_never_touches_the_learner_s_objects():
    ns = solutions("ex6_training")
    net, x = ns["net"], ns["x"]
    before = {k: p.detach().numpy().copy() for k, p in net.named_parameters()}
    x_before = x.numpy().copy()
    for task in ("evaluate", "clip_grad_norm", "train_epoch", "fit"):
        assert load("ex6_training").evaluate(ns[task], task).passed
    for k, p in net.named_parameters():
        assert np.array_equal(p.detach().numpy(), before[k]) and p.grad is None
    assert np.array_equal(x.numpy(), x_before)


def test_sandbox_call_returns_values_and_never_raises_for_learner_errors():
    assert sandbox.call(lambda: 41 + 1).value == 42
    out = sandbox.call(lambda: sys.exit(3))
    assert not out.ok and out.error == "SystemExit: 3"


# ---- the generator ----------------------------------------------------------------------------
def test_strip_solutions_leaves_a_stub_named_after_the_task_with_the_marker_s_indent():
    code = ("import math\n\nclass SGD:\n    def step(self):\n        ### BEGIN SOLUTION\n"
            "        secret = 1\n        ### END SOLUTION\n\ndef f(x):\n    ### BEGIN SOLUTION\n"
            "    return x\n    ### END SOLUTION\n")
    out, names = notebooks.strip_solutions(code)
    assert names == ["SGD", "f"] and "secret" not in out and "return x" not in out
    assert ('        raise NotImplementedError("SGD: replace this line with your code")' in
            out.splitlines())
    assert '    raise NotImplementedError("f: replace this line with your code")' in out.splitlines()


@pytest.mark.parametrize("code,problem", [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a top-level def or class"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", "without an END"),
    ("def f():\n    return 1\n    ### END SOLUTION", "without a BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "nested"),
])
def test_strip_solutions_rejects_broken_regions(code, problem):
    with pytest.raises(notebooks.SourceError, match=problem):
        notebooks.strip_solutions(code)


def test_learner_notebooks_hold_no_solution_code_and_one_stub_per_task():
    for exercise_id, path in LEARNERS.items():
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["autogradkit"]["exercise"] == exercise_id
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for task in load(exercise_id).tasks:
            assert f'raise NotImplementedError("{task}: replace this line with your code")' in code


def test_committed_learner_notebooks_are_up_to_date_with_their_sources(capsys):
    assert notebooks.up_to_date_problems(EXERCISE_DIR) == []
    assert main(["exercises", "--check", "--dir", str(EXERCISE_DIR)]) == 0


def test_an_edited_source_makes_the_up_to_date_check_fail(tmp_path, capsys):
    shutil.copytree(EXERCISE_DIR, tmp_path / "exercises")
    folder = tmp_path / "exercises"
    src = folder / "source" / "ex1_derivatives.ipynb"
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if "def dfdx" in c.source)
    cell.source = cell.source.replace("def dfdx(x):", "def dfdx(x):\n    # a new comment")
    nbformat.write(nb, src)
    assert main(["exercises", "--check", "--dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "ex1_derivatives.ipynb: out of date" in err
    # regenerating (without running) fixes the shape but the outputs are now missing
    assert main(["exercises", "--no-execute", "--dir", str(folder), "ex1_derivatives"]) == 0
    problems = notebooks.up_to_date_problems(folder)
    assert problems and all("not executed" in p for p in problems)


def test_a_source_without_a_check_for_a_task_is_rejected(tmp_path):
    nb = nbformat.read(SOURCES["ex1_derivatives"], as_version=4)
    nb.cells = [c for c in nb.cells if c.source.strip() != "ex.check(dfdx)"]
    problems = notebooks.validate_source(nb, "ex1_derivatives.ipynb")
    assert problems == ["ex1_derivatives.ipynb: task 'dfdx' is never checked (ex.check(dfdx) "
                        "or turn.use(dfdx))"]


# ---- headless grading and nbval (these run real kernels) ------------------------------------------
def _grade_json(paths, *extra, capsys):
    rc = main(["grade", "--json", *extra, *map(str, paths)])
    return rc, json.loads(capsys.readouterr().out)


def test_grade_scores_every_solution_source_100_percent(capsys):
    rc, report = _grade_json(SOURCES.values(), capsys=capsys)
    assert rc == 0 and report["all_passed"]
    assert report["passed"] == report["total"] == len(ALL_TASKS)
    assert all(g["cell_errors"] == 0 and g["error"] is None for g in report["notebooks"])


def test_grade_scores_every_untouched_learner_notebook_0_and_exits_non_zero(capsys):
    rc, report = _grade_json(LEARNERS.values(), capsys=capsys)
    assert rc == 1 and not report["all_passed"]
    assert report["passed"] == 0 and report["total"] == len(ALL_TASKS)
    for grade in report["notebooks"]:
        assert grade["cell_errors"] == 0
        assert all(t["status"] == "not_started" for t in grade["tasks"])


def test_grade_table_for_a_half_done_notebook_with_an_endless_loop(tmp_path, capsys):
    nb = nbformat.read(LEARNERS["ex1_derivatives"], as_version=4)
    stub = 'raise NotImplementedError("{}: replace this line with your code")'
    answers = {"dfdx": "return 3 * x**2 - 2",
               "second_difference": "while True:\n        pass",          # loops forever
               "richardson_difference": "return (f(x) - f(x - h)) / h"}  # the backward quotient
    for cell in nb.cells:
        for task, body in answers.items():
            cell.source = cell.source.replace(stub.format(task), body)
    nb.cells.append(nbformat.v4.new_code_cell("while True:\n    pass"))  # a cell that never ends
    path = tmp_path / "ex1_derivatives.ipynb"
    nbformat.write(nb, path)
    rc = main(["grade", "--time-limit", "1", "--timeout", "3", str(path)])
    out = capsys.readouterr().out
    assert rc == 1
    lines = {line.split()[1]: line for line in out.splitlines() if re.match(r"\s+\d+\s", line)}
    assert "pass" in lines["dfdx"]
    assert "FAIL" in lines["second_difference"] and "time limit of 1 s" in lines["second_difference"]
    assert "FAIL" in lines["richardson_difference"] and "expected" in lines["richardson_difference"]
    assert "not started" in lines["numerical_gradient"]
    assert "2 cell(s) raised an error" in out and "score: 1/4 tasks passed (25%)" in out


def test_grade_rejects_what_is_not_an_exercise_notebook(tmp_path, capsys):
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), plain)
    assert main(["grade", str(plain), str(tmp_path / "missing.ipynb")]) == 2
    out = capsys.readouterr().out
    assert "not an autogradkit exercise notebook" in out and "no such notebook" in out


def test_learner_notebooks_and_solution_sources_pass_strict_nbval():
    paths = [str(p) for p in [*LEARNERS.values(), *SOURCES.values()]]
    args = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q",
            "-p", "no:cacheprovider", *paths]
    assert "--nbval-lax" not in args
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    cells = sum(1 for p in paths for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
    assert re.search(rf"\b{cells} passed\b", proc.stdout), proc.stdout[-1000:]
