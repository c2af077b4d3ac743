"""The grader's verdicts can be trusted (issue 13): each test reproduces a defect found by trying
the exercises as learners and instructors would, and proves it fixed."""
import contextlib
import re
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit.exercises import EXERCISES, load

ROOT = Path(__file__).resolve().parents[1]


def _solutions(exercise_id):
    nb = nbformat.read(ROOT / "exercises" / "source" / f"{exercise_id}.ipynb", as_version=4)
    ns = {"__name__": "__exercise__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, f"<{exercise_id}>", "exec"), ns)
    return ns


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_right_answers_pass_when_the_notebook_turned_gradients_off(exercise_id):
    """``ag.set_grad_enabled(False)`` anywhere in a notebook (or a check called inside
    ``no_grad()``) used to fail right answers and break the checker; checks now run as a fresh
    session would, and leave the learner's setting as it was."""
    ns, ex = _solutions(exercise_id), load(exercise_id)
    for tasks_off in (lambda: ag.set_grad_enabled(False), lambda: ag.set_default_dtype(ag.float64)):
        previous = (ag.is_grad_enabled(), ag.get_default_dtype())
        try:
            tasks_off()
            for name in ex.tasks:
                result = ex.evaluate(ns[name], name)
                assert result.passed, result.report()
            assert (ag.is_grad_enabled(), ag.get_default_dtype()) != previous
        finally:
            ag.set_grad_enabled(previous[0])
            ag.set_default_dtype(previous[1])


# ---- `autogradkit grade`: batches, forgery, time (these run real kernels) -------------------------
def _notebook(tmp_path, name, extra_cells=(), metadata=None, source="ex2_chain_rule"):
    nb = nbformat.read(ROOT / "exercises" / "source" / f"{source}.ipynb", as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    if metadata is not None:
        nb.metadata["autogradkit"] = metadata
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _grade(capsys, *args):
    import json

    from autogradkit.cli import main
    rc = main(["grade", "--json", *map(str, args)])
    return rc, json.loads(capsys.readouterr().out)


def test_a_batch_keeps_every_result_when_one_notebook_cannot_be_graded(tmp_path, capsys):
    good = _notebook(tmp_path, "a")
    unknown = _notebook(tmp_path, "b", metadata={"exercise": "ex99_nothing"})
    not_a_dict = _notebook(tmp_path, "c", metadata="ex2_chain_rule")
    rc, report = _grade(capsys, good, unknown, not_a_dict)
    assert rc == 2
    assert [g["path"] for g in report["notebooks"]] == [str(good)]
    assert report["notebooks"][0]["passed"] == 4
    problems = "\n".join(report["problems"])
    assert "b.ipynb: its metadata names an exercise autogradkit does not have ('ex99_nothing'" in problems
    assert "c.ipynb: its metadata 'autogradkit' is a str" in problems


ZERO_ANSWERS = ["import numpy as np\n"
                "def grad_sin_square(x):\n    return 0.0\n"
                "def neuron_grads(*args):\n    return 0.0\n"
                "def adjoints(*args):\n    return {}\n"
                "def tape_backward(*args):\n    return {}\n"]


@pytest.mark.parametrize("tamper", [
    "np.isclose = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True",
    "from autogradkit.exercises import core\ncore.Checker.compare = lambda *a, **k: None",
    "import autogradkit.exercises.grading_kernel as gk\n"
    "gk.check_task = lambda ex, name, ns, limit=None: print('AUTOGRADKIT-GRADE {}')",
    "print('AUTOGRADKIT-GRADE {\"exercise\": \"ex2_chain_rule\", \"task\": \"adjoints\", "
    "\"number\": 3, \"passed\": true, \"status\": \"passed\"}')",
])
def test_a_notebook_cannot_forge_its_grade(tmp_path, capsys, tamper):
    """Replacing numpy's comparisons, the checker's compare or the grader's own functions, or
    printing a result line, gives no points: wrong answers still score 0."""
    path = _notebook(tmp_path, "forged", [*ZERO_ANSWERS, tamper])
    rc, report = _grade(capsys, path)
    grade = report["notebooks"][0]
    assert rc == 1 and grade["passed"] == 0 and not report["all_passed"], grade
    if "np.isclose" in tamper or "Checker.compare" in tamper:
        assert all("grade void: the notebook replaced code the checks rely on" in t["message"]
                   for t in grade["tasks"])


def test_a_looping_answer_costs_only_its_own_task(tmp_path, capsys):
    loops = [f"def {name}(*args):\n    while True:\n        pass"
             for name in ("neuron_grads", "adjoints", "tape_backward")]
    path = _notebook(tmp_path, "loops", loops)
    from autogradkit.cli import main
    rc = main(["grade", "--time-limit", "1", str(path)])
    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if line[:4].strip().isdigit()}
    assert rc == 1
    assert " pass " in rows["grad_sin_square"]
    for name in ("neuron_grads", "adjoints", "tape_backward"):
        assert "FAIL" in rows[name] and "time limit of 1 s" in rows[name], rows[name]
    assert "kernel" not in out


def test_a_class_folder_graded_in_parallel_to_csv(tmp_path, capsys):
    import csv

    from autogradkit.cli import main
    folder = tmp_path / "submissions"
    folder.mkdir()
    _notebook(folder, "alice")
    _notebook(folder, "bob", ZERO_ANSWERS)
    (folder / "carol.ipynb").write_text("{ not json", encoding="utf-8")
    rc = main(["grade", "--jobs", "2", "--csv", str(folder)])
    captured = capsys.readouterr()
    rows = list(csv.DictReader(captured.out.splitlines()))
    assert rc == 2
    assert "carol.ipynb: not a readable notebook" in captured.err
    by_student = {}
    for row in rows:
        by_student.setdefault(row["student"], []).append(row)
    assert sorted(by_student) == ["alice", "bob"]
    assert [r["points"] for r in by_student["alice"]] == ["1"] * 4
    assert [r["points"] for r in by_student["bob"]] == ["0"] * 4
    assert all(r["exercise"] == "ex2_chain_rule" and r["checker_version"] and r["graded_at"]
               for r in rows)
    assert any(r["hint"] for r in by_student["bob"])


# ---- hints that said the wrong thing ----------------------------------------------------------------
def _answer(exercise_id, task, code):
    ns = dict(_solutions(exercise_id))
    exec(compile(code, f"<{task}>", "exec"), ns)
    return load(exercise_id).evaluate(ns[task], task)


CENTRAL_GRADIENT = """
def numerical_gradient(f, x, h):
    g = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return {result}
"""


@pytest.mark.parametrize("code,not_this", [
    ("def dfdx(x):\n    return 0.0", "zeros"),          # one number that happens to be 0
    ("def dfdx(x):\n    return x", "missed_exponent"),  # not 'the power rule applied halfway'
])
def test_no_misleading_label(code, not_this):
    result = _answer("ex1_derivatives", "dfdx", code)
    assert not result.passed and result.misconception != not_this, result.report()


def test_an_integer_answer_gets_the_dtype_hint():
    result = _answer("ex1_derivatives", "dfdx", "def dfdx(x):\n    return int(3 * x**2 - 2)")
    assert result.misconception == "integer_dtype", result.report()
    assert "integers" in result.hint


def test_a_float32_answer_gets_the_precision_hint():
    result = _answer("ex2_chain_rule", "grad_sin_square",    # checked at rtol 1e-9
                     "import math\nimport autogradkit as ag\ndef grad_sin_square(x):\n"
                     "    return ag.tensor(2 * x * math.cos(x ** 2))     # float32")
    assert result.misconception == "float32_precision", result.report()
    assert "float64" in result.hint


def test_a_tiny_change_to_an_input_is_shown_with_the_digits_that_differ():
    code = CENTRAL_GRADIENT.format(result="g").replace("    return g", "    x.flat[0] += 1e-12\n    return g")
    result = _answer("ex1_derivatives", "numerical_gradient", code)
    assert result.misconception == "input_changed", result.report()
    before, after = re.search(r"was (\S+) and is now (\S+)", result.message).groups()
    assert before != after, result.message


def test_a_loss_left_unreduced_is_not_called_a_gradient():
    from autogradkit.exercises.compare import compare
    from autogradkit.exercises.misconceptions import hint
    mismatch = compare(np.ones(4), 2.0, what="loss")
    assert mismatch.misconception == "not_reduced"
    assert "gradient" not in hint("not_reduced")
    assert "ḡ" not in hint("transposed")         # ex1's numerical gradient has no ḡ


def test_a_class_with_init_written_and_forward_a_stub_is_told_where_the_stub_stands():
    """Not a bare "not started": the report names the method that is still a stub."""
    code = ("class LeakyReLU(nn.Module):\n"
            "    def __init__(self, negative_slope=0.01):\n"
            "        super().__init__()\n"
            "        self.negative_slope = negative_slope\n"
            "    def forward(self, x):\n"
            "        raise NotImplementedError('LeakyReLU: replace this line with your code')\n")
    result = _answer("ex5_modules", "LeakyReLU", code)
    assert result.status == "not_started", result.report()
    assert "(one still stands in forward, line 6)" in result.report(), result.report()


def test_a_timed_out_check_on_a_worker_thread_leaves_tracing_working():
    """The watchdog once cleared an undelivered exception with PyThreadState_SetAsyncExc(id,
    NULL), which leaves CPython's pending flag set: every later settrace/setprofile (the
    numpy-only guard, a debugger, coverage) then hung the process. Run in a child process."""
    import subprocess
    import sys
    program = (
        "import sys, threading\n"
        "from autogradkit.exercises import load\n"
        "ns = {}\n"
        "exec('def dfdx(x):\\n    while True:\\n        pass', ns)\n"
        "t = threading.Thread(target=lambda: load('ex1_derivatives').evaluate(ns['dfdx'], "
        "time_limit=0.3))\n"
        "t.start(); t.join()\n"
        "def f():\n    return 1\n"
        "sys.setprofile(lambda *a: None); f(); sys.setprofile(None)\n"
        "sys.settrace(lambda *a: None); f(); sys.settrace(None)\n"
        "print('tracing works')\n")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "tracing works", proc.stderr[-2000:]


def test_an_optimizer_that_ignores_the_step_size_and_momentum_it_is_given_fails():
    """ex5's SGDMomentum was checked with one lr and momentum only: hard-coding them passed."""
    code = ("_Right = SGDMomentum\n"
            "class SGDMomentum(_Right):\n"
            "    def __init__(self, params, lr, momentum=0.0):\n"
            "        super().__init__(params, lr=0.1, momentum=0.9)\n")
    result = _answer("ex5_modules", "SGDMomentum", code)
    assert not result.passed and "lr=0.03" in (result.case or ""), result.report()
