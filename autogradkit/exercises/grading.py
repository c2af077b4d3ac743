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

Before the learner's first cell, one more grader cell caps the kernel's memory
(``RLIMIT_DATA``, ``memory_limit`` MiB), so a runaway allocation is a ``MemoryError`` in that
cell or task, not a dead kernel. A task scores partial credit: the cases its check passed before
the first failing one, out of its number of cases (``case_counts.json``, written by
``autogradkit exercises`` from the solution sources). An instructor's extra checks
(``--extra-checks FILE.py``) run after a task's own, in the kernel. The learner notebook's check
cells are locked: a submission that changed or deleted one is noted in its grade.

The grade is a learner's self-check and an instructor's overview, not an exam proctor: the
learner's code runs with full rights in the kernel (see exercises/README.md).
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

MARKER = "AUTOGRADKIT-GRADE "
_IMPORT = re.compile(r"autogradkit\.exercises(?:\.|\s+import\s+)(ex\d+_\w+)")
STATUSES = ("passed", "wrong", "error", "timeout", "not_started", "usage", "missing")
KERNEL_CODE = Path(__file__).with_name("grading_kernel.py")
CASE_COUNTS = Path(__file__).with_name("case_counts.json")
MARGIN = 30.0          # seconds a task's cell may run beyond the task's own time limit
MEMORY_LIMIT = 4096    # MiB of data memory a kernel may hold (RLIMIT_DATA); 0: no cap
# a check cell of a learner notebook, which the learner must not change
LOCKED = re.compile(r"ex\.check\(|turn\.use\(|\.progress\(")
KERNEL_DIED = "the kernel died (out of memory?)"


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


def _memory_cell(mib):
    """The grader's first cell: cap the kernel's data memory at ``mib`` MiB (soft and hard
    limit, so the notebook cannot lift it), where the platform has ``RLIMIT_DATA``."""
    import nbformat
    return nbformat.v4.new_code_cell(
        "def __autogradkit_cap(mib):\n"
        "    try:\n"
        "        import resource\n"
        "        limit = resource.RLIMIT_DATA\n"
        "    except (ImportError, AttributeError):\n"
        "        return\n"
        "    cap = mib * 2 ** 20\n"
        "    hard = resource.getrlimit(limit)[1]\n"
        "    if hard != resource.RLIM_INFINITY:\n"
        "        cap = min(cap, hard)\n"
        "    resource.setrlimit(limit, (cap, cap))\n"
        f"__autogradkit_cap({int(mib)})\n"
        "del __autogradkit_cap")


# ---- an instructor's extra checks ----------------------------------------------------------------
class ExtraChecks:
    """An instructor's file of extra checks (``grade --extra-checks FILE.py``): its text, which
    the kernel runs fresh, and the tasks it checks (``check_<task>`` functions). ``EXERCISE =
    "ex3_backward"`` in the file limits it to one exercise (task names are unique within one)."""

    def __init__(self, path, text, tasks, exercise=None):
        self.path, self.text, self.tasks, self.exercise = str(path), text, frozenset(tasks), exercise

    def applies(self, exercise_id, task):
        return task in self.tasks and self.exercise in (None, exercise_id)

    @classmethod
    def load(cls, path):
        """Read and validate the file; a broken one raises GradeError with one line."""
        import contextlib
        import inspect

        from . import EXERCISES, TURNS, load
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise GradeError(f"--extra-checks {path}: cannot read it "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
        try:
            code = compile(text, str(path), "exec")
        except SyntaxError as exc:
            raise GradeError(f"--extra-checks {path}, line {exc.lineno}: SyntaxError: "
                             f"{exc.msg}") from None
        namespace = {"__name__": "autogradkit_extra_checks", "__file__": str(path)}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)
        except Exception as exc:
            raise GradeError(f"--extra-checks {path}: running it raised {type(exc).__name__}: "
                             f"{_one_line(exc, 200)}") from None
        exercise = namespace.get("EXERCISE")
        if exercise is not None and exercise not in EXERCISES + TURNS:
            raise GradeError(f"--extra-checks {path}: EXERCISE = {exercise!r} is not an exercise "
                             f"(there are {', '.join(EXERCISES + TURNS)})")
        scope = [exercise] if exercise else EXERCISES + TURNS
        known = {t for e in scope for t in load(e).tasks}
        tasks = []
        for name, fn in namespace.items():
            if not name.startswith("check_"):
                continue
            task = name[len("check_"):]
            if task not in known:
                where = exercise or "any exercise"
                raise GradeError(f"--extra-checks {path}: {name} names no task of {where}"
                                 + (f" (its tasks: {', '.join(sorted(known))})" if exercise else ""))
            try:
                inspect.signature(fn).bind(None, None)
            except (TypeError, ValueError):
                raise GradeError(f"--extra-checks {path}: {name} must be a function "
                                 "check_<task>(t, answer)") from None
            tasks.append(task)
        if not tasks:
            raise GradeError(f"--extra-checks {path}: defines no check_<task>(t, answer) function")
        return cls(path, text, tasks, exercise)


# ---- locked cells ------------------------------------------------------------------------------
def _code(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


_TEMPLATES = {}


def _templates():
    """exercise id -> the locked (check) cells of its learner notebook as shipped: the exercises'
    ``exN_*.ipynb`` and the course notebooks' ``NN_*.ipynb`` under ``course_root()`` (a checkout,
    or an installed wheel's package data). Empty when the course files are not installed."""
    if not _TEMPLATES:
        import nbformat

        from autogradkit.course import CourseError, course_root
        try:
            root = course_root()
        except CourseError:
            return {}
        found = {}
        for folder, pattern in (("exercises", "ex*.ipynb"), ("notebooks", "[0-9][0-9]_*.ipynb")):
            for path in sorted((root / folder).glob(pattern)):
                try:
                    nb = nbformat.read(path, as_version=4)
                    ex_id = nb.metadata["autogradkit"]["exercise"]
                except Exception:
                    continue
                found.setdefault(ex_id, [c.source for c in nb.cells if c.cell_type == "code"
                                         and LOCKED.search(c.source)])
        _TEMPLATES.update(found)
    return _TEMPLATES


def locked_cells_changed(nb, ex_id):
    """The first line of each check cell of the exercise's learner notebook that ``nb`` changed
    or deleted (in the template's order); None when the template is not available."""
    from collections import Counter
    locked = _templates().get(ex_id)
    if locked is None:
        return None
    have = Counter(_code(c.source) for c in nb.cells if c.cell_type == "code")
    changed = []
    for source in locked:
        key = _code(source)
        if have[key] > 0:
            have[key] -= 1
        else:
            changed.append(next((line.strip() for line in source.splitlines() if line.strip()), ""))
    return changed


# ---- cases and points --------------------------------------------------------------------------
_COUNTS = {}


def case_counts():
    """{exercise: {task: number of cases}} from case_counts.json ({} when it is missing)."""
    if not _COUNTS:
        try:
            _COUNTS.update(json.loads(CASE_COUNTS.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    return _COUNTS


def _cases(n, row, extra_expected):
    """(cases_passed, cases_total, [per case: description and result], points) for a task."""
    run = row.get("cases_run", 0) if row else 0
    log = list(row.get("case_log") or []) if row else []
    extra = row.get("extra") if row else None
    builtin_passed = bool(row) and (row["passed"] or extra is not None)
    log += [None] * (run - len(log))
    if builtin_passed:
        results = ["passed"] * run
    else:
        results = ["passed"] * (run - 1) + ["failed"] * (run >= 1)
    total = None if n is None else max(n, run)
    if total is not None:
        results += ["not run"] * (total - run)
        log += [None] * (total - run)
    cases = [{"case": k + 1, "description": d, "result": r}
             for k, (d, r) in enumerate(zip(log, results))]
    passed = results.count("passed")
    if extra_expected:
        what = "the instructor's extra check"
        if extra is None:
            entry = {"description": what, "result": "not run"}
        elif extra["passed"]:
            entry = {"description": f"{what} ({extra['cases_run']} cases)", "result": "passed"}
        else:
            failing = (extra["case_log"] or [None])[-1]
            entry = {"description": what + (f": {failing}" if failing else ""), "result": "failed"}
        cases.append(dict(entry, case=len(cases) + 1))
        passed += entry["result"] == "passed"
        total = None if total is None else total + 1
    if row and row["passed"]:
        points = 1.0
    else:
        points = round(passed / total, 4) if total else 0.0
    return passed, total, cases, points


# ---- the grader ----------------------------------------------------------------------------------
def grade_notebook(path, timeout=120, time_limit=None, total_timeout=900,
                   memory_limit=MEMORY_LIMIT, extra_checks=None):
    """Run ``path`` and return its grade as a dict (see ``--json``)."""
    from . import load
    nb, ex_id = _read(path)
    ex = load(ex_id)
    locked = locked_cells_changed(nb, ex_id)
    learner_cells = len(nb.cells)
    grader = {}                        # cell index -> its time-out (the others are the learner's)
    if memory_limit:
        nb.cells.insert(0, _memory_cell(memory_limit))
        grader[0] = 60
    first = 1 if memory_limit else 0
    prepare_at = first + learner_cells
    nb.cells.append(_kernel_cell("prepare", repr(ex_id)))
    grader[prepare_at] = 120
    limits, extras = {}, {}
    for name, spec in ex.tasks.items():
        limits[name] = spec.time_limit if time_limit is None else float(time_limit)
        extras[name] = extra_checks is not None and extra_checks.applies(ex_id, name)
        extra = (extra_checks.text, extra_checks.path) if extras[name] else None
        grader[len(nb.cells)] = (2 if extra else 1) * limits[name] + MARGIN
        nb.cells.append(_kernel_cell("check_task", f"{ex_id!r}, {name!r}, globals(), "
                                                   f"{time_limit!r}, {extra!r}"))
    error, skipped, died_at = _execute(nb, Path(path).parent, timeout, total_timeout, grader)
    names = list(ex.tasks)
    if died_at is not None and died_at > prepare_at:
        # the kernel died while a task was checked: the tasks checked before it keep their results
        error = f"{KERNEL_DIED} while task {names[died_at - prepare_at - 1]!r} was checked"
    prepared = _emitted(nb.cells[prepare_at])
    counts = case_counts().get(ex_id, {})
    tasks = []
    for k, (name, spec) in enumerate(ex.tasks.items()):
        index = prepare_at + 1 + k
        why = error
        if died_at is not None and died_at > prepare_at:
            why = (None if index < died_at else f"{KERNEL_DIED} while its check ran"
                   if index == died_at else f"not checked: {error}")
        tasks.append(_task_row(ex, spec, _emitted(nb.cells[index]), nb.cells[index], prepared,
                               why, limits[name], counts.get(name), extras[name]))
    learner = nb.cells[first:prepare_at]
    cell_errors = sum(1 for c in learner if c.cell_type == "code"
                      and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    passed = sum(t["passed"] for t in tasks)
    note = error or (f"the notebook ran past {total_timeout:g} s; its last {skipped} cell(s) "
                     "were skipped" if skipped else None)
    from autogradkit import __version__
    meta = nb.metadata.get("autogradkit") or {}
    student = meta.get("student") if isinstance(meta.get("student"), str) else Path(path).stem
    return dict(path=str(path), student=student, exercise=ex.id, title=ex.title, tasks=tasks,
                passed=passed, total=len(tasks), points=round(sum(t["points"] for t in tasks), 4),
                cell_errors=cell_errors, error=note, locked_cells_changed=locked,
                memory_limit_mib=memory_limit or None,
                extra_checks=extra_checks.path if extra_checks is not None else None,
                graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                checker_version=__version__)


def _task_row(ex, spec, row, cell, prepared, error, limit, n, extra_expected):
    problem = None
    if error:
        problem = error
    elif prepared is None:
        problem = "the grader's own cell produced no result"
    elif prepared.get("replaced"):
        problem = ("grade void: the notebook replaced code the checks rely on ("
                   + ", ".join(prepared["replaced"][:5]) + ")")
    elif row is None:
        timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])
                        if o.get("output_type") == "error")
        problem = (f"its check ran past {cell_limit(limit, extra_expected):g} s and was stopped"
                   if timed_out else "its check produced no result (the kernel stopped?)")
    else:
        invalid = _invalid(ex, spec, row, extra_expected)
        if invalid:
            problem = f"grade void: the check's result was not the checker's ({invalid})"
    if problem:
        row = None
    cases_passed, cases_total, cases, points = _cases(n, row, extra_expected)
    score = {"points": points, "cases_passed": cases_passed, "cases_total": cases_total,
             "cases": cases}
    if row is None:
        return {"number": spec.number, "task": spec.name, "passed": False, "status": "error",
                "message": problem, "misconception": None, "case": None, "hint": None, **score}
    return {"number": spec.number, "task": spec.name, "passed": row["passed"],
            "status": row["status"], "message": row["message"],
            "misconception": row["misconception"], "case": row["case"], "hint": row.get("hint"),
            **score}


def cell_limit(limit, extra_expected):
    """Seconds a task's cell may run: its check (and the extra check) plus a margin."""
    return (2 if extra_expected else 1) * limit + MARGIN


def _invalid(ex, spec, row, extra_expected=False):
    """Why ``row`` cannot be this task's result (None when it can)."""
    if row.get("exercise") != ex.id or row.get("task") != spec.name or row.get("number") != spec.number:
        return f"it names {row.get('exercise')}/{row.get('task')}, not {ex.id}/{spec.name}"
    if row.get("status") not in STATUSES:
        return f"unknown status {row.get('status')!r}"
    if row.get("passed") is not (row["status"] == "passed"):
        return "'passed' disagrees with its status"
    if not _counted(row):
        return "its cases are not a count and a list of descriptions"
    extra = row.get("extra")
    if extra is not None and not (extra_expected and isinstance(extra, dict)
                                  and isinstance(extra.get("passed"), bool) and _counted(extra)):
        return "an extra check nobody asked for" if not extra_expected else "a malformed extra check"
    if extra_expected and row["passed"] and (extra is None or not extra["passed"]):
        return "passed without its extra check"
    return None


def _counted(part):
    run, log = part.get("cases_run"), part.get("case_log")
    return (type(run) is int and run >= 0 and isinstance(log, list)
            and all(isinstance(d, str) for d in log))


def _execute(nb, cwd, timeout, total_timeout, grader):
    """Run the learner's cells (each at most ``timeout`` s, all of them at most ``total_timeout``
    s) and the grader's (``grader``: cell index -> its time-out). Returns (error or None, number
    of learner cells skipped, index of the cell the kernel died in or None)."""
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
    index = None
    # the grader writes nothing beside the notebooks: no progress file (ex.progress()'s memory)
    env = dict(os.environ, AUTOGRADKIT_PROGRESS_FILE="off")
    try:
        with client.setup_kernel(stderr=subprocess.DEVNULL, env=env):
            for index, cell in enumerate(nb.cells):
                if index in grader:
                    client.timeout = grader[index]
                else:
                    left = deadline - time.monotonic()
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    if left <= 0:
                        skipped += 1
                        continue
                    client.timeout = max(1, min(timeout, left))
                client.execute_cell(cell, index)
    except DeadKernelError:
        learner = index is not None and index not in grader
        where = "while the notebook ran" if learner or index is None else "while it was graded"
        return f"{KERNEL_DIED} {where}", skipped, index
    except Exception as exc:
        return f"the notebook could not be run: {type(exc).__name__}: {exc}", skipped, None
    _normalise(nb)
    return None, skipped, None


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
def _points(value):
    """Points as a short number: 1, 0, 0.5, 0.67."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value is not None else "-"


def table(grade):
    """The per-task score table for one notebook, as text."""
    width = max([len("task")] + [len(t["task"]) for t in grade["tasks"]])
    lines = [f"{grade['path']} — {grade['title']}",
             f"  {'#':>2}  {'task':<{width}}  result  points  details"]
    for t in grade["tasks"]:
        lines.append(f"  {t['number']:>2}  {t['task']:<{width}}  {'pass' if t['passed'] else 'FAIL':<6}"
                     f"  {_points(t['points']):<6}  {_one_line(t['message'])}")
    if grade["error"]:
        lines.append(f"  note: {grade['error']}")
    elif grade["cell_errors"]:
        lines.append(f"  note: {grade['cell_errors']} cell(s) raised an error while the notebook ran")
    locked = grade.get("locked_cells_changed")
    if locked:
        lines.append(f"  note: {len(locked)} locked check cell(s) changed or deleted: "
                     + _one_line(" · ".join(locked), 120) + " (the grade re-checks every task "
                     "itself)")
    total = grade["total"]
    pct = 100 * grade["passed"] / total if total else 0
    ppct = 100 * grade["points"] / total if total else 0
    lines.append(f"  score: {grade['passed']}/{total} tasks passed ({pct:.0f}%) · "
                 f"{_points(grade['points'])}/{total} points ({ppct:.0f}%)")
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


def _grade_one(path, **options):
    """(grade, None) or (None, the one-line problem): never raises."""
    try:
        return grade_notebook(path, **options), None
    except GradeError as exc:
        return None, str(exc)
    except Exception as exc:               # never lose the rest of a batch to one notebook
        return None, f"{path}: could not be graded ({type(exc).__name__}: {exc})"


CSV_COLUMNS = ("student", "path", "exercise", "number", "task", "points", "cases_passed",
               "cases_total", "status", "case", "message", "hint", "locked_cells_changed",
               "graded_at", "checker_version")


def csv_text(grades):
    """One row per task of every graded notebook (``points``: 1 for a passed task, else the
    share of its cases passed before the first failing one)."""
    import csv
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for g in grades:
        locked = " | ".join(g.get("locked_cells_changed") or [])
        for t in g["tasks"]:
            writer.writerow([g["student"], g["path"], g["exercise"], t["number"], t["task"],
                             f"{t['points']:.4g}", t["cases_passed"],
                             "" if t["cases_total"] is None else t["cases_total"], t["status"],
                             t.get("case") or "", " ".join(str(t["message"]).split()),
                             t.get("hint") or "", locked, g["graded_at"], g["checker_version"]])
    return buffer.getvalue()


def run(paths, as_json=False, timeout=120, time_limit=None, out=print, total_timeout=900,
        jobs=1, as_csv=False, memory_limit=MEMORY_LIMIT, extra_checks=None):
    """Grade each notebook (``jobs`` at a time; a folder stands for the notebooks in it); print
    tables, JSON or CSV; return the exit status: 0 only when every task of every notebook passed,
    1 when some did not, 2 when a notebook could not be graded. A notebook that cannot be graded
    is reported and the others are still graded, in the order given. ``extra_checks`` is the path
    of an instructor's extra checks file; a broken one is reported (exit 2) before any notebook
    runs."""
    from concurrent.futures import ThreadPoolExecutor
    checks = None
    if extra_checks is not None:
        try:
            checks = ExtraChecks.load(extra_checks)
        except GradeError as exc:
            print(f"autogradkit: error: {exc}", file=sys.stderr)
            return 2
    options = dict(timeout=timeout, time_limit=time_limit, total_timeout=total_timeout,
                   memory_limit=memory_limit, extra_checks=checks)
    notebooks = notebook_paths(paths)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda p: _grade_one(p, **options), notebooks))
    grades = [g for g, _ in results if g is not None]
    problems = [p for _, p in results if p is not None]
    if not notebooks:
        problems.append(f"no notebooks in {', '.join(map(str, paths))}")
    passed = sum(g["passed"] for g in grades)
    total = sum(g["total"] for g in grades)
    points = round(sum(g["points"] for g in grades), 4)
    all_passed = bool(grades) and not problems and passed == total and not any(g["error"] for g in grades)
    if as_csv:
        out(csv_text(grades).rstrip("\n"))
        for p in problems:
            print(f"autogradkit: error: {p}", file=sys.stderr)
    elif as_json:
        out(json.dumps({"notebooks": grades, "problems": problems, "passed": passed,
                        "total": total, "points": points, "all_passed": all_passed},
                       indent=2, ensure_ascii=False))
    else:
        for g in grades:
            out(table(g))
            out("")
        for p in problems:
            out(f"error: {p}")
        if len(grades) > 1:
            out(f"total: {passed}/{total} tasks passed in {len(grades)} notebooks · "
                f"{_points(points)}/{total} points")
    if problems:
        return 2
    return 0 if all_passed else 1
