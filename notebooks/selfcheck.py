"""``check``: the course notebooks' "check yourself" cells.

    from selfcheck import check
    my_answer = ...                       # the learner replaces ... with an answer
    check("dL/dw at w = 2", my_answer, expected=12.0)

It compares and says right or not yet; it never prints the expected answer, so a notebook can be
run top to bottom (and tested) before the learner has answered anything.
"""
import numpy as np

__all__ = ["check"]


def _same(yours, expected, tol):
    if isinstance(expected, str):
        return str(yours).strip().lower() == expected.strip().lower()
    if isinstance(expected, tuple) and all(isinstance(e, int) for e in expected):
        try:
            return tuple(yours) == expected                 # a shape
        except TypeError:
            return False
    if hasattr(yours, "detach"):                            # a tensor
        yours = yours.detach().numpy()
    if hasattr(expected, "detach"):
        expected = expected.detach().numpy()
    try:
        a = np.asarray(yours, dtype=np.float64)
        b = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=tol, atol=tol))


def check(label, yours, expected, tol=1e-6, hint=""):
    """Print whether ``yours`` matches ``expected`` (numbers and arrays within ``tol``)."""
    if yours is Ellipsis:
        print(f"✏️  {label}: not answered yet. Replace the ... with your answer and run the cell "
              "again.")
    elif _same(yours, expected, tol):
        print(f"✅ {label}: right.")
    else:
        print(f"❌ {label}: not yet ({yours!r} is not it)." + (f" Hint: {hint}" if hint else ""))
