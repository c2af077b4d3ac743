"""``autogradkit grade``: run a learner's notebook headless and score its tasks.

The notebook runs top to bottom in a fresh kernel (cells that raise are recorded and skipped
over; a cell that runs longer than ``timeout`` is interrupted; past ``total_timeout`` the rest of
the learner's cells are skipped). Then the grader adds its own cells, which read
``grading_kernel.py`` from the package's files and run it:

* one cell voids the grade if the notebook replaced checker code (``np.isclose``,
  ``Checker.compare`` …) and reloads the checking modules from their files;
* one cell per task looks up the task's function or class by name and checks it, with that
  task's own time limit — so a looping answer costs its own task only, and a task counts whether
  or not its check cell was run; a deleted or renamed answer counts as missing.

Each task cell prints one JSON line, which is validated against the exercise's own task list
(its name, number and status must be what this task can report).

The grade is a learner's self-check and an instructor's overview, not an exam proctor: the
learner's code runs with full rights in the kernel (see exercises/README.md).
"""
from __future__ import annotations

import io
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

MARKER = "AUTOGRADKIT-GRADE "
_IMPORT = re.compile(r"autogradkit\.exercises(?:\.|\s+import\s+)(ex\d+_\w+)")
STATUSES = ("passed", "wrong", "error", "timeout", "not_started", "usage", "missing")
KERNEL_CODE = Path(__file__).with_name("grading_kernel.py")
MARGIN = 30.0          # seconds a task's cell may run beyond the task's own time limit


# ---- the grader ------------------------------------------------------------------------------
class GradeError(Exception):
    """The notebook cannot be graded at all (missing, unreadable, not an exercise notebook)."""


def find_exercise(nb):
    """The exercise id a notebook is for (its metadata, else its import line), or None."""
    from . import EXERCISES, TURNS
    meta = nb.metadata.get("autogradkit") if isinstance(nb.metadata, dict) else None
    if meta is not None and not isinstance(meta, dict):
        raise GradeError(f"its metadata 'autogradkit' is a {type(meta).__name__}, not a "
                         "mapping with the exercise's name")
    ex_id = (meta or {}).get("exercise")
    if ex_id:
        if ex_id not in EXERCISES + TURNS:
            raise GradeError(f"its metadata names an exercise autogradkit does not have "
                             f"({ex_id!r}; there are {', '.join(EXERCISES + TURNS)})")
        return ex_id
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = _IMPORT.search(cell.source)
            if m and m.group(1) in EXERCISES:
                return m.group(1)
    return None


def _read(path):
    import nbformat
    path = Path(path)
    if not path.is_file():
        raise GradeError(f"{path}: no such notebook")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise GradeError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    try:
        ex_id = find_exercise(nb)
    except GradeError as exc:
        raise GradeError(f"{path}: {exc}") from None
    if ex_id is None:
        raise GradeError(f"{path}: not an autogradkit exercise notebook (no "
                         "`from autogradkit.exercises import exN_…` and no autogradkit metadata)")
    return nb, ex_id


def _kernel_cell(function, args):
    """A grader cell: run grading_kernel.py from the package's file, then call ``function``."""
    import nbformat
    path = str(KERNEL_CODE)
    return nbformat.v4.new_code_cell(
        "__autogradkit_grader = {'__name__': 'autogradkit_grader'}\n"
        f"exec(compile(open({path!r}, encoding='utf-8').read(), {path!r}, 'exec'), "
        f"__autogradkit_grader)\n__autogradkit_grader[{function!r}]({args})")


def grade_notebook(path, timeout=120, time_limit=None, total_timeout=900):
    """Run ``path`` and return its grade as a dict (see ``--json``)."""
    from . import load
    nb, ex_id = _read(path)
    ex = load(ex_id)
    learner_cells = len(nb.cells)
    nb.cells.append(_kernel_cell("prepare", repr(ex_id)))
    limits = {}
    for name, spec in ex.tasks.items():
        limits[name] = spec.time_limit if time_limit is None else float(time_limit)
        nb.cells.append(_kernel_cell("check_task", f"{ex_id!r}, {name!r}, globals(), "
                                                   f"{time_limit!r}"))
    error, skipped = _execute(nb, Path(path).parent, timeout, total_timeout, learner_cells,
                              [limits[n] + MARGIN for n in ex.tasks])
    prepared = _emitted(nb.cells[learner_cells])
    tasks = []
    for k, (name, spec) in enumerate(ex.tasks.items()):
        cell = nb.cells[learner_cells + 1 + k]
        tasks.append(_task_row(ex, spec, _emitted(cell), cell, prepared, error, limits[name]))
    cell_errors = sum(1 for c in nb.cells[:learner_cells] if c.cell_type == "code"
                      and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    passed = sum(t["passed"] for t in tasks)
    note = error or (f"the notebook ran past {total_timeout:g} s; its last {skipped} cell(s) "
                     "were skipped" if skipped else None)
    from autogradkit import __version__
    meta = nb.metadata.get("autogradkit") or {}
    student = meta.get("student") if isinstance(meta.get("student"), str) else Path(path).stem
    return dict(path=str(path), student=student, exercise=ex.id, title=ex.title, tasks=tasks,
                passed=passed, total=len(tasks), cell_errors=cell_errors, error=note,
                graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                checker_version=__version__)


def _task_row(ex, spec, row, cell, prepared, error, limit):
    base = {"number": spec.number, "task": spec.name, "passed": False, "status": "error",
            "misconception": None, "case": None}
    if error:
        return dict(base, message=error)
    if prepared is None:
        return dict(base, message="the grader's own cell produced no result")
    if prepared.get("replaced"):
        return dict(base, message="grade void: the notebook replaced code the checks rely on ("
                    + ", ".join(prepared["replaced"][:5]) + ")")
    if row is None:
        timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])
                        if o.get("output_type") == "error")
        why = (f"its check ran past {limit + MARGIN:g} s and was stopped" if timed_out
               else "its check produced no result (the kernel stopped?)")
        return dict(base, message=why)
    problem = _invalid(ex, spec, row)
    if problem:
        return dict(base, message=f"grade void: the check's result was not the checker's ({problem})")
    return {"number": spec.number, "task": spec.name, "passed": row["passed"],
            "status": row["status"], "message": row["message"],
            "misconception": row["misconception"], "case": row["case"], "hint": row.get("hint")}


def _invalid(ex, spec, row):
    """Why ``row`` cannot be this task's result (None when it can)."""
    if row.get("exercise") != ex.id or row.get("task") != spec.name or row.get("number") != spec.number:
        return f"it names {row.get('exercise')}/{row.get('task')}, not {ex.id}/{spec.name}"
    if row.get("status") not in STATUSES:
        return f"unknown status {row.get('status')!r}"
    if row.get("passed") is not (row["status"] == "passed"):
        return "'passed' disagrees with its status"
    return None


def _execute(nb, cwd, timeout, total_timeout, learner_cells, task_timeouts):
    """Run the learner's cells (each at most ``timeout`` s, all of them at most ``total_timeout``
    s), then the grader's cells (the preparation, then each task with its own time-out).
    Returns (error or None, number of learner cells skipped)."""
    import subprocess

    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .notebooks import _normalise, kernel_manager_class
    client = NotebookClient(nb, kernel_manager_class=kernel_manager_class(), kernel_name="python3",
                            timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                            record_timing=False, resources={"metadata": {"path": str(cwd)}},
                            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell "
                                              "ran too long and was interrupted", "traceback": []})
    deadline = time.monotonic() + total_timeout
    skipped = 0
    try:
        with client.setup_kernel(stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if index < learner_cells:
                    left = deadline - time.monotonic()
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    if left <= 0:
                        skipped += 1
                        continue
                    client.timeout = max(1, min(timeout, left))
                else:
                    k = index - learner_cells - 1
                    client.timeout = 120 if k < 0 else task_timeouts[k]
                client.execute_cell(cell, index)
    except DeadKernelError:
        return "the kernel died while the notebook ran (out of memory?)", skipped
    except Exception as exc:
        return f"the notebook could not be run: {type(exc).__name__}: {exc}", skipped
    _normalise(nb)
    return None, skipped


def _emitted(cell):
    """The JSON object on the first marked line a grader cell printed, or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            for line in out.get("text", "").splitlines():
                if line.startswith(MARKER):
                    try:
                        value = json.loads(line[len(MARKER):])
                    except ValueError:
                        return None
                    return value if isinstance(value, dict) else None
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


def notebook_paths(paths):
    """Each path, with a folder replaced by the notebooks in it (sorted; checkpoints skipped)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            out.append(p)
    return out


def _grade_one(path, timeout, time_limit, total_timeout):
    """(grade, None) or (None, the one-line problem): never raises."""
    try:
        return grade_notebook(path, timeout, time_limit, total_timeout), None
    except GradeError as exc:
        return None, str(exc)
    except Exception as exc:               # never lose the rest of a batch to one notebook
        return None, f"{path}: could not be graded ({type(exc).__name__}: {exc})"


CSV_COLUMNS = ("student", "path", "exercise", "number", "task", "points", "status", "case",
               "message", "hint", "graded_at", "checker_version")


def csv_text(grades):
    """One row per task of every graded notebook (1 point for a passed task)."""
    import csv
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for g in grades:
        for t in g["tasks"]:
            writer.writerow([g["student"], g["path"], g["exercise"], t["number"], t["task"],
                             int(t["passed"]), t["status"], t.get("case") or "",
                             " ".join(str(t["message"]).split()), t.get("hint") or "",
                             g["graded_at"], g["checker_version"]])
    return buffer.getvalue()


def run(paths, as_json=False, timeout=120, time_limit=None, out=print, total_timeout=900,
        jobs=1, as_csv=False):
    """Grade each notebook (``jobs`` at a time; a folder stands for the notebooks in it); print
    tables, JSON or CSV; return the exit status: 0 only when every task of every notebook passed,
    1 when some did not, 2 when a notebook could not be graded. A notebook that cannot be graded
    is reported and the others are still graded, in the order given."""
    from concurrent.futures import ThreadPoolExecutor
    notebooks = notebook_paths(paths)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda p: _grade_one(p, timeout, time_limit, total_timeout),
                                notebooks))
    grades = [g for g, _ in results if g is not None]
    problems = [p for _, p in results if p is not None]
    if not notebooks:
        problems.append(f"no notebooks in {', '.join(map(str, paths))}")
    passed = sum(g["passed"] for g in grades)
    total = sum(g["total"] for g in grades)
    all_passed = bool(grades) and not problems and passed == total and not any(g["error"] for g in grades)
    if as_csv:
        out(csv_text(grades).rstrip("\n"))
        for p in problems:
            print(f"autogradkit: error: {p}", file=sys.stderr)
    elif as_json:
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
