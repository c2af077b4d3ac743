"""The recorded graph as a picture: Graphviz DOT (``draw``, ``to_dot``) and a text view.

``draw(loss)`` returns a ``graphviz.Digraph`` (a ``GraphView``) that a notebook shows as SVG.
When Graphviz's ``dot`` program is missing, the same object shows a readable text listing of the
graph and how to install Graphviz instead of failing with ``ExecutableNotFound``.

Node ids are counters in walk order (``n0``, ``c0``, ``o0`` …, never ``id()``), so the same code
gives the same DOT text on every run. Data flows left to right (inputs → ops → output); the
backward pass runs against the arrows.
"""
from __future__ import annotations

import shutil
import subprocess

from ._format import esc, nbytes, shape as fmt_shape, short, values
from .overlay import Overlay
from .summary import MAX_NODES, make_model, truncate

FONT = "Helvetica,Arial,sans-serif"

# Light fills, dark text: readable in print and on JupyterLab's light theme (the SVG has its own
# white background, so it stays readable on a dark theme too).
STYLE = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#475569"),
    "param": dict(shape="box", style="filled", fillcolor="#dbeafe", color="#2563eb"),
    "leaf": dict(shape="box", style="filled", fillcolor="#dcfce7", color="#16a34a"),
    "const": dict(shape="box", style="dashed,filled", fillcolor="#f8fafc", color="#94a3b8",
                  fontcolor="#334155"),
    "number": dict(shape="ellipse", style="dashed,filled", fillcolor="#f8fafc", color="#94a3b8",
                   fontcolor="#334155", fontsize="9", margin="0.02"),
    "output": dict(shape="box", style="filled,bold", fillcolor="#fed7aa", color="#ea580c"),
    "module": dict(shape="box3d", style="filled", fillcolor="#ede9fe", color="#7c3aed"),
    "dual": dict(shape="box", style="filled", fillcolor="#f3e8ff", color="#9333ea"),
    "saved": dict(shape="note", style="filled", fillcolor="#fefce8", color="#ca8a04",
                  fontsize="8"),
    "fold": dict(shape="box", style="rounded,filled,bold", fillcolor="#fef3c7", color="#d97706",
                 peripheries="2"),
    "more": dict(shape="box", style="dashed,filled", fillcolor="#f1f5f9", color="#64748b",
                 fontcolor="#334155"),
}
KIND_WORD = {"dual": "dual input", "param": "parameter", "leaf": "leaf", "const": "constant",
             "number": "number",
             "output": "output", "module": "module", "fold": "repeated", "more": "not drawn"}
GRAD_COLOR = "#b91c1c"
SAVED_COLOR = "#a16207"
TANGENT_COLOR = "#7e22ce"
MUTED = "#64748b"
HIGHLIGHT = dict(penwidth="3", color="#dc2626", fillcolor="#fef08a")

INSTALL_HINT = ("Graphviz's `dot` program was not found, so the graph is shown as text. To see "
                "it drawn, install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), `conda install -c conda-forge graphviz`, or see "
                "https://graphviz.org/download/ — then re-run the cell.")


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


LAYOUT_TIMEOUT = 10.0      # seconds Graphviz may take to lay a graph out for the notebook


def graphviz_available():
    """True when Graphviz's ``dot`` program is on ``PATH`` (needed for SVG/PNG)."""
    return shutil.which("dot") is not None


class LayoutTimeout(RuntimeError):
    """Graphviz took longer than ``LAYOUT_TIMEOUT`` seconds (it was stopped)."""


class DotNotFound(RuntimeError):
    """Graphviz's ``dot`` could not be run."""


def run_dot(source, fmt="svg", timeout=None):
    """``dot -T<fmt>`` on DOT text, stopped after ``timeout`` seconds (default
    ``LAYOUT_TIMEOUT``; raises ``LayoutTimeout``): bytes of the picture. A notebook never waits
    on a layout that takes minutes."""
    timeout = LAYOUT_TIMEOUT if timeout is None else timeout
    try:
        proc = subprocess.run(["dot", f"-T{fmt}"], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise DotNotFound(INSTALL_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise LayoutTimeout(f"Graphviz needed more than {timeout:g} s to lay out this graph and "
                            "was stopped") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz failed to draw the graph: "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout




# ---- labels --------------------------------------------------------------------------------
def _shape_dtype(vn):
    if vn.shape is None:
        return ""
    s = "scalar" if vn.shape == () else fmt_shape(vn.shape)
    return f"{s} {vn.dtype}".strip()


def _grad_line(state, grad):
    if state == "value":
        return f'<font color="{GRAD_COLOR}">grad {esc(short(grad))}</font>'
    if state == "not-kept":
        return f'<font color="{MUTED}"><i>grad not kept (not a leaf)</i></font>'
    return f'<font color="{MUTED}"><i>grad: not computed yet</i></font>'


def tangent_text(vn, fmt=short):
    """``tangent [1, 2]``, or why there is none (a tensor without a tangent counts as ẋ = 0)."""
    if vn.tangent is None:
        from .forward import tangent_name
        zero = f"{tangent_name(vn.title)} = 0" if len(vn.title) == 1 else "zero"
        return f"no tangent ({zero})"
    return f"tangent {fmt(vn.tangent)}"


def _tangent_rows(vn, show_values):
    rows = []
    if show_values and vn.value is not None:
        rows.append(f'<font point-size="9">value {esc(short(vn.value))}</font>')
    rows.append(f'<font point-size="9" color="{TANGENT_COLOR}">{esc(tangent_text(vn))}</font>')
    return rows


def tensor_label(vn, grad_override=None, show_values=True, show_grads=True):
    if vn.kind == "number":
        return f"<{esc(vn.title)}>"
    head = f"<b>{esc(vn.title)}</b>"
    word = KIND_WORD.get(vn.kind, "")
    if word and word != vn.title:
        head += f' <font point-size="8" color="{MUTED}">{word}</font>'
    rows = [head]
    if vn.kind == "module":
        rows.append(f'<font point-size="9" color="{MUTED}">{esc(vn.note)}</font>')
        rows += [f'<font point-size="9">{esc(line)}</font>' for line in vn.lines]
        return "<" + "<br/>".join(rows) + ">"
    if vn.shape is not None:
        rows.append(f'<font point-size="9">{esc(_shape_dtype(vn))}</font>')
    if vn.show_tangent:
        return "<" + "<br/>".join(rows + _tangent_rows(vn, show_values)) + ">"
    if show_values and vn.value is not None:
        rows.append(f'<font point-size="9">value {esc(short(vn.value))}</font>')
    elif vn.note and vn.kind == "const":
        rows.append(f'<font point-size="8" color="{MUTED}">{esc(vn.note)}</font>')
    if show_grads and vn.kind in ("param", "leaf", "output"):
        state, grad = vn.grad_state, vn.grad
        if grad_override is not None:
            state, grad = grad_override
        rows.append(f'<font point-size="9">{_grad_line(state, grad)}</font>')
    return "<" + "<br/>".join(rows) + ">"


def op_label(vn, extra=(), show_values=True):
    # one bold run: a browser's fonts differ from Graphviz's, and mixed runs can overlap
    head = f"<b>{esc(vn.title)} → {esc(vn.output_name)}</b>" if vn.output_name else \
        f"<b>{esc(vn.title)}</b>"
    rows = [head]
    rule = vn.jvp_rule if vn.show_tangent else vn.rule
    rows.append(f'<font point-size="9" color="#334155">{esc(rule)}</font>' if rule else
                f'<font point-size="9" color="#334155">{esc(vn.op)}</font>')
    if vn.show_tangent:
        rows += _tangent_rows(vn, show_values)
    if vn.saved_bytes is not None:
        rows.append(f'<font point-size="9" color="{SAVED_COLOR}">saves '
                    f'{esc(nbytes(vn.saved_bytes))}</font>')
    for line in extra:
        rows.append(f'<font point-size="9" color="{GRAD_COLOR}">{esc(line)}</font>')
    return "<" + "<br/>".join(rows) + ">"


def fold_label(vn):
    """A folded run (``mul → add`` / ``× 20,000``) or the box for what was not drawn."""
    rows = [f"<b>{esc(vn.title)}</b>"]
    if vn.kind == "fold":
        rows.append(f'<font point-size="14"><b>{esc(vn.lines[0])}</b></font>')
        rows += [f'<font point-size="9" color="{MUTED}">{esc(x)}</font>' for x in vn.lines[1:]]
    else:
        rows += [f'<font point-size="9" color="{MUTED}">{esc(x)}</font>' for x in vn.lines]
    if vn.saved_bytes is not None:
        rows.append(f'<font point-size="9" color="{SAVED_COLOR}">saves '
                    f'{esc(nbytes(vn.saved_bytes))} in all</font>')
    return "<" + "<br/>".join(rows) + ">"


def caption_label(text):
    """A multi-line caption, each line left-aligned (an HTML-like label)."""
    return "<" + "".join(f'{esc(line)}<br align="left"/>' for line in text.splitlines()) + ">"


def saved_label(vn):
    rows = [f'<font point-size="8"><b>{esc(vn.title)}</b></font>']
    rows += [f'<font point-size="8">{esc(line)}</font>' for line in vn.lines]
    return "<" + "<br/>".join(rows) + ">"


# ---- the Digraph ---------------------------------------------------------------------------
_VIEW_CLASS = None


def _view_class():
    """``GraphView``: a ``graphviz.Digraph`` that falls back to text when ``dot`` is missing."""
    global _VIEW_CLASS
    if _VIEW_CLASS is not None:
        return _VIEW_CLASS
    import graphviz

    class GraphView(graphviz.Digraph):
        """A ``graphviz.Digraph`` of an autograd graph (``.model`` is what it was drawn from).

        In a notebook it shows as SVG; without Graphviz's ``dot`` it shows a text listing of the
        graph and how to install Graphviz."""

        model = None
        overlay = None
        outputs = None              # the tensors drawn (to summarise them after a time-out)
        options = {}

        def text(self):
            """The graph as a text listing (what is shown when Graphviz is missing)."""
            return to_text(self.model, self.overlay)

        def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
            """What a notebook shows: SVG (Graphviz stopped after ``LAYOUT_TIMEOUT`` seconds),
            else the text listing and why."""
            if graphviz_available():
                include = set(include) if include is not None else {"image/svg+xml"}
                include -= set(exclude or ())
                bundle = {}
                try:
                    for mime, fmt in (("image/svg+xml", "svg"), ("image/png", "png"),
                                      ("image/jpeg", "jpeg")):
                        if mime in include:
                            out = run_dot(self.source, fmt)
                            bundle[mime] = out.decode("utf-8") if fmt == "svg" else out
                except DotNotFound:
                    return _text_bundle(self.text(), INSTALL_HINT)
                except LayoutTimeout as exc:
                    return _text_bundle(self.summary_text(), f"{exc}, so it is shown as text. "
                                        f"{_MORE_HINT}")
                except RuntimeError as exc:
                    return _text_bundle(self.text(), str(exc))
                bundle["text/plain"] = self.text()
                return bundle
            return _text_bundle(self.text(), INSTALL_HINT)

        def summary_text(self):
            """The text listing, summarised when the graph is over the default budget."""
            m = self.model
            if self.outputs is not None and m.summary is None and len(m.nodes) > MAX_NODES:
                return text_graph(*self.outputs, max_nodes=MAX_NODES, **self.options)
            if m.summary is None and len(m.nodes) > MAX_NODES:
                return to_text(truncate(m, MAX_NODES), self.overlay)
            return self.text()

        def __repr__(self):
            m = self.model
            summary = "; summarised" if m.summary is not None else ""
            return (f"<autograd graph: {_count(m.op_count(), 'op')}, "
                    f"{_count(m.tensor_count(), 'tensor')}{summary}; "
                    ".source is its DOT text, .text() a text listing>")

    _VIEW_CLASS = GraphView
    return GraphView


_MORE_HINT = ("draw(..., max_nodes=300) draws a summary in a second; viz.render(viz.to_dot(..., "
              "max_nodes=None), \"graph\") saves the whole graph to a file, with no time limit.")


def _text_bundle(text, hint):
    return {"text/plain": text + "\n\n" + hint,
            "text/html": f'<pre style="line-height:1.3">{esc(text)}</pre>'
                         f'<p style="color:#92400e">{esc(hint)}</p>'}


def build_digraph(model, overlay=None, rankdir="LR", show_values=True):
    """A ``GraphView`` (``graphviz.Digraph``) of ``model``, with an explorer's ``overlay``."""
    ov = overlay or Overlay()
    g = _view_class()(name="autograd",
                      graph_attr=dict(rankdir=rankdir, nodesep="0.25", ranksep="0.4",
                                      fontname=FONT, bgcolor="white", pad="0.15"),
                      node_attr=dict(fontname=FONT, fontsize="10", margin="0.1,0.05"),
                      edge_attr=dict(color=MUTED, arrowsize="0.7", fontname=FONT, fontsize="9"))
    g.model, g.overlay = model, overlay
    visible = ov.visible
    placed = set()

    def add(target, nid):
        vn = model.nodes[nid]
        if visible is not None and nid not in visible:
            return
        attrs = dict(STYLE[vn.kind])
        classes = [f"agk-node agk-{vn.kind}"]
        if vn.kind == "op":
            label = op_label(vn, ov.extra.get(nid, ()), show_values)
            if nid in ov.ran:
                attrs["fillcolor"] = "#f0fdf4"
                classes.append("agk-done")
        elif vn.kind == "saved":
            label = saved_label(vn)
        elif vn.kind in ("fold", "more"):
            label = fold_label(vn)
        else:
            label = tensor_label(vn, ov.grads.get(nid), show_values, ov.show_grads)
            if ov.extra.get(nid):
                label = label[:-1] + "".join(
                    f'<br/><font point-size="9" color="{GRAD_COLOR}">{esc(x)}</font>'
                    for x in ov.extra[nid]) + ">"
        if nid == ov.current:
            attrs.update(HIGHLIGHT)
            classes.append("agk-current")
        attrs["class"] = " ".join(classes)
        attrs["tooltip"] = model.name_of(nid)
        target.node(nid, label=label, **attrs)
        placed.add(nid)

    def add_cluster(target, cl):
        with target.subgraph(name=f"cluster_{cl.path.replace('.', '_') or 'root'}") as sub:
            sub.attr(label=cl.label, style="rounded,dashed", color="#94a3b8", fontcolor="#475569",
                     fontsize="10", labeljust="l")
            for nid in cl.members:
                add(sub, nid)
            for child in cl.children:
                add_cluster(sub, child)

    for cl in model.clusters:
        add_cluster(g, cl)
    for nid in model.nodes:
        if nid not in placed and model.nodes[nid].group is None:
            add(g, nid)
    for e in model.edges:
        if e.src not in placed or e.dst not in placed:
            continue
        attrs = {}
        if e.kind == "saved":
            attrs = dict(style="dotted", arrowhead="none", color="#ca8a04")
        label = ov.edge_labels.get((e.src, e.dst)) or e.label
        if label:
            attrs.update(label=label, fontcolor=GRAD_COLOR)
        dst = model.nodes[e.dst]
        if ov.slot_labels and e.kind == "data" and dst.kind == "op" and len(dst.inputs) > 1:
            attrs.update(headlabel=dst.slot(e.index), labelfontsize="8",
                         labelfontcolor=MUTED, labeldistance="1.4")
        if (e.src, e.dst) in ov.hot_edges:
            attrs.update(color="#dc2626", penwidth="2.2")
        g.edge(e.src, e.dst, **attrs)
    if ov.caption:
        g.attr(label=ov.caption, labelloc="t", labeljust="l", fontsize="11")
    elif model.caption:
        g.attr(label=caption_label(model.caption), labelloc="t", labeljust="l", fontsize="11")
    return g


def draw(*outputs, names=None, module=None, group=None, show_saved=False, show_constants=True,
         rankdir="LR", show_values=True, tangents=None, max_nodes=MAX_NODES, memory=False):
    """Draw the graph that produced ``outputs`` (tensors): a ``graphviz.Digraph`` (shown as SVG).

    * ``names``: ``{"x": x, "w": w}`` names tensors (leaves, constants, intermediates, outputs);
      ``names=locals()`` works too. Unnamed leaves get stable automatic names (``leaf0`` …).
    * ``module``: an ``nn.Module``; its ``named_parameters()`` name the parameters.
    * ``group="cluster"`` boxes each sub-module's nodes; ``group="collapse"`` draws each child
      module as a single node (keeps a larger network readable).
    * ``show_saved=True`` adds what each op saved for backward; ``show_constants=False`` hides
      inputs that need no gradient; ``rankdir="TB"`` draws top to bottom instead of left to right.

    * ``tangents``: a forward-mode drawing — per tensor its value and its tangent (ẋ), per op its
      ``jvp_formula``, from what ``viz.trace_forward()`` recorded while the dual computation ran.
      ``None`` (the default) draws it when such a trace recorded ``outputs``, ``True`` insists
      (an error says how to record one), ``False`` draws the reverse-mode graph; a
      ``ForwardTrace`` says which recording to draw.

    * ``max_nodes`` (default 300): above that many boxes, draw a summary — the part nearest the
      output(s) and the leaves, each repeated pattern folded into one box (``mul → add ×
      20,000``), and a caption with the whole graph's counts. ``max_nodes=None`` draws it all.
    * ``memory=True`` writes on each op the bytes it saves for backward (``saves 3.1 KB``) and,
      above the graph, their total (each array counted once, however many ops share it).

    Without Graphviz's ``dot`` program the result shows as a text listing (with how to install
    Graphviz); ``.source`` is the DOT text either way. In a notebook Graphviz gets
    ``LAYOUT_TIMEOUT`` seconds (10) to lay the graph out; past that the text summary is shown.
    """
    model = _forward_model(outputs, names, tangents)
    if model is not None:
        g = build_digraph(truncate(model, max_nodes), rankdir=rankdir, show_values=show_values)
        return g
    model = make_model(outputs, names=names, module=module, group=group,
                       show_constants=show_constants, show_saved=show_saved, memory=memory,
                       max_nodes=max_nodes)
    g = build_digraph(model, rankdir=rankdir, show_values=show_values)
    g.outputs = outputs
    g.options = dict(names=names, module=module, show_constants=show_constants,
                     show_saved=show_saved, memory=memory)
    return g


def _forward_model(outputs, names, tangents):
    """The forward-mode model for ``draw(..., tangents=...)``, or ``None`` for the usual one."""
    if tangents is False:
        return None
    from .forward import ForwardTrace, find_trace
    trace = tangents if isinstance(tangents, ForwardTrace) else find_trace(
        outputs, required=tangents is True)
    if trace is None:
        return None
    return trace.model(*outputs, names=names)


def to_dot(*outputs, names=None, module=None, rankdir="LR", **options):
    """The DOT text of ``draw(*outputs, ...)`` (identical on every run of the same code)."""
    return draw(*outputs, names=names, module=module, rankdir=rankdir, **options).source


# ---- text ----------------------------------------------------------------------------------
def _ref(model, nid):
    if nid is None:
        return "·"
    vn = model.nodes[nid]
    if vn.kind == "op":
        return vn.output_name or nid
    if vn.kind in ("fold", "more"):
        return nid
    return vn.title


def to_text(model, overlay=None):
    """The graph as a listing, inputs first and the output last, one line per node."""
    ov = overlay or Overlay()
    visible = ov.visible
    ids = [i for i in model.order if visible is None or i in visible]
    ids = [i for i in ids if model.nodes[i].kind != "saved"]
    if not ids:
        return "autograd graph: (empty)"
    w = max(len(_ref(model, i)) for i in ids) + 1
    if model.tangents:
        lines = [f"forward-mode graph: {_count(model.op_count(), 'op')}, "
                 f"{_count(model.tensor_count(), 'tensor')} "
                 "(inputs first, the output last; each value with its tangent)"]
    elif model.summary is not None:
        lines = [f"autograd graph: {_count(model.op_count(), 'op')}, "
                 f"{_count(model.tensor_count(), 'tensor')} — a summary "
                 "(inputs first, the output last)"]
    else:
        lines = [f"autograd graph: {_count(model.op_count(), 'op')}, "
                 f"{_count(model.tensor_count(), 'tensor')} "
                 "(inputs first, the output last)"]
    if ov.caption:
        lines.append(ov.caption)
    elif model.caption:
        lines += model.caption.splitlines()
    saved_for = {e.dst: model.nodes[e.src] for e in model.edges if e.kind == "saved"}
    for nid in ids:
        vn = model.nodes[nid]
        mark = "▶ " if nid == ov.current else "  "
        name = _ref(model, nid).ljust(w)
        if vn.kind == "op":
            args = ", ".join(_ref(model, model.owner.get(src, src)) for _, src in vn.inputs)
            text = f"{name}= {vn.op}({args})".ljust(w + 26)
            if vn.show_tangent:
                text += f"  {vn.title}: {vn.jvp_rule}" if vn.jvp_formula else f"  {vn.title}"
                text += f"   value {values(vn.value, 3)}   {tangent_text(vn, _values3)}"
            else:
                text += f"  {vn.title}: {vn.rule}" if vn.formula else f"  {vn.title}"
            if nid in ov.ran:
                text += "  [ran]"
            for extra in ov.extra.get(nid, ()):
                text += f"  {extra}"
            if nid in saved_for:
                text += "  saved: " + "; ".join(saved_for[nid].lines)
            if vn.saved_bytes is not None:
                text += f"  saves {nbytes(vn.saved_bytes)}"
        elif vn.kind in ("fold", "more"):
            ins = _inputs_of(model, nid)
            text = f"{name}= {vn.title}"
            text += f"  {vn.lines[0]}" if vn.kind == "fold" else ""
            text += f"   ← {', '.join(ins)}" if ins else ""
            text += "   (" + "; ".join(vn.lines[1:] if vn.kind == "fold" else vn.lines) + ")"
            if vn.saved_bytes is not None:
                text += f"  saves {nbytes(vn.saved_bytes)} in all"
        elif vn.kind == "module":
            ins = [_ref(model, e.src) for e in model.edges if e.dst == nid and e.kind == "data"]
            text = f"{name}  module    {vn.note} ← {', '.join(ins)};  " + "; ".join(vn.lines)
        else:
            word = KIND_WORD.get(vn.kind, vn.kind)
            text = f"{name}  {word:<9} {_shape_dtype(vn):<16}"
            if vn.value is not None:
                text += f" value {values(vn.value, 3)}"
            elif vn.note:
                text += f" ({vn.note})"
            if vn.show_tangent:
                text += f"   {tangent_text(vn, _values3)}"
            elif ov.show_grads and vn.kind in ("param", "leaf", "output"):
                state, grad = ov.grads.get(nid, (vn.grad_state, vn.grad))
                text += {"value": f"   grad {values(grad, 3) if grad is not None else ''}",
                         "not-kept": "   grad not kept (not a leaf)",
                         "none": "   grad: not computed yet"}[state]
            for extra in ov.extra.get(nid, ()):
                text += f"  {extra}"
        lines.append((mark + text).rstrip())
    return "\n".join(lines)


def _values3(a):
    return values(a, 3)


def _inputs_of(model, nid):
    return [_ref(model, e.src) + (f" {e.label}" if e.label else "")
            for e in model.edges if e.dst == nid and e.kind == "data"]


def text_graph(*outputs, max_nodes=MAX_NODES, **options):
    """``draw(...)``'s graph as a text listing (needs no Graphviz); ``tangents=``, ``max_nodes=``
    and ``memory=`` as in ``draw`` (a large graph is summarised the same way)."""
    model = _forward_model(outputs, options.get("names"), options.get("tangents"))
    if model is not None:
        return to_text(truncate(model, max_nodes))
    model = make_model(outputs, max_nodes=max_nodes,
                       **{k: v for k, v in options.items()
                          if k in ("names", "module", "group", "show_constants", "show_saved",
                                   "memory")})
    return to_text(model)


# ---- files -----------------------------------------------------------------------------------
def svg(view_or_dot):
    """SVG text of a ``GraphView`` or of DOT text (needs Graphviz's ``dot``; raises
    ``LayoutTimeout`` after ``LAYOUT_TIMEOUT`` seconds)."""
    src = view_or_dot.source if hasattr(view_or_dot, "source") else str(view_or_dot)
    if not graphviz_available():
        raise RuntimeError(INSTALL_HINT)
    return run_dot(src, "svg").decode("utf-8")


def render(dot_text, path_without_suffix, fmt="svg"):
    """Write ``path.svg`` (or ``fmt``) with Graphviz's ``dot`` when installed, else ``path.dot``.

    Returns the path written and, when Graphviz is missing, a hint on how to install it."""
    from pathlib import Path
    base = Path(path_without_suffix)
    if graphviz_available():
        import graphviz
        try:
            out = graphviz.Source(dot_text).render(outfile=str(base.with_suffix("." + fmt)),
                                                   format=fmt, cleanup=True)
        except graphviz.ExecutableNotFound:
            pass
        else:
            leftover = base.with_suffix("")
            if leftover.exists() and leftover.is_file() and leftover != Path(out):
                leftover.unlink()
            return Path(out), None
    path = base.with_suffix(".dot")
    path.write_text(dot_text)
    return path, ("Graphviz's `dot` was not found, so the graph was written as DOT text. Install "
                  "Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install "
                  "graphviz`) to get an SVG.")


__all__ = ["draw", "to_dot", "to_text", "text_graph", "render", "svg", "graphviz_available",
           "build_digraph", "Overlay", "INSTALL_HINT", "LAYOUT_TIMEOUT", "LayoutTimeout",
           "MAX_NODES", "run_dot"]
