"""Notebook 9's "your turn" checks (``autogradkit.exercises.nb09_forward_mode``) can say "wrong".

* every reference passes, and the solution in the notebook's source passes;
* a deliberately wrong answer to every task is caught, labelled with the intended misconception
  and given its hint (the pattern of ``tests/test_turns_nb04.py``): the product rule's tangent
  as ȧ·ḃ or one term, sin's tangent without ẋ or with a minus, a constant given a tangent,
  a Jacobian stacked the wrong way, a Jacobian by columns with backward passes or without
  tangents, by rows with tangents or one forward pass too many, an HVP that returns the gradient,
  one number, or differences of gradients;
* an answer that hands the work to autogradkit (or to its ready-made Jacobians and Hessians)
  fails with the "write it yourself" message;
* a stub reports "not started", and a wrong answer makes ``use`` go on with the reference.
"""
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit import autograd
from autogradkit.autograd import forward_ad
from autogradkit.exercises import misconceptions, nb09_forward_mode as turn

import turns_support
from turns_support import unmarked

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "09_forward_mode.ipynb"
TASKS = list(turn.tasks)


def namespace():
    return {"math": math, "np": np, "ag": ag, "autograd": autograd, "forward_ad": forward_ad}


def source_solutions():
    return turns_support.source_solutions(SOURCE, TASKS, namespace())


def answer(task, code):
    return turns_support.answer(task, code, namespace())


DUAL = '''
class Dual:
    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        other = other if isinstance(other, Dual) else {CONST}
        return Dual(self.value + other.value, self.tangent + other.tangent)

    __radd__ = __add__

    def __mul__(self, other):
        other = other if isinstance(other, Dual) else {CONST}
        return Dual(self.value * other.value, {MUL})

    __rmul__ = __mul__

    def sin(self):
        return {SIN}

    def exp(self):
        return Dual(math.exp(self.value), math.exp(self.value) * self.tangent)
'''
RIGHT = {"CONST": "Dual(other)",
         "MUL": "self.tangent * other.value + self.value * other.tangent",
         "SIN": "Dual(math.sin(self.value), math.cos(self.value) * self.tangent)"}


def dual(**parts):
    return DUAL.format(**dict(RIGHT, **parts))


COLUMNS = '''
def jacobian_by_columns(f, x):
    n = x.shape[0]
    columns = []
    for j in range(n):
        e_j = ag.zeros(n, dtype=x.dtype)
        e_j[j] = 1.0
        with forward_ad.dual_level():
            {EXTRA}y = f(forward_ad.make_dual(x, e_j))
            columns.append(forward_ad.unpack_dual(y).tangent.numpy())
    return np.stack(columns, axis={AXIS})
'''
ROWS = '''
def jacobian_by_rows(f, x):
    x = x.detach().requires_grad_()
    y = f(x)
    m = y.shape[0]
    rows = []
    for i in range(m):
        {EXTRA}e_i = ag.zeros(m, dtype=y.dtype)
        e_i[i] = 1.0
        (row,) = autograd.grad(y, [x], grad_outputs=[e_i], retain_graph=True)
        rows.append(row.numpy())
    return np.stack(rows, axis={AXIS})
'''
HVP = '''
def hvp(f, x, v):
    with forward_ad.dual_level():
        x_dual = forward_ad.make_dual(x.detach().requires_grad_(), v)
        (g,) = autograd.grad(f(x_dual), [x_dual], create_graph=True)
        return {RETURN}
'''

WRONG = [
    # ---- Dual
    ("Dual", "product_of_tangents", dual(MUL="self.tangent * other.tangent")),
    ("Dual", "one_product_term", dual(MUL="self.tangent * other.value")),
    ("Dual", "no_tangent_factor", dual(SIN="Dual(math.sin(self.value), math.cos(self.value))")),
    ("Dual", "wrong_sign",
     dual(SIN="Dual(math.sin(self.value), -math.cos(self.value) * self.tangent)")),
    ("Dual", "constant_tangent", dual(CONST="Dual(other, 1.0)")),
    ("Dual", "used_engine", dual(SIN="Dual(ag.sin(ag.tensor(self.value)).item(), "
                                     "ag.cos(ag.tensor(self.value)).item() * self.tangent)")),
    # ---- jacobian_by_columns
    ("jacobian_by_columns", "transposed", COLUMNS.format(EXTRA="", AXIS=0)),
    ("jacobian_by_columns", "too_many_passes",
     COLUMNS.format(EXTRA="f(x)\n            ", AXIS=1)),
    ("jacobian_by_columns", "used_reverse", ROWS.format(EXTRA="", AXIS=0).replace(
        "jacobian_by_rows", "jacobian_by_columns")),
    ("jacobian_by_columns", "used_engine", """
def jacobian_by_columns(f, x):
    return autograd.functional.jacobian(f, x, strategy="forward-mode", vectorize=True).numpy()"""),
    ("jacobian_by_columns", "no_tangents", """
def jacobian_by_columns(f, x, h=1e-6):
    cols = []
    for j in range(x.shape[0]):
        e = np.zeros(x.shape[0])
        e[j] = h
        cols.append((f(x + ag.tensor(e)).numpy() - f(x - ag.tensor(e)).numpy()) / (2 * h))
    return np.stack(cols, axis=1)"""),
    # ---- jacobian_by_rows
    ("jacobian_by_rows", "transposed", ROWS.format(EXTRA="", AXIS=1)),
    ("jacobian_by_rows", "too_many_passes",
     ROWS.format(EXTRA="y = f(x)\n        ", AXIS=0)),
    ("jacobian_by_rows", "used_forward", COLUMNS.format(EXTRA="", AXIS=1).replace(
        "jacobian_by_columns", "jacobian_by_rows")),
    ("jacobian_by_rows", "used_engine", """
def jacobian_by_rows(f, x):
    return ag.func.jacrev(f)(x).numpy()"""),
    # ---- hvp
    ("hvp", "gradient_instead",
     HVP.format(RETURN="forward_ad.unpack_dual(g).primal.detach().numpy()")),
    ("hvp", "directional_derivative", """
def hvp(f, x, v):
    with forward_ad.dual_level():
        y = f(forward_ad.make_dual(x, v))
        return float(forward_ad.unpack_dual(y).tangent)"""),
    ("hvp", "no_tangent", """
def hvp(f, x, v, h=1e-6):
    def grad_at(z):
        z = z.detach().requires_grad_()
        (g,) = autograd.grad(f(z), [z])
        return g.numpy()
    return (grad_at(x + h * v) - grad_at(x - h * v)) / (2 * h)"""),
    ("hvp", "used_engine", """
def hvp(f, x, v):
    return autograd.functional.hvp(f, x, v)[1].numpy()"""),
]


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_and_the_source_solution_pass(task):
    assert turn.evaluate(unmarked(turn.tasks[task].reference), task).passed
    result = turn.evaluate(source_solutions()[task], task)
    assert result.passed, result.report()


@pytest.mark.parametrize("task,mistake,code", WRONG, ids=[f"{t}-{m}" for t, m, _ in WRONG])
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


def test_a_stub_is_not_started_and_use_goes_on_with_the_reference(capsys):
    from autogradkit.exercises import notebooks
    stubbed, _ = notebooks.strip_solutions(next(
        c.source for c in nbformat.read(SOURCE, as_version=4).cells
        if c.cell_type == "code" and c.source.startswith("class Dual")))
    result = turn.evaluate(answer("Dual", stubbed), "Dual")
    assert result.status == "not_started" and "in __add__" in (result.stub_at or ""), \
        result.report()
    half = answer("Dual", dual(SIN='raise NotImplementedError("Dual: replace this line with '
                                   'your code")').replace("return raise", "raise"))
    result = turn.evaluate(half, "Dual")                # + and * done, sin still the stub
    assert result.status == "error" and "another part is still the stub" in result.hint
    wrong = answer("hvp", WRONG[[m for _, m, _ in WRONG].index("gradient_instead")][2])
    assert turn.use(wrong) is turn._reference_hvp
    out = capsys.readouterr().out
    assert out.startswith("❌ Your turn 4 · hvp: not yet")
    assert "goes on with the reference hvp;" in out
    right = source_solutions()["hvp"]
    assert turn.use(right) is right
    assert "✅ Your turn 4 · hvp: passed" in capsys.readouterr().out


def test_the_first_wrong_tangent_is_named_with_expected_and_got():
    result = turn.evaluate(answer("Dual", WRONG[0][2]), "Dual")
    assert result.case == "a * b with a = Dual(2, 1), b = Dual(-3, 0.5)", result.case
    assert result.message == "(a * b).tangent: expected -2, got 0.5", result.message


def test_the_reference_itself_is_not_taken_for_the_learner_s_answer():
    for task in TASKS:
        reference = turn.tasks[task].reference
        assert turn.evaluate(reference, task, reference_counts=False).status == "not_started"
