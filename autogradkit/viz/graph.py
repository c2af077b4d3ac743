"""The graph the engine recorded, as a plain model that every view (DOT, text, explorers) draws.

``GraphModel(*outputs)`` walks the real graph from the outputs' ``grad_fn`` along
``next_functions`` (iteratively: no recursion) and takes a snapshot of what a learner should see:

* **op nodes** (``n0``, ``n1`` …) — one per engine node, with its PyTorch name (``MulBackward0``),
  its op (``mul``) and its local derivative rule (the node's ``formula``);
* **tensor nodes** — leaves (``AccumulateGrad``'s variable), parameters (``nn.Parameter``, named
  from ``Module.named_parameters()``), constants (inputs that need no gradient, ``c0`` …) and the
  outputs (``o0`` …), each with a name, shape, dtype, a short value summary and its gradient —
  or ``grad: not computed yet``, never a misleading 0;
* optional notes with what each op saved for backward (``s0`` …), and clusters or collapsed
  nodes for the parts of an ``nn.Module`` (``m0`` …).

Ids are counters in walk order, never ``id()``: the same code gives the same ids on every run.
Nothing here computes a gradient.
"""
from __future__ import annotations

import inspect
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ._format import to_numpy

_NUMBER_TYPES = (int, float, bool, np.number, np.bool_)


@dataclass
class VNode:
    """One drawn node. ``kind``: op, param, leaf, const, number, output, module or saved."""
    id: str
    kind: str
    title: str
    engine: object = None           # the engine node (Op or AccumulateGrad), when there is one
    op: str = ""                    # op nodes: the op's public name ("mul")
    formula: str = ""               # op nodes: the local rule
    shape: tuple | None = None
    dtype: str = ""
    value: object = None            # NumPy copy of the tensor's value (tensor nodes)
    grad: object = None             # NumPy copy of .grad, when there is one
    grad_state: str = "none"        # "value", "none" (not computed yet) or "not-kept"
    note: str = ""                  # a short extra line ("parameter", "not saved for backward")
    inputs: list = field(default_factory=list)  # op nodes: [(input name, source id or None)]
    output_name: str = ""           # op nodes: the name of the tensor this op made, if known
    group: str | None = None        # dotted module path of the innermost cluster it belongs to
    members: tuple = ()             # module nodes: the ids collapsed into this one
    lines: tuple = ()               # module and saved nodes: their detail lines
    jvp_formula: str = ""           # op nodes of a forward-mode drawing: the op's jvp rule
    tangent: object = None          # forward-mode drawings: NumPy copy of the tangent (or None)
    show_tangent: bool = False      # forward-mode drawings: show value and tangent (ẋ)
    saved_bytes: int | None = None  # op nodes of a ``memory=True`` drawing: bytes kept for backward

    @property
    def rule(self):
        """The local rule with its slots marked (``∂/∂①a = ②b, ∂/∂②b = ①a``)."""
        return slot_formula(self.formula, [n for n, _ in self.inputs])

    @property
    def jvp_rule(self):
        """The forward-mode rule with its slots marked (``ẏ = ①ȧ·②b + ①a·②ḃ``)."""
        return slot_formula(self.jvp_formula, [n for n, _ in self.inputs])

    def slot(self, i):
        """Input ``i``'s slot, as written everywhere (``①a``)."""
        return slot(i, self.inputs[i][0] if i < len(self.inputs) else "")

    @property
    def is_tensor(self):
        return self.kind in ("param", "leaf", "const", "number", "output", "dual")


@dataclass
class VEdge:
    """Data flows from ``src`` into input ``index`` of ``dst`` in the forward pass."""
    src: str
    dst: str
    index: int = 0
    kind: str = "data"              # "data" or "saved"
    label: str = ""                 # summaries: how many engine edges this one stands for


@dataclass
class Cluster:
    path: str                       # dotted module path ("" for the module itself)
    label: str
    members: list
    children: list = field(default_factory=list)


_SIGNATURES = {}


def input_names(node):
    """Names of an op's inputs, from its ``forward`` signature (``a, b`` / ``x, weight, bias``)."""
    cls = type(node)
    n = len(node._next)
    if cls not in _SIGNATURES:
        names = []
        try:
            static = isinstance(inspect.getattr_static(cls, "forward"), staticmethod)
            params = list(inspect.signature(cls.forward).parameters.values())[0 if static else 1:]
            names = [p.name for p in params
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            pass
        _SIGNATURES[cls] = names
    names = _SIGNATURES[cls]
    if len(names) >= n:
        return names[:n]
    return [f"input {i}" for i in range(n)]


def slot(i, name=""):
    """How an op's input slot ``i`` (0-based) is written everywhere: ``①a``, ``②b``, ``①x``.

    The circled position marks it as the op's own parameter, never a tensor of the learner's that
    happens to be called ``a``: ``①a`` is "the op's 1st input, named a in its rule". Unnamed
    slots are just ``①``, ``②`` …
    """
    n = i + 1
    mark = chr(0x2460 + i) if 1 <= n <= 20 else f"({n})"
    return mark if not name or name.startswith("input ") else mark + name


def slot_formula(formula, names):
    """``formula`` with each slot name written as its slot (``∂/∂a = b`` → ``∂/∂①a = ②b``).

    A name counts only as a whole word (``x`` in ``exp(x)`` but not in ``exp``); a bar or a dot
    over its first letter (``ā``, ``w̄t``, ``ȧ``, ``ẇt``: a gradient, a tangent) stays with it."""
    if not formula or not names:
        return formula
    real = [(i, n) for i, n in enumerate(names) if n and not n.startswith("input ")]
    if not real:
        return formula
    by_name = {}
    for i, n in real:
        by_name.setdefault(n, i)
    parts = sorted(by_name, key=len, reverse=True)
    alts = "|".join(re.escape(n[0]) + "[\u0304\u0307]?" + re.escape(n[1:]) for n in parts)
    pattern = re.compile(f"(?<![A-Za-z0-9_])(?:{alts})(?![A-Za-z0-9_])")

    def sub(m):
        text = m.group(0)
        return slot(by_name[text.replace("\u0304", "").replace("\u0307", "")]) + text

    # ā is one character (U+0101) in most rules: decompose, mark the slots, compose again
    return unicodedata.normalize("NFC", pattern.sub(sub, unicodedata.normalize("NFD", formula)))


def op_name(node):
    """``mul``, ``matmul`` … (falls back to the node's name without ``Backward0``)."""
    op = getattr(node, "op", "") or ""
    if op:
        return op
    name = node.name()
    for suffix in ("Backward0", "Backward1", "Backward"):
        if name.endswith(suffix):
            return name[: -len(suffix)].lower()
    return name.lower()


def _saved_inputs(node):
    """The inputs an op saved for backward, aligned with ``next_functions`` (or ``None``)."""
    if getattr(node, "save", None) not in ("inputs", "both"):
        return None
    saved = getattr(node, "_saved", None)
    if saved is None or len(saved) != len(node._next):
        return None
    return saved


def walk(roots):
    """Every engine node reachable from ``roots``, breadth-first, inputs in order.

    Iterative (a 100,000-op chain needs no recursion) and cheap: one set and one list. The order
    is the order of the ids ``n0``, ``n1`` … (nearest the output first)."""
    queue, head = [r for r in roots if r is not None], 0
    order = []
    seen = set()
    while head < len(queue):
        node = queue[head]
        head += 1
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        for nxt in node._next:
            if nxt is not None and nxt not in seen:
                queue.append(nxt)
    return order


def roots_of(outputs):
    """The engine node each output's graph starts at (its ``grad_fn``, a leaf's
    ``AccumulateGrad``, or ``None`` for a tensor that needs no gradient)."""
    roots = []
    for t in outputs:
        if t.grad_fn is not None:
            roots.append(t.grad_fn)
        elif t.requires_grad:
            roots.append(t._accum or t._accumulator())
        else:
            roots.append(None)
    return roots


def check_outputs(outputs):
    from ..tensor import Tensor
    if not outputs:
        raise TypeError("draw: give at least one tensor, e.g. draw(loss)")
    for t in outputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw: expected tensors, got {type(t).__name__}")


def _module_names(names, module):
    """id(tensor) -> (name, tensor): explicit ``names`` win over ``named_parameters()``.

    ``names`` maps a name to a tensor; anything else in it is ignored (so ``names=locals()``
    works), as are names that start with ``_`` (IPython's ``_``, ``_1`` …).
    """
    from ..tensor import Tensor
    out = {}
    if module is not None:
        for n, p in module.named_parameters():
            out.setdefault(id(p), (n, p))
    if names:
        items = names.items() if hasattr(names, "items") else names
        seen = set()
        for n, t in items:
            if isinstance(t, Tensor) and not str(n).startswith("_") and id(t) not in seen:
                seen.add(id(t))
                out[id(t)] = (str(n), t)
    return out


class GraphModel:
    """A snapshot of the graph behind ``outputs`` (see the module docstring).

    ``names``: a mapping name -> tensor (leaves, constants, intermediates or outputs);
    ``module``: an ``nn.Module`` whose ``named_parameters()`` name the parameters;
    ``group``: ``None``, ``"cluster"`` (draw each sub-module with parameters as a box around its
    nodes) or ``"collapse"`` (draw each child module of ``module`` as one node);
    ``show_constants``: draw inputs that need no gradient; ``show_saved``: add a note per op with
    what it saved for backward.
    """

    tangents = False                # a forward-mode drawing (viz/forward.py): values and tangents
    caption = ""                    # a note drawn above the graph (totals, a summary's counts)
    summary = None                  # summaries (viz/summary.py): the whole graph's counts

    def __init__(self, *outputs, names=None, module=None, group=None, show_constants=True,
                 show_saved=False, memory=False, _order=None):
        check_outputs(outputs)
        if group not in (None, "cluster", "collapse"):
            raise ValueError(f"group must be None, 'cluster' or 'collapse', got {group!r}")
        if group is not None and module is None:
            raise ValueError(f"group={group!r} needs the module whose parts to group: "
                             "draw(loss, module=net, group=...)")
        self.module = module
        self.group = group
        self.nodes = {}                     # id -> VNode, in walk order
        self.edges = []
        self.by_engine = {}                 # engine node -> id
        self.outputs = []                   # ids of the output nodes
        self.clusters = []
        self.owner = {}                     # id -> the id it is drawn as (collapsed modules)
        self.memory = memory
        self._order = _order
        self._build(outputs, _module_names(names, module), show_constants, show_saved)
        self.all_nodes = self.nodes         # with collapsed modules: also the nodes inside them
        if group == "cluster":
            self._make_clusters()
        elif group == "collapse":
            self._collapse()
        self.order = self._forward_order()

    # ---- the walk ------------------------------------------------------------------------------
    def _build(self, outputs, named, show_constants, show_saved):
        from ..tensor import Tensor
        from ..autograd.node import AccumulateGrad
        from ..nn.parameter import Parameter
        made_by = {}                        # engine node -> name of the named tensor it made
        for name, t in named.values():
            if t.grad_fn is not None:
                made_by.setdefault(t.grad_fn, name)
        roots = roots_of(outputs)
        counters = {"leaf": 0, "param": 0, "const": 0}
        consts = {}                         # id(tensor) -> const id (one node per constant tensor)
        keep = []                           # tensors kept alive while ids of them are in use
        order = self._order if self._order is not None else walk(roots)   # a stable walk
        self._order = None
        self.by_engine = {node: f"n{i}" for i, node in enumerate(order)}
        shown, redirect = self._shown(order)
        ref = self.by_engine.__getitem__ if not redirect else \
            (lambda n: redirect.get(n) or self.by_engine[n])
        n_const = 0
        n_saved = 0
        for node in order:
            if shown is not None and node not in shown:
                continue
            nid = self.by_engine[node]
            if isinstance(node, AccumulateGrad):
                v = node.variable
                if v is None:
                    self.nodes[nid] = VNode(nid, "leaf", "leaf (freed)", engine=node,
                                            note="its tensor no longer exists")
                    continue
                kind = "param" if isinstance(v, Parameter) else "leaf"
                name = named.get(id(v), (None,))[0]
                if name is None:
                    name = f"{kind}{counters[kind]}"
                    counters[kind] += 1
                vn = self._tensor_node(nid, kind, name, v)
                vn.engine = node
                self.nodes[nid] = vn
                continue
            vn = VNode(nid, "op", node.name(), engine=node, op=op_name(node),
                       formula=getattr(node, "formula", "") or "",
                       output_name=made_by.get(node, ""))
            self.nodes[nid] = vn
            names_in = input_names(node)
            saved = _saved_inputs(node)
            for i, nxt in enumerate(node._next):
                if nxt is not None:
                    vn.inputs.append((names_in[i], ref(nxt)))
                    continue
                if not show_constants:
                    vn.inputs.append((names_in[i], None))
                    continue
                x = saved[i] if saved is not None else _MISSING
                if isinstance(x, Tensor):
                    cid = consts.get(id(x))
                    if cid is None:
                        cid = consts[id(x)] = f"c{n_const}"
                        n_const += 1
                        keep.append(x)
                        name = named.get(id(x), (None,))[0]
                        if name is None:
                            name = f"const{counters['const']}"
                            counters["const"] += 1
                        cn = self._tensor_node(cid, "const", name, x)
                        cn.note = "constant: needs no gradient"
                        self.nodes[cid] = cn
                elif isinstance(x, _NUMBER_TYPES):
                    cid = f"c{n_const}"
                    n_const += 1
                    self.nodes[cid] = VNode(cid, "number", _number(x), value=np.asarray(x),
                                            shape=(), note="a Python number")
                elif x is _MISSING:
                    cid = f"c{n_const}"
                    n_const += 1
                    self.nodes[cid] = VNode(cid, "const", "constant",
                                            note=f"not saved: {vn.op}'s rule doesn't need it"
                                            if getattr(node, "save", None) in (None, "output")
                                            else "freed after backward")
                else:
                    vn.inputs.append((names_in[i], None))
                    continue
                vn.inputs.append((names_in[i], cid))
            if self.memory:
                vn.saved_bytes = saved_nbytes(node)
            if show_saved and getattr(node, "save", None) is not None:
                sid = f"s{n_saved}"
                n_saved += 1
                self.nodes[sid] = VNode(sid, "saved", "saved for backward",
                                        lines=tuple(self._saved_lines(node, named)))
                self.edges.append(VEdge(sid, nid, 0, kind="saved"))
        for node in order:
            nid = self.by_engine[node]
            if nid not in self.nodes:
                continue
            for i, (_, src) in enumerate(self.nodes[nid].inputs):
                if src is not None:
                    self.edges.append(VEdge(src, nid, i))
        self._add_hidden(order, ref)
        for k, (t, root) in enumerate(zip(outputs, roots)):
            oid = f"o{k}"
            default = "output" if len(outputs) == 1 else f"output {k}"
            name = named.get(id(t), (None,))[0] or default
            on = self._tensor_node(oid, "output", name, t)
            if t.grad_fn is not None:
                on.note = f"made by {t.grad_fn.name()}"
                if self.by_engine[root] in self.nodes:
                    self.nodes[self.by_engine[root]].shape = on.shape
            self.nodes[oid] = on
            self.outputs.append(oid)
            if root is not None:
                self.edges.append(VEdge(ref(root), oid, 0))
        for _, t in named.values():             # shapes of named intermediates
            if t.grad_fn is not None and self.by_engine.get(t.grad_fn) in self.nodes:
                self.nodes[self.by_engine[t.grad_fn]].shape = tuple(t.shape)
        self.owner = {i: i for i in self.nodes}
        for node, drawn in redirect.items():
            self.owner[self.by_engine[node]] = drawn
        if self.memory:
            self.caption = memory_caption(order)
        del keep

    def _shown(self, order):
        """Which engine nodes get a box (``None``: all) and where the others are drawn
        (engine node -> drawn id); a summary (``viz/summary.py``) draws only some of them."""
        return None, {}

    def _add_hidden(self, order, ref):
        """A summary adds the boxes that stand for the engine nodes it does not draw."""

    def _tensor_node(self, nid, kind, name, t):
        grad, state = None, "none"
        if t.grad_fn is not None and not t.retains_grad:
            state = "not-kept"
        elif t._grad is not None:
            grad, state = to_numpy(t._grad), "value"
        return VNode(nid, kind, name, shape=tuple(t.shape), dtype=t.dtype.name,
                     value=to_numpy(t), grad=grad, grad_state=state,
                     note="parameter" if kind == "param" else "")

    def _saved_lines(self, node, named):
        from ..tensor import Tensor
        lines = []
        names_in = input_names(node)
        if node.save in ("inputs", "both"):
            saved = getattr(node, "_saved", None)
            if saved is None:
                return ["freed after backward", "(pass retain_graph=True to keep)"]
            for i, x in enumerate(saved):
                label = slot(i, names_in[i] if i < len(names_in) else "")
                if isinstance(x, Tensor):
                    who = named.get(id(x), (None,))[0]
                    if who is None and x.grad_fn is not None:
                        who = f"{x.grad_fn.name()}'s output"
                    shown = f" = {who}" if who else ""
                    lines.append(f"{label}{shown} {tuple(x.shape)}")
                elif isinstance(x, _NUMBER_TYPES):
                    lines.append(f"{label} = {_number(x)}")
        if node.save in ("output", "both"):
            out = getattr(node, "_out", None)
            if out is None:
                return ["freed after backward", "(pass retain_graph=True to keep)"]
            lines.append(f"out {tuple(out.shape)}")
        return lines

    # ---- modules -----------------------------------------------------------------------------
    def _adjacency(self):
        fwd, back = {}, {}
        for e in self.edges:
            if e.kind == "data":
                fwd.setdefault(e.src, []).append(e.dst)
                back.setdefault(e.dst, []).append(e.src)
        return fwd, back

    def _module_members(self):
        """For every module with parameters: the nodes it owns (its parameters, the ops that use
        them, and every op on a path between two of those ops)."""
        fwd, back = self._adjacency()
        leaf_of = {}
        for nid, vn in self.nodes.items():
            if vn.kind in ("param", "leaf") and vn.engine is not None \
                    and vn.engine.variable is not None:
                leaf_of[id(vn.engine.variable)] = nid
        result = []
        for path, mod in self.module.named_modules():
            params = [leaf_of[id(p)] for p in mod.parameters() if id(p) in leaf_of]
            if not params:
                continue
            seeds = {d for p in params for d in fwd.get(p, ()) if self.nodes[d].kind == "op"}
            down = _reach(seeds, fwd)
            up = _reach(seeds, back)
            members = set(params) | seeds | {n for n in down & up if self.nodes[n].kind == "op"}
            result.append((path, mod, members))
        return result

    def _make_clusters(self):
        found = self._module_members()
        for path, _, members in found:          # parents first: children override
            for nid in members:
                self.nodes[nid].group = path
        by_path = {}
        for path, mod, _ in found:
            label = type(mod).__name__ if path == "" else f"{path}: {type(mod).__name__}"
            by_path[path] = Cluster(path, label, [])
        for nid, vn in self.nodes.items():
            if vn.group is not None:
                by_path[vn.group].members.append(nid)
        for path, cl in by_path.items():
            parent = _parent_path(path, by_path)
            if parent is None:
                self.clusters.append(cl)
            else:
                by_path[parent].children.append(cl)

    def _collapse(self):
        found = {path: (mod, members) for path, mod, members in self._module_members()}
        self.all_nodes = dict(self.nodes)
        children = [(p, m) for p, m in self.module.named_children() if p in found]
        targets = children or ([("", self.module)] if "" in found else [])
        for k, (path, mod) in enumerate(targets):
            members = set(found[path][1])
            members = [m for m in self.nodes if m in members]
            mid = f"m{k}"
            params = [self.nodes[m] for m in members if self.nodes[m].kind == "param"]
            lines = [f"{p.title.split('.')[-1] if path else p.title} {_shape(p.shape)}: "
                     + (_grad_text(p)) for p in params]
            extra = mod.extra_repr()
            title = path or type(mod).__name__
            note = f"{type(mod).__name__}({extra})" if extra else type(mod).__name__
            self.nodes[mid] = self.all_nodes[mid] = VNode(
                mid, "module", title, note=note, members=tuple(members), lines=tuple(lines))
            for m in members:
                self.owner[m] = mid
            self.owner[mid] = mid
        if not targets:
            return
        kept, seen = [], set()
        for e in self.edges:
            src, dst = self.owner.get(e.src, e.src), self.owner.get(e.dst, e.dst)
            if src == dst:
                continue
            index = e.index if dst == e.dst else 0     # into a module: one edge per source
            if (src, dst, index) in seen:
                continue
            seen.add((src, dst, index))
            kept.append(VEdge(src, dst, index, e.kind))
        self.edges = kept
        collapsed = {m for vn in self.nodes.values() for m in vn.members}
        self.nodes = {i: vn for i, vn in self.nodes.items() if i not in collapsed}

    # ---- orders and queries ---------------------------------------------------------------------
    def _forward_order(self):
        """Inputs before the ops that use them, like a program listing (iterative post-order)."""
        back = {}
        for e in self.edges:
            back.setdefault(e.dst, []).append((e.index, e.kind, e.src))
        for v in back.values():
            v.sort(key=lambda t: (t[1] != "saved", t[0]))
        order, done, opened = [], set(), set()
        for start in self.outputs + list(self.nodes):
            if start in done or start not in self.nodes:
                continue
            stack = [(start, False)]
            while stack:
                nid, expanded = stack.pop()
                if nid in done:
                    continue
                if expanded:
                    done.add(nid)
                    order.append(nid)
                    continue
                if nid in opened:           # a summary's boxes can make a cycle: once only
                    continue
                opened.add(nid)
                stack.append((nid, True))
                for _, _, src in reversed(back.get(nid, [])):
                    if src not in done and src not in opened:
                        stack.append((src, False))
        return order

    def id_of(self, engine_node):
        """The id an engine node is drawn as (its module's node when collapsed), or ``None``."""
        nid = self.by_engine.get(engine_node)
        return None if nid is None else self.owner.get(nid, nid)

    def name_of(self, nid):
        """A short name for a node: a tensor's name, or ``h (ReluBackward0)`` for an op."""
        vn = self.all_nodes[nid]
        if vn.kind == "op":
            return f"{vn.output_name or nid} ({vn.title})"
        return vn.title

    def op_count(self):
        return sum(1 for vn in self.nodes.values() if vn.kind == "op")

    def tensor_count(self):
        return sum(1 for vn in self.nodes.values() if vn.is_tensor)


_MISSING = object()


def saved_totals(order):
    """(bytes, arrays) saved for backward by the engine nodes ``order``, each array counted once
    however many nodes share it (``a * a`` saves ``a`` twice; it is held once)."""
    from ..autograd.graph import saved_arrays
    seen = set()
    total = 0
    for node in order:
        for a in saved_arrays(node):
            if id(a) not in seen:
                seen.add(id(a))
                total += int(a.nbytes)
    return total, len(seen)


def memory_caption(order):
    from ._format import nbytes
    total, count = saved_totals(order)
    return (f"saved for backward: {nbytes(total)} in {count:,} array{'' if count == 1 else 's'} "
            "(shared arrays counted once)")


def saved_nbytes(node):
    from ..autograd.graph import saved_nbytes as nb
    return nb(node)


def _reach(starts, adj):
    seen, stack = set(starts), list(starts)
    while stack:
        for n in adj.get(stack.pop(), ()):
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


def _parent_path(path, known):
    if path == "":
        return None
    parts = path.split(".")
    for k in range(len(parts) - 1, -1, -1):
        cand = ".".join(parts[:k])
        if cand in known:
            return cand
    return None


def _number(x):
    from ._format import num
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return num(x)


def _shape(s):
    from ._format import shape
    return shape(s) if s is not None else ""


def _grad_text(vn):
    from ._format import values
    if vn.grad_state == "value":
        return f"grad {values(vn.grad, 2)}"
    if vn.grad_state == "not-kept":
        return "grad not kept"
    return "grad not computed yet"
