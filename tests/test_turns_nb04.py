"""Notebook 4's "your turn" checks (``autogradkit.exercises.nb04_tensors``) can say "wrong".

* every reference passes, and the solution in the notebook's source passes;
* a deliberately wrong answer to every task is caught, labelled with the intended misconception
  and given its hint (the pattern of ``WRONG`` in ``tests/test_exercises.py``);
* an answer that hands the work to autogradkit (tensors, backward) fails with the "by hand"
  message, even when that call then errors;
* a stub reports "not started", an answer that changes its input in place is caught, and a
  wrong answer makes ``use`` go on with the reference;
* ``maximum_vjp``'s tie conventions are told apart on ā and b̄ together (a tie given to both,
  to one, to neither input).
"""
import re
from pathlib import Path

import numpy as np
import pytest

from autogradkit.exercises import misconceptions, nb04_tensors as turn

import turns_support
from turns_support import unmarked

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "04_scalars_to_tensors.ipynb"
TASKS = list(turn.tasks)


def source_solutions():
    return turns_support.source_solutions(SOURCE, TASKS, {"np": np})


def answer(task, code):
    return turns_support.answer(task, code,
                                {"np": np, "sum_to_shape": turn._reference_sum_to_shape})


WRONG = [
    # ---- matmul_vjp
    ("matmul_vjp", "missing_transpose", """
def matmul_vjp(Y_bar, X, W):
    return Y_bar @ W, X.T @ Y_bar"""),
    ("matmul_vjp", "missing_transpose", """
def matmul_vjp(Y_bar, X, W):
    return Y_bar @ W.T, X @ Y_bar"""),
    ("matmul_vjp", "transposed", """
def matmul_vjp(Y_bar, X, W):
    return Y_bar @ W.T, (X.T @ Y_bar).T"""),
    ("matmul_vjp", "negated", """
def matmul_vjp(Y_bar, X, W):
    return -(Y_bar @ W.T), -(X.T @ Y_bar)"""),
    # ---- sum_to_shape
    ("sum_to_shape", "unsummed_broadcast", """
def sum_to_shape(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    return g"""),
    ("sum_to_shape", "reshaped", """
def sum_to_shape(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis)
    return g"""),
    ("sum_to_shape", "averaged", """
def sum_to_shape(g, shape):
    while g.ndim > len(shape):
        g = g.mean(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.mean(axis=axis, keepdims=True)
    return g"""),
    ("sum_to_shape", "input_changed", """
def sum_to_shape(g, shape):
    out = g.copy()
    while out.ndim > len(shape):
        out = out.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and out.shape[axis] != 1:
            out = out.sum(axis=axis, keepdims=True)
    g[...] = 0.0                                # writes into the caller's array
    return out"""),
    # ---- mul_vjp
    ("mul_vjp", "swapped", """
def mul_vjp(y_bar, a, b):
    return sum_to_shape(y_bar * a, a.shape), sum_to_shape(y_bar * b, b.shape)"""),
    ("mul_vjp", "no_upstream", """
def mul_vjp(y_bar, a, b):
    return (sum_to_shape(np.broadcast_to(b, y_bar.shape), a.shape),
            sum_to_shape(np.broadcast_to(a, y_bar.shape), b.shape))"""),
    ("mul_vjp", "unsummed_broadcast", """
def mul_vjp(y_bar, a, b):
    return y_bar * b, y_bar * a"""),
    # ---- maximum_vjp
    ("maximum_vjp", "tie_to_both", """
def maximum_vjp(y_bar, a, b):
    return sum_to_shape(y_bar * (a >= b), a.shape), sum_to_shape(y_bar * (b >= a), b.shape)"""),
    ("maximum_vjp", "tie_to_one", """
def maximum_vjp(y_bar, a, b):
    return sum_to_shape(y_bar * (a >= b), a.shape), sum_to_shape(y_bar * (b > a), b.shape)"""),
    ("maximum_vjp", "tie_to_none", """
def maximum_vjp(y_bar, a, b):
    return sum_to_shape(y_bar * (a > b), a.shape), sum_to_shape(y_bar * (b > a), b.shape)"""),
    ("maximum_vjp", "swapped", """
def maximum_vjp(y_bar, a, b):
    tie = 0.5 * (a == b)
    return (sum_to_shape(y_bar * ((a < b) + tie), a.shape),
            sum_to_shape(y_bar * ((b < a) + tie), b.shape))"""),
    ("maximum_vjp", "no_upstream", """
def maximum_vjp(y_bar, a, b):
    share = (a > b) + 0.5 * (a == b) + 0 * y_bar
    return sum_to_shape(share, a.shape), sum_to_shape(1 - share, b.shape)"""),
    ("maximum_vjp", "unsummed_broadcast", """
def maximum_vjp(y_bar, a, b):
    share = (a > b) + 0.5 * (a == b)
    return y_bar * share, y_bar * (1 - share)"""),
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


BY_LIBRARY = {
    "matmul_vjp": """
import autogradkit as ag
def matmul_vjp(Y_bar, X, W):
    Xt = ag.tensor(X, requires_grad=True)
    Wt = ag.tensor(W, requires_grad=True)
    (Xt @ Wt).backward(ag.tensor(Y_bar))
    return Xt.grad.numpy(), Wt.grad.numpy()""",
    "sum_to_shape": """
import autogradkit as ag
def sum_to_shape(g, shape):
    x = ag.zeros(*shape, dtype=ag.float64, requires_grad=True)
    (x + ag.zeros(*g.shape, dtype=ag.float64)).backward(ag.tensor(g))
    return x.grad.numpy()""",
    "mul_vjp": """
import autogradkit as ag
def mul_vjp(y_bar, a, b):
    at, bt = ag.tensor(a, requires_grad=True), ag.tensor(b, requires_grad=True)
    (at * bt).backward(ag.tensor(y_bar))
    return at.grad.numpy(), bt.grad.numpy()""",
    "maximum_vjp": """
import autogradkit as ag
def maximum_vjp(y_bar, a, b):
    at, bt = ag.tensor(a, requires_grad=True), ag.tensor(b, requires_grad=True)
    ag.maximum(at, bt).backward(ag.tensor(y_bar))
    return at.grad.numpy(), bt.grad.numpy()""",
}


@pytest.mark.parametrize("task", TASKS)
def test_handing_the_work_to_autogradkit_fails_with_the_by_hand_message(task):
    """Even though autogradkit's backward gives the right numbers."""
    result = turn.evaluate(answer(task, BY_LIBRARY[task]), task)
    assert not result.passed and result.misconception == "used_engine", result.report()
    assert "your code called autogradkit." in result.message
    assert "written by hand with numpy" in result.hint


def test_the_by_hand_message_wins_over_an_error_after_the_library_call():
    wrong = answer("sum_to_shape", """
import autogradkit as ag
def sum_to_shape(g, shape):
    return ag.tensor(g).no_such_method(shape)""")
    result = turn.evaluate(wrong, "sum_to_shape")
    assert result.misconception == "used_engine", result.report()


def test_a_stub_is_not_started_and_an_error_is_reported_with_where():
    stub = answer("mul_vjp", """
def mul_vjp(y_bar, a, b):
    raise NotImplementedError("mul_vjp: replace this line with your code")""")
    assert turn.evaluate(stub, "mul_vjp").status == "not_started"
    crash = answer("maximum_vjp", """
def maximum_vjp(y_bar, a, b):
    return y_bar * (a > b), undefined_name""")
    result = turn.evaluate(crash, "maximum_vjp")
    assert result.status == "error" and "NameError" in result.message
    assert "in maximum_vjp, line 2" in result.message


def test_a_wrong_shape_of_answer_is_said_precisely():
    one = answer("matmul_vjp", "def matmul_vjp(Y_bar, X, W):\n    return Y_bar @ W.T")
    result = turn.evaluate(one, "matmul_vjp")
    assert "expected 2 gradients (X_bar, W_bar) as a tuple" in result.message, result.report()
    assert result.message.endswith("got an array of shape (3, 3)"), result.message


def test_the_first_wrong_element_is_named_with_expected_and_got():
    result = turn.evaluate(answer("maximum_vjp", WRONG[-5][2]), "maximum_vjp")   # tie_to_one
    assert re.match(r"ā(\[[\d, ]+\])?: expected \S+, got \S+", result.message), result.message
    assert result.case.startswith("a of shape") and "ties among the pairs" in result.case


def test_use_goes_on_with_the_reference_while_the_answer_is_wrong(capsys):
    wrong = answer("matmul_vjp", WRONG[0][2])
    got = turn.use(wrong)
    out = capsys.readouterr().out
    assert got is turn._reference_matmul_vjp
    assert out.startswith("❌ Your turn 1 · matmul_vjp: not yet")
    assert "goes on with the reference matmul_vjp;" in out
    right = source_solutions()["matmul_vjp"]
    assert turn.use(right) is right
    assert "✅ Your turn 1 · matmul_vjp: passed" in capsys.readouterr().out


def test_the_checks_leave_the_notebook_s_random_state_alone():
    import autogradkit as ag
    ag.manual_seed(123)
    expected = ag.rand(3).numpy()
    ag.manual_seed(123)
    for task in TASKS:
        turn.evaluate(unmarked(turn.tasks[task].reference), task)
    assert np.array_equal(ag.rand(3).numpy(), expected)


def test_the_reference_itself_is_not_taken_for_the_learner_s_answer():
    for task in TASKS:
        reference = turn.tasks[task].reference
        assert turn.evaluate(reference, task, reference_counts=False).status == "not_started"
