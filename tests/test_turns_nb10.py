"""Notebook 10's "your turn" checks (``autogradkit.exercises.nb10_memory``) can say "wrong".

* every reference passes, and the solution in the notebook's source passes;
* a deliberately wrong answer to every task is caught, labelled with the intended misconception
  and given its hint: a counter that counts elements instead of bytes or whose unpack changes the
  tensor, gradient norms with J instead of Jᵀ or the layers in forward order, a log-sum-exp that
  overflows or forgets the shift, a cross-entropy gradient not averaged, with the sign flipped,
  without the one-hot, or overflowing;
* an answer that hands a numpy task to autogradkit fails with the "write it yourself" message;
* a stub reports "not started", and a wrong answer makes ``use`` go on with the reference;
* tensors' byte sizes (``element_size``, ``nbytes``, ``itemsize``), which the first turn uses,
  are PyTorch's.
"""
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit import autograd
from autogradkit.exercises import misconceptions, nb10_memory as turn

import turns_support
from turns_support import unmarked

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "10_memory_and_stability.ipynb"
TASKS = list(turn.tasks)


def namespace():
    return {"math": math, "np": np, "ag": ag, "autograd": autograd}


def source_solutions():
    return turns_support.source_solutions(SOURCE, TASKS, namespace())


def answer(task, code):
    return turns_support.answer(task, code, namespace())


COUNTER = '''
class SavedBytesCounter:
    def __init__(self):
        self.count = 0
        self.nbytes = 0

    def pack(self, tensor):
        self.count += 1
        self.nbytes += {SIZE}
        return {PACKED}

    def unpack(self, packed):
        return {UNPACKED}
'''


def counter(SIZE="tensor.numel() * tensor.element_size()", PACKED="tensor", UNPACKED="packed"):
    return COUNTER.format(SIZE=SIZE, PACKED=PACKED, UNPACKED=UNPACKED)


NORMS = '''
def backprop_norms(jacobians, g):
    norms = [float(np.linalg.norm(g))]
    for J in {ORDER}:
        g = {STEP}
        norms.append(float(np.linalg.norm(g)))
    return norms
'''

CE = '''
def cross_entropy_grad(logits, targets):
    z = logits{SHIFT}
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    {ONEHOT}
    return {RESULT}
'''


def ce(SHIFT=" - logits.max(axis=1, keepdims=True)",
       ONEHOT="p[np.arange(len(targets)), targets] -= 1.0", RESULT="p / len(targets)"):
    return CE.format(SHIFT=SHIFT, ONEHOT=ONEHOT, RESULT=RESULT)


WRONG = [
    ("SavedBytesCounter", "counted_elements", counter(SIZE="tensor.numel()")),
    ("SavedBytesCounter", "unpack_changed", counter(UNPACKED="packed * 2")),
    ("backprop_norms", "not_transposed", NORMS.format(ORDER="reversed(jacobians)",
                                                      STEP="J @ g if J.shape[0] == J.shape[1] "
                                                           "else J.T @ g")),
    ("backprop_norms", "wrong_order", NORMS.format(ORDER="jacobians", STEP="J.T @ g")),
    ("backprop_norms", "used_engine", NORMS.format(
        ORDER="reversed(jacobians)",
        STEP="(ag.tensor(J).t() @ ag.tensor(g)).numpy()")),
    ("logsumexp", "overflow",
     "def logsumexp(x):\n    return np.log(np.sum(np.exp(x), axis=-1))"),
    ("logsumexp", "max_not_added", """
def logsumexp(x):
    m = np.max(x, axis=-1, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=-1))"""),
    ("logsumexp", "used_engine",
     "def logsumexp(x):\n    return ag.logsumexp(ag.tensor(x), dim=-1).numpy()"),
    ("cross_entropy_grad", "not_averaged", ce(RESULT="p")),
    ("cross_entropy_grad", "sign_flipped", ce(RESULT="-p / len(targets)")),
    ("cross_entropy_grad", "no_onehot", ce(ONEHOT="pass")),
    ("cross_entropy_grad", "overflow", ce(SHIFT="")),
]


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_and_the_source_solution_pass(task):
    assert turn.evaluate(unmarked(turn.tasks[task].reference), task).passed
    result = turn.evaluate(source_solutions()[task], task)
    assert result.passed, result.report()


@pytest.mark.parametrize("task,mistake,code", WRONG, ids=[f"{t}-{m}" for t, m, _ in WRONG])
def test_a_wrong_answer_is_caught_with_the_intended_hint(task, mistake, code):
    with np.errstate(all="ignore"):
        result = turn.evaluate(answer(task, code), task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    own = turn.tasks[task].hints.get(mistake)
    intended = own[1] if own else misconceptions.hint(mistake)
    assert intended and result.hint == intended
    report = result.report()
    assert report.startswith("❌ Your turn") and f"hint: {intended}" in report


def test_every_task_has_a_deliberately_wrong_answer():
    assert {t for t, _, _ in WRONG} == set(TASKS)


def test_a_counter_that_packs_nothing_or_counts_in_unpack_is_caught():
    result = turn.evaluate(answer("SavedBytesCounter", counter(SIZE="0")), "SavedBytesCounter")
    assert not result.passed and "counter.nbytes" in result.message, result.report()
    late = '''
class SavedBytesCounter:
    def __init__(self):
        self.count = 0
        self.nbytes = 0

    def pack(self, tensor):
        return tensor

    def unpack(self, packed):
        self.count += 1
        self.nbytes += packed.nbytes
        return packed
'''
    result = turn.evaluate(answer("SavedBytesCounter", late), "SavedBytesCounter")
    assert not result.passed and "counter.count" in result.message, result.report()


def test_a_stub_is_not_started_and_use_goes_on_with_the_reference(capsys):
    from autogradkit.exercises import notebooks
    stubbed, _ = notebooks.strip_solutions(next(
        c.source for c in nbformat.read(SOURCE, as_version=4).cells
        if c.cell_type == "code" and c.source.startswith("def logsumexp")))
    result = turn.evaluate(answer("logsumexp", stubbed), "logsumexp")
    assert result.status == "not_started", result.report()
    wrong = answer("logsumexp", WRONG[[m for _, m, _ in WRONG].index("max_not_added")][2])
    assert turn.use(wrong) is turn._reference_logsumexp
    out = capsys.readouterr().out
    assert out.startswith("❌ Your turn 3 · logsumexp: not yet")
    right = source_solutions()["logsumexp"]
    assert turn.use(right) is right
    assert "✅ Your turn 3 · logsumexp: passed" in capsys.readouterr().out


def test_the_reference_itself_is_not_taken_for_the_learner_s_answer():
    for task in TASKS:
        reference = turn.tasks[task].reference
        assert turn.evaluate(reference, task, reference_counts=False).status == "not_started"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "int32", "uint8"])
def test_tensor_byte_sizes_are_pytorch_s(dtype):
    x = ag.zeros(3, 5, dtype=getattr(ag, dtype))
    assert (x.element_size(), x.itemsize, x.nbytes) == (np.dtype(dtype).itemsize,) * 2 + (
        15 * np.dtype(dtype).itemsize,)
    torch = pytest.importorskip("torch")
    t = torch.zeros(3, 5, dtype=getattr(torch, dtype))
    assert (x.element_size(), x.itemsize, x.nbytes) == (t.element_size(), t.itemsize, t.nbytes)
    assert type(x.nbytes) is type(t.nbytes) is int
