"""Step-through explorers for a notebook (ipywidgets).

``BackwardExplorer(loss)`` runs ``loss.backward()`` under ``autograd.trace_backward()`` (or takes
a trace you recorded) and replays it: ◀ Previous / Next ▶ / play and a slider over the events;
the graph highlights the node of the current event, and a panel shows the upstream gradient, the
local rule with its numbers, and what each input receives. A node inspector shows a node's value
and gradient (with a small heatmap for matrices).

``ForwardExplorer(loss)`` builds the graph one op at a time, in the order the forward pass
recorded it. ``JVPExplorer(trace)`` steps through a forward-mode (dual) pass recorded with
``viz.trace_forward()``: per op its inputs' values and tangents, its jvp rule, the output's tangent.

The logic lives in ``replay.py`` (no widgets there); this file only lays it out. Nothing is
printed to the notebook, so a cell that shows an explorer has no text output to go stale.
"""
from __future__ import annotations

import io
import re

import numpy as np

from ._format import array_block, esc, shape as fmt_shape, to_numpy
from .dot import (INSTALL_HINT, DotNotFound, LayoutTimeout, build_digraph, graphviz_available,
                  run_dot, to_text)
from .graph import GraphModel
from .replay import BackwardReplay, ForwardSteps
from .summary import MAX_NODES

WINDOW = 25             # nodes drawn around the current step when a graph is over max_nodes

KIND = {"param": "parameter", "leaf": "leaf", "const": "constant", "number": "number",
        "output": "output", "module": "module", "op": "op"}

_CSS = """<style>
.agk-panel .agk-title{font-weight:600;margin-bottom:4px}
.agk-panel .agk-lines{font-family:var(--jp-code-font-family,monospace);font-size:12.5px;
  white-space:pre-wrap;line-height:1.45}
.agk-graph svg{max-width:100%;height:auto}
</style>"""


def _svg_html(view):
    """The SVG of a ``GraphView`` for inline HTML (no XML prolog), or the text listing."""
    if graphviz_available():
        try:
            svg = run_dot(view.source, "svg").decode("utf-8")
        except DotNotFound:
            pass
        except LayoutTimeout as exc:
            return (f'<pre class="agk-text-graph">{esc(view.text())}</pre>'
                    f'<p style="color:#92400e">{esc(exc)}, so it is shown as text.</p>')
        except Exception as exc:                        # noqa: BLE001 - show, don't crash
            return (f'<pre>{esc(view.text())}</pre><p style="color:#92400e">Graphviz failed: '
                    f"{esc(exc)}</p>")
        else:
            svg = svg[svg.index("<svg"):]
            return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    return (f'<pre class="agk-text-graph">{esc(view.text())}</pre>'
            f'<p style="color:#92400e">{esc(INSTALL_HINT)}</p>')


def _panel_html(title, lines):
    body = esc("\n".join(lines))
    return (f'{_CSS}<div class="agk-title">{esc(title)}</div>'
            f'<div class="agk-lines">{body}</div>')


def _heatmap_png(arrays):
    """A small PNG with one heatmap per (title, 2-D array), for the inspector."""
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(3.2 * len(arrays), 2.6), dpi=80)
    FigureCanvasAgg(fig)
    for k, (title, a) in enumerate(arrays, start=1):
        ax = fig.add_subplot(1, len(arrays), k)
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 2 and a.shape[1] == 1:
            a, title = a.T, f"{title} (column, shown as a row)"
        a = a.reshape(1, -1) if a.ndim == 1 else a.reshape(-1, a.shape[-1])
        lim = float(np.abs(a).max()) or 1.0
        im = ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                       interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if a.shape[0] == 1:
            ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class _Explorer:
    """Shared layout: controls, graph, panel.

    A graph with more than ``max_nodes`` nodes is drawn as a window: the ``WINDOW`` nodes
    nearest the current step (so a step stays fast on a graph of thousands of nodes)."""

    max_nodes = MAX_NODES
    _adjacency = None
    _css = ""               # the explorer's own CSS class, beside "agk-explorer"

    def _setup(self, model, rankdir, max_nodes):
        """What every explorer keeps: the graph model, the layout, the budget, the step shown."""
        self.model, self.rankdir, self.max_nodes = model, rankdir, max_nodes
        self._index, self._box, self._slider, self._graph_cache = 0, None, None, {}

    def _count(self):
        return len(self.steps)

    def view(self, k=None):
        """The graph at step ``k`` (default: the current one) as a ``graphviz.Digraph``."""
        k = self._index if k is None else k
        return build_digraph(self.model, self._overlay(k), rankdir=self.rankdir)

    def text(self, k=None):
        k = self._index if k is None else k
        return to_text(self.model, self._overlay(k))

    def _overlay(self, k):
        """The step explorers' overlay (one op per step); over the budget, the window around
        the current op. (The backward explorer has its own.)"""
        ov = self.steps.overlay(k)
        if not self._windowed():
            return ov
        center = ov.current or (self.steps.ops[0] if self.steps.ops else None)
        return self._windowed_overlay(ov, center, ov.visible)

    def _layout(self):
        import ipywidgets as w
        controls = self._controls(self._count(), "op")
        box = w.VBox([controls, self._graph, self._panel])
        box.add_class("agk-explorer")
        box.add_class(self._css)
        return box

    def _windowed(self):
        return self.max_nodes is not None and len(self.model.nodes) > self.max_nodes

    def _window(self, center, allowed=None):
        """The ``WINDOW`` drawn ids nearest ``center`` (breadth-first along edges, both ways),
        among ``allowed`` (a set, or ``None`` for all)."""
        if self._adjacency is None:
            adj = {}
            for e in self.model.edges:
                adj.setdefault(e.src, []).append(e.dst)
                adj.setdefault(e.dst, []).append(e.src)
            self._adjacency = adj
        if center is None or center not in self.model.nodes:
            center = self.model.outputs[0] if self.model.outputs else next(iter(self.model.nodes))
        seen, queue, head = {center}, [center], 0
        while head < len(queue) and len(queue) < WINDOW:
            for n in self._adjacency.get(queue[head], ()):
                if n not in seen and (allowed is None or n in allowed):
                    seen.add(n)
                    queue.append(n)
            head += 1
        return set(queue[:WINDOW])

    def _windowed_overlay(self, ov, center, allowed=None):
        """``ov`` limited to the window around ``center``, with a caption that says so."""
        win = self._window(center, allowed)
        ov.visible = win if ov.visible is None else ov.visible & win
        n = len(self.model.nodes)
        ov.caption = (f"Showing the {len(ov.visible)} nodes around the current step, of {n:,} "
                      f"(over max_nodes={self.max_nodes}; max_nodes=None draws them all)")
        return ov

    def _show(self, k, force=False):
        """Show step ``k``: the highlighted graph (cached per step) and the explanation panel."""
        if k == self._index and not force and self._box is not None and self._graph.value:
            return
        self._index = k
        if self._box is None:
            return
        if k not in self._graph_cache:
            self._graph_cache[k] = _svg_html(self.view(k))
        self._graph.value = self._graph_cache[k]
        title, lines = self._describe(k)
        self._panel.value = _panel_html(title, lines)
        self._shown(k)

    def _shown(self, k):
        """A hook for what else follows the current step (the backward explorer's inspector)."""

    def _controls(self, n, description):
        import ipywidgets as w
        self._prev = w.Button(description="◀ Previous", tooltip="previous step",
                              layout=w.Layout(width="110px"))
        self._next = w.Button(description="Next ▶", tooltip="next step",
                              layout=w.Layout(width="110px"))
        self._prev.add_class("agk-prev")
        self._next.add_class("agk-next")
        self._slider = w.IntSlider(value=0, min=0, max=n - 1, description=description,
                                   continuous_update=True, layout=w.Layout(width="380px"))
        self._slider.add_class("agk-slider")
        self._play = w.Play(value=0, min=0, max=n - 1, interval=1500, description="play")
        w.jslink((self._play, "value"), (self._slider, "value"))
        self._graph = w.HTML()
        self._graph.add_class("agk-graph")
        self._panel = w.HTML()
        self._panel.add_class("agk-panel")
        self._prev.on_click(lambda _: self.previous())
        self._next.on_click(lambda _: self.next())
        self._slider.observe(lambda ch: self._show(ch["new"]), names="value")
        return w.HBox([self._prev, self._next, self._play, self._slider])

    # navigation (also usable from code and tests)
    @property
    def index(self):
        return self._index

    def go(self, k):
        """Show step ``k`` (0 is the start)."""
        k = max(0, min(int(k), self._count() - 1))
        if self._slider is not None:
            self._slider.value = k          # calls _show through the observer
        if self._index != k or self._slider is None:
            self._show(k)
        return self

    def next(self):
        return self.go(self._index + 1)

    def previous(self):
        return self.go(self._index - 1)

    @property
    def widget(self):
        if self._box is None:
            self._box = self._layout()
            self._slider.value = self._play.value = self._index    # go() may have run before
            self._show(self._index, force=True)
        return self._box

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        bundle["text/plain"] = repr(self)       # the widget's own repr is long and changes
        return bundle

    def __repr__(self):
        return f"<{type(self).__name__}: step {self._index} of {self._count() - 1}>"


class BackwardExplorer(_Explorer):
    """Step through the real backward pass of ``loss`` (see the module docstring).

    ``BackwardExplorer(loss, names={"a": a, ...}, module=net)`` runs ``loss.backward()`` (so the
    leaves' ``.grad`` are filled as usual) while recording it. Pass ``trace=`` to replay a backward
    you recorded yourself with ``autograd.trace_backward()`` instead (the graph must still be the
    one that produced ``loss``). ``group="cluster"`` / ``"collapse"`` groups a module's parts.
    """

    def __init__(self, loss, names=None, module=None, group=None, trace=None, gradient=None,
                 retain_graph=False, show_constants=True, rankdir="LR", max_nodes=MAX_NODES):
        from ..autograd.trace import trace_backward
        self._setup(GraphModel(loss, names=names, module=module, group=group,
                               show_constants=show_constants), rankdir, max_nodes)
        if trace is None:
            with trace_backward() as trace:
                loss.backward(gradient, retain_graph=retain_graph)
        self.trace = trace
        self.replay = BackwardReplay(self.model, trace)

    def _count(self):
        return len(self.replay)

    # ---- state, for code and tests ----------------------------------------------------------
    @property
    def frame(self):
        """The current ``Frame``: highlighted node, gradients so far, the explanation."""
        return self.replay[self._index]

    @property
    def panel_text(self):
        return self.frame.text

    def _overlay(self, k):
        if not self._windowed():
            return self.replay.overlay(k)
        win = self._window(self.replay[k].node)
        return self._windowed_overlay(self.replay.overlay(k, only=win), self.replay[k].node)

    # ---- layout ---------------------------------------------------------------------------------
    def _layout(self):
        import ipywidgets as w
        controls = self._controls(self._count(), "event")
        ids = [i for i in self.model.order if self.model.nodes[i].kind != "saved"]
        if self._windowed():        # the outputs and leaves, then the ops nearest the output
            first = [i for i in ids if self.model.nodes[i].kind in ("output", "leaf", "param")]
            ids = (first + [i for i in self.model.nodes if self.model.nodes[i].kind == "op"])
            ids = ids[:self.max_nodes]
        opts = [(f"{self.replay._name(i)} · {KIND.get(self.model.nodes[i].kind, 'op')}", i)
                for i in ids]
        self._pick = w.Dropdown(options=opts, description="inspect",
                                layout=w.Layout(width="360px"))
        self._follow_box = w.Checkbox(value=True, description="follow the current step",
                                      indent=False)
        self._inspect_html = w.HTML()
        self._inspect_html.add_class("agk-inspector")
        self._heat = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self._pick.observe(lambda ch: self._inspect(), names="value")
        self._follow_box.observe(lambda ch: self._inspect(), names="value")
        head = w.HTML('<hr style="margin:6px 0"><b>Node inspector</b>: value and gradient of a '
                      "node at this step")
        inspector = w.VBox([head, w.HBox([self._pick, self._follow_box]), self._inspect_html,
                            self._heat])
        box = w.VBox([controls, self._graph, self._panel, inspector])
        box.add_class("agk-explorer")
        box.add_class("agk-backward-explorer")
        return box

    def _describe(self, k):
        f = self.replay[k]
        return f.title, f.lines

    def _shown(self, k):
        f = self.replay[k]
        ids = [v for _, v in self._pick.options]
        if self._follow_box.value and f.node in ids and self._pick.value != f.node:
            self._pick.value = f.node       # the observer updates the inspector
        else:
            self._inspect()

    def _inspect(self):
        nid = self._pick.value
        if nid is None:
            return
        title, rows, heat = self.inspect(nid, self._index)
        html = f'<div class="agk-title" style="font-weight:600">{esc(title)}</div>'
        for label, block in rows:
            html += (f'<div style="margin-top:4px"><b>{esc(label)}</b></div>'
                     f'<pre style="margin:0">{esc(block)}</pre>')
        self._inspect_html.value = html
        self._heat.value = _heatmap_png(heat) if heat else b""
        self._heat.layout.display = "" if heat else "none"

    def inspect(self, nid, k=None):
        """(title, [(label, text)], [(title, 2-D array)]) describing node ``nid`` at step ``k``."""
        k = self._index if k is None else k
        f = self.replay[k]
        vn = self.model.all_nodes[nid]
        rows, heat = [], []

        def add(label, arr):
            if arr is None:
                return
            arr = np.asarray(arr)
            rows.append((f"{label}, shape {fmt_shape(arr.shape)}" if arr.ndim else label,
                         array_block(arr)))
            if arr.ndim >= 1 and arr.size > 1:
                heat.append((label, arr))

        if vn.kind == "op":
            title = f"{self.replay._name(nid)}: {vn.rule}"
            if nid in f.received:
                add("ḡ received", f.received[nid])
            else:
                rows.append(("ḡ received", "not yet: this op has not run"))
            for (src, dst, i), g in f.sent.items():
                if dst == nid:
                    add(f"sent to input {vn.slot(i)} ← {self.replay._name(src)}", g)
        elif vn.kind == "module":
            title = f"{vn.title}: {vn.note}"
            rows += [("parameters", "\n".join(vn.lines))]
        else:
            shp = "scalar" if not vn.shape else fmt_shape(vn.shape)
            title = f"{vn.title} ({KIND.get(vn.kind, vn.kind)}, {shp} {vn.dtype}".rstrip() + ")"
            add("value", vn.value)
            if vn.kind in ("leaf", "param"):
                g = f.leaf_grads.get(nid)
                if g is None:
                    rows.append(("grad", "not computed yet"))
                else:
                    add("grad", g)
            elif vn.kind == "output":
                if self.replay.steps_total:
                    add("ḡ (where backward starts)", to_numpy(self.trace.steps[0].grad_output))
            else:
                rows.append(("grad", "none: a constant needs no gradient"))
        return title, rows, heat


class ForwardExplorer(_Explorer):
    """Watch the graph being recorded: the ops of ``outputs`` one at a time, in forward order."""
    _css = "agk-forward-explorer"

    def __init__(self, *outputs, names=None, module=None, group=None, show_constants=True,
                 show_saved=False, rankdir="LR", max_nodes=MAX_NODES):
        self._setup(GraphModel(*outputs, names=names, module=module, group=group,
                               show_constants=show_constants, show_saved=show_saved),
                    rankdir, max_nodes)
        self.steps = ForwardSteps(self.model)

    @property
    def panel_text(self):
        title, lines = self.steps.describe(self._index)
        return "\n".join([title] + lines)

    def _describe(self, k):
        return self.steps.describe(k)


class JVPExplorer(_Explorer):
    """Step through a forward-mode (JVP) pass op by op, as ``BackwardExplorer`` does for reverse
    mode: per step the op, its inputs' values and tangents, its jvp rule and the output's tangent.

    Named for what the pass computes, J·v (``BackwardExplorer`` replays a vector-Jacobian
    product); ``ForwardExplorer`` is taken by the graph-recording walk-through. Built from a
    ``viz.trace_forward()`` recording: every tangent shown is the one the op's own ``jvp`` gave::

        with viz.trace_forward() as tr, forward_ad.dual_level():
            x = forward_ad.make_dual(x0, v)
            y = (x * w).sin()
        viz.JVPExplorer(tr, names={"x": x, "w": w, "y": y})

    ``JVPExplorer(y)`` finds the newest trace that recorded ``y``; ``outputs=`` picks what to
    follow in a trace (default: the last op's output).
    """
    _css = "agk-jvp-explorer"

    def __init__(self, trace_or_output, names=None, outputs=(), rankdir="LR",
                 max_nodes=MAX_NODES):
        from .forward import ForwardTrace, JVPSteps, find_trace
        if isinstance(trace_or_output, ForwardTrace):
            trace = trace_or_output
        else:
            outputs = (trace_or_output,) + tuple(outputs)
            trace = find_trace(outputs, required=True)
        self.trace = trace
        self._setup(trace.model(*outputs, names=names), rankdir, max_nodes)
        self.steps = JVPSteps(self.model)

    @property
    def frame(self):
        """The current ``JVPFrame``: the op, its inputs' values and tangents, the output's."""
        return self.steps[self._index]

    @property
    def panel_text(self):
        return self.frame.text

    def _describe(self, k):
        f = self.steps[k]
        return f.title, f.lines
