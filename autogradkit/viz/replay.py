"""Replaying a recorded backward pass (and the forward graph) one step at a time.

``BackwardReplay(model, trace)`` turns the events of ``autograd.trace_backward()`` into frames:
frame 0 is the moment before backward starts, frame k the moment after event k. Each frame holds
what a learner sees (the node to highlight, the gradients known so far, the explanation), and
every number in it is a value the engine recorded — nothing here works a gradient out. The one
derived number is the *local derivative* shown for small elementwise ops, which is the recorded
downstream gradient divided by the recorded upstream one (only where the upstream is nonzero).

``ForwardSteps(model)`` lists the ops in the order the forward pass recorded them, for the forward
explorer that builds the graph one op at a time. Neither needs ipywidgets or Graphviz.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._format import shape as fmt_shape, to_numpy, values
from .dot import Overlay


@dataclass
class Frame:
    index: int
    kind: str                       # "start", "step", "sum" or "accumulate"
    node: str | None                # the id to highlight (as drawn)
    event: object = None            # the trace event (None for the start)
    title: str = ""
    lines: list = field(default_factory=list)     # the explanation, one string per line
    received: dict = field(default_factory=dict)  # op id -> the ḡ it ran with
    sent: dict = field(default_factory=dict)      # (input id, op id, input index) -> gradient
    totals: dict = field(default_factory=dict)    # id -> the sum of the gradients it has so far
    leaf_grads: dict = field(default_factory=dict)  # leaf id -> .grad (None: not computed yet)
    ran: frozenset = frozenset()
    hot: tuple = ()                 # (src, dst) edges the gradient moves along in this frame

    @property
    def text(self):
        return "\n".join([self.title] + self.lines)


def bar(name):
    """ā for a one-letter name, ∂L/∂name otherwise."""
    return name + "\u0304" if len(name) == 1 else f"∂L/∂{name}"


def slot_bar(sl):
    """The gradient an op sends back through slot ``sl``: ``①ā`` for a one-letter slot name,
    ``∂L/∂③wt`` otherwise (``①`` alone for an unnamed slot: ``∂L/∂①``)."""
    mark, name = sl[:1], sl[1:]
    if sl.startswith("("):                      # slots past ⑳: "(21)a"
        mark, name = sl[: sl.index(")") + 1], sl[sl.index(")") + 1:]
    return f"{mark}{name}\u0304" if len(name) == 1 else f"∂L/∂{sl}"


def broadcast_axes(in_shape, out_shape):
    """Axes of ``out_shape`` an operand of ``in_shape`` was broadcast along (or ``None`` when
    ``in_shape`` does not broadcast to ``out_shape``): (new leading axes, stretched size-1 axes)."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    lead = len(out_shape) - len(in_shape)
    if lead < 0:
        return None
    stretched = []
    for k, d in enumerate(in_shape):
        o = out_shape[lead + k]
        if d == o:
            continue
        if d == 1:
            stretched.append(lead + k)
        else:
            return None
    return list(range(lead)), stretched


def _is_elementwise(node):
    return type(node).__module__.endswith("ops.elementwise")


def _broadcasts(node, i):
    """Does input ``i`` of ``node`` follow broadcasting rules (so a shape change means a sum)?"""
    if _is_elementwise(node):
        return True
    cls = type(node).__name__
    return (cls == "Addmm" and i == 0) or cls == "Expand"      # addmm: the bias


def _axes_text(axes):
    return ("axis " if len(axes) == 1 else "axes ") + ", ".join(str(a) for a in axes)


class BackwardReplay:
    """The frames of one recorded backward pass over the graph ``model`` (a ``GraphModel``).

    ``replay.frames[k]`` (or ``replay[k]``) is made when asked for, from what each event changed:
    a 4,000-step backward is replayed in milliseconds, and a frame costs the same at any step."""

    def __init__(self, model, trace):
        self.model = model
        self.trace = trace
        nodes = model.all_nodes
        self._root_ids = {e.src for e in model.edges if e.dst in model.outputs}
        events = list(trace.events)
        unknown = [e.node.name() for e in events if e.node not in model.by_engine]
        if unknown:
            raise ValueError(
                f"this trace does not belong to this graph: it ran {unknown[0]}, which is not in "
                "the graph of the given output. Trace the backward of the same output you draw.")
        steps = [e for e in events if type(e).__name__ == "Step"]
        self._steps = steps
        self.steps_total = len(steps)
        # leaves start with the .grad they had before this backward (from the trace itself)
        leaf_grads = {}
        for nid, vn in nodes.items():
            if vn.kind in ("leaf", "param"):
                leaf_grads[nid] = vn.grad if vn.grad_state == "value" else None
        for e in reversed(events):
            if type(e).__name__ == "Accumulate":
                leaf_grads[model.by_engine[e.node]] = to_numpy(e.before)
        self._leaf_start = leaf_grads
        contributions = {}
        deltas = []                         # per event: what it changed (arrays copied once)
        step_no = 0
        last_step = None
        for ev in events:
            kind = type(ev).__name__
            nid = model.by_engine[ev.node]
            if kind == "Step":
                step_no += 1
                last_step = nid
                op = nodes[nid]
                sent = []
                for i, ((_, src), g) in enumerate(zip(op.inputs, ev.grad_inputs)):
                    if src is None or g is None or not nodes[src].engine:
                        continue
                    arr = to_numpy(g)
                    sent.append(((src, nid, i), arr))
                    contributions.setdefault(src, []).append((nid, i, arr))
                deltas.append((kind, nid, ev, to_numpy(ev.grad_output), sent, step_no, 0))
            elif kind == "Sum":
                n = len(contributions.get(nid, ()))
                deltas.append((kind, nid, ev, to_numpy(ev.after), last_step, step_no, n))
            else:   # Accumulate
                n = len(contributions.get(nid, ()))
                deltas.append((kind, nid, ev, to_numpy(ev.after), None, step_no, n))
        self._deltas = deltas
        self._contributions = contributions
        self._cache = {}
        self.frames = _Frames(self)

    def __len__(self):
        return len(self._deltas) + 1

    def __getitem__(self, k):
        return self.frames[k]

    def _frame(self, k):
        """Frame ``k``, made from the first ``k`` events (kept for the few last asked for)."""
        f = self._cache.get(k)
        if f is not None:
            return f
        model = self.model
        received, sent, totals, leaf_grads, ran = {}, {}, {}, dict(self._leaf_start), set()
        for kind, nid, _, arr, extra, _, _ in self._deltas[:k]:
            if kind == "Step":
                received[nid] = arr
                ran.add(nid)
                for key, g in extra:
                    sent[key] = g
                    if key[0] not in totals:
                        totals[key[0]] = g
            elif kind == "Sum":
                totals[nid] = arr
            else:
                leaf_grads[nid] = arr
        if k == 0:
            f = self._start_frame(self._steps, leaf_grads)
        else:
            kind, nid, ev, arr, extra, step_no, n = self._deltas[k - 1]
            contribs = self._contributions.get(nid, [])[:n]
            if kind == "Step":
                hot = tuple((key[0], nid) for key, _ in extra)
                title, lines = self._describe_step(model.all_nodes[nid], ev, step_no)
            elif kind == "Sum":
                hot = tuple((nid, d) for d, _, _ in contribs)
                title, lines = self._describe_sum(nid, ev, contribs, extra)
            else:
                hot = tuple((nid, d) for d, _, _ in contribs)
                title, lines = self._describe_accumulate(nid, ev, contribs)
            f = Frame(k, kind.lower(), model.owner.get(nid, nid), ev, title, lines, received,
                      sent, totals, leaf_grads, frozenset(ran), hot)
        if len(self._cache) >= 32:
            self._cache.pop(next(iter(self._cache)))
        self._cache[k] = f
        return f

    # ---- words -------------------------------------------------------------------------------
    def _name(self, nid):
        vn = self.model.all_nodes[nid]
        if vn.kind == "op":
            return f"{vn.output_name} ({vn.title})" if vn.output_name else vn.title
        return vn.title

    def _out_name(self, op):
        return op.output_name or "out"

    def _start_frame(self, steps, leaf_grads):
        out_names = [self.model.nodes[o].title for o in self.model.outputs]
        L = out_names[0] if out_names else "L"
        seed = to_numpy(steps[0].grad_output) if steps else None
        vn = self.model.nodes[self.model.outputs[0]] if self.model.outputs else None
        lines = []
        if vn is not None and vn.value is not None:
            lines.append(f"forward pass done: {L} = {values(vn.value)}")
        if seed is not None:
            if seed.size == 1 and float(seed.reshape(-1)[0]) == 1.0:
                lines.append(f"backward starts at {L} with ḡ = ∂{L}/∂{L} = 1")
            else:
                lines.append(f"backward starts at {L} with ḡ = {values(seed)} (the gradient "
                             "given to backward)")
        lines.append(f"then each op runs once, outputs first: {len(steps)} "
                     f"step{'' if len(steps) == 1 else 's'}; "
                     "ḡ × local derivative = the gradient each input receives")
        lines.append("①a, ②b …: an op's 1st, 2nd … input slot, named as in its rule (not your "
                     "tensors)")
        root = self.model.outputs[0] if self.model.outputs else None
        return Frame(0, "start", root, None, f"Start · {self.steps_total} backward step{'' if self.steps_total == 1 else 's'}", lines,
                     leaf_grads=leaf_grads)

    def _describe_step(self, op, ev, step_no):
        out = self._out_name(op)
        L = self.model.nodes[self.model.outputs[0]].title if self.model.outputs else "L"
        g_out = to_numpy(ev.grad_output)
        title = f"Step {step_no} of {self.steps_total} · {op.title}"
        if op.output_name:
            title += f" → {op.output_name}"
        title += f"  ({op.op})"
        lines = [f"upstream ḡ = ∂{L}/∂{out} = {values(g_out)}"
                 + ("" if g_out.ndim == 0 else f"   shape {fmt_shape(g_out.shape)}")]
        if op.formula:
            lines.append(f"local rule: {op.rule}")
        elementwise = _is_elementwise(op.engine)
        for i, ((name, src), g) in enumerate(zip(op.inputs, ev.grad_inputs)):
            sl = op.slot(i)
            who = f"{sl} ← {self._name(src)}" if src is not None else sl
            if src is None or not self.model.all_nodes[src].engine:
                lines.append(f"input {who}: a constant, needs no gradient (nothing sent)")
                continue
            if g is None:
                lines.append(f"input {who}: no gradient needed")
                continue
            arr = to_numpy(g)
            lines.append(self._sent_line(sl, who, g_out, arr, elementwise))
            lines += self._shape_notes(op, i, sl, g_out.shape, arr.shape)
        return title, lines

    def _sent_line(self, sl, who, g_out, g_in, elementwise):
        sym = slot_bar(sl)
        if elementwise and g_in.shape == g_out.shape and g_in.size <= 4:
            nz = g_out != 0
            if np.all(nz):
                local = g_in / g_out
                return (f"input {who}: {sym} = ḡ × ∂out/∂{sl} = {values(g_out)} × "
                        f"{values(local)} = {values(g_in)}")
            return f"input {who}: {sym} = ḡ × ∂out/∂{sl} = {values(g_in)} (ḡ is 0 there)"
        text = f"input {who}: {sym} = {values(g_in)}"
        if g_in.ndim:
            text += f"   shape {fmt_shape(g_in.shape)}"
        return text

    def _shape_notes(self, op, i, sl, out_shape, in_shape):
        if tuple(in_shape) == tuple(out_shape):
            return []
        if _broadcasts(op.engine, i):
            axes = broadcast_axes(in_shape, out_shape)
            if axes is not None:
                lead, stretched = axes
                parts = []
                if lead:
                    parts.append(f"summed over {_axes_text(lead)}")
                if stretched:
                    parts.append(f"summed over {_axes_text(stretched)} keeping size 1")
                return [f"   broadcast: {sl} {fmt_shape(in_shape)} was stretched to "
                        f"{fmt_shape(out_shape)} in the forward pass (each value used several "
                        f"times), so its gradient adds up every use: ḡ·∂out/∂{sl} "
                        f"{' and '.join(parts)} → {fmt_shape(in_shape)}"]
        return [f"   shape: {slot_bar(sl)} has {sl}'s shape {fmt_shape(in_shape)}, not the "
                f"output's {fmt_shape(out_shape)}: a gradient has the shape of its tensor"]

    def _describe_sum(self, nid, ev, contribs, last_step):
        name = self._name(nid)
        lines = [f"{name} feeds {len(contribs)} ops so far; each sends its own gradient, and "
                 "the chain rule adds them (paths add up):"]
        for src_op, _, arr in contribs:
            lines.append(f"   from {self._name(src_op)}: {values(arr)}")
        lines.append(f"running sum: {values(to_numpy(ev.before))} + "
                     f"{values(to_numpy(ev.incoming))} = {values(to_numpy(ev.after))}")
        return f"Sum · gradients meet at {name}", lines

    def _describe_accumulate(self, nid, ev, contribs):
        vn = self.model.all_nodes[nid]
        before = to_numpy(ev.before)
        before_text = "not computed yet (None)" if before is None else values(before)
        lines = [f"{vn.title} is a leaf: AccumulateGrad adds what arrived into {vn.title}.grad",
                 f"{vn.title}.grad: {before_text} + {values(to_numpy(ev.incoming))} = "
                 f"{values(to_numpy(ev.after))}"]
        if before is not None:
            lines.append("(it already had a gradient: gradients accumulate across backward() "
                         "calls until you zero them)")
        if vn.shape is not None and len(vn.shape):
            lines.append(f"shape {fmt_shape(vn.shape)}, the same as {vn.title}")
        return f"Accumulate · {vn.title}.grad", lines

    # ---- drawing -------------------------------------------------------------------------------
    def overlay(self, k, only=None):
        """What to draw on the graph at frame ``k`` (an ``Overlay`` for ``build_digraph``);
        ``only``: a set of drawn ids, to label just those (a window of a large graph)."""
        f = self.frames[k]
        own = self.model.owner

        def shown(i):
            return only is None or i in only

        ov = Overlay(current=f.node, slot_labels=False)
        ov.ran = {own.get(n, n) for n in f.ran}
        for nid, g in f.received.items():
            vis = own.get(nid, nid)
            if shown(vis) and self.model.nodes[vis].kind == "op":
                ov.extra[vis] = [f"ḡ {_edge_text(g, '= ')}"]
        for nid, g in f.leaf_grads.items():
            vis = own.get(nid, nid)
            if vis == nid and shown(nid):
                ov.grads[nid] = ("none", None) if g is None else ("value", g)
        if self.steps_total:
            seed = to_numpy(self.trace.steps[0].grad_output)
            for o in self.model.outputs:
                ov.extra[o] = [f"ḡ {_edge_text(seed, '= ')} (start)"]
        for (src, dst, _), g in f.sent.items():
            key = (own.get(src, src), own.get(dst, dst))
            if key[0] != key[1] and shown(key[0]) and shown(key[1]):
                ov.edge_labels[key] = "← " + _edge_text(g)
        ov.hot_edges = {(own.get(a, a), own.get(b, b)) for a, b in f.hot}
        return ov


class _Frames(Sequence):
    """``replay.frames``: a sequence whose frames are made when read (``frames[k]``, slices)."""

    def __init__(self, replay):
        self._replay = replay

    def __len__(self):
        return len(self._replay)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"frame {k} of a replay with {n} frames")
        return self._replay._frame(k)


def _edge_text(g, eq=""):
    g = np.asarray(g)
    if g.size <= 2:
        return eq + values(g)
    return fmt_shape(g.shape)


class ForwardSteps:
    """The ops of ``model`` in recording order, and what the graph looked like after each."""

    def __init__(self, model):
        self.model = model
        self.ops = [n for n in model.order if model.nodes[n].kind in ("op", "module")]
        feeds = {}
        for e in model.edges:
            feeds.setdefault(e.dst, []).append(e.src)
        self._feeds = feeds

    def __len__(self):
        return len(self.ops) + 1

    def visible(self, k):
        """Ids drawn after the first ``k`` ops were recorded: the inputs, and those ops."""
        shown = {n for n, vn in self.model.nodes.items()
                 if vn.kind in ("leaf", "param", "const", "number")}
        shown.update(self.ops[:k])
        if k == len(self.ops):
            shown.update(self.model.outputs)
            shown.update(n for n, vn in self.model.nodes.items() if vn.kind == "saved")
        return shown

    def describe(self, k):
        m = self.model
        if k == 0:
            return "Before the forward pass", [
                "only the inputs exist; no op has run yet, so there is no graph",
                "each op that runs on a tensor that requires grad records one node"]
        nid = self.ops[k - 1]
        vn = m.nodes[nid]
        if vn.kind == "module":
            return (f"Op {k} of {len(self.ops)} · {vn.title} ({vn.note})",
                    ["a whole module, drawn as one node"])
        args = []
        links = []
        for i, (_, src) in enumerate(vn.inputs):
            name = vn.slot(i)
            if src is None:
                args.append("·")
                links.append(f"{name}: None (a constant: no gradient will flow there)")
                continue
            s = m.nodes.get(src) or m.all_nodes[src]
            ref = s.output_name or src if s.kind == "op" else s.title
            args.append(ref)
            if s.kind == "op":
                links.append(f"{name}: {s.title} (the op that made {ref})")
            elif s.kind in ("leaf", "param"):
                links.append(f"{name}: AccumulateGrad of {s.title} (a leaf: its .grad is "
                             "filled by backward)")
            else:
                links.append(f"{name}: None ({s.title} is a constant: no gradient needed)")
        out = vn.output_name or nid
        lines = [f"{out} = {vn.op}({', '.join(args)}) records the node {vn.title}",
                 f"its local rule, for backward: {vn.rule}" if vn.formula else "",
                 "next_functions (edges towards the inputs):"] + [f"   {x}" for x in links]
        return f"Op {k} of {len(self.ops)} · {vn.title}", [x for x in lines if x]

    def overlay(self, k):
        vis = self.visible(k)
        cur = self.ops[k - 1] if k > 0 else None
        return Overlay(current=cur, visible=vis, show_grads=False)
