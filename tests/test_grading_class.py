"""Grading a class (issue 13, items 3–5): a memory cap per kernel, points and partial credit per
case, extra checks an instructor keeps, and locked check cells.

The tests marked "(kernel)" run real notebooks through ``autogradkit grade``; the others are fast.
"""
import contextlib
import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autogradkit.cli import main
from autogradkit.exercises import EXERCISES, TURNS, grading, load, notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {notebooks.exercise_id(nbformat.read(p, as_version=4)): p
           for folder in ("exercises", "notebooks") for p in notebooks.sources(ROOT / folder)}


def _notebook(folder, name, extra_cells=(), source="ex2_chain_rule", edit=None):
    """A submission: the solution source (solutions in), with cells added or edited."""
    nb = nbformat.read(SOURCES[source], as_version=4)
    if edit is not None:
        nb.cells = [c for c in (edit(c) for c in nb.cells) if c is not None]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    path = Path(folder) / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _grade_json(capsys, *args):
    rc = main(["grade", "--json", *map(str, args)])
    captured = capsys.readouterr()
    return rc, json.loads(captured.out), captured.err


def _tasks(grade):
    return {t["task"]: t for t in grade["tasks"]}


# ---- case counts ---------------------------------------------------------------------------------
def _cases_run_by_the_source(ex_id):
    """{task: cases its check ran} as the solution source, run top to bottom in this process,
    left them (its last check of each task)."""
    ex = load(ex_id)
    ex.reset()
    nb = nbformat.read(SOURCES[ex_id], as_version=4)
    ns = {"__name__": "__exercise__"}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code":
                code = "\n".join(ln for ln in cell.source.splitlines()
                                 if not ln.lstrip().startswith(("%", "!")))
                exec(compile(code, f"<{ex_id}>", "exec"), ns)
    results = dict(ex.results)
    ex.reset()
    assert all(r.passed for r in results.values()), [r.report() for r in results.values()]
    return {task: results[task].cases for task in ex.tasks}


@pytest.fixture(autouse=True)
def no_progress_files(monkeypatch):
    """Running sources here (or in a kernel started from here) leaves no progress file."""
    monkeypatch.setenv("AUTOGRADKIT_PROGRESS_FILE", "off")


@pytest.fixture(scope="module")
def headless_matplotlib():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        try:
            import matplotlib
            matplotlib.use("Agg")
        except ImportError:
            pass
        yield


@pytest.mark.parametrize("ex_id", EXERCISES + TURNS)
def test_case_counts_are_what_the_solution_sources_pass_now(ex_id, headless_matplotlib):
    """case_counts.json, which partial credit divides by, is what each solution source's checks
    run now; when a check gains or loses a case, regenerate it with `autogradkit exercises`."""
    assert SOURCES.keys() == set(EXERCISES + TURNS)
    recorded = json.loads(grading.CASE_COUNTS.read_text(encoding="utf-8"))
    assert recorded.get(ex_id) == _cases_run_by_the_source(ex_id), (
        f"{grading.CASE_COUNTS.name} is out of date for {ex_id}: run `autogradkit exercises`")
    assert notebooks.case_count_problems([ex_id]) == []


def test_the_generator_reads_the_counts_from_the_source_s_own_kernel(tmp_path):
    """(kernel) `autogradkit exercises` counts in the kernel that ran the source, with a cell
    that is not kept in the notebook; the counts are merged into the file."""
    nb = nbformat.read(SOURCES["ex2_chain_rule"], as_version=4)
    before = [c.source for c in nb.cells]
    counts = notebooks.execute_counting_cases(nb, SOURCES["ex2_chain_rule"].parent, "ex2")
    assert [c.source for c in nb.cells] == before
    assert counts == json.loads(grading.CASE_COUNTS.read_text())["ex2_chain_rule"]
    target = tmp_path / "counts.json"
    notebooks.write_case_counts({"ex9_x": {"a": 1}}, target)
    notebooks.write_case_counts({"ex2_chain_rule": counts}, target)
    assert json.loads(target.read_text()) == {"ex2_chain_rule": counts, "ex9_x": {"a": 1}}
    assert notebooks.case_count_problems(["ex2_chain_rule"], tmp_path / "none.json") == [
        "none.json: no number of cases for ex2_chain_rule's grad_sin_square, neuron_grads, "
        "adjoints, tape_backward (run `autogradkit exercises`)"]


# ---- points per case -----------------------------------------------------------------------------
def _row(status, run, log=None, extra=None):
    return {"passed": status == "passed", "status": status, "cases_run": run,
            "case_log": [f"case {k}" for k in range(1, run + 1)] if log is None else log,
            "extra": extra}


@pytest.mark.parametrize("row,n,extra,expected", [
    (_row("passed", 4), 4, False, (4, 4, ["passed"] * 4, 1.0)),
    (_row("wrong", 3), 4, False, (2, 4, ["passed", "passed", "failed", "not run"], 0.5)),
    (_row("wrong", 1), 4, False, (0, 4, ["failed"] + ["not run"] * 3, 0.0)),
    (_row("not_started", 1), 3, False, (0, 3, ["failed", "not run", "not run"], 0.0)),
    (_row("usage", 0), 2, False, (0, 2, ["not run"] * 2, 0.0)),
    (None, 2, False, (0, 2, ["not run"] * 2, 0.0)),                       # the grader's error
    (_row("wrong", 6), 4, False, (5, 6, ["passed"] * 5 + ["failed"], 0.8333)),  # more than known
    (_row("passed", 2), None, False, (2, None, ["passed"] * 2, 1.0)),   # no count known
    (_row("wrong", 2), None, False, (1, None, ["passed", "failed"], 0.0)),
    # the instructor's extra check: one more case, run only after the task's own check passed
    (_row("wrong", 3, extra={"passed": False, "cases_run": 2, "case_log": ["e1", "e2"]}), 3, True,
     (3, 4, ["passed"] * 3 + ["failed"], 0.75)),
    (_row("passed", 3, extra={"passed": True, "cases_run": 2, "case_log": ["e1", "e2"]}), 3, True,
     (4, 4, ["passed"] * 4, 1.0)),
    (_row("wrong", 2), 3, True, (1, 4, ["passed", "failed", "not run", "not run"], 0.25)),
])
def test_points_are_the_share_of_cases_passed_before_the_first_failing_one(row, n, extra,
                                                                             expected):
    passed, total, cases, points = grading._cases(n, row, extra)
    assert (passed, total, [c["result"] for c in cases], points) == expected
    assert [c["case"] for c in cases] == list(range(1, len(cases) + 1))
    if row and row["cases_run"] and n:
        assert cases[0]["description"] == "case 1"
        assert all(c["description"] is None for c in cases[row["cases_run"]:n])


# ---- locked cells --------------------------------------------------------------------------------
def test_the_locked_cells_are_every_learner_notebook_s_check_cells():
    templates = grading._templates()
    assert set(templates) == set(EXERCISES + TURNS)
    assert "ex.check(adjoints)" in templates["ex2_chain_rule"]
    assert all(re.search(r"ex\.check\(|turn\.use\(|\.progress\(", c)
               for cells in templates.values() for c in cells)
    assert all(len(templates[e]) >= len(load(e).tasks) for e in templates)


def _edit_locked(cell, old="ex.check(tape_backward)", new="pass  # no more red crosses"):
    if cell.cell_type == "code" and cell.source.strip() == old:
        cell.source = new
    return cell


def test_a_changed_or_deleted_check_cell_is_named_by_its_first_line(tmp_path):
    read = lambda p: nbformat.read(p, as_version=4)          # noqa: E731
    source = read(SOURCES["ex2_chain_rule"])
    assert grading.locked_cells_changed(source, "ex2_chain_rule") == []   # solutions filled in
    learner = read(ROOT / "exercises" / "ex2_chain_rule.ipynb")
    for cell in learner.cells:                             # answers and notes may change freely
        cell.source = cell.source.replace('raise NotImplementedError("adjoints: replace this line '
                                          'with your code")', "return {}")
    learner.cells.append(nbformat.v4.new_code_cell("ex.check(adjoints)  # again"))
    assert grading.locked_cells_changed(learner, "ex2_chain_rule") == []
    for cell in learner.cells:
        _edit_locked(cell)
        cell.source = cell.source.replace("ex.check(neuron_grads)", "ex.check(neuron_grads, "
                                          "time_limit=100)")
    learner.cells = [c for c in learner.cells if ".progress(" not in c.source]
    changed = grading.locked_cells_changed(learner, "ex2_chain_rule")
    assert changed == ["ex.check(neuron_grads)", "ex.check(tape_backward)", "ex.progress()"]
    turn = read(ROOT / "notebooks" / "03_rebuilding_backward.ipynb")
    turn.cells = [c for c in turn.cells if "turn.use(backward)" not in c.source]
    assert grading.locked_cells_changed(turn, "nb03_backward") == ["backward = turn.use(backward)"]


def test_the_locked_cells_come_from_an_installed_wheel_s_course_files_too(tmp_path, monkeypatch):
    """From a wheel, the learner notebooks are package data (course_root()); without them the
    grade says nothing about locked cells (None) rather than guessing."""
    from autogradkit import course
    wheel = tmp_path / "_course"
    for folder, pattern in (("exercises", "ex2_*.ipynb"), ("notebooks", "03_*.ipynb")):
        (wheel / folder).mkdir(parents=True)
        for p in (ROOT / folder).glob(pattern):
            shutil.copy(p, wheel / folder / p.name)
    monkeypatch.setattr(grading, "_TEMPLATES", {})
    monkeypatch.setattr(course, "course_root", lambda: wheel)
    assert set(grading._templates()) == {"ex2_chain_rule", "nb03_backward"}
    nb = nbformat.read(SOURCES["ex2_chain_rule"], as_version=4)
    nb.cells = [_edit_locked(c) for c in nb.cells]
    assert grading.locked_cells_changed(nb, "ex2_chain_rule") == ["ex.check(tape_backward)"]
    assert grading.locked_cells_changed(nb, "ex1_derivatives") is None

    def missing():
        raise course.CourseError("not installed")
    monkeypatch.setattr(grading, "_TEMPLATES", {})
    monkeypatch.setattr(course, "course_root", missing)
    assert grading.locked_cells_changed(nb, "ex2_chain_rule") is None


# ---- extra checks an instructor keeps -----------------------------------------------------------
EXTRA = '''
import math

def _dz(z):
    return 1 - math.tanh(z) ** 2

def check_neuron_grads(t, answer):
    t.case("w = 3, x = 0.5, b = -1 (the instructor's case)")
    got = t.call(answer, 3.0, 0.5, -1.0)
    t.compare(got["w"], _dz(0.5) * 0.5, what="dL/dw", rtol=1e-9)

def check_adjoints(t, answer):
    for x, y in ((1.0, 2.0), (-3.0, 0.5)):
        t.case(f"x = {x:g}, y = {y:g}")
        got = t.call(answer, x, y)
        t.compare(got["L"], 1.0, what="adjoint of L")
'''


@pytest.mark.parametrize("text,problem", [
    ("def check_adjoints(t, answer)\n    pass\n", r"extra\.py, line 1: SyntaxError: "),
    ("def check_nonsense(t, answer):\n    pass\n", r"check_nonsense names no task of any exercise"),
    ("EXERCISE = 'ex1_derivatives'\ndef check_adjoints(t, answer):\n    pass\n",
     r"check_adjoints names no task of ex1_derivatives \(its tasks: dfdx, "),
    ("EXERCISE = 'ex99'\n", r"EXERCISE = 'ex99' is not an exercise"),
    ("def check_adjoints(t):\n    pass\n", r"check_adjoints must be a function "
                                           r"check_<task>\(t, answer\)"),
    ("import no_such_module_here\n", r"running it raised ModuleNotFoundError: "),
    ("def helper(t, answer):\n    pass\n", r"defines no check_<task>\(t, answer\) function"),
])
def test_a_broken_extra_checks_file_is_one_line_before_any_notebook_runs(tmp_path, capsys, text,
                                                                         problem):
    extra = tmp_path / "extra.py"
    extra.write_text(text, encoding="utf-8")
    rc = main(["grade", "--extra-checks", str(extra), str(tmp_path / "never_opened.ipynb")])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert re.search(r"^autogradkit: error: --extra-checks .*" + problem, captured.err), captured.err
    assert "never_opened" not in captured.err


def test_a_missing_extra_checks_file_is_one_line_too(tmp_path, capsys):
    rc = main(["grade", "--extra-checks", str(tmp_path / "gone.py"), str(tmp_path)])
    assert rc == 2 and "gone.py: cannot read it" in capsys.readouterr().err


def test_an_extra_checks_file_may_be_limited_to_one_exercise(tmp_path):
    extra = tmp_path / "extra.py"
    extra.write_text("EXERCISE = 'ex3_backward'\ndef check_backward(t, answer):\n    pass\n")
    checks = grading.ExtraChecks.load(extra)
    assert checks.applies("ex3_backward", "backward")
    assert not checks.applies("nb03_backward", "backward")     # a task of the same name
    extra.write_text("def check_backward(t, answer):\n    pass\n")
    checks = grading.ExtraChecks.load(extra)
    assert checks.applies("ex3_backward", "backward") and checks.applies("nb03_backward", "backward")
    assert not checks.applies("ex3_backward", "topological_order")


# ---- one class's notebook, end to end ------------------------------------------------------------
PARTIAL = [
    # right for the first two cases, wrong from x = 2 on
    "import math\n"
    "def grad_sin_square(x):\n"
    "    return 2 * x * math.cos(x * x) if abs(x) < 1.5 else 0.0\n",
    # right wherever the exercise's own check looks, wrong where the instructor's extra case does
    "_right_neuron_grads = neuron_grads\n"
    "def neuron_grads(w, x, b):\n"
    "    grads = _right_neuron_grads(w, x, b)\n"
    "    return dict(grads, w=0.0) if w == 3.0 else grads\n",
]


def test_points_per_case_extra_checks_and_a_changed_check_cell(tmp_path, capsys, monkeypatch):
    """(kernel) One submission through `grade --json --extra-checks`: partial credit for the
    cases passed before the first failing one, each case listed; a task passes only if the
    instructor's extra check passes too; a changed check cell is a note and costs nothing.
    Nothing is written beside the submission (no progress file)."""
    monkeypatch.delenv("AUTOGRADKIT_PROGRESS_FILE", raising=False)
    path = _notebook(tmp_path, "dana", PARTIAL, edit=_edit_locked)
    extra = tmp_path / "extra.py"
    extra.write_text(EXTRA, encoding="utf-8")
    rc, report, _ = _grade_json(capsys, "--extra-checks", extra, path)
    assert rc == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dana.ipynb", "extra.py"]
    grade = report["notebooks"][0]
    counts = json.loads(grading.CASE_COUNTS.read_text())["ex2_chain_rule"]
    tasks = _tasks(grade)

    sin = tasks["grad_sin_square"]                    # failed at its third case
    n = counts["grad_sin_square"]
    assert not sin["passed"] and sin["status"] == "wrong"
    assert (sin["cases_passed"], sin["cases_total"]) == (2, n)
    assert sin["points"] == round(2 / n, 4)
    assert [c["result"] for c in sin["cases"]] == ["passed"] * 2 + ["failed"] + ["not run"] * (n - 3)
    assert sin["cases"][2]["description"] == sin["case"] and sin["case"].startswith("x = 2")
    assert all(c["description"] for c in sin["cases"][:3])
    assert all(c["description"] is None for c in sin["cases"][3:])

    neuron = tasks["neuron_grads"]                    # its own check passes, the extra one not
    n = counts["neuron_grads"]
    assert not neuron["passed"] and neuron["status"] == "wrong"
    assert neuron["message"].startswith("extra check: ")
    assert neuron["case"] == "w = 3, x = 0.5, b = -1 (the instructor's case)"
    assert (neuron["cases_passed"], neuron["cases_total"]) == (n, n + 1)
    assert neuron["points"] == round(n / (n + 1), 4)
    assert neuron["cases"][-1] == {"case": n + 1, "result": "failed", "description":
                                   "the instructor's extra check: w = 3, x = 0.5, b = -1 (the "
                                   "instructor's case)"}

    adjoints = tasks["adjoints"]                      # both checks pass
    n = counts["adjoints"]
    assert adjoints["passed"] and adjoints["points"] == 1
    assert adjoints["message"] == f"passed ({n} + 2 extra cases)"
    assert (adjoints["cases_passed"], adjoints["cases_total"]) == (n + 1, n + 1)
    assert adjoints["cases"][-1]["description"] == "the instructor's extra check (2 cases)"

    tape = tasks["tape_backward"]                     # no extra check; its check cell changed
    assert tape["passed"] and tape["points"] == 1
    assert tape["cases_total"] == counts["tape_backward"]
    assert all(c["result"] != "failed" for c in tape["cases"])
    assert grade["locked_cells_changed"] == ["ex.check(tape_backward)"]
    assert grade["passed"] == 2
    assert grade["points"] == round(sum(t["points"] for t in grade["tasks"]), 4)
    assert report["points"] == grade["points"] and report["passed"] == 2
    assert grade["extra_checks"] == str(extra) and grade["memory_limit_mib"] == 4096

    # the same grade as a table and as CSV
    text = grading.table(grade)
    assert re.search(r"\n\s+1\s+grad_sin_square\s+FAIL\s+0\.5\s+", text), text
    assert re.search(r"\n\s+3\s+adjoints\s+pass\s+1\s+passed", text), text
    assert "note: 1 locked check cell(s) changed or deleted: ex.check(tape_backward)" in text
    assert re.search(rf"score: 2/4 tasks passed \(50%\) · {grading._points(grade['points'])}/4 "
                     r"points \(\d+%\)", text), text
    rows = {r["task"]: r for r in csv.DictReader(grading.csv_text([grade]).splitlines())}
    assert rows["grad_sin_square"]["points"] == f"{2 / counts['grad_sin_square']:.4g}"
    assert rows["grad_sin_square"]["cases_passed"] == "2"
    assert rows["grad_sin_square"]["cases_total"] == str(counts["grad_sin_square"])
    assert rows["adjoints"]["points"] == "1"
    assert all(r["locked_cells_changed"] == "ex.check(tape_backward)" for r in rows.values())


# ---- memory --------------------------------------------------------------------------------------
GREEDY = [
    # a runaway allocation in a cell of its own: an error in that cell, the notebook goes on
    "import numpy as np\nrunaway = np.empty(2 * 2**30 // 8)          # 2 GiB",
    # a task whose answer allocates 2 GiB (never touched) before answering right
    "_right_neuron_grads = neuron_grads\n"
    "def neuron_grads(w, x, b):\n"
    "    scratch = np.empty(2 * 2**30 // 8)\n"
    "    return _right_neuron_grads(w, x, b)\n",
    # ordinary work under the cap: threads and numpy's BLAS
    "import threading\n"
    "threads = [threading.Thread(target=lambda: np.ones((300, 300)) @ np.ones((300, 300)))\n"
    "           for _ in range(8)]\n"
    "for th in threads: th.start()\n"
    "for th in threads: th.join()\n"
    "product = np.ones((500, 500)) @ np.ones((500, 500))\n"
    "import resource\n"
    "assert resource.getrlimit(resource.RLIMIT_DATA)[0] == {cap} * 2**20 or {cap} == 0\n",
]


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/status").exists(),
                    reason="RLIMIT_DATA is enforced on Linux")
@pytest.mark.parametrize("cap", [1024, 0])
def test_the_memory_cap_turns_a_runaway_allocation_into_a_failed_task(tmp_path, capsys, cap):
    """(kernel) --memory-limit 1024: the 2 GiB allocation is a MemoryError in its cell and in
    its task, every other task is graded, and threads and BLAS still work. --memory-limit 0 (no
    cap) lets the same allocations through."""
    cells = [c.replace("{cap}", str(cap)) for c in GREEDY]
    path = _notebook(tmp_path, f"greedy{cap}", cells)
    rc, report, _ = _grade_json(capsys, "--memory-limit", cap, path)
    grade = report["notebooks"][0]
    tasks = _tasks(grade)
    assert grade["error"] is None, grade["error"]
    assert grade["memory_limit_mib"] == (cap or None)
    assert all(tasks[t]["passed"] for t in ("grad_sin_square", "adjoints", "tape_backward"))
    if cap:
        assert rc == 1 and grade["cell_errors"] == 1       # the runaway cell, nothing else
        assert not tasks["neuron_grads"]["passed"]
        assert tasks["neuron_grads"]["message"].startswith("your code raised MemoryError")
    else:
        assert rc == 0 and grade["cell_errors"] == 0 and tasks["neuron_grads"]["passed"]


def test_a_negative_memory_limit_is_refused(capsys):
    assert main(["grade", "--memory-limit", "-1", "x.ipynb"]) == 2
    assert "--memory-limit must be 0" in capsys.readouterr().err


def test_a_kernel_that_dies_anyway_is_reported_and_earlier_tasks_keep_their_results(tmp_path,
                                                                                   capsys):
    """(kernel) A kernel killed while the notebook runs (as the system's out-of-memory killer
    would) voids every task with a message saying so; one killed while a task is checked keeps
    the tasks checked before it."""
    kill = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    while_running = _notebook(tmp_path, "a", [kill])
    while_checking = _notebook(tmp_path, "b", [f"def adjoints(x, y):\n    {kill.replace(chr(10), '; ')}"])
    rc, report, _ = _grade_json(capsys, while_running, while_checking)
    assert rc == 1 and not report["problems"]
    a, b = report["notebooks"]
    assert a["error"] == "the kernel died (out of memory?) while the notebook ran"
    assert all(not t["passed"] and "the kernel died (out of memory?)" in t["message"]
               for t in a["tasks"])
    assert b["error"] == "the kernel died (out of memory?) while task 'adjoints' was checked"
    tasks = _tasks(b)
    assert tasks["grad_sin_square"]["passed"] and tasks["neuron_grads"]["passed"]
    assert tasks["adjoints"]["message"] == "the kernel died (out of memory?) while its check ran"
    assert tasks["tape_backward"]["message"].startswith("not checked: the kernel died")
    assert "the kernel died (out of memory?)" in grading.table(b)
