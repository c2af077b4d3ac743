"""Seeing autograd: the graph the engine built, the backward pass it ran, and teaching plots.

* ``draw(loss, names=..., module=...)`` — the graph as a ``graphviz.Digraph`` (SVG in a notebook;
  a text listing plus install instructions when Graphviz's ``dot`` is missing). ``to_dot`` gives
  its DOT text, ``text_graph`` a text listing. Above ``max_nodes`` (300) boxes they draw a
  summary: repeated patterns folded into one box (``mul → add × 20,000``), the part nearest the
  output and the leaves, the whole graph's counts (``viz/summary.py``); ``max_nodes=None`` draws
  everything. Graphviz gets 10 s (``viz.dot.LAYOUT_TIMEOUT``), then the text summary is shown.
  ``memory=True`` writes the bytes each op saves for backward, and their total.
* ``BackwardExplorer(loss)`` — step through a real ``backward()`` (replayed from the engine's
  trace): upstream gradient × local rule = what each input receives, sums where paths meet,
  leaf accumulation, and a node inspector. ``ForwardExplorer(loss)`` builds the graph one op at a
  time.
* ``trace_forward()`` records a forward-mode (dual) computation; then ``draw(y)`` shows each
  value with its tangent and each op's ``jvp_formula``, and ``JVPExplorer(trace)`` steps through
  the tangent pass op by op.
* ``LiveLossPlot``, ``plot_tangent``, ``plot_fd_error``, ``plot_loss_surface`` — matplotlib
  figures for the course.

Nothing heavy (graphviz, ipywidgets, matplotlib) is imported until a function that needs it is
called, and importing ``autogradkit`` never imports this package.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "draw": "dot", "to_dot": "dot", "to_text": "dot", "text_graph": "dot", "render": "dot",
    "svg": "dot", "graphviz_available": "dot", "INSTALL_HINT": "dot",
    "GraphModel": "graph",
    "BackwardReplay": "replay", "ForwardSteps": "replay",
    "BackwardExplorer": "widgets", "ForwardExplorer": "widgets", "JVPExplorer": "widgets",
    "trace_forward": "forward", "ForwardTrace": "forward", "JVPSteps": "forward",
    "LiveLossPlot": "plots", "plot_tangent": "plots", "plot_fd_error": "plots",
    "plot_loss_surface": "plots", "trajectory": "plots", "fd_errors": "plots",
}

__all__ = ["BackwardExplorer", "BackwardReplay", "ForwardExplorer", "ForwardSteps", "ForwardTrace",
           "GraphModel", "INSTALL_HINT", "JVPExplorer", "JVPSteps", "LiveLossPlot", "draw",
           "fd_errors", "graphviz_available", "plot_fd_error", "plot_loss_surface", "plot_tangent", "render", "svg", "text_graph",
           "to_dot", "to_text", "trace_forward", "trajectory"]


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autogradkit.viz' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
