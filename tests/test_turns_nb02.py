"""Notebook 2's "your turn" checks (``autogradkit.exercises.nb02_chain_rule``) can say "wrong".

* the source notebook's solutions and the reference implementations pass; the stubs are "not
  started"; a half-filled ``gate_backward`` is told which part is still the stub;
* for every task, deliberately wrong answers are caught with the intended misconception and its
  hint (a forgotten sum where a value is used twice, adjoints pushed forward, a max that sends ȳ
  to both inputs, a tie given to one input, the new y in a loop's local derivative …);
* an answer that hands the work to autogradkit fails with the "by hand" message;
* the tie rule the check expects is autogradkit's and PyTorch's (when installed);
* the notebook's ``grow`` is the program the check differentiates.
"""
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit.exercises import nb02_chain_rule as turn
from autogradkit.exercises import notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "02_chain_rule_and_graphs.ipynb"
TASKS = ("residual_by_hand", "gate_backward", "dg_dx", "dgrow_dx")


def _cells(nb, pattern):
    return [c.source for c in nb.cells
            if c.cell_type == "code" and re.search(pattern, c.source, re.M)]


def _defined(nb, name):
    """``name`` as the notebook's cell defines it (run in a namespace of its own)."""
    ns = {"math": math, "ag": ag}
    for source in _cells(nb, rf"^def {name}\b"):
        exec(compile(source, f"<{name}>", "exec"), ns)
    return ns[name]


@pytest.fixture(scope="module")
def source_nb():
    return nbformat.read(SOURCE, as_version=4)


@pytest.fixture(scope="module")
def learner_nb(source_nb):
    return notebooks.make_learner(source_nb, SOURCE.name)[0]


def test_the_module_has_the_four_turns_each_with_a_reference():
    assert tuple(turn.tasks) == TASKS
    assert all(spec.reference is not None for spec in turn.tasks.values())


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_and_the_source_solution_pass(task, source_nb):
    assert turn.evaluate(turn.tasks[task].reference, task).passed
    result = turn.evaluate(_defined(source_nb, task), task)
    assert result.passed, result.report()


@pytest.mark.parametrize("task", TASKS)
def test_the_stub_is_not_started(task, learner_nb):
    result = turn.evaluate(_defined(learner_nb, task), task)
    assert result.status == "not_started", result.report()
    assert "not started yet" in result.report()


def test_a_half_filled_gate_backward_is_told_which_part_is_still_the_stub():
    def gate_backward(gate, a, b, y_bar):
        if gate == "add":
            return y_bar, y_bar
        raise NotImplementedError("gate_backward: replace this line with your code")

    result = turn.evaluate(gate_backward)
    assert result.status == "error" and "mul gate" in result.case, result.report()
    assert "Part of your answer works" in result.hint


# ---- deliberately wrong answers ------------------------------------------------------------------
RESIDUAL = '''
def residual_by_hand(x, w):
    z = w * x
    h = 1 / (1 + math.exp(-z))
    r = h + z
    L = r ** 2
    local, adjoint = {}, {}
    local["z", "w"] = x
    local["z", "x"] = w
    local["h", "z"] = h * (1 - h)
    local["r", "h"] = 1.0
    local["r", "z"] = 1.0
    local["L", "r"] = 2 * r
    adjoint["L"] = 1.0
    adjoint["r"] = adjoint["L"] * local["L", "r"]
    adjoint["h"] = adjoint["r"] * local["r", "h"]
    adjoint["z"] = adjoint["h"] * local["h", "z"] + adjoint["r"] * local["r", "z"]
    adjoint["w"] = adjoint["z"] * local["z", "w"]
    adjoint["x"] = adjoint["z"] * local["z", "x"]
    return local, adjoint
'''


def residual(old, new):
    assert old in RESIDUAL, old
    return RESIDUAL.replace(old, new)


FORWARD_TANGENTS = '''
def residual_by_hand(x, w):
    z = w * x
    h = 1 / (1 + math.exp(-z))
    r = h + z
    local = {("z", "w"): x, ("z", "x"): w, ("h", "z"): h * (1 - h), ("r", "h"): 1.0,
             ("r", "z"): 1.0, ("L", "r"): 2 * r}
    d = {"x": 1.0, "w": 0.0}                       # pushed forward from x
    d["z"] = local["z", "x"]
    d["h"] = local["h", "z"] * d["z"]
    d["r"] = d["h"] + d["z"]
    d["L"] = local["L", "r"] * d["r"]
    return local, {n: d[n] for n in ("L", "r", "h", "z", "w", "x")}
'''

GATES = '''
def gate_backward(gate, a, b, y_bar):
    if gate == "add":
        return ADD
    if gate == "mul":
        return MUL
    if a == b:
        return TIE
    return MAX
'''


def gates(add="y_bar, y_bar", mul="y_bar * b, y_bar * a", tie="y_bar / 2, y_bar / 2",
          max_="(y_bar, 0.0) if a > b else (0.0, y_bar)"):
    return (GATES.replace("ADD", add).replace("MUL", mul).replace("TIE", tie)
            .replace("MAX", max_))


DGROW = '''
def dgrow_dx(x):
    y, d = x, 1.0
    if y < 0:
        y, d = -y, -d
    while y < 4:
        y, d = y * y + 1, 2 * y * d
    return d
'''

WRONG = [
    ("residual_by_hand", "missing_accumulation", residual(
        'adjoint["h"] * local["h", "z"] + adjoint["r"] * local["r", "z"]',
        'adjoint["r"] * local["r", "z"]')),
    ("residual_by_hand", "missing_accumulation", residual(
        'adjoint["h"] * local["h", "z"] + adjoint["r"] * local["r", "z"]',
        'adjoint["h"] * local["h", "z"]')),
    ("residual_by_hand", "forward_order", FORWARD_TANGENTS),
    ("residual_by_hand", "forward_order", RESIDUAL.replace(
        "    return local, adjoint",
        "    return local, {n: adjoint[n] for n in ('x', 'w', 'z', 'h', 'r', 'L')}")),
    ("residual_by_hand", "swapped_inputs", residual('local["z", "w"] = x', 'local["z", "w"] = w')),
    ("residual_by_hand", "sigmoid_wrong_node",
     residual('local["h", "z"] = h * (1 - h)', 'local["h", "z"] = z * (1 - z)')),
    ("residual_by_hand", "sigmoid_itself", residual('local["h", "z"] = h * (1 - h)',
                                                    'local["h", "z"] = h')),
    ("residual_by_hand", "square_rule", residual('local["L", "r"] = 2 * r', 'local["L", "r"] = r')),
    ("gate_backward", "add_split", gates(add="y_bar / 2, y_bar / 2")),
    ("gate_backward", "no_upstream", gates(add="1.0, 1.0")),
    ("gate_backward", "add_values", gates(add="y_bar * a, y_bar * b")),
    ("gate_backward", "mul_not_swapped", gates(mul="y_bar * a, y_bar * b")),
    ("gate_backward", "no_upstream", gates(mul="b, a")),
    ("gate_backward", "mul_as_add", gates(mul="y_bar, y_bar")),
    ("gate_backward", "max_to_both", gates(max_="y_bar, y_bar")),
    ("gate_backward", "max_to_smaller", gates(max_="(0.0, y_bar) if a > b else (y_bar, 0.0)")),
    ("gate_backward", "max_value",
     gates(max_="(y_bar * a, 0.0) if a > b else (0.0, y_bar * b)")),
    ("gate_backward", "tie_to_one", gates(tie="y_bar, 0.0")),
    ("gate_backward", "tie_to_one", gates(tie="0.0, y_bar")),
    ("gate_backward", "tie_to_both", gates(tie="y_bar, y_bar")),
    ("dg_dx", "missing_inner", "def dg_dx(x):\n    return math.exp(2 * x) + x * math.exp(2 * x)"),
    ("dg_dx", "missing_product", "def dg_dx(x):\n    return x * 2 * math.exp(2 * x)"),
    ("dg_dx", "missing_product", "def dg_dx(x):\n    return math.exp(2 * x)"),
    ("dg_dx", "product_of_derivatives", "def dg_dx(x):\n    return 1 * 2 * math.exp(2 * x)"),
    ("dg_dx", "negated", "def dg_dx(x):\n    return -(1 + 2 * x) * math.exp(2 * x)"),
    ("dgrow_dx", "tangent_after_update", DGROW.replace(
        "        y, d = y * y + 1, 2 * y * d", "        y = y * y + 1\n        d = 2 * y * d")),
    ("dgrow_dx", "branch_ignored", DGROW.replace("y, d = -y, -d", "y = -y")),
    ("dgrow_dx", "one_step", "def dgrow_dx(x):\n    return 2 * x"),
    ("dgrow_dx", "loop_ignored", "def dgrow_dx(x):\n    return -1.0 if x < 0 else 1.0"),
]


def _wrong(task, code):
    ns = {"math": math, "ag": ag}
    exec(compile(code.strip("\n"), f"<wrong {task}>", "exec"), ns)
    return ns[task]


@pytest.mark.parametrize("task,mistake,code", WRONG,
                         ids=[f"{t}-{m}-{i}" for i, (t, m, _) in enumerate(WRONG)])
def test_a_wrong_answer_is_caught_with_the_intended_hint(task, mistake, code):
    result = turn.evaluate(_wrong(task, code), task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    intended = turn.tasks[task].hints.get(mistake)
    report = result.report()
    if intended is not None:                  # the task's own words for this mistake
        assert result.label == intended[0]
        if "lists" not in result.message:     # (a wrong order has a hint naming the nodes)
            assert result.hint == intended[1]
    assert report.startswith("❌") and "looks like:" in report and f"hint: {result.hint}" in report


def test_every_task_has_wrong_answers_and_every_own_hint_is_reachable():
    seen = {(t, m) for t, m, _ in WRONG}
    assert {t for t, _ in seen} == set(TASKS)
    for task in TASKS:
        own = set(turn.tasks[task].hints) - {"used_library"}
        assert own <= {m for t, m in seen if t == task}, (task, own)


def test_a_forgotten_sum_names_the_first_wrong_node_expected_and_got():
    code = residual('adjoint["h"] * local["h", "z"] + adjoint["r"] * local["r", "z"]',
                    'adjoint["r"] * local["r", "z"]')
    result = turn.evaluate(_wrong("residual_by_hand", code))
    assert re.match(r"adjoint of node z: expected -?[\d.]+, got -?[\d.]+$", result.message), \
        result.message
    assert "x = 1.5, w = -0.8" in result.case


def test_right_numbers_in_forward_order_are_told_to_go_from_L_back():
    forward = "{n: adjoint[n] for n in ('x', 'w', 'z', 'h', 'r', 'L')}"
    code = RESIDUAL.replace("    return local, adjoint", f"    return local, {forward}")
    result = turn.evaluate(_wrong("residual_by_hand", code))
    assert "lists x before z" in result.message and "from L back" in result.hint, result.report()


def test_a_missing_entry_or_a_wrong_shape_is_named():
    missing = residual('    local["r", "z"] = 1.0\n', "")
    result = turn.evaluate(_wrong("residual_by_hand", missing.replace(
        '* local["r", "z"]', "* 1.0")))
    assert "local has no entry local['r', 'z']" in result.message, result.report()
    result = turn.evaluate(lambda x, w: 3.0, "residual_by_hand")
    assert "expected (local, adjoint)" in result.message
    result = turn.evaluate(lambda gate, a, b, y_bar: y_bar, "gate_backward")
    assert "expected two numbers (ā, b̄) as a tuple, got a float" in result.message


# ---- by hand, not by the library -----------------------------------------------------------------
BY_LIBRARY = {
    "residual_by_hand": '''
def residual_by_hand(x, w):
    xt = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    wt = ag.tensor(w, dtype=ag.float64, requires_grad=True)
    z = wt * xt
    h = z.sigmoid()
    r = h + z
    L = r ** 2
    for t in (z, h, r, L):
        t.retain_grad()
    L.backward()
    local = {("z", "w"): x, ("z", "x"): w, ("h", "z"): h.item() * (1 - h.item()),
             ("r", "h"): 1.0, ("r", "z"): 1.0, ("L", "r"): 2 * r.item()}
    adjoint = {n: t.grad.item() for n, t in
               (("L", L), ("r", r), ("h", h), ("z", z), ("w", wt), ("x", xt))}
    return local, adjoint
''',
    "gate_backward": '''
def gate_backward(gate, a, b, y_bar):
    at = ag.tensor(a, dtype=ag.float64, requires_grad=True)
    bt = ag.tensor(b, dtype=ag.float64, requires_grad=True)
    y = {"add": at + bt, "mul": at * bt, "max": ag.maximum(at, bt)}[gate]
    y.backward(ag.tensor(y_bar, dtype=ag.float64))
    return at.grad.item(), bt.grad.item()
''',
    "dg_dx": '''
def dg_dx(x):
    t = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    (t * (2 * t).exp()).backward()
    return t.grad.item()
''',
    "dgrow_dx": '''
def grow(x):
    y = x
    if y < 0:
        y = -y
    while y < 4:
        y = y * y + 1
    return y

def dgrow_dx(x):
    t = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    grow(t).backward()
    return t.grad.item()
''',
}


@pytest.mark.parametrize("task", TASKS)
def test_an_answer_that_asks_autogradkit_fails_with_the_by_hand_message(task):
    answer = _wrong(task, BY_LIBRARY[task])
    result = turn.evaluate(answer, task)
    assert result.misconception == "used_library", result.report()
    assert result.message.startswith("your code called autogradkit."), result.message
    assert "done by hand" in result.hint


def test_the_library_answers_would_be_right_numbers():
    """So the by-hand guard, not a wrong number, is what fails them."""
    assert turn.evaluate(_wrong("dg_dx", BY_LIBRARY["dg_dx"])).misconception == "used_library"
    answer = _wrong("dg_dx", BY_LIBRARY["dg_dx"])
    assert answer(0.5) == pytest.approx(turn.tasks["dg_dx"].reference(0.5), rel=1e-12)


# ---- the tie rule, and the program the notebook shows --------------------------------------------
def test_the_tie_rule_is_autogradkits_and_the_reference_follows_it():
    a = ag.tensor(0.7, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(0.7, dtype=ag.float64, requires_grad=True)
    ag.maximum(a, b).backward(ag.tensor(3.0, dtype=ag.float64))
    assert (a.grad.item(), b.grad.item()) == (1.5, 1.5)
    assert turn.tasks["gate_backward"].reference("max", 0.7, 0.7, 3.0) == (1.5, 1.5)


def test_the_tie_rule_is_pytorchs():
    torch = pytest.importorskip("torch")
    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    torch.maximum(a, b).backward(torch.tensor(3.0, dtype=torch.float64))
    assert (a.grad.item(), b.grad.item()) == turn.tasks["gate_backward"].reference(
        "max", 0.7, 0.7, 3.0)


def test_the_notebook_s_grow_is_the_program_the_check_differentiates(source_nb):
    grow = _defined(source_nb, "grow")
    for x in np.linspace(-5, 5, 41):
        assert grow(float(x)) == turn._grow(float(x))
    paths = {turn._path(x) for x in (2.5, 1.5, 5.0, -3.0, -0.5, 0.3)}
    assert {steps for _, steps in paths} == {0, 1, 2, 3} and {r for r, _ in paths} == {True, False}
