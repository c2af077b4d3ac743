"""The generator: one source notebook with solutions → the learner's notebook without them.

A source notebook (``exercises/source/exN_name.ipynb``) holds the whole exercise, solutions
included. In its code cells a solution region is marked::

    def central_difference(f, x, h):
        ### BEGIN SOLUTION
        return (f(x + h) - f(x - h)) / (2 * h)
        ### END SOLUTION

The learner's notebook (``exercises/exN_name.ipynb``) is the same notebook with every region
replaced by one line, indented like the marker, that raises ``NotImplementedError`` naming the
task (the top-level ``def``/``class`` the region is in)::

        raise NotImplementedError("central_difference: replace this line with your code")

Cells tagged ``instructor`` are left out of the learner's notebook. Both notebooks are executed
(with ``nbclient``, in this Python environment) and stored with their outputs, so a learner sees
what a check prints before they start and nbval can compare the outputs.

The course notebooks use the same machinery for their "your turn" cells: ``notebooks/source/
NN_name.ipynb`` (solutions filled in) generates ``notebooks/NN_name.ipynb`` (stubs), whose check
cells call ``turn.use(answer)`` to go on with a reference implementation while a stub is unfilled.

``up_to_date_problems`` tells whether the committed learner notebooks are what the sources
generate now (CI runs it through ``autogradkit exercises --check``).

Running a source also records how many cases each task's check runs for the solution (all of
them: a check stops only at a failing case) in ``case_counts.json`` next to this module, which
``autogradkit grade`` divides by for partial credit. The count is read from the source's own
kernel after its last cell, by a cell that is not kept in the notebook.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
TOP_LEVEL = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>[A-Za-z_]\w*)")
INSTRUCTOR_TAG = "instructor"
STUB = 'raise NotImplementedError("{name}: replace this line with your code")'
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class SourceError(ValueError):
    """A source notebook that cannot be turned into a learner notebook (with where and why)."""


# ---- source → learner ----------------------------------------------------------------------
def strip_solutions(code, where="cell"):
    """``code`` with every solution region replaced by a stub; returns (code, [task names])."""
    out, names, lines = [], [], code.split("\n")
    owner = None
    i = 0
    while i < len(lines):
        line = lines[i]
        top = TOP_LEVEL.match(line)
        if top:
            owner = top.group("name")
        elif line.strip() and not line[0].isspace() and not line.lstrip().startswith(("#", "@", ")")):
            owner = None           # back at top level: a region here would belong to no task
        m = BEGIN.match(line)
        if m is None:
            if END.match(line):
                raise SourceError(f"{where}, line {i + 1}: ### END SOLUTION without a BEGIN")
            out.append(line)
            i += 1
            continue
        if owner is None:
            raise SourceError(f"{where}, line {i + 1}: a solution region must be inside a "
                              "top-level def or class (its name is the task's name)")
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise SourceError(f"{where}, line {j + 1}: solution regions cannot be nested")
            j += 1
        if j == len(lines):
            raise SourceError(f"{where}, line {i + 1}: ### BEGIN SOLUTION without an END")
        out.append(m.group("indent") + STUB.format(name=owner))
        names.append(owner)
        i = j + 1
    return "\n".join(out), names


def exercise_id(nb):
    meta = nb.metadata.get("autogradkit", {})
    return meta.get("exercise")


def make_learner(source_nb, source_name):
    """The learner's notebook (not executed) made from a source notebook."""
    import nbformat
    ex_id = exercise_id(source_nb)
    if not ex_id:
        raise SourceError(f"{source_name}: the notebook's metadata has no autogradkit.exercise")
    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(dict(source_nb.metadata))
    nb.metadata["autogradkit"] = {"exercise": ex_id, "generated_from": f"source/{source_name}",
                                  "version": "learner"}
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("language_info", None)
    stubs = []
    for k, cell in enumerate(source_nb.cells):
        if INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        new = copy.deepcopy(cell)
        if cell.cell_type == "code":
            new.source, names = strip_solutions(cell.source, f"{source_name}, cell {k + 1}")
            stubs += names
            new.outputs, new.execution_count = [], None
        new.metadata.pop("execution", None)
        nb.cells.append(new)
    return nb, stubs


def validate_source(source_nb, source_name):
    """Problems with a source notebook: tasks without a solution region or a check call."""
    from . import load
    ex = load(exercise_id(source_nb))
    code = "\n".join(c.source for c in source_nb.cells if c.cell_type == "code")
    _, stubbed = make_learner(source_nb, source_name)
    problems = []
    for name in ex.tasks:
        if name not in stubbed:
            problems.append(f"{source_name}: task {name!r} has no solution region")
        if not re.search(rf"\.(?:check|use)\(\s*{re.escape(name)}\b", code):
            problems.append(f"{source_name}: task {name!r} is never checked (ex.check({name}) "
                            f"or turn.use({name}))")
    for name in sorted(set(stubbed) - set(ex.tasks)):
        problems.append(f"{source_name}: solution region in {name!r}, which is not a task of "
                        f"{ex.id} (tasks: {', '.join(ex.tasks)})")
    return problems


# ---- execution ---------------------------------------------------------------------------------
def kernel_manager_class():
    """A kernel manager that starts a kernel of *this* Python environment, whatever kernelspecs
    the user has installed (like nbval's ``--nbval-current-env``)."""
    import ipykernel.kernelspec
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class CurrentEnvironmentSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    class CurrentEnvironmentKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("kernel_spec_manager", CurrentEnvironmentSpecs())
            super().__init__(**kwargs)

    return CurrentEnvironmentKernelManager


def execute(nb, cwd, timeout=120, allow_errors=False, **client_options):
    """Run every cell of ``nb`` in a fresh kernel (in place); outputs are stored in the cells.

    The kernel's own stderr (start-up chatter) is not shown; what the cells print is stored."""
    import subprocess

    from nbclient import NotebookClient
    client = NotebookClient(nb, kernel_manager_class=kernel_manager_class(), kernel_name="python3",
                            timeout=timeout, allow_errors=allow_errors, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}}, **client_options)
    client.execute(stderr=subprocess.DEVNULL)
    _normalise(nb)
    return nb


def _normalise(nb):
    """Drop what differs between machines (the Python version), so rebuilds do not churn."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


# ---- building and checking a folder -----------------------------------------------------------
SOURCE_PATTERNS = ("ex*.ipynb", "[0-9][0-9]_*.ipynb")   # exercises, course notebooks


def sources(folder):
    return sorted(p for pattern in SOURCE_PATTERNS for p in (Path(folder) / "source").glob(pattern))


def learner_path(source_path):
    return source_path.parent.parent / source_path.name


# ---- case counts ------------------------------------------------------------------------------
CASE_COUNTS = Path(__file__).with_name("case_counts.json")
_COUNT_MARK = "AUTOGRADKIT-CASES "
_COUNT_CODE = (
    "def __autogradkit_cases(ex_id):\n"
    "    import json\n"
    "    from autogradkit.exercises import load\n"
    "    ex = load(ex_id)\n"
    "    counts = {{name: (r.cases if r.passed else None) for name, r in ex.results.items()}}\n"
    "    print({mark!r} + json.dumps({{name: counts.get(name) for name in ex.tasks}}))\n"
    "__autogradkit_cases({ex_id!r})\n"
    "del __autogradkit_cases")


def execute_counting_cases(nb, cwd, name, timeout=120):
    """Run a source notebook like :func:`execute` and return {task: cases its check ran} as
    the notebook's last check of each task left them; ``nb`` keeps its own cells only."""
    import json

    import nbformat
    ex_id = exercise_id(nb)
    cell = nbformat.v4.new_code_cell(_COUNT_CODE.format(mark=_COUNT_MARK, ex_id=ex_id))
    nb.cells.append(cell)
    try:
        execute(nb, cwd, timeout)
    finally:
        nb.cells.pop()
    text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
    line = next((ln for ln in text.splitlines() if ln.startswith(_COUNT_MARK)), None)
    if line is None:
        raise SourceError(f"{name}: the number of cases of its checks could not be read")
    counts = json.loads(line[len(_COUNT_MARK):])
    failing = [task for task, n in counts.items() if n is None]
    if failing:
        raise SourceError(f"{name}: the solution does not pass the check of "
                          f"{', '.join(failing)}, so its number of cases is unknown")
    return counts


def write_case_counts(counts, path=CASE_COUNTS):
    """Merge {exercise: {task: n}} into ``path`` (sorted, one line per exercise)."""
    import json
    path = Path(path)
    try:
        merged = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        merged = {}
    merged.update(counts)
    lines = [f"  {json.dumps(ex_id)}: {json.dumps(merged[ex_id])}" for ex_id in sorted(merged)]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def build(folder, names=None, run=True, log=print, counts_path=CASE_COUNTS):
    """Regenerate (and run) every learner notebook from its source; run the sources too, and
    record each task's number of cases in ``counts_path``."""
    import nbformat
    built = []
    counts = {}
    for src in sources(folder):
        if names and src.stem not in names:
            continue
        nb = nbformat.read(src, as_version=4)
        problems = validate_source(nb, src.name)
        if problems:
            raise SourceError("\n".join(problems))
        learner, _ = make_learner(nb, src.name)
        if run:
            log(f"running {src}")
            counts[exercise_id(nb)] = execute_counting_cases(nb, src.parent, src.name)
            nbformat.write(nb, src)
            log(f"running {learner_path(src)}")
            execute(learner, src.parent.parent)
        nbformat.write(learner, learner_path(src))
        log(f"wrote {learner_path(src)}")
        built.append(learner_path(src))
    if counts:
        write_case_counts(counts, counts_path)
        log(f"wrote {counts_path}")
    return built


def _shape(nb):
    cells = [(c.cell_type, c.source, tuple(c.get("metadata", {}).get("tags", []))) for c in nb.cells]
    return cells, nb.metadata.get("autogradkit")


def up_to_date_problems(folder):
    """Why the committed learner notebooks are not what their sources generate (empty: fine)."""
    import nbformat
    folder = Path(folder)
    problems = []
    srcs = sources(folder)
    if not srcs:
        return [f"no source notebooks in {folder / 'source'}"]
    for src in srcs:
        nb = nbformat.read(src, as_version=4)
        try:
            expected, _ = make_learner(nb, src.name)
            problems += validate_source(nb, src.name)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        path = learner_path(src)
        if not path.exists():
            problems.append(f"{path}: missing (generate it with `autogradkit exercises`)")
            continue
        committed = nbformat.read(path, as_version=4)
        if _shape(committed) != _shape(expected):
            problems.append(f"{path}: out of date with {src} (regenerate it with "
                            "`autogradkit exercises`)")
        for name, book in ((src, nb), (path, committed)):
            if any(c.cell_type == "code" and c.source.strip() and c.execution_count is None
                   for c in book.cells):
                problems.append(f"{name}: not executed (its outputs are missing; run "
                                "`autogradkit exercises`)")
    problems += case_count_problems(exercise_id(nbformat.read(s, as_version=4)) for s in srcs)
    learners = {learner_path(s).name for s in srcs}
    for path in sorted(folder.glob("ex*.ipynb")):     # course notebooks may have no source
        if path.name not in learners:
            problems.append(f"{path}: has no source in {folder / 'source'}")
    return problems


def case_count_problems(exercise_ids, path=CASE_COUNTS):
    """Tasks of these exercises that have no number of cases in ``path``."""
    import json

    from . import load
    try:
        counts = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        counts = {}
    problems = []
    for ex_id in exercise_ids:
        missing = [t for t in load(ex_id).tasks if not isinstance(counts.get(ex_id, {}).get(t), int)]
        if missing:
            problems.append(f"{Path(path).name}: no number of cases for {ex_id}'s "
                            f"{', '.join(missing)} (run `autogradkit exercises`)")
    return problems
