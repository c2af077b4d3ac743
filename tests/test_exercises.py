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
    # ex9_vjp_puzzles is more practice for chapter 4
    assert [load(e).chapter for e in EXERCISES] == [1, 2, 3, 4, 5, 6, 7, 8, 4]
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
    ("ex1_derivatives", "forward_difference", "negated",
     "def forward_difference(f, x, h):\n    return (f(x) - f(x + h)) / h"),
    ("ex1_derivatives", "forward_difference", "central_used",
     "def forward_difference(f, x, h):\n    return (f(x + h) - f(x - h)) / (2 * h)"),
    ("ex1_derivatives", "central_difference", "doubled",
     "def central_difference(f, x, h):\n    return (f(x + h) - f(x - h)) / h"),
    ("ex1_derivatives", "central_difference", "forward_used",
     "def central_difference(f, x, h):\n    return (f(x + h) - f(x)) / h"),
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
    ("ex3_backward", "add_backward", "missing_accumulation",
     "def add_backward(a, b, out):\n    a.grad = out.grad\n    b.grad = out.grad"),
    ("ex3_backward", "add_backward", "forgot_upstream",
     "def add_backward(a, b, out):\n    a.grad += 1.0\n    b.grad += 1.0"),
    ("ex3_backward", "add_backward", "no_update",
     "def add_backward(a, b, out):\n    return out.grad, out.grad"),
    ("ex3_backward", "mul_backward", "swapped",
     "def mul_backward(a, b, out):\n    a.grad += a.data * out.grad\n    b.grad += b.data * out.grad"),
    ("ex3_backward", "mul_backward", "missing_accumulation",
     "def mul_backward(a, b, out):\n    a.grad = b.data * out.grad\n    b.grad = a.data * out.grad"),
    ("ex3_backward", "mul_backward", "negated",
     "def mul_backward(a, b, out):\n    a.grad -= b.data * out.grad\n    b.grad -= a.data * out.grad"),
    ("ex3_backward", "tanh_backward", "tanh_of_wrong_node",
     "def tanh_backward(a, out):\n    a.grad += (1 - a.data**2) * out.grad"),
    ("ex3_backward", "tanh_backward", "negated",
     "def tanh_backward(a, out):\n    a.grad -= (1 - out.data**2) * out.grad"),
    ("ex3_backward", "topological_order", "recursion", """
def topological_order(root):
    order, seen = [], set()
    def visit(node):
        if node not in seen:
            seen.add(node)
            for child in node._prev:
                visit(child)
            order.append(node)
    visit(root)
    return order"""),
    ("ex3_backward", "topological_order", "duplicates", """
def topological_order(root):
    order, stack = [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in node._prev)
    return order"""),
    ("ex3_backward", "topological_order", "reversed", """
_right_order = topological_order
def topological_order(root):
    return _right_order(root)[::-1]"""),
    ("ex3_backward", "backward", "zeros", """
def backward(root):
    for node in reversed(topological_order(root)):
        node._backward()"""),
    ("ex3_backward", "backward", "wrong_order", """
def backward(root):
    root.grad = 1.0
    for node in topological_order(root):
        node._backward()"""),
    ("ex4_tensors", "sum_to_shape", "unsummed_broadcast", "def sum_to_shape(g, shape):\n    return g"),
    ("ex4_tensors", "sum_to_shape", "averaged", """
def sum_to_shape(g, shape):
    while g.ndim > len(shape):
        g = g.mean(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.mean(axis=axis, keepdims=True)
    return g"""),
    ("ex4_tensors", "sum_to_shape", "reshaped", """
def sum_to_shape(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis)
    return g"""),
    ("ex4_tensors", "sum_to_shape", "input_changed", """
_right_sum = sum_to_shape
def sum_to_shape(g, shape):
    out = _right_sum(g.copy(), shape)
    g *= 0
    return out"""),
    ("ex4_tensors", "mul_vjp", "unsummed_broadcast", "def mul_vjp(g, a, b):\n    return g * b, g * a"),
    ("ex4_tensors", "mul_vjp", "swapped",
     "def mul_vjp(g, a, b):\n    return sum_to_shape(g * a, a.shape), sum_to_shape(g * b, b.shape)"),
    ("ex4_tensors", "matmul_vjp", "transposed", "def matmul_vjp(g, A, B):\n    return B @ g.T, g.T @ A"),
    ("ex4_tensors", "matmul_vjp", "negated", "def matmul_vjp(g, A, B):\n    return -(g @ B.T), -(A.T @ g)"),
    ("ex4_tensors", "linear_vjp", "unsummed_broadcast",
     "def linear_vjp(g, x, W, b):\n    return g @ W, g.T @ x, g"),
    ("ex4_tensors", "linear_vjp", "transposed",
     "def linear_vjp(g, x, W, b):\n    return g @ W, x.T @ g, g.sum(0)"),
    ("ex4_tensors", "linear_vjp", "negated",
     "def linear_vjp(g, x, W, b):\n    return g @ W, -(g.T @ x), g.sum(0)"),
    ("ex4_tensors", "linear_vjp", "averaged",
     "def linear_vjp(g, x, W, b):\n    return g @ W, g.T @ x, g.mean(0)"),
    ("ex5_modules", "ReLU", "kink_convention",
     "class ReLU(nn.Module):\n    def forward(self, x):\n        return x.clamp(min=0)"),
    ("ex5_modules", "ReLU", "kept_negative",
     "class ReLU(nn.Module):\n    def forward(self, x):\n        return x * (x < 0).float()"),
    ("ex5_modules", "ReLU", "detached",
     "class ReLU(nn.Module):\n    def forward(self, x):\n        return ag.tensor(x.tolist()).clamp(min=0)"),
    ("ex5_modules", "MSELoss", "summed", """
class MSELoss(nn.Module):
    def forward(self, pred, target):
        return ((pred - target) ** 2).sum()"""),
    ("ex5_modules", "MSELoss", "unsummed_broadcast", """
class MSELoss(nn.Module):
    def forward(self, pred, target):
        return (pred - target) ** 2"""),
    ("ex5_modules", "Linear", "transposed", """
class Linear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(ag.rand(in_features, out_features) * (2 * bound) - bound)
        self.bias = nn.Parameter(ag.rand(out_features) * (2 * bound) - bound)
    def forward(self, x):
        return x @ self.weight + self.bias"""),
    ("ex5_modules", "Linear", "no_bias", """
_RightLinear = Linear
class Linear(_RightLinear):
    def forward(self, x):
        return x @ self.weight.T"""),
    ("ex5_modules", "SGD", "negated", """
_RightSGD = SGD
class SGD(_RightSGD):
    def step(self):
        with ag.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p += self.lr * p.grad"""),
    ("ex5_modules", "SGD", "forgot_zero_grad", """
_RightSGD = SGD
class SGD(_RightSGD):
    def zero_grad(self):
        pass"""),
    ("ex5_modules", "SGD", "no_update", """
_RightSGD = SGD
class SGD(_RightSGD):
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p = p - self.lr * p.grad"""),
    ("ex6_training", "compute_loss", "summed",
     "def compute_loss(net, x, y):\n    return ((net(x) - y) ** 2).sum()"),
    ("ex6_training", "compute_loss", "detached",
     "def compute_loss(net, x, y):\n    return nn.MSELoss()(net(x), y).item()"),
    ("ex6_training", "parameter_gradients", "forgot_zero_grad", """
def parameter_gradients(net, x, y):
    compute_loss(net, x, y).backward()
    return {name: p.grad.clone() for name, p in net.named_parameters()}"""),
    ("ex6_training", "training_step", "forgot_zero_grad", """
def training_step(net, x, y, optimizer):
    loss = compute_loss(net, x, y)
    loss.backward()
    optimizer.step()
    return loss.item()"""),
    ("ex6_training", "training_step", "no_update", """
def training_step(net, x, y, optimizer):
    loss = compute_loss(net, x, y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()"""),
    ("ex6_training", "fit", "too_slow", """
def fit(net, x, y):
    optimizer = optim.SGD(net.parameters(), lr=0.01)      # the article's settings
    for epoch in range(1000):
        training_step(net, x, y, optimizer)"""),
    ("ex6_training", "fit", "nan", """
def fit(net, x, y):
    optimizer = optim.SGD(net.parameters(), lr=1.5)
    for epoch in range(1000):
        training_step(net, x, y, optimizer)"""),
    ("ex6_training", "fit", "over_budget", """
def fit(net, x, y):
    optimizer = optim.SGD(net.parameters(), lr=0.05)
    for epoch in range(1500):
        training_step(net, x, y, optimizer)"""),
    ("ex6_training", "fit", "not_trained", """
def fit(net, x, y):
    import copy
    other = Net()
    optimizer = optim.SGD(other.parameters(), lr=0.05)
    for epoch in range(100):
        training_step(other, x, y, optimizer)"""),
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
    wrong = _wrong("ex4_tensors", "linear_vjp",
                   "def linear_vjp(g, x, W, b):\n    return g @ W, -(g.T @ x), g.sum(0)")
    result = ex.evaluate(wrong, "linear_vjp")
    m = re.search(r"grad of W\[0, 0\]: expected (\S+), got (\S+)", result.report())
    assert m and float(m.group(1)) == -float(m.group(2)) != 0, result.report()


def test_a_wrong_backward_pass_names_the_graph_node():
    wrong = _wrong("ex3_backward", "backward", _code("backward", "wrong_order"))
    result = load("ex3_backward").evaluate(wrong, "backward")
    assert result.misconception == "wrong_order"
    assert re.search(r"grad of node '[^']+': expected \S+, got \S+", result.message), result.message


def test_reports_are_deterministic_and_free_of_addresses_and_timings():
    ex = load("ex6_training")
    wrong = _wrong("ex6_training", "training_step", _code("training_step", "forgot_zero_grad"))
    first, second = (ex.evaluate(wrong, "training_step").report() for _ in range(2))
    assert first == second
    assert not re.search(r"0x[0-9a-fA-F]{6,}|\d+\.\d+ ?ms|seconds", first)


def test_check_prints_a_report_and_never_raises(capsys):
    ex = load("ex1_derivatives")
    ex.check(lambda x: 3 * x * x - 2)                  # a lambda has no task name
    ex.check(len, "no_such_task")
    ex.check(42, "dfdx")                               # not a function
    load("ex5_modules").check(solutions("ex5_modules")["ReLU"](), "ReLU")   # an instance
    out = capsys.readouterr().out
    assert "can't tell which task" in out and "no task called 'no_such_task'" in out
    assert "check expects the function dfdx itself" in out
    assert "check expects the class ReLU itself" in out


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
    backward = _wrong("ex3_backward", "topological_order",
                      "def topological_order(root):\n    raise NotImplementedError("
                      "'topological_order: replace this line with your code')\n"
                      "def backward(root):\n    root.grad = 1.0\n"
                      "    for node in reversed(topological_order(root)):\n"
                      "        node._backward()")
    result = load("ex3_backward").evaluate(backward, "backward")
    assert result.status == "error" and "topological_order" in result.message


def test_a_half_finished_class_says_which_part_is_still_the_stub():
    sgd = _wrong("ex5_modules", "SGD", """
_RightSGD = SGD
class SGD(_RightSGD):
    def zero_grad(self):
        raise NotImplementedError("SGD: replace this line with your code")""")
    result = load("ex5_modules").evaluate(sgd)
    assert result.status == "error" and result.case == "zero_grad()"
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
    def fit(net, x, y):
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
    for task in ("compute_loss", "parameter_gradients", "training_step", "fit"):
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
    assert problems == ["ex1_derivatives.ipynb: task 'dfdx' is never checked (ex.check(dfdx))"]


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
               "forward_difference": "while True:\n        pass",         # loops forever
               "central_difference": "return (f(x) - f(x - h)) / h"}     # the backward quotient
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
    assert "FAIL" in lines["forward_difference"] and "time limit of 1 s" in lines["forward_difference"]
    assert "FAIL" in lines["central_difference"] and "expected" in lines["central_difference"]
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
