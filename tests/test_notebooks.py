"""The course notebooks (``notebooks/``).

* every notebook passes **strict** nbval: its stored outputs are what running it gives now
  (``notebooks/conftest.py`` leaves Graphviz's SVG out of the comparison, the graph's text
  listing is compared; ``notebooks/nbval_sanitize.cfg`` masks memory addresses);
* the README's course table lists every notebook, and every notebook it lists exists;
* each notebook has its goals at the top and a recap at the end, is stored executed, and its
  links (the next notebook, the exercises) point at files that exist;
* the fallbacks work: notebook 6 without PyTorch, notebook 7 with a GPU (a strict stand-in for
  CuPy, so that the GPU branch runs here too).

HOME points at a temporary folder, as in CI: Jupyter, IPython and matplotlib write there.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "nbval_sanitize.cfg"
ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(p.name for p in (NOTEBOOKS / "source").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of a notebook kernel: a fresh HOME, and Jupyter's own plotting backend."""
    e = dict(os.environ, HOME=str(tmp_path_factory.mktemp("home")),
             PYDEVD_DISABLE_FILE_VALIDATION="1")
    e.pop("MPLBACKEND", None)          # ./run sets Agg; a kernel should use its inline backend
    return e


def test_there_are_notebooks():
    assert len(ALL) >= 9, f"expected notebooks 00 to 08 in {NOTEBOOKS}, found {ALL}"
    assert [n[:2] for n in ALL] == [f"{i:02d}" for i in range(len(ALL))], \
        f"notebooks must be numbered 00, 01, ... without gaps: {ALL}"


def course_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- course-table\b.*?-->(.*?)<!-- /course-table -->", text, re.DOTALL)
    assert m, "README.md has no <!-- course-table ... --> ... <!-- /course-table --> block"
    return re.findall(r"\(notebooks/([^)\s]+\.ipynb)\)", m.group(1))


def test_readme_course_table_lists_every_notebook_and_only_those():
    listed = course_table()
    missing = [n for n in listed if not (NOTEBOOKS / n).is_file()]
    unlisted = [n for n in ALL if n not in listed]
    assert not missing, f"README's course table links notebooks that do not exist: {missing}"
    assert not unlisted, f"notebooks missing from README's course table: {unlisted}"
    assert listed == ALL, f"README's course table should list each notebook once, in order: {listed}"


@pytest.mark.parametrize("name", ALL)
def test_notebook_has_goals_recap_and_stored_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "you will be able to" in first.source, \
        f"{name}: the first cell should state the learning goals"
    assert last.cell_type == "markdown" and "## Recap" in last.source, \
        f"{name}: the last cell should be the recap"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), \
        f"{name}: store the notebook executed (every code cell run once, top to bottom)"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        f"{name}: cells were run out of order; re-run it top to bottom before saving"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: stored outputs contain an error"


@pytest.mark.parametrize("name", ALL)
def test_notebook_links_point_at_files_that_exist(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)#\s]+\.(?:ipynb|md|py))(?:#[^)]*)?\)", text)
    broken = [link for link in links if not (NOTEBOOKS / link).resolve().is_file()]
    assert not broken, f"{name} links to files that do not exist: {broken}"


def strict_nbval(path, env):
    cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "-p", "no:cacheprovider", "-q",
           "--rootdir", str(ROOT), str(path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    report = proc.stdout[-8000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"strict nbval failed for {path.name}:\n{report}"
    assert re.search(r"\b\d+ passed\b", proc.stdout), report


@pytest.mark.parametrize("name", ALL)
def test_notebook_passes_strict_nbval(name, env):
    strict_nbval(NOTEBOOKS / name, env)


@pytest.mark.parametrize("name", SOURCES)
def test_the_solution_source_passes_strict_nbval(name, env):
    """The course run with every "your turn" filled in (notebooks/source/): its stored outputs,
    every check ✅, are what running it gives now."""
    strict_nbval(NOTEBOOKS / "source" / name, env)


def run_notebook(name, env, first_cell):
    """Run a notebook with ``first_cell`` prepended; return everything it printed or displayed."""
    from nbclient import NotebookClient
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(first_cell))
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)                # raises CellExecutionError if a cell fails
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") + o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


def test_notebook_6_runs_without_pytorch_and_says_so(env):
    text = run_notebook("06_article_training_example.ipynb", env,
                        "import sys\nsys.modules['torch'] = None   # as if PyTorch were not installed")
    assert "PyTorch is not installed here" in text
    assert "(skipped: PyTorch is not installed)" in text
    assert "all 1000 losses agree" not in text
    assert "the same last loss as the program: True" in text


def test_notebook_7_takes_the_gpu_branch_when_a_gpu_is_there(env):
    stand_in = (f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport strict_cupy\n"
                "from autogradkit import backend\nbackend._use_cupy_module(strict_cupy)")
    text = run_notebook("07_on_the_gpu.ipynb", env, stand_in)
    assert "GPU available: True → this notebook runs on 'cuda'" in text
    assert "the network's parameters are on: cuda:0" in text
    assert "all tensors must be on the same device" in text
    assert "every epoch within 1e-4 of the float64 CPU run: True" in text
