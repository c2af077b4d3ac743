"""The course notebooks' "your turn" cells (issue 12) and the exercises' independence from them.

* notebooks 02–06 and 09 each have a solution source ``notebooks/source/NN_*.ipynb``; the shipped
  notebook is generated from it (stubs in place of the solutions) and is up to date;
* each has at least three "your turn" tasks; every task is checked by a cell that shows no answer;
* the shipped notebook runs with every stub unfilled: each turn reports "not started" and the
  notebook goes on with the reference implementation, saying so;
* the solution source, run top to bottom, passes every turn (its stored outputs say so; strict
  nbval in ``test_notebooks.py`` proves the stored outputs are what running it gives now);
* no exercise solution appears in a course notebook, shipped or source (exercises ask for
  transfer, not copying).
"""
import re
from pathlib import Path

import nbformat
import pytest

from autogradkit.exercises import TURNS, load, notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = {p.name: p for p in notebooks.sources(NOTEBOOKS)}
TURN_NOTEBOOKS = {f"{i:02d}" for i in range(2, 7)} | {"09", "10"}


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def text_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_notebooks_2_to_6_each_have_a_solution_source_with_its_own_turns_module():
    assert {name[:2] for name in SOURCES} == TURN_NOTEBOOKS, sorted(SOURCES)
    ids = [notebooks.exercise_id(read(p)) for p in SOURCES.values()]
    assert sorted(ids) == sorted(TURNS), ids


def test_the_shipped_course_notebooks_are_up_to_date_with_their_sources():
    assert notebooks.up_to_date_problems(NOTEBOOKS) == []


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_at_least_three_turns_each_with_a_stub_naming_it(name):
    turns = load(notebooks.exercise_id(read(SOURCES[name])))
    assert len(turns.tasks) >= 3, f"{name}: {list(turns.tasks)}"
    shipped = "\n".join(c.source for c in code_cells(read(NOTEBOOKS / name)))
    for task in turns.tasks:
        assert notebooks.STUB.format(name=task) in shipped, f"{name}: no stub for {task}"
        assert turns.tasks[task].reference is not None, f"{name}: {task} has no reference"


CHECK_LINE = re.compile(r"^\s*(?:#.*|(\w+)\s*=\s*turn\.use\(\s*\1\s*\)|turn\.check\(\s*\w+\s*\)|)\s*$")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_check_cells_show_no_answer(name):
    """A check cell is only ``X = turn.use(X)`` (or ``turn.check(X)``) lines and comments: the
    expected answer lives in the checker, never in the learner's notebook."""
    for cell in code_cells(read(NOTEBOOKS / name)):
        if "turn.use(" in cell.source or "turn.check(" in cell.source:
            bad = [ln for ln in cell.source.splitlines() if not CHECK_LINE.match(ln)]
            assert not bad, f"{name}: a check cell holds more than the check: {bad}"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_shipped_notebook_goes_on_with_the_reference_for_every_unfilled_turn(name):
    turns = load(notebooks.exercise_id(read(SOURCES[name])))
    outputs = "\n".join(text_of(c) for c in code_cells(read(NOTEBOOKS / name)))
    for spec in turns.tasks.values():
        head = f"Your turn {spec.number} · {spec.name}: not started yet"
        assert head in outputs, f"{name}: no 'not started' report for {spec.name}"
        assert f"goes on with the reference {spec.name};" in outputs, \
            f"{name}: does not say it goes on with the reference {spec.name}"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_solution_source_passes_every_turn(name):
    nb = read(SOURCES[name])
    turns = load(notebooks.exercise_id(nb))
    outputs = "\n".join(text_of(c) for c in code_cells(nb))
    assert "❌" not in outputs and "⬜" not in outputs and "goes on with the reference" not in outputs
    for spec in turns.tasks.values():
        assert f"✅ Your turn {spec.number} · {spec.name}: passed" in outputs, spec.name


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_turn_fails_an_unfilled_stub_and_passes_the_source_solution(name):
    """In process: the checks say ✅ to the source's code and 'not started' to the stubs."""
    nb = read(SOURCES[name])
    turns = load(notebooks.exercise_id(nb))
    learner, _ = notebooks.make_learner(nb, name)
    for book, want in ((nb, "passed"), (learner, "not_started")):
        ns = {}
        for cell in code_cells(book):      # the import cells and the cells defining a task
            imports_only = all(re.match(r"\s*(?:#.*|import\s.*|from\s+\S+\s+import\s.*|)$", ln)
                               for ln in cell.source.splitlines())
            defines = any(re.search(rf"^(?:def|class)\s+{task}\b", cell.source, re.M)
                          for task in turns.tasks)
            if imports_only or defines:
                exec(compile(cell.source, f"<{name}>", "exec"), ns)
        for task in turns.tasks:
            if task in ns:
                assert turns.evaluate(ns[task], task).status == want, (name, task, want)


# ---- exercises ask for transfer, not copying ----------------------------------------------------
def _significant_lines(code):
    """Code lines without comments, blank lines or docstring-only lines, whitespace squeezed."""
    out = []
    for line in code.splitlines():
        line = re.sub(r"#.*", "", line).strip()
        line = re.sub(r"\s+", "", line)
        if len(line) >= 8 and not line.startswith(('"""', "'''", "return", "pass")):
            out.append(line)
        elif line.startswith("return") and len(line) > 12:
            out.append(line)
    return out


def _solutions():
    for path in sorted((ROOT / "exercises" / "source").glob("ex*.ipynb")):
        for cell in code_cells(read(path)):
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
                lines = _significant_lines(region)
                if lines:
                    yield path.stem, lines


def _course_code():
    books = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(SOURCES.values())
    return {p.relative_to(ROOT).as_posix(): {ln for c in code_cells(read(p))
                                             for ln in _significant_lines(c.source)}
            for p in books}


def test_no_exercise_solution_appears_in_a_course_notebook():
    """A solution region whose significant lines stand (mostly) in one course notebook is the
    exercise copied from the text; the exercises must ask for transfer."""
    course = _course_code()
    found = []
    for exercise, lines in _solutions():
        for book, have in course.items():
            shared = [ln for ln in lines if ln in have]
            if len(shared) >= max(1, 0.6 * len(lines)) and sum(map(len, shared)) >= 20:
                found.append(f"{exercise} solution in {book}: {shared}")
    assert not found, "\n".join(found)
