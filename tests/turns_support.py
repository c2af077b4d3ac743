"""What the tests of the course notebooks' "your turn" checks share (``tests/test_turns_nb*.py``):
the references without their mark, the solutions of a notebook's source, and a wrong answer
compiled from its text."""
import re

import nbformat

from autogradkit.exercises.core import REFERENCE_MARK


def unmarked(reference):
    """The reference's behaviour without its mark (``evaluate`` of a task's reference itself says
    "not started": it is what the notebook goes on with, not the learner's answer)."""
    if isinstance(reference, type):
        return type(reference.__name__, (reference,), {REFERENCE_MARK: None})
    return lambda *args, **kwargs: reference(*args, **kwargs)


def source_solutions(source, tasks, namespace=None):
    """The notebook source's solutions (the cells defining a task), run as the notebook runs
    them: in one namespace, starting from ``namespace``."""
    nb = nbformat.read(source, as_version=4)
    ns = dict(namespace or {})
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(r"^(?:def|class) (%s)\b" % "|".join(tasks),
                                                  cell.source, re.M):
            exec(compile(cell.source, str(source), "exec"), ns)
    return ns


def answer(task, code, namespace=None):
    """``task`` as defined by ``code`` (a deliberately wrong answer), run in ``namespace``."""
    ns = dict(namespace or {})
    exec(compile(code.strip("\n"), f"<answer {task}>", "exec"), ns)
    return ns[task]
