"""The graph that grows by mistake, named where it starts, with its fix.

A backward pass without ``retain_graph`` frees the numbers its graph saved, but the graph's nodes
live as long as something refers to them, and two training-loop mistakes keep them alive:

* a running total of losses, ``total += loss`` (or ``total = total + loss``): each iteration's
  graph is tied to the next one's, so ``total`` holds every iteration's graph (PyTorch's FAQ:
  "Don't accumulate history across your training loop");
* a recurrent state carried from one batch into the next without ``.detach()``: the next
  ``backward()`` reaches into the graph the last one freed, and the classic advice, "pass
  retain_graph=True", would make the graph grow without end.

How they are caught, at no cost to a correct loop:

* ``freed(roots)``: a backward pass that frees its graph stamps its roots with its number
  (``_freed_by``) and marks them consumed, so a later op that takes one as an input leaves the
  speed shortcuts' fast branch;
* ``check(node)``: an op was just recorded on such an input (or on a node already ``_stale``).
  The new node is stale too (it keeps the earliest stamp it reaches); when stamps of two
  different backward passes meet in one node, the graph is growing across iterations: one
  ``GrowingGraphWarning``, at the learner's line. ``total += loss.item()`` records nothing, and
  gradient accumulation (several losses summed, one ``backward()`` at the end) meets no stamp;
* ``explain(error, roots)``: "backward through the graph a second time", raised in a backward
  pass whose roots no earlier pass has freed, means a tensor was carried over from an earlier
  iteration: the error says so and recommends ``h = h.detach()``.
"""
from __future__ import annotations

import os
import sys
import warnings


class GrowingGraphWarning(UserWarning):
    """An op tied the graphs of two training iterations together (``total += loss``)."""


class Passes:
    freed = 0           # backward passes that have freed their graph so far


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def freed(roots):
    """A backward pass from ``roots`` has freed its graph: stamp the roots with its number."""
    Passes.freed += 1
    for root in roots:
        try:
            root._freed_by, root._consumed = Passes.freed, True
        except AttributeError:          # a node without room for the stamp (a custom Function's)
            pass


def check(node):
    """``node`` was recorded on an input some backward pass has freed, or that reaches one."""
    if node._stale:                     # checked already (by the reference recording):
        node._consumed = True           # keep it marked for the shortcuts' recording
        return
    stamps = set()
    for f in node._next:
        if f is not None:
            stamps.update(s for s in (getattr(f, "_freed_by", 0), getattr(f, "_stale", 0)) if s)
    if not stamps:
        return
    node._stale, node._consumed = min(stamps), True    # every later use is checked too
    if len(stamps) > 1:
        _warn(node)


def _warn(node):
    """One warning per learner line (Python's default filter), pointing at that line."""
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        return
    op = getattr(node, "op", "") or type(node).__name__
    message = (
        f"this line's {op} ties together the graphs of two training iterations: it takes a "
        "tensor whose graph a backward() has already used (a loss) and another that reaches an "
        "earlier iteration's graph. Whatever holds the result (a running total) now keeps every "
        "iteration's graph alive, and it grows with each one. To add up a loss for printing, "
        "use loss.item() (a Python number) or loss.detach(). (PyTorch's FAQ: \"Don't "
        "accumulate history across your training loop.\")")
    registry = frame.f_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, GrowingGraphWarning, frame.f_code.co_filename,
                           frame.f_lineno, module=frame.f_globals.get("__name__"),
                           registry=registry)


def explain(error, roots):
    """The "second time" error of a backward pass: as it was if one of ``roots`` was freed
    before (the same graph again), else the carried-state advice."""
    if any(getattr(r, "_freed_by", 0) for r in roots):
        return error
    node = getattr(error, "node", None)
    name = getattr(node, "_name", "a node")
    return type(error)(
        f"Trying to backward through a graph an earlier backward() has freed: this loss's graph "
        f"reaches {name}, which belongs to an earlier iteration's graph, through a tensor "
        "computed then and carried into this iteration (a recurrent state h, a running total). "
        "Detach it where each iteration starts: h = h.detach() (the numbers stay, the history "
        "goes). retain_graph=True would silence this error but keep every earlier iteration's "
        "graph alive, growing without end: keep it for going backward through the same graph "
        "twice.")
