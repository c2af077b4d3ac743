"""The course notebooks' "check yourself" questions: the answers live here, never in a notebook.

    from autogradkit.exercises.questions import answer
    my_answer = ...                                 # the learner replaces ... with an answer
    answer("d(x²)/dx at x = -1.5", my_answer)      # ✏️ not answered yet / ✅ right / ❌ not yet

A question is named by its text; ``QUESTIONS`` maps it to the right answer (a number, compared
within a tolerance, or a word), and a hint that points the way without giving the answer.
"""
from __future__ import annotations

import numpy as np

# question -> (the answer, tolerance for a number, hint)
QUESTIONS = {
    # notebook 0
    "d(x²)/dx at x = -1.5": (-3.0, 1e-6, "the rule is 2x"),
    # notebook 1
    "central difference of 1/x at 0.5": (-4.0, 1e-6, ""),
    "forward-difference error, h = 1e-3": (6e-3, 1e-3, "h/2 · 6x at x = 2"),
    # notebook 6
    "parameter tensors in Net": (4, 0, "two layers, a weight and a bias each"),
    "zero_grad at the start instead of the end": (
        "yes", None, "either way, every backward starts from cleared gradients"),
    # notebook 7
    "a CPU input to a GPU network": (
        "error", None, "does autogradkit copy between devices behind your back?"),
    # notebook 8
    "x.grad for x·detach(x) + x at x = 4": (
        5.0, 1e-6, "the detached factor is a constant; the + x adds 1"),
    "autogradkit's |x|' at 0": (0.0, 1e-6, ""),
}


def _same(yours, expected, tol):
    if isinstance(expected, str):
        return isinstance(yours, (str, bool)) and str(yours).strip().lower() == expected
    if isinstance(yours, (bool, np.bool_, str)) or yours is None:
        return False
    if hasattr(yours, "detach"):                            # a tensor
        yours = yours.detach().cpu().numpy()
    try:
        value = np.asarray(yours, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return value.shape == () and bool(np.isclose(value, expected, rtol=tol, atol=tol))


def answer(question, yours):
    """Print whether ``yours`` answers ``question`` (the right answer is never printed)."""
    if question not in QUESTIONS:
        print(f"no question called {question!r}; the questions are: {', '.join(QUESTIONS)}")
        return
    expected, tol, hint = QUESTIONS[question]
    if yours is Ellipsis:
        print(f"✏️  {question}: not answered yet. Replace the ... with your answer and run the "
              "cell again.")
    elif _same(yours, expected, tol):
        print(f"✅ {question}: right.")
    else:
        print(f"❌ {question}: not yet ({yours!r} is not it)." + (f" Hint: {hint}" if hint else ""))
