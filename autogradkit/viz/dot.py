"""The recorded graph as Graphviz DOT text, walked from ``grad_fn`` / ``next_functions``.

Node ids are counters in walk order (never ``id()``), so the same code gives the same text on
every run. Op nodes show the op's name and its local rule; leaves show their name (from
``names=`` or a module's ``named_parameters()``), shape and gradient.
"""
from __future__ import annotations

import shutil


def _walk(roots):
    """Nodes reachable from ``roots`` in a stable order (iterative, breadth-first)."""
    order, seen, queue = [], set(), list(roots)
    while queue:
        node = queue.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        order.append(node)
        queue.extend(n for n in node._next if n is not None)
    return order


def _esc(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _leaf_label(t, names):
    name = _esc(names.get(id(t), "leaf"))
    grad = "grad: not computed yet" if t._grad is None else f"grad: {_summary(t._grad)}"
    return f"{name}\\n{tuple(t.shape)} {t.dtype.name}\\n{_esc(grad)}"


def _summary(t):
    vals = t.detach().reshape(-1).tolist()
    shown = ", ".join(f"{v:.3g}" for v in vals[:3])
    return f"[{shown}{', …' if len(vals) > 3 else ''}]"


def to_dot(*outputs, names=None, module=None, rankdir="LR"):
    """DOT source of the graph that produced ``outputs`` (tensors)."""
    names = {id(t): n for n, t in (names or {}).items()}
    if module is not None:
        names.update({id(p): n for n, p in module.named_parameters()})
    roots = [t.grad_fn or (t._accum if t.requires_grad else None) for t in outputs]
    nodes = _walk([r for r in roots if r is not None])
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["digraph autograd {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];']
    for k, t in enumerate(outputs):
        lines.append(f'  out{k} [shape=box, style="rounded,filled", fillcolor="#fde2c8", '
                     f'label="output\\n{tuple(t.shape)} {t.dtype.name}"];')
    for n in nodes:
        if n.name == "AccumulateGrad":
            v = n.variable
            label = _leaf_label(v, names) if v is not None else "leaf (freed)"
            lines.append(f'  {ids[n]} [shape=box, style="filled", fillcolor="#cfe8fc", label="{label}"];')
        else:
            lines.append(f'  {ids[n]} [shape=ellipse, label="{_esc(n.name)}\\n{_esc(n.formula)}"];')
    for n in nodes:
        for nxt in n._next:
            if nxt is not None:
                lines.append(f"  {ids[nxt]} -> {ids[n]};")
    for k, r in enumerate(roots):
        if r is not None:
            lines.append(f"  {ids[r]} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text, path_without_suffix, fmt="svg"):
    """Write ``path.svg`` with Graphviz's ``dot`` if it is installed, else ``path.dot``.

    Returns the path written and, when Graphviz is missing, a hint on how to install it."""
    from pathlib import Path
    base = Path(path_without_suffix)
    if shutil.which("dot"):
        import graphviz
        out = graphviz.Source(dot_text).render(outfile=str(base.with_suffix("." + fmt)), format=fmt,
                                               cleanup=True)
        base.with_suffix("").exists() and base.with_suffix("").unlink()
        return Path(out), None
    path = base.with_suffix(".dot")
    path.write_text(dot_text)
    return path, ("Graphviz's `dot` was not found, so the graph was written as DOT text. Install "
                  "Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install "
                  "graphviz`) to get an SVG.")
