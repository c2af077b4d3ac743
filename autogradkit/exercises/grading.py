"""``autogradkit grade``: run a learner's notebook headless and score its tasks.

The notebook runs top to bottom in a fresh kernel (cells that raise are recorded and skipped
over; a cell that runs too long is interrupted). Then one more cell, added by the grader, looks
up each task's function or class by name in the kernel and checks it again — so a task counts
whether or not its check cell was run, and a deleted or renamed answer counts as missing.
The results come back as one line of JSON on that cell's output.

The grade is only as trustworthy as the notebook: it is a learner's self-check and an
instructor's quick overview, not an exam proctor (the learner's code runs with full rights).
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

MARKER = "AUTOGRADKIT-GRADE "
_IMPORT = re.compile(r"autogradkit\.exercises(?:\.|\s+import\s+)(ex\d+_\w+)")


# ---- inside the kernel -------------------------------------------------------------------------
def emit(exercise_id, namespace, time_limit=None):
    """Check every task of ``exercise_id`` against the objects in ``namespace``; print the JSON
    line the grader reads. Learner output during the checks is swallowed. ``time_limit``
    (seconds) replaces every task's own limit."""
    from . import load
    ex = load(exercise_id)
    tasks = []
    for name, spec in ex.tasks.items():
        answer = namespace.get(name)
        if answer is None:
            tasks.append({"number": spec.number, "task": name, "passed": False,
                          "status": "missing", "message": f"no {name} is defined (did its cell "
                          "run without errors?)", "misconception": None, "case": None})
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            r = ex.evaluate(answer, name, time_limit)
        tasks.append({"number": r.number, "task": name, "passed": r.passed, "status": r.status,
                      "message": r.summary(), "misconception": r.misconception, "case": r.case})
    print(MARKER + json.dumps({"exercise": ex.id, "title": ex.title, "tasks": tasks}))


# ---- the grader ------------------------------------------------------------------------------
class GradeError(Exception):
    """The notebook cannot be graded at all (missing, not an exercise notebook)."""


def find_exercise(nb):
    from . import EXERCISES
    from .notebooks import exercise_id
    ex_id = exercise_id(nb)
    if ex_id:
        return ex_id
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = _IMPORT.search(cell.source)
            if m and m.group(1) in EXERCISES:
                return m.group(1)
    return None


def grade_notebook(path, timeout=120, time_limit=None):
    """Run ``path`` and return its grade as a dict (see ``--json``)."""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    from . import load
    path = Path(path)
    if not path.is_file():
        raise GradeError(f"{path}: no such notebook")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise GradeError(f"{path}: not a readable notebook ({exc})") from None
    ex_id = find_exercise(nb)
    if ex_id is None:
        raise GradeError(f"{path}: not an autogradkit exercise notebook (no "
                         "`from autogradkit.exercises import exN_…` and no autogradkit metadata)")
    ex = load(ex_id)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"__import__('autogradkit.exercises.grading', fromlist=['emit'])"
        f".emit({ex_id!r}, globals(), {time_limit!r})"))
    error = None
    try:
        _execute(nb, path.parent, timeout)
    except DeadKernelError:
        error = "the kernel died while the notebook ran"
    except Exception as exc:
        error = f"the notebook could not be run: {type(exc).__name__}: {exc}"
    graded = _read_emitted(nb.cells[-1]) if error is None else None
    if graded is None:
        error = error or "the grading cell produced no result (the kernel stopped?)"
        graded = {"exercise": ex.id, "title": ex.title, "tasks": [
            {"number": s.number, "task": s.name, "passed": False, "status": "error",
             "message": error, "misconception": None, "case": None} for s in ex.tasks.values()]}
    cell_errors = sum(1 for c in nb.cells[:-1] if c.cell_type == "code"
                      and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    passed = sum(t["passed"] for t in graded["tasks"])
    return dict(path=str(path), exercise=graded["exercise"], title=graded["title"],
                tasks=graded["tasks"], passed=passed, total=len(graded["tasks"]),
                cell_errors=cell_errors, error=error)


def _execute(nb, cwd, timeout):
    from .notebooks import execute
    execute(nb, cwd, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": f"the cell ran longer than "
                              f"{timeout:g} s and was interrupted", "traceback": []})


def _read_emitted(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            for line in out.get("text", "").splitlines():
                if line.startswith(MARKER):
                    return json.loads(line[len(MARKER):])
    return None


# ---- reporting ---------------------------------------------------------------------------------
def table(grade):
    """The per-task score table for one notebook, as text."""
    width = max([len("task")] + [len(t["task"]) for t in grade["tasks"]])
    lines = [f"{grade['path']} — {grade['title']}",
             f"  {'#':>2}  {'task':<{width}}  result  details"]
    for t in grade["tasks"]:
        lines.append(f"  {t['number']:>2}  {t['task']:<{width}}  {'pass' if t['passed'] else 'FAIL':<6}"
                     f"  {_one_line(t['message'])}")
    if grade["error"]:
        lines.append(f"  note: {grade['error']}")
    elif grade["cell_errors"]:
        lines.append(f"  note: {grade['cell_errors']} cell(s) raised an error while the notebook ran")
    pct = 100 * grade["passed"] / grade["total"] if grade["total"] else 0
    lines.append(f"  score: {grade['passed']}/{grade['total']} tasks passed ({pct:.0f}%)")
    return "\n".join(lines)


def _one_line(text, limit=100):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def run(paths, as_json=False, timeout=120, time_limit=None, out=print):
    """Grade each notebook; print tables (or JSON); return the exit status: 0 only when every
    task of every notebook passed, 1 when some did not, 2 when a notebook could not be graded."""
    grades, problems = [], []
    for p in paths:
        try:
            grades.append(grade_notebook(p, timeout, time_limit))
        except GradeError as exc:
            problems.append(str(exc))
    passed = sum(g["passed"] for g in grades)
    total = sum(g["total"] for g in grades)
    all_passed = bool(grades) and not problems and passed == total and not any(g["error"] for g in grades)
    if as_json:
        out(json.dumps({"notebooks": grades, "problems": problems, "passed": passed,
                        "total": total, "all_passed": all_passed}, indent=2, ensure_ascii=False))
    else:
        for g in grades:
            out(table(g))
            out("")
        for p in problems:
            out(f"error: {p}")
        if len(grades) > 1:
            out(f"total: {passed}/{total} tasks passed in {len(grades)} notebooks")
    if problems:
        return 2
    return 0 if all_passed else 1
