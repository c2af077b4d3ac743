"""Notebook 5's "your turn" checks (``autogradkit.exercises.nb05_modules``) can say "wrong".

* every reference passes, and the solution in the notebook's source passes;
* a deliberately wrong answer to every task is caught with the intended misconception and hint:
  PyTorch's init bounds for Linear, MSE's mean against sum, SGD without ``no_grad``, a forgotten
  ``zero_grad``, a ``params`` generator kept (empty after one step), …;
* an answer built on what it rebuilds (``nn.Linear``, ``nn.functional``, ``relu``,
  ``nn.MSELoss``, ``optim.SGD``) fails with the "from primitives" message, in the fast mode and
  the reference mode alike (the fast paths move some of those functions to ``autogradkit.fast``);
* a wrong answer makes ``use`` go on with the reference.
"""
import math
import re
from pathlib import Path

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import nn, optim
from autogradkit.exercises import misconceptions, nb05_modules as turn

import turns_support
from turns_support import unmarked

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "05_modules_losses_optimizers.ipynb"
TASKS = list(turn.tasks)


def source_solutions():
    return turns_support.source_solutions(SOURCE, TASKS, {})


def answer(task, code):
    return turns_support.answer(task, code, {"ag": ag, "nn": nn, "optim": optim, "math": math, "np": np})


LINEAR = """
class MyLinear:
    def __init__(self, n_in, n_out):
        bound = {bound}
        self.weight = {weight}
        self.bias = {bias}

    def __call__(self, X):
        return {forward}

    def parameters(self):
        return [self.weight, self.bias]
"""
LINEAR_OK = dict(bound="1 / math.sqrt(n_in)",
                 weight="((ag.rand(n_out, n_in) * 2 - 1) * bound).requires_grad_()",
                 bias="((ag.rand(n_out) * 2 - 1) * bound).requires_grad_()",
                 forward="X @ self.weight.T + self.bias")


def linear(**change):
    return LINEAR.format(**dict(LINEAR_OK, **change))


SGD = """
class MySGD:
    def __init__(self, params, lr):
        {init}
        self.lr = lr

    def step(self):
        {step}

    def zero_grad(self):
        {zero}
"""
SGD_OK = dict(init="self.params = list(params)",
              step="with ag.no_grad():\n"
                   "            for p in self.params:\n"
                   "                if p.grad is not None:\n"
                   "                    p -= self.lr * p.grad",
              zero="for p in self.params:\n            p.grad = None")


def sgd(**change):
    return SGD.format(**dict(SGD_OK, **change))


def relu(body):
    return f"def my_relu(z):\n    return {body}"


def mse(body):
    return f"def my_mse(prediction, target):\n    return {body}"


WRONG = [
    # ---- MyLinear: the init bounds, the parameters, the forward
    ("MyLinear", "bound_1_over_n", linear(bound="1 / n_in")),
    ("MyLinear", "fan_out", linear(bound="1 / math.sqrt(n_out)")),
    ("MyLinear", "xavier", linear(bound="math.sqrt(6 / (n_in + n_out))")),
    ("MyLinear", "unscaled", linear(bound="1.0")),
    ("MyLinear", "normal", linear(weight="(ag.randn(n_out, n_in) * bound).requires_grad_()")),
    ("MyLinear", "not_centred", linear(weight="(ag.rand(n_out, n_in) * bound).requires_grad_()")),
    ("MyLinear", "zero_bias", linear(bias="ag.zeros(n_out, requires_grad=True)")),
    ("MyLinear", "symmetric", linear(weight="ag.full((n_out, n_in), 0.1).requires_grad_()")),
    ("MyLinear", "not_leaf",
     linear(weight="(ag.rand(n_out, n_in, requires_grad=True) * 2 - 1) * bound")),
    ("MyLinear", "no_grad_required", linear(weight="(ag.rand(n_out, n_in) * 2 - 1) * bound")),
    ("MyLinear", "transposed",
     linear(weight="((ag.rand(n_in, n_out) * 2 - 1) * bound).requires_grad_()",
            forward="X @ self.weight + self.bias")),
    ("MyLinear", "no_bias", linear(forward="X @ self.weight.T")),
    # ---- my_relu
    ("my_relu", "kept_negative", relu("ag.where(z < 0, z, 0.0)")),
    ("my_relu", "kink_convention", relu("z.clamp(min=0)")),
    ("my_relu", "kink_convention", relu("ag.maximum(z, ag.tensor(0.0))")),
    ("my_relu", "kink_convention", relu("(z + z.abs()) / 2")),
    ("my_relu", "detached", relu("ag.tensor(np.maximum(z.detach().numpy(), 0))")),
    # ---- my_mse
    ("my_mse", "summed", mse("((prediction - target) ** 2).sum()")),
    ("my_mse", "per_row", mse("((prediction - target) ** 2).sum() / prediction.shape[0]")),
    ("my_mse", "halved", mse("0.5 * ((prediction - target) ** 2).mean()")),
    ("my_mse", "not_squared", mse("(prediction - target).mean()")),
    ("my_mse", "absolute", mse("(prediction - target).abs().mean()")),
    ("my_mse", "not_reduced", mse("((prediction - target) ** 2).mean(1)")),
    # ---- MySGD
    ("MySGD", "update_recorded",
     sgd(step="for p in self.params:\n"
              "            if p.grad is not None:\n"
              "                p -= self.lr * p.grad")),
    ("MySGD", "forgot_zero_grad", sgd(zero="pass")),
    ("MySGD", "params_generator", sgd(init="self.params = params")),
    ("MySGD", "negated",
     sgd(step="with ag.no_grad():\n"
              "            for p in self.params:\n"
              "                if p.grad is not None:\n"
              "                    p += self.lr * p.grad")),
    ("MySGD", "no_update",
     sgd(step="with ag.no_grad():\n"
              "            for p in self.params:\n"
              "                if p.grad is not None:\n"
              "                    p = p - self.lr * p.grad")),
    ("MySGD", "none_grad",
     sgd(step="with ag.no_grad():\n"
              "            for p in self.params:\n"
              "                p -= self.lr * p.grad")),
    ("MySGD", "none_grad", sgd(zero="for p in self.params:\n            p.grad.zero_()")),
]


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_and_the_source_solution_pass(task):
    assert turn.evaluate(unmarked(turn.tasks[task].reference), task).passed
    result = turn.evaluate(source_solutions()[task], task)
    assert result.passed, result.report()


@pytest.mark.parametrize("task,mistake,code", WRONG,
                         ids=[f"{t}-{m}-{i}" for i, (t, m, _) in enumerate(WRONG)])
def test_a_wrong_answer_is_caught_with_the_intended_hint(task, mistake, code):
    result = turn.evaluate(answer(task, code), task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    own = turn.tasks[task].hints.get(mistake)
    intended = own[1] if own else misconceptions.hint(mistake)
    assert intended and result.hint == intended
    report = result.report()
    assert report.startswith("❌ Your turn") and f"hint: {intended}" in report
    assert "looks like:" in report


def test_every_task_has_a_deliberately_wrong_answer():
    assert {t for t, _, _ in WRONG} == set(TASKS)


@pytest.mark.parametrize("task,code", [
    ("MyLinear", linear(weight="nn.Linear(n_in, n_out).weight")),
    ("MyLinear", linear(forward="nn.functional.linear(X, self.weight, self.bias)")),
    ("MyLinear", """
class MyLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.inner = nn.Linear(n_in, n_out)
        self.weight, self.bias = self.inner.weight, self.inner.bias
    def forward(self, X):
        return self.inner(X)
"""),
    ("my_relu", relu("ag.relu(z)")),
    ("my_relu", relu("z.relu() * 1.0")),
    ("my_relu", relu("nn.functional.relu(z)")),
    ("my_relu", relu("nn.ReLU()(z)")),
    ("my_mse", mse("nn.MSELoss()(prediction, target)")),
    ("my_mse", mse("nn.functional.mse_loss(prediction, target)")),
    ("MySGD", sgd(init="self.params = list(params)\n"
                       "        self.inner = optim.SGD(self.params, lr)",
                  step="self.inner.step()")),
], ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_an_answer_built_on_what_it_rebuilds_fails_with_the_from_primitives_message(task, code):
    result = turn.evaluate(answer(task, code), task)
    assert not result.passed and result.misconception == "used_library", result.report()
    assert result.hint in (turn._USED_LIBRARY[1],)
    assert re.search(r"called autogradkit\.(nn|optim)\.|was computed by ", result.message), \
        result.message


@pytest.mark.parametrize("task,code", [
    ("MyLinear", """
class MyLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter(ag.rand(n_out, n_in) * (2 * bound) - bound)
        self.bias = nn.Parameter(ag.rand(n_out) * (2 * bound) - bound)
    def forward(self, X):
        return X @ self.weight.T + self.bias
"""),
    ("my_relu", relu("z * (z > 0)")),
    ("my_mse", mse("((target - prediction) * (target - prediction)).mean()")),
    ("MySGD", sgd(step="for p in self.params:\n"
                       "            if p.grad is not None:\n"
                       "                p.data -= self.lr * p.grad",
                  zero="for p in self.params:\n"
                       "            if p.grad is not None:\n"
                       "                p.grad.zero_()")),
])
def test_other_right_answers_pass(task, code):
    """nn.Module and nn.Parameter are allowed; other primitives than the reference's are fine."""
    result = turn.evaluate(answer(task, code), task)
    assert result.passed, result.report()


def test_a_stub_is_not_started():
    stub = answer("MySGD", """
class MySGD:
    def __init__(self, params, lr):
        raise NotImplementedError("MySGD: replace this line with your code")
""")
    assert turn.evaluate(stub, "MySGD").status == "not_started"


def test_a_function_instead_of_a_class_is_a_usage_message():
    result = turn.evaluate(lambda n_in, n_out: None, "MyLinear")
    assert result.status == "usage" and "expects the class MyLinear" in result.message


def test_use_goes_on_with_the_reference_while_the_answer_is_wrong(capsys):
    wrong = answer("my_mse", WRONG[[m for _, m, _ in WRONG].index("summed")][2])
    assert turn.use(wrong) is turn._reference_my_mse
    out = capsys.readouterr().out
    assert out.startswith("❌ Your turn 3 · my_mse: not yet")
    assert "loss: expected" in out and "goes on with the reference my_mse;" in out


def test_the_checks_leave_the_notebook_s_random_state_and_grad_mode_alone():
    ag.manual_seed(7)
    expected = ag.rand(3).numpy()
    ag.manual_seed(7)
    with ag.no_grad():
        for task in TASKS:
            assert turn.evaluate(unmarked(turn.tasks[task].reference), task).passed, task
        assert not ag.is_grad_enabled()
    assert np.array_equal(ag.rand(3).numpy(), expected)
