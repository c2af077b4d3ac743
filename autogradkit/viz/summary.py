"""Large graphs, drawn as a summary a learner can read (and a notebook can show in a second).

Above a node budget (``max_nodes``, default ``MAX_NODES``) ``draw``, ``to_dot`` and
``text_graph`` draw a *summary* instead of every node:

* **repeated patterns folded**: along a chain of ops (each the only user of the next one down),
  a run of the same few ops repeated (period 1 to 4, each op with the same private side inputs)
  becomes one box, ``mul → add × 20,000`` for an unrolled ``y = y * 1.0001 + 0.001``; a training
  loop that keeps every iteration's loss (``total = total + loss``) folds the same way, one box
  for the 2,000 copies of the network's ops;
* **the part nearest the output(s) and the leaves** (parameters) drawn as usual, with their
  real ids (``n0``, ``n1`` … as in the full drawing); whatever does not fit is one box that says
  how many ops it stands for;
* **a caption** with the whole graph's counts (ops, leaves, constants, bytes saved for backward)
  and how to see more.

Everything here reads the engine graph directly, iteratively (no recursion: a 40,000-op chain
is fine) and without making a drawn node per engine node, so a 40,000-op graph is summarised in
a fraction of a second. ``max_nodes=None`` draws the full graph, exactly as before.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._format import nbytes
from .graph import (GraphModel, VEdge, VNode, check_outputs, op_name, roots_of, saved_totals,
                    walk)

MAX_NODES = 300         # boxes drawn before a drawing becomes a summary
MIN_REPEATS = 3         # a pattern folds when it repeats at least this often
MAX_PERIOD = 4          # ops (chain steps) in one repeat, at most
UNIT_CAP = 64           # a repeat's private side inputs fold with it up to this many ops
MAX_LEAVES = 24         # leaves (parameters) drawn in a summary, at most


@dataclass
class Fold:
    """A run of one pattern repeated along a chain, drawn as one box."""
    id: str
    pattern: list           # op names of one repeat, in forward order (inputs first)
    repeats: int
    members: list           # engine-node indices (in walk order) of every op in the run

    @property
    def text(self):
        ops = self.pattern
        if len(ops) <= 8:
            return " → ".join(ops)
        return " → ".join(ops[:2]) + " → … → " + " → ".join(ops[-3:])

    def __str__(self):
        return f"{self.text} × {self.repeats:,}"


class Facts:
    """What one walk of the engine graph tells, without drawing it: counts, chains, folds."""

    def __init__(self, order):
        from ..autograd.node import AccumulateGrad
        self.order = order
        index = {n: i for i, n in enumerate(order)}
        self.raw = raw = []                 # per node: input indices, -1 for a constant input
        self.is_leaf = is_leaf = []
        n_const = 0
        for node in order:
            row = [-1 if m is None else index[m] for m in node._next]
            n_const += row.count(-1)
            raw.append(row)
            is_leaf.append(type(node) is AccumulateGrad or isinstance(node, AccumulateGrad))
        self.n_const = n_const
        self.n_leaves = sum(is_leaf)
        self.n_ops = len(order) - self.n_leaves
        self._folds = None

    def boxes(self, n_outputs, show_constants=True, show_saved=False):
        """How many boxes the full drawing has (ops, leaves, constants, outputs, saved notes)."""
        n = len(self.order) + n_outputs + (self.n_const if show_constants else 0)
        if show_saved:
            n += sum(1 for node in self.order if getattr(node, "save", None) is not None)
        return n

    def n_params(self):
        from ..nn.parameter import Parameter
        return sum(1 for node, leaf in zip(self.order, self.is_leaf)
                   if leaf and isinstance(node.variable, Parameter))

    # ---- folding -----------------------------------------------------------------------------
    def folds(self):
        """The repeated runs (a list of ``Fold``), found once."""
        if self._folds is None:
            self._folds = self._find_folds()
        return self._folds

    def _find_folds(self):
        raw, is_leaf, n = self.raw, self.is_leaf, len(self.order)
        names = [op_name(node) if not leaf else "" for node, leaf in zip(self.order, is_leaf)]
        consumers = [0] * n
        for row in raw:
            for j in row:
                if j >= 0:
                    consumers[j] += 1
        # longest path down to a leaf, in a topological order (Kahn's, consumers first)
        indeg = consumers[:]
        stack = [i for i in range(n) if indeg[i] == 0]
        topo = []
        while stack:
            i = stack.pop()
            topo.append(i)
            for j in raw[i]:
                if j >= 0:
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        stack.append(j)
        height = [0] * n                    # longest path down to a leaf
        private = [0] * n                   # ops below that only this one uses (with itself)
        for i in reversed(topo):
            hs = [height[j] for j in raw[i] if j >= 0]
            if hs:
                height[i] = 1 + max(hs)
            private[i] = 1 + sum(private[j] for j in raw[i]
                                 if j >= 0 and not is_leaf[j] and consumers[j] == 1)
        # a chain goes down through the input with the most private ops below it (the running
        # total, the carried state), when this op is its only user
        main = [-1] * n                     # the next op down the chain
        cont = [-1] * n                     # the way down, even where it leaves the chain
        is_main = bytearray(n)
        for i in range(n):
            if is_leaf[i]:
                continue
            best, tallest = -1, -1
            for j in raw[i]:
                if j < 0:
                    continue
                if tallest < 0 or height[j] > height[tallest]:
                    tallest = j
                if not is_leaf[j] and consumers[j] == 1 and \
                        (best < 0 or private[j] > private[best]):
                    best = j
            if best >= 0:
                main[i] = cont[i] = best
                is_main[best] = 1
            else:
                cont[i] = tallest
        absorbed = bytearray(n)
        intern = {}
        folds = []
        for h in range(n):                  # heads, nearest the output first
            if is_leaf[h] or is_main[h] or absorbed[h]:
                continue
            chain = []
            c = h
            while c >= 0:
                chain.append(c)
                c = main[c]
            units = [self._unit(c, cont[c], names, consumers, absorbed) for c in chain]
            sigs = [intern.setdefault(tok, len(intern)) for tok, _ in units]
            for start, period, reps in _runs(sigs):
                members = [m for u in units[start:start + period * reps] for m in u[1]]
                one = units[start:start + period]
                pattern = [names[m] for _, ms in reversed(one) for m in ms]
                folds.append(Fold(f"f{len(folds)}", pattern, reps, members))
        return folds

    def _unit(self, c, main_c, names, consumers, absorbed):
        """(signature, members in forward order) of chain op ``c`` with its private side inputs:
        the ops only ``c`` uses, directly or through other such ops (at most ``UNIT_CAP``)."""
        raw, is_leaf = self.raw, self.is_leaf
        post = []                           # the private ops, inputs first
        tokens = {}
        stack = [(c, False)]
        while stack:
            i, done = stack.pop()
            if done:
                parts = []
                for j in raw[i]:
                    if j < 0:
                        parts.append("c")
                    elif i == c and j == main_c:
                        parts.append("·")
                    elif j in tokens:
                        parts.append(tokens[j])
                    else:
                        parts.append("*")
                tokens[i] = f"{names[i]}({','.join(parts)})"
                post.append(i)
                continue
            if len(post) + len(stack) > UNIT_CAP:
                return f"!{c}", [c]          # too big to fold as one unit: unique
            stack.append((i, True))
            for j in reversed(raw[i]):
                if j >= 0 and not (i == c and j == main_c) and not is_leaf[j] \
                        and consumers[j] == 1:
                    stack.append((j, False))
        for m in post:
            if m != c:
                absorbed[m] = 1
        return tokens[c], post


def _runs(sigs):
    """Maximal runs ``(start, period, repeats)`` of a pattern of 1 to ``MAX_PERIOD`` signatures
    repeated at least ``MIN_REPEATS`` times, scanning from the start (greedy, linear time). A
    stretch longer than whole repeats is aligned to its end: ``sigs`` runs from the output down,
    so a repeat starts where the loop's first iteration starts."""
    out = []
    n = len(sigs)
    s = 0
    while s < n:
        best = None
        for p in range(1, MAX_PERIOD + 1):
            if s + p >= n:
                break
            length = 0
            while s + length + p < n and sigs[s + length] == sigs[s + length + p]:
                length += 1
            reps = (length + p) // p
            if reps >= MIN_REPEATS and (best is None or reps * p > best[0] * best[1]):
                best = (reps, p, length + p - reps * p)
        if best is None:
            s += 1
            continue
        reps, p, spare = best
        s += spare          # end where the stretch ends (the first iteration, in forward order)
        out.append((s, p, reps))
        s += reps * p
    return out


class SummaryModel(GraphModel):
    """The model of a summary: some engine nodes drawn as usual (same ids as the full drawing),
    folded runs (``f0`` …), and one box (``r0``) for whatever did not fit."""

    def __init__(self, outputs, facts, max_nodes, names=None, module=None, show_constants=True,
                 show_saved=False, memory=False, reason=""):
        self.facts = facts
        self.max_nodes = max_nodes
        self.reason = reason
        self._show_constants = show_constants
        self._show_saved = show_saved
        self.summary = facts
        self._n_outputs = len(outputs)          # the outputs are always drawn
        super().__init__(*outputs, names=names, module=module, show_constants=show_constants,
                         show_saved=show_saved, memory=memory, _order=facts.order)
        self.caption = self._caption(outputs)

    # which engine nodes get their own box ------------------------------------------------------
    def _shown(self, order):
        f = self.facts
        folds = f.folds()
        fold_of = {}
        for fold in folds:
            for m in fold.members:
                fold_of[m] = fold
        budget = max(self.max_nodes - self._n_outputs, 8)
        cost_const = self._show_constants
        shown_idx, used = set(), 0
        kept_folds = []
        leaves = [i for i, leaf in enumerate(f.is_leaf) if leaf]
        for i in leaves[: max(min(budget // 3, MAX_LEAVES), 1)]:   # nearest the output first
            shown_idx.add(i)
            used += 1
        seen_folds = set()
        full = False                            # no more single ops once one did not fit
        for i in range(len(order)):
            if i in shown_idx:
                continue
            fold = fold_of.get(i)
            if fold is not None:
                if fold.id in seen_folds:
                    continue
                if used + 2 > budget:
                    continue
                seen_folds.add(fold.id)
                kept_folds.append(fold)
                used += 1
                continue
            if f.is_leaf[i]:
                continue
            cost = 1 + (f.raw[i].count(-1) if cost_const else 0)
            if self._show_saved and getattr(order[i], "save", None) is not None:
                cost += 1
            if full or used + cost + 1 > budget:
                full = True
                continue
            shown_idx.add(i)
            used += cost
        self.folds = kept_folds
        self.n_hidden_ops = 0
        redirect = {}
        kept = {fold.id for fold in kept_folds}
        for i, node in enumerate(order):
            if i in shown_idx:
                continue
            fold = fold_of.get(i)
            if fold is not None and fold.id in kept:
                redirect[node] = fold.id
            else:
                redirect[node] = "r0"
                if not f.is_leaf[i]:
                    self.n_hidden_ops += 1
        self.n_hidden = sum(1 for d in redirect.values() if d == "r0")
        self.hidden = self.n_hidden > 0
        return {order[i] for i in shown_idx}, redirect

    def _add_hidden(self, order, ref):
        """The fold boxes, the box for the rest, and one edge per (source, box) pair."""
        f = self.facts
        for fold in self.folds:
            lines = [f"× {fold.repeats:,}",
                     f"{len(fold.members):,} ops in one box: {len(fold.pattern)} op"
                     f"{'' if len(fold.pattern) == 1 else 's'} repeated {fold.repeats:,} times"]
            vn = VNode(fold.id, "fold", fold.text, note="a repeated pattern", lines=tuple(lines))
            vn.members = tuple(fold.members)
            if self.memory:
                vn.saved_bytes = saved_totals([order[m] for m in fold.members])[0]
            self.nodes[fold.id] = vn
        if self.hidden:
            self.nodes["r0"] = VNode(
                "r0", "more", f"… {self.n_hidden_ops:,} more ops",
                note="not drawn: over the node budget",
                lines=(f"{self.n_hidden:,} nodes not drawn (max_nodes={self.max_nodes})",))
        counts = {}
        shown = self.nodes
        for i, node in enumerate(order):
            dst = ref(node)
            if dst in shown and shown[dst].kind not in ("fold", "more"):
                continue                    # a drawn op: its edges are made as usual
            for j in f.raw[i]:
                if j < 0:
                    continue
                src = ref(order[j])
                if src != dst and src in shown and dst in shown:
                    counts[(src, dst)] = counts.get((src, dst), 0) + 1
        for (src, dst), k in counts.items():
            self.edges.append(VEdge(src, dst, 0, label=f"× {k:,}" if k > 1 else ""))

    # counts ------------------------------------------------------------------------------------
    def op_count(self):
        return self.facts.n_ops

    def tensor_count(self):
        return self.facts.n_leaves + self.facts.n_const + len(self.outputs)

    def _caption(self, outputs):
        f = self.facts
        total, arrays = saved_totals(f.order)
        params = f.n_params()
        leaves = f"{f.n_leaves:,} lea{'f' if f.n_leaves == 1 else 'ves'}"
        if params:
            leaves += f" ({params:,} parameter{'' if params == 1 else 's'})"
        drawn = sum(1 for vn in self.nodes.values() if vn.kind != "saved")
        saved = (f"saved for backward: {nbytes(total)} in {arrays:,} "
                 f"array{'' if arrays == 1 else 's'} (shared arrays counted once)" if arrays else
                 "nothing saved for backward now (backward() frees it)")
        lines = [f"Summary of a large graph: {f.n_ops:,} ops, {leaves}, {f.n_const:,} constant "
                 f"input{'' if f.n_const == 1 else 's'}; {saved}."]
        what = f"{drawn} of its {f.boxes(len(outputs), self._show_constants):,} boxes drawn"
        if self.folds:
            what += "; folded: " + ", ".join(str(x) for x in self.folds[:3])
            if len(self.folds) > 3:
                what += f" and {len(self.folds) - 3} more"
        if self.reason:
            what += f" ({self.reason})"
        lines.append(what + ".")
        lines.append("See more: max_nodes=None draws every node (slow at this size), "
                     "max_nodes=2000 a larger part;")
        save = "viz.render(viz.to_dot(..., max_nodes=None), \"graph\") saves it to a file."
        lines.append(save if self.reason else
                     "module=net, group=\"collapse\" draws each layer as one box; " + save)
        return "\n".join(lines)


def make_model(outputs, names=None, module=None, group=None, show_constants=True,
               show_saved=False, memory=False, max_nodes=MAX_NODES):
    """The model ``draw`` draws: the whole graph within ``max_nodes`` boxes (or ``None``),
    else a ``SummaryModel``."""
    check_outputs(outputs)
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    options = dict(names=names, module=module, show_constants=show_constants,
                   show_saved=show_saved, memory=memory)
    if max_nodes is None:
        return GraphModel(*outputs, group=group, **options)
    order = walk(roots_of(outputs))
    facts = Facts(order)
    big = facts.boxes(len(outputs), show_constants, show_saved) > max_nodes
    if group is not None:
        if not big or len(order) <= 20 * max_nodes:
            model = GraphModel(*outputs, group=group, _order=order, **options)
            if len(model.nodes) <= max_nodes:
                return model
        reason = f"group={group!r} still left more than {max_nodes} boxes"
        return SummaryModel(outputs, facts, max_nodes, reason=reason, **options)
    if not big:
        return GraphModel(*outputs, _order=order, **options)
    return SummaryModel(outputs, facts, max_nodes, **options)


def truncate(model, max_nodes):
    """A model with at most ``max_nodes`` boxes of ``model`` (any ``GraphModel``, e.g. a
    forward-mode drawing): the outputs, the nodes nearest them and the inputs, and one box for
    the rest. ``model`` itself when it fits."""
    if max_nodes is None or len(model.nodes) <= max_nodes:
        return model
    back = {}
    for e in model.edges:
        back.setdefault(e.dst, []).append(e.src)
    keep, queue, head = [], list(model.outputs), 0
    seen = set(queue)
    while head < len(queue) and len(keep) < max_nodes - 1:
        nid = queue[head]
        head += 1
        keep.append(nid)
        for src in back.get(nid, ()):
            if src not in seen:
                seen.add(src)
                queue.append(src)
    kept = set(keep)
    m = GraphModel.__new__(GraphModel)
    m.__dict__.update(model.__dict__)
    rest = [i for i in model.nodes if i not in kept]
    n_ops = sum(1 for i in rest if model.nodes[i].kind == "op")
    m.nodes = {i: vn for i, vn in model.nodes.items() if i in kept}
    m.nodes["r0"] = VNode("r0", "more", f"… {n_ops:,} more ops", note="not drawn",
                          lines=(f"{len(rest):,} nodes not drawn (max_nodes={max_nodes})",))
    edges, seen_e = [], set()
    for e in model.edges:
        src = e.src if e.src in kept else "r0"
        dst = e.dst if e.dst in kept else "r0"
        if src == dst or (dst == "r0" and (src, dst) in seen_e) or \
                (src == "r0" and (src, dst, e.index) in seen_e):
            continue
        seen_e.add((src, dst) if dst == "r0" else (src, dst, e.index))
        edges.append(VEdge(src, dst, e.index, e.kind))
    m.edges = edges
    m.owner = {i: (i if i in kept else "r0") for i in model.owner}
    m.all_nodes = {**model.all_nodes, "r0": m.nodes["r0"]}
    m.caption = (f"Showing {len(keep)} of {len(model.nodes):,} nodes, those nearest the output "
                 f"(max_nodes={max_nodes}); max_nodes=None draws all of them.")
    m.order = m._forward_order()
    return m


__all__ = ["MAX_NODES", "Facts", "Fold", "SummaryModel", "make_model", "truncate"]
