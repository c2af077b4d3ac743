"""``autogradkit course DIR``: copy the course notebooks and the learner exercises into a folder.

Where the files come from
    * An installed wheel ships them as package data under ``autogradkit/_course/`` (see
      ``[tool.setuptools]`` in ``pyproject.toml``: the packages ``autogradkit._course.notebooks``
      and ``autogradkit._course.exercises`` are the repository's own ``notebooks/`` and
      ``exercises/`` folders, so each notebook has one copy in git).
    * A repository checkout (an editable install, or running from the source tree) has no
      ``_course`` folder; the files are read from ``notebooks/`` and ``exercises/`` next to the
      package.

What is copied (``FILES``): the course notebooks ``notebooks/0*.ipynb`` (their "check yourself"
cells and "your turn" checks import from ``autogradkit.exercises``, which keeps the answers) and
the learner exercise notebooks ``exercises/ex*.ipynb``. Never ``exercises/source/`` or
``notebooks/source/``: they hold the solutions.
"""
from __future__ import annotations

import shutil
from pathlib import Path

# folder -> the patterns of the files copied from it (pyproject.toml's package-data matches).
FILES = {
    "notebooks": ("0*.ipynb",),
    "exercises": ("ex*.ipynb",),
}

_PACKAGE = Path(__file__).resolve().parent


class CourseError(Exception):
    """The course cannot be copied; the message is one line, for the command's error."""


def course_root() -> Path:
    """The folder holding ``notebooks/`` and ``exercises/``: the installed package data, or the
    repository checkout the package is imported from."""
    candidates = [_PACKAGE / "_course", _PACKAGE.parent]
    for root in candidates:
        if root == _PACKAGE.parent and not (root / "pyproject.toml").is_file():
            continue                    # site-packages, not a checkout: never read its folders
        if all(list_files(root / folder, patterns) for folder, patterns in FILES.items()):
            return root
    raise CourseError("the course notebooks are not part of this installation (looked in "
                      + " and ".join(str(c) for c in candidates) + "); reinstall autogradkit "
                      "from a wheel or a repository checkout")


def list_files(folder: Path, patterns) -> list[Path]:
    """The files directly in ``folder`` matching ``patterns``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})


def course_files(root: Path | None = None) -> list[tuple[Path, Path]]:
    """``(source, relative destination)`` for every file of the course."""
    root = course_root() if root is None else root
    return [(p, Path(folder) / p.name)
            for folder, patterns in FILES.items() for p in list_files(root / folder, patterns)]


def copy_course(dest, force: bool = False) -> list[Path]:
    """Copy the course into ``dest`` (created if needed) and return the files written.

    Refuses a ``dest`` that is not empty unless ``force``; with ``force`` the course's files are
    overwritten and anything else in ``dest`` is left alone.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise CourseError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise CourseError(f"{dest} is not empty; choose a new or empty folder, or add --force to "
                          "overwrite the course files in it (your own edits to them are lost)")
    files = course_files()
    written = []
    try:
        for source, relative in files:
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(target)
    except OSError as exc:
        raise CourseError(f"cannot write {exc.filename or dest}: {exc.strerror or exc}") from None
    return written
