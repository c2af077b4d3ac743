"""``autogradkit course DIR``: copy the course notebooks and the learner exercises into a folder.

Two ways the command finds the files, both tested:

* from this repository checkout (the editable install the test suite runs in), and
* from a wheel built from this tree and installed outside the repository, so the files must come
  from the wheel's package data (``autogradkit/_course/``), the way a learner who ran
  ``pip install autogradkit`` gets them. No network: the wheel is built with
  ``--no-build-isolation`` by the setuptools of the environment running the tests.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autogradkit import cli, course

ROOT = Path(__file__).resolve().parents[1]


def expected_files() -> dict[str, bytes]:
    """What the command must copy, read from the repository, independently of ``course.FILES``:
    the course notebooks and the learner exercises (never a solution source)."""
    paths = [*ROOT.glob("notebooks/0*.ipynb"), *ROOT.glob("exercises/ex*.ipynb")]
    return {p.relative_to(ROOT).as_posix(): p.read_bytes() for p in paths}


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def run_cli(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_expected_files_exist_and_learner_notebooks_are_not_the_solutions():
    files = expected_files()
    assert sum(name.startswith("notebooks/0") for name in files) >= 9
    assert sum(name.startswith("exercises/ex") for name in files) >= 6
    for name, data in files.items():
        if name.startswith("exercises/"):
            solution = ROOT / "exercises" / "source" / Path(name).name
            assert solution.is_file() and solution.read_bytes() != data, (
                f"{name} should be the learner version, different from its source")


def test_course_copies_from_the_checkout(tmp_path, capsys):
    assert course.course_root() == ROOT             # an editable install reads the checkout
    out = tmp_path / "my course"
    rc, stdout, err = run_cli(capsys, "course", str(out))
    assert rc == 0, err
    assert files_in(out) == expected_files()        # the same set, byte for byte
    assert not (out / "exercises" / "source").exists()
    assert "jupyter" in stdout and "lab" in stdout and "'" + str(out) + "'" in stdout
    assert "00_welcome.ipynb" in stdout


def test_second_run_refuses_and_force_overwrites(tmp_path, capsys):
    out = tmp_path / "course"
    assert run_cli(capsys, "course", str(out))[0] == 0
    edited = out / "exercises" / "ex1_derivatives.ipynb"
    edited.write_text("my work")
    (out / "notes.txt").write_text("mine")

    rc, stdout, err = run_cli(capsys, "course", str(out))
    assert rc == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("autogradkit: error: ") and "not empty" in err and "--force" in err
    assert edited.read_text() == "my work"          # nothing touched

    rc, stdout, err = run_cli(capsys, "course", str(out), "--force")
    assert rc == 0, err
    assert edited.read_bytes() == (ROOT / "exercises" / "ex1_derivatives.ipynb").read_bytes()
    assert (out / "notes.txt").read_text() == "mine"   # other files are left alone
    assert files_in(out) == {**expected_files(), "notes.txt": b"mine"}


def test_empty_existing_folder_is_fine(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "course", str(tmp_path))
    assert rc == 0, err
    assert files_in(tmp_path) == expected_files()


def test_bad_arguments_exit_non_zero_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    rc, stdout, err = run_cli(capsys, "course", str(a_file))
    assert rc == 2 and stdout == ""
    assert err.strip().splitlines() == [f"autogradkit: error: {a_file} exists and is not a folder"]

    for argv in (["course"], ["course", str(tmp_path / "x"), "--frce"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith("autogradkit course: error: ") or \
            lines[-1].startswith("autogradkit: error: ")
    assert not (tmp_path / "x").exists()


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "course" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["course", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "DIR" in text and "--force" in text


def test_pyproject_lists_every_subpackage():
    """The packages are listed in pyproject.toml (so the course folders can be mapped in); a new
    sub-package missing from the list would be missing from the wheel."""
    try:
        import tomllib
    except ImportError:                             # Python 3.10
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "autogradkit").rglob("__init__.py") if "__pycache__" not in p.parts}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"] == {"autogradkit._course.notebooks": "notebooks",
                                     "autogradkit._course.exercises": "exercises"}


# ---------------------------------------------------------------------------------------------
# From a wheel installed outside the repository
# ---------------------------------------------------------------------------------------------

def _can_build_offline():
    from importlib.metadata import PackageNotFoundError, version
    try:
        have = tuple(int(p) for p in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return "setuptools is not installed here (needed to build the wheel without network)"
    if have < (64, 0):
        return f"setuptools {version('setuptools')} is older than 64"
    if have < (70, 1):                              # bdist_wheel came into setuptools in 70.1
        try:
            version("wheel")
        except PackageNotFoundError:
            return "setuptools < 70.1 without the wheel package cannot build a wheel offline"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    reason = _can_build_offline()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy of the tree: never write build/ or *.egg-info into the checkout
    # (another run may be using them), and no stale build/lib can leak into the wheel.
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.egg-info", "build")
    for name in ("autogradkit", "notebooks", "exercises"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "-q", "-w", str(dist),
                           str(src)], capture_output=True, text=True, cwd=tmp, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = dist.glob("autogradkit-*.whl")
    return built


def test_wheel_ships_the_course_and_no_solutions(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = "autogradkit/_course/"
    shipped = {n[len(prefix):] for n in names if n.startswith(prefix)}
    assert set(expected_files()) <= shipped
    assert not any("source" in n.split("/")[:-1] for n in shipped), sorted(shipped)
    assert {n for n in shipped if n.endswith(".ipynb")} == \
        {n for n in expected_files() if n.endswith(".ipynb")}
    assert "autogradkit/cli.py" in names and "autogradkit/course.py" in names
    assert "autogradkit/exercises/case_counts.json" in names     # the grader's partial credit


def test_course_from_an_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "--disable-pip-version-check", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    work = tmp_path / "elsewhere"                   # a cwd outside the repository
    work.mkdir()
    # The wheel's copy comes first on sys.path (PYTHONPATH precedes site-packages, and the
    # editable install's finder is consulted after the path), and the checkout is not on it.
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg"}

    def python(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=work,
                              env=env, timeout=120)

    where = python("-c", "import autogradkit, autogradkit.course as c; "
                         "print(autogradkit.__file__); print(c.course_root())")
    assert where.returncode == 0, where.stderr
    package_file, root = map(Path, where.stdout.split("\n")[:2])
    assert site in package_file.parents, f"imported {package_file}, not the installed wheel"
    assert root == site / "autogradkit" / "_course"
    assert ROOT not in root.parents

    out = work / "course"
    ran = python("-m", "autogradkit", "course", "course")
    assert ran.returncode == 0, ran.stderr
    assert files_in(out) == expected_files()
    assert "jupyter" in ran.stdout and "lab course" in ran.stdout

    again = python("-m", "autogradkit", "course", "course")
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "not empty" in again.stderr
    assert python("-m", "autogradkit", "course", "course", "--force").returncode == 0
