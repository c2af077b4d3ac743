"""Self-graded exercises: the checking runtime behind the notebooks in ``exercises/``.

In an exercise notebook::

    from autogradkit.exercises import ex1_derivatives as ex

    def central_difference(f, x, h=1e-5):
        ...                                  # the learner's code

    ex.check(central_difference)             # ✅ passed, or the first failing case and a hint
    ex.progress()                            # which tasks are done

Pieces:

* ``core``        — ``Exercise``, tasks, ``check`` / ``evaluate`` / ``progress``, the reports;
* ``compare``     — where two answers differ (the first element) and which mistake it looks like;
* ``misconceptions`` — the classic mistakes with their hints;
* ``sandbox``     — running learner code with a time limit, errors as messages, state restored;
* ``scalar``      — the tiny scalar engine the chapter-3 checks build graphs with;
* ``ex1_derivatives`` … ``ex8_beyond`` — one module of tasks per course chapter (1–8);
* ``vjp_rules``   — checking a VJP rule written by hand on numpy arrays (exercises 4 and 9);
* ``ex9_vjp_puzzles`` — extra chapter-4 practice: ten VJP rules written by hand;
* ``ex10_forward_mode`` — chapter 9: JVP rules written by hand, J v from VJPs;
* ``ex11_memory_stability`` — chapter 10: stable formulas by hand, checkpointing by hand;
* ``nb02_chain_rule`` … ``nb06_article``, ``nb09_forward_mode``, ``nb10_memory`` — the "your
  turn" tasks of course notebooks 2–6, 9 and 10, each with a reference implementation that ``use`` goes on with
  while the learner's is not right yet;
* ``notebooks``   — the generator: solution source → learner notebook, and the up-to-date check;
* ``grading``     — ``autogradkit grade``: run a notebook headless and score its tasks.
"""
from __future__ import annotations

import importlib

from .core import REGISTRY, Exercise, Result

EXERCISES = ("ex1_derivatives", "ex2_chain_rule", "ex3_backward", "ex4_tensors", "ex5_modules",
             "ex6_training", "ex7_devices", "ex8_beyond", "ex9_vjp_puzzles",
             "ex10_forward_mode", "ex11_memory_stability")

# The course notebooks' "your turn" tasks (notebooks/source/NN_*.ipynb): one module each.
TURNS = ("nb02_chain_rule", "nb03_backward", "nb04_tensors", "nb05_modules", "nb06_article",
         "nb09_forward_mode", "nb10_memory")


def load(exercise_id):
    """The :class:`Exercise` called ``exercise_id`` (importing its module)."""
    if exercise_id not in EXERCISES + TURNS:
        raise LookupError(f"no exercise called {exercise_id!r}; there are: "
                          f"{', '.join(EXERCISES + TURNS)}")
    importlib.import_module(f"{__name__}.{exercise_id}")
    return REGISTRY[exercise_id]


__all__ = ["EXERCISES", "TURNS", "Exercise", "Result", "load"]
