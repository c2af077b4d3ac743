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

from ._format import esc, shape as fmt_shape, short, values
from .graph import GraphModel
from .overlay import Overlay

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
}
KIND_WORD = {"dual": "dual input", "param": "parameter", "leaf": "leaf", "const": "constant",
             "number": "number",
             "output": "output", "module": "module"}
GRAD_COLOR = "#b91c1c"
TANGENT_COLOR = "#7e22ce"
MUTED = "#64748b"
HIGHLIGHT = dict(penwidth="3", color="#dc2626", fillcolor="#fef08a")

INSTALL_HINT = ("Graphviz's `dot` program was not found, so the graph is shown as text. To see "
                "it drawn, install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), `conda install -c conda-forge graphviz`, or see "
                "https://graphviz.org/download/ — then re-run the cell.")


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def graphviz_available():
    """True when Graphviz's ``dot`` program is on ``PATH`` (needed for SVG/PNG)."""
    return shutil.which("dot") is not None




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
    for line in extra:
        rows.append(f'<font point-size="9" color="{GRAD_COLOR}">{esc(line)}</font>')
    return "<" + "<br/>".join(rows) + ">"


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

        def text(self):
            """The graph as a text listing (what is shown when Graphviz is missing)."""
            return to_text(self.model, self.overlay)

        def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
            text = self.text()
            if graphviz_available():
                try:
                    bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
                    bundle["text/plain"] = text
                    return bundle
                except graphviz.ExecutableNotFound:
                    pass
                except graphviz.CalledProcessError as exc:
                    return _text_bundle(text, f"Graphviz failed to draw the graph: {exc}")
            return _text_bundle(text, INSTALL_HINT)

        def __repr__(self):
            m = self.model
            return (f"<autograd graph: {_count(m.op_count(), 'op')}, "
                    f"{_count(m.tensor_count(), 'tensor')}; "
                    ".source is its DOT text, .text() a text listing>")

    _VIEW_CLASS = GraphView
    return GraphView


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
        label = ov.edge_labels.get((e.src, e.dst))
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
    return g


def draw(*outputs, names=None, module=None, group=None, show_saved=False, show_constants=True,
         rankdir="LR", show_values=True, tangents=None):
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

    Without Graphviz's ``dot`` program the result shows as a text listing (with how to install
    Graphviz); ``.source`` is the DOT text either way.
    """
    model = _forward_model(outputs, names, tangents)
    if model is not None:
        return build_digraph(model, rankdir=rankdir, show_values=show_values)
    model = GraphModel(*outputs, names=names, module=module, group=group,
                       show_constants=show_constants, show_saved=show_saved)
    return build_digraph(model, rankdir=rankdir, show_values=show_values)


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
    else:
        lines = [f"autograd graph: {_count(model.op_count(), 'op')}, "
                 f"{_count(model.tensor_count(), 'tensor')} "
                 "(inputs first, the output last)"]
    if ov.caption:
        lines.append(ov.caption)
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


def text_graph(*outputs, **options):
    """``draw(...)``'s graph as a text listing (needs no Graphviz); ``tangents=`` as in ``draw``."""
    model = _forward_model(outputs, options.get("names"), options.get("tangents"))
    if model is not None:
        return to_text(model)
    model = GraphModel(*outputs, **{k: v for k, v in options.items()
                                    if k in ("names", "module", "group", "show_constants",
                                             "show_saved")})
    return to_text(model)


# ---- files -----------------------------------------------------------------------------------
def svg(view_or_dot):
    """SVG text of a ``GraphView`` or of DOT text (needs Graphviz's ``dot``)."""
    import graphviz
    src = view_or_dot.source if hasattr(view_or_dot, "source") else str(view_or_dot)
    if not graphviz_available():
        raise RuntimeError(INSTALL_HINT)
    return graphviz.Source(src).pipe(format="svg", encoding="utf-8")


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
           "build_digraph", "Overlay", "INSTALL_HINT"]
