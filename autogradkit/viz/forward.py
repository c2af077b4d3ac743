"""Seeing forward mode: what each op did to the tangents while a dual computation ran.

``trace_forward()`` records, for every op that runs inside a dual level, its inputs' primals and
tangents and the output's primal and tangent — the very tangent the op's own ``jvp`` gave
(``Op._push_tangents``): nothing here works a tangent out. Forward mode records no graph, so this
recording is what the drawing and the explorer are made from::

    with viz.trace_forward() as tr, forward_ad.dual_level():
        x = forward_ad.make_dual(x0, v)
        y = (x * w).sin()
    viz.draw(y, names={"x": x, "y": y})     # values and tangents per node, jvp rules per op
    viz.text_graph(y, names=...)            # the same as text
    viz.JVPExplorer(tr, names=...)          # step through the tangent pass op by op

``ForwardTrace.model(...)`` is a ``GraphModel`` (so ``dot.py`` draws it), ``JVPSteps`` its frames
for the explorer (no widgets here). Custom ``autograd.Function``s run their own ``jvp`` outside
``Op.apply`` and are not recorded: their outputs show as dual inputs.
"""
from __future__ import annotations

import inspect
import unicodedata
import weakref
from dataclasses import dataclass, field

from ._format import shape as fmt_shape, to_numpy, values
from .overlay import Overlay
from .graph import GraphModel, VEdge, VNode, _module_names, _number, op_name, slot

__all__ = ["trace_forward", "ForwardTrace", "OpRecord", "JVPSteps", "JVPFrame", "tangent_name",
           "find_trace"]

_TRACES = []            # weak references to the traces made, newest last (for draw(y))
_ACTIVE = []            # the traces recording now, innermost last


@dataclass
class OpRecord:
    """One op as it ran inside a dual level: inputs (tensors or numbers), their primals and
    tangents at that moment, and the output's primal and tangent (``None``: no tangent, ẋ = 0)."""
    node: object                    # the op instance (its class has formula and jvp_formula)
    inputs: tuple                   # the op's inputs as passed (tensors, numbers)
    in_names: list                  # the names of its forward's parameters (a, b / x …)
    in_primals: list
    in_tangents: list
    out: object                     # the output tensor
    primal: object
    tangent: object

    @property
    def title(self):
        return self.node.name()

    @property
    def op(self):
        return op_name(self.node)


def _input_names(node, n):
    cls = type(node)
    try:
        static = isinstance(inspect.getattr_static(cls, "forward"), staticmethod)
        params = list(inspect.signature(cls.forward).parameters.values())[0 if static else 1:]
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return names[:n] if len(names) >= n else [f"input {i}" for i in range(n)]


class ForwardTrace:
    """The ops recorded by ``trace_forward()`` (``.records``, in the order they ran)."""

    def __init__(self):
        self.records = []

    def __len__(self):
        return len(self.records)

    def _record(self, node, inputs, out, result):
        from ..tensor_base import TensorBase
        is_t = [isinstance(x, TensorBase) for x in inputs]
        self.records.append(OpRecord(
            node=node, inputs=tuple(inputs), in_names=_input_names(node, len(inputs)),
            in_primals=[to_numpy(x) if t else x for x, t in zip(inputs, is_t)],
            in_tangents=[to_numpy(x._tangent) if t and x._tangent is not None else None
                         for x, t in zip(inputs, is_t)],
            out=result, primal=to_numpy(out),
            tangent=to_numpy(result._tangent) if result._tangent is not None else None))

    def producer(self, tensor):
        """The record whose output is ``tensor`` (the last one), or ``None``."""
        for rec in reversed(self.records):
            if rec.out is tensor:
                return rec
        return None

    def model(self, *outputs, names=None):
        """A ``GraphModel`` of the recorded ops that made ``outputs`` (default: the last op's
        output), with values and tangents: ``dot.build_digraph`` / ``to_text`` draw it."""
        return _build_model(self, outputs, names)

    def __repr__(self):
        return f"<ForwardTrace: {len(self.records)} op{'' if len(self.records) == 1 else 's'}>"


class trace_forward:
    """``with viz.trace_forward() as tr:`` records every op run inside a dual level (entered
    inside or outside this block) with its primals and tangents, for ``draw`` and
    ``JVPExplorer``. It wraps ``Op._push_tangents`` for the block: each op still runs its own
    ``jvp``; the wrapper only copies what went in and what came out."""

    def __init__(self):
        self.trace = ForwardTrace()

    def __enter__(self):
        from ..autograd.node import Op
        if not _ACTIVE:
            original = Op.__dict__["_push_tangents"]

            def _push_tangents(node, inputs, out, result):
                original(node, inputs, out, result)
                for tr in _ACTIVE:
                    tr._record(node, inputs, out, result)

            _push_tangents.original = original
            Op._push_tangents = _push_tangents
        _ACTIVE.append(self.trace)
        _TRACES[:] = [r for r in _TRACES if r() is not None] + [weakref.ref(self.trace)]
        return self.trace

    def __exit__(self, *exc):
        from ..autograd.node import Op
        _ACTIVE.remove(self.trace)
        if not _ACTIVE:
            Op._push_tangents = Op.__dict__["_push_tangents"].original
        return False


def find_trace(outputs, required=False):
    """The newest trace that recorded the op making ``outputs[0]`` (``None`` if none did)."""
    for ref in reversed(_TRACES):
        tr = ref()
        if tr is not None and outputs and tr.producer(outputs[0]) is not None:
            return tr
    if required:
        raise ValueError(
            "draw(..., tangents=True): no forward-mode recording made this tensor. Forward mode "
            "records no graph, so run the dual computation inside `with viz.trace_forward() as "
            "tr:` (around or inside `forward_ad.dual_level()`), then draw(y, tangents=True) or "
            "draw(y, tangents=tr).")
    return None


def tangent_name(name):
    """ẋ for a one-letter name, ``tangent of name`` otherwise."""
    if len(name) == 1:
        return unicodedata.normalize("NFC", name + "\u0307")
    return f"tangent of {name}"


def _build_model(trace, outputs, names):
    from ..tensor_base import TensorBase
    if not trace.records:
        raise ValueError("this forward trace is empty: no op ran inside a dual level while it "
                         "recorded (make_dual alone runs no op)")
    outputs = outputs or (trace.records[-1].out,)
    named = _module_names(names, None)
    producers = {}
    for k, rec in enumerate(trace.records):
        producers[id(rec.out)] = k          # the trace keeps every output alive: ids are stable
    needed, stack = set(), []
    for t in outputs:
        if not isinstance(t, TensorBase) or id(t) not in producers:
            raise ValueError("draw: this tensor was not made by an op of the forward trace; draw "
                             "a tensor computed inside the trace_forward() block")
        stack.append(producers[id(t)])
    while stack:
        k = stack.pop()
        if k in needed:
            continue
        needed.add(k)
        for x in trace.records[k].inputs:
            if isinstance(x, TensorBase) and id(x) in producers and producers[id(x)] < k:
                stack.append(producers[id(x)])
    m = GraphModel.__new__(GraphModel)
    m.tangents = True
    m.module, m.group = None, None
    m.nodes, m.edges, m.by_engine, m.outputs, m.clusters = {}, [], {}, [], []
    m.records = {}                          # op id -> its OpRecord
    ops = [k for k in range(len(trace.records)) if k in needed]
    op_id = {k: f"n{i}" for i, k in enumerate(ops)}
    sources, counters = {}, {"dual": 0, "const": 0, "number": 0}
    for k in ops:
        rec = trace.records[k]
        nid = op_id[k]
        vn = VNode(nid, "op", rec.title, engine=rec.node, op=rec.op,
                   formula=getattr(rec.node, "formula", "") or "",
                   jvp_formula=getattr(rec.node, "jvp_formula", "") or "",
                   shape=tuple(rec.primal.shape), dtype=rec.primal.dtype.name,
                   value=rec.primal, tangent=rec.tangent, show_tangent=True,
                   output_name=named.get(id(rec.out), ("",))[0])
        m.nodes[nid] = vn
        m.records[nid] = rec
        m.by_engine[rec.node] = nid
        for i, x in enumerate(rec.inputs):
            name = rec.in_names[i]
            if isinstance(x, TensorBase) and id(x) in producers and producers[id(x)] < k:
                vn.inputs.append((name, op_id[producers[id(x)]]))
                continue
            if isinstance(x, TensorBase):
                sid = sources.get(id(x))
                if sid is None:
                    kind = "dual" if rec.in_tangents[i] is not None else "const"
                    prefix = "d" if kind == "dual" else "c"
                    sid = sources[id(x)] = f"{prefix}{counters[kind]}"
                    title = named.get(id(x), (None,))[0] or (
                        f"dual{counters[kind]}" if kind == "dual" else f"const{counters[kind]}")
                    counters[kind] += 1
                    p = rec.in_primals[i]
                    m.nodes[sid] = VNode(sid, kind, title, shape=tuple(p.shape),
                                         dtype=p.dtype.name, value=p,
                                         tangent=rec.in_tangents[i], show_tangent=True,
                                         note="" if kind == "dual" else "no tangent: ẋ = 0")
            elif x is None:
                vn.inputs.append((name, None))
                continue
            else:
                sid = f"k{counters['number']}"
                counters["number"] += 1
                m.nodes[sid] = VNode(sid, "number", _number(x), shape=(),
                                     note="a Python number")
            vn.inputs.append((name, sid))
    for nid, vn in m.nodes.items():
        if vn.kind == "op":
            for i, (_, src) in enumerate(vn.inputs):
                if src is not None:
                    m.edges.append(VEdge(src, nid, i))
    for j, t in enumerate(outputs):
        oid = f"o{j}"
        rec = trace.records[producers[id(t)]]
        default = "output" if len(outputs) == 1 else f"output {j}"
        m.nodes[oid] = VNode(oid, "output", named.get(id(t), (None,))[0] or default,
                             shape=tuple(rec.primal.shape), dtype=rec.primal.dtype.name,
                             value=rec.primal, tangent=rec.tangent, show_tangent=True,
                             note=f"made by {rec.title}")
        m.outputs.append(oid)
        m.edges.append(VEdge(op_id[producers[id(t)]], oid, 0))
    m.owner = {i: i for i in m.nodes}
    m.all_nodes = m.nodes
    m.order = m._forward_order()
    return m


# ---- the explorer's frames ---------------------------------------------------------------------
@dataclass
class JVPFrame:
    """One moment of the tangent pass: before any op (``index`` 0), or just after op ``index``."""
    index: int
    node: str | None                # the op (or output) to highlight
    title: str = ""
    lines: list = field(default_factory=list)
    record: object = None           # the OpRecord of this step (None at the start)
    inputs: list = field(default_factory=list)  # [(slot, name, primal, tangent)] of the op
    primal: object = None           # the output's primal and tangent (as the op's jvp gave it)
    tangent: object = None
    steps: object = field(default=None, repr=False)    # the JVPSteps it belongs to

    @property
    def known(self):
        """id -> (primal, tangent) of every value known at this moment (made when read)."""
        return self.steps.known(self.index) if self.steps is not None else {}

    @property
    def text(self):
        return "\n".join([self.title] + self.lines)


def _tangent_values(t, sl=""):
    """A tangent's values, or ``none (②ḃ = 0)``: an input without a tangent counts as zero."""
    if t is not None:
        return values(t)
    name = sl[1:] if sl[:1] and not sl.startswith("(") else ""
    return f"none ({sl[:1]}{tangent_name(name)} = 0)" if len(name) == 1 else "none (zero)"


class JVPSteps:
    """The frames of one recorded tangent pass over ``model`` (a forward-mode ``GraphModel``)."""

    def __init__(self, model):
        self.model = model
        self.ops = [n for n in model.order if model.nodes[n].kind == "op"]
        sources = [n for n in model.order if model.nodes[n].kind in ("dual", "const", "number")]
        known = {s: (model.nodes[s].value, model.nodes[s].tangent) for s in sources}
        duals = [model.nodes[s] for s in sources if model.nodes[s].kind == "dual"]
        lines = [f"{d.title} = {values(d.value)} carries the tangent "
                 f"{tangent_name(d.title)} = {values(d.tangent)} (make_dual)" for d in duals]
        lines.append(f"then each op runs once, inputs first: {len(self.ops)} "
                     f"step{'' if len(self.ops) == 1 else 's'}; the op's jvp rule turns its inputs'"
                     " tangents into its output's: ẏ = J ẋ, alongside the value")
        lines.append("①a, ②b …: an op's 1st, 2nd … input slot, named as in its rule; ȧ is "
                     "the tangent in slot a (an input without a tangent counts as 0)")
        self._known = dict(known)
        frames = [JVPFrame(0, None, f"Start · {len(self.ops)} forward step"
                           f"{'' if len(self.ops) == 1 else 's'} with tangents", lines,
                           steps=self)]
        for k, nid in enumerate(self.ops, start=1):
            vn = model.nodes[nid]
            rec = model.records[nid]
            out = self._name(nid)
            title = f"Step {k} of {len(self.ops)} · {vn.title}"
            title += f" → {vn.output_name}  ({vn.op})" if vn.output_name else f"  ({vn.op})"
            ins, lines = [], []
            for i, (name, src) in enumerate(vn.inputs):
                sl = vn.slot(i)
                who = self._name(src) if src is not None else "·"
                p, t = rec.in_primals[i], rec.in_tangents[i]
                ins.append((sl, who, p, t))
                if src is not None and model.nodes[src].kind == "number":
                    lines.append(f"input {sl} ← {who}: a number, no tangent")
                    continue
                lines.append(f"input {sl} ← {who}: value {values(p)}, tangent "
                             f"{_tangent_values(t, sl)}")
            if vn.jvp_formula:
                lines.append(f"jvp rule: {vn.jvp_rule}")
            shp = "" if rec.primal.ndim == 0 else f"   shape {fmt_shape(rec.primal.shape)}"
            lines.append(f"output {out} = {values(rec.primal)}{shp}")
            dotted = tangent_name(out) if len(out) == 1 else ""
            also = f" = {dotted}" if dotted and dotted != "ẏ" else ""
            lines.append(f"its tangent ẏ{also} = {_tangent_values(rec.tangent)}")
            frames.append(JVPFrame(k, nid, title, lines, rec, ins, rec.primal, rec.tangent,
                                   steps=self))
        self.frames = frames

    def known(self, k):
        """id -> (primal, tangent) of the inputs and of the first ``k`` ops' outputs."""
        known = dict(self._known)
        for nid in self.ops[:k]:
            rec = self.model.records[nid]
            known[nid] = (rec.primal, rec.tangent)
        return known

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, k):
        return self.frames[k]

    def _name(self, nid):
        vn = self.model.nodes[nid]
        if vn.kind == "op":
            return vn.output_name or nid            # as the text listing names it
        return vn.title

    def visible(self, k):
        """Ids drawn after ``k`` steps: the inputs, the ops that ran, the output at the end."""
        m = self.model
        shown = {n for n, vn in m.nodes.items() if vn.kind in ("dual", "const", "number")}
        shown.update(self.ops[:k])
        if k == len(self.ops):
            shown.update(m.outputs)
        return shown

    def overlay(self, k):
        f = self.frames[k]
        ov = Overlay(current=f.node, visible=self.visible(k), show_grads=False)
        ov.ran = set(self.ops[:max(k - 1, 0)])
        if f.node is not None:
            ov.hot_edges = {(src, f.node) for _, src in self.model.nodes[f.node].inputs
                            if src is not None}
        return ov
