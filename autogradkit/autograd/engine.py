"""The backward pass: reverse-mode automatic differentiation over the recorded graph.

1. Count, for every node reachable from the output, how many edges lead into it (an iterative
   walk — no recursion, so a 100,000-node chain is fine).
2. Start from the output with ḡ = ∂L/∂L = 1. Take a node whose every consumer has sent its
   gradient (Kahn's topological order), run its local rule, and send each input its share.
   A node fed by several paths receives several shares: they are **summed** (the multivariate
   chain rule), which is why a tensor used twice gets the sum of both contributions.
3. ``AccumulateGrad`` nodes add what reaches them into ``leaf.grad``.

Saved tensors are freed after use unless ``retain_graph=True``. With ``create_graph=True`` the
rules run on tensors with recording on, so the gradients carry a graph of their own.
"""
from __future__ import annotations

import numpy as np

from .grad_mode import GradMode

_ndarray = np.ndarray
from .math import TENSOR_MATH, NUMPY_MATH, math_for
from .node import AccumulateGrad
from . import node as _node
from . import trace as _trace


def _dependencies(roots):
    """How many edges point into each node reachable from ``roots`` (iterative DFS)."""
    deps = {}
    seen = set(roots) if len(roots) > 1 else None
    stack = list(roots)
    pop, push = stack.pop, stack.append
    while stack:
        for nxt in pop()._next:
            if nxt is None:
                continue
            if nxt in deps:
                deps[nxt] += 1
                continue
            deps[nxt] = 1
            if not nxt._next:               # a leaf's AccumulateGrad: nothing beyond it
                continue
            if seen is None:
                push(nxt)
            elif nxt not in seen:
                seen.add(nxt)
                push(nxt)
    return deps


def _needed(roots, deps, targets):
    """Nodes that lie on a path from a root to one of ``targets`` (for ``autograd.grad``)."""
    order = []
    remaining = dict(deps)
    ready = [r for r in roots if r not in remaining]
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in node._next:
            if nxt is None:
                continue
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    needed = set()      # nodes worth running: some input leads to a target
    for node in reversed(order):
        if any(n is not None and (n in targets or n in needed) for n in node._next):
            needed.add(node)
    return needed


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """Run the backward pass from ``roots`` (nodes) seeded with ``root_grads``.

    Without ``capture`` gradients are accumulated into the leaves' ``.grad``. With ``capture``
    (a dict node -> None, used by ``autograd.grad``) the total gradient reaching each of those
    nodes is stored there instead, and nothing else is touched.
    """
    tracer = _trace._active
    plain = capture is None and tracer is None and not create_graph    # the everyday backward()
    # A tree (every op node has one consumer, see node._link) needs no dependency count: each
    # node is ready when its gradient arrives. Leaves are summed and written at the end.
    tree = plain and len(roots) == 1 and roots[0]._tree
    deps = None if tree else _dependencies(roots)
    needed = _needed(roots, deps, capture) if capture is not None else None
    pending = {}            # node -> the sum of the gradients it has received so far
    summed = set()          # nodes whose pending sum is an array the engine owns (plain mode)
    # ready: (node, its total gradient) for nodes whose every consumer has sent its share
    if len(roots) == 1:
        ready = [(roots[0], root_grads[0])]
    else:
        for r, g in zip(roots, root_grads):
            pending[r] = pending[r] + g if r in pending else g
        ready = [(r, pending.pop(r)) for r in dict.fromkeys(roots) if r not in deps]
    prev_mode = GradMode.enabled
    GradMode.enabled = create_graph
    pop, push, take = ready.pop, ready.append, pending.pop
    try:
        while ready:
            node, grad = pop()
            while node is not None:     # along a chain, go straight on to the next node
                if grad is not None and node._hooks is not None:
                    grad = _run_hooks(node._hooks, grad, create_graph)
                if node.__class__ is AccumulateGrad:
                    if capture is not None:
                        if node in capture:
                            capture[node] = _array(grad)
                    elif grad is not None:
                        _accumulate(node, grad, create_graph, tracer)
                    break
                if grad is None:
                    grads = (None,) * len(node._next)   # nothing to send; the order still advances
                    if capture is not None and node in capture:
                        capture[node] = None
                elif plain:                     # the everyday backward(): no extras to check
                    if node._retain is not None:
                        _retain(node, grad, False)
                    if grad.__class__ is _ndarray:
                        grads = node._run_backward(NUMPY_MATH, grad, False)
                    else:
                        grad = _array(grad)
                        grads = node._run_backward(math_for(grad), grad, False)
                    if not retain_graph and node.save is not None:
                        node._saved = node._out = None      # free what it saved for backward
                else:
                    if capture is not None and node in capture:
                        capture[node] = _array(grad)
                    if node._retain is not None:
                        _retain(node, grad, create_graph)
                    if needed is None or node in needed:
                        if create_graph:
                            F = TENSOR_MATH
                        elif grad.__class__ is _ndarray:
                            F = NUMPY_MATH
                        else:
                            grad = _array(grad)
                            F = math_for(grad)
                        grads = node._run_backward(F, grad, create_graph)
                        if not retain_graph and node.save is not None:
                            node._saved = node._out = None
                        if tracer is not None:
                            tracer.step(node, grad, grads)
                    else:
                        grads = (None,) * len(node._next)
                follow = None
                for nxt, g in zip(node._next, grads):
                    if nxt is None:
                        continue
                    if tree:            # one consumer per op node: ready now; leaves sum to the end
                        if nxt.__class__ is not AccumulateGrad:
                            if follow is None:
                                follow, follow_grad = nxt, g
                            else:
                                push((nxt, g))
                            continue
                    else:
                        d = deps[nxt]
                        if d == 1:                  # the last gradient: the node is ready
                            if nxt.__class__ is AccumulateGrad and plain and nxt._hooks is None:
                                owned = node.fresh_grads    # a leaf: into its .grad now
                                if nxt in pending:
                                    before = take(nxt)
                                    g, owned = (before, False) if g is None else (before + g, True)
                                if g is not None:
                                    _to_leaf(nxt, g, owned)
                                continue
                            if nxt in pending:
                                before = take(nxt)
                                g = before if g is None else _add(before, g, nxt, tracer)
                            if follow is None:
                                follow, follow_grad = nxt, g
                            else:
                                push((nxt, g))
                            continue
                        deps[nxt] = d - 1
                    if g is None:                   # more gradients to come: keep the sum
                        continue
                    if nxt not in pending:
                        pending[nxt] = g
                        if plain and node.fresh_grads and g.__class__ is _ndarray:
                            summed.add(nxt)         # nothing else holds it: ours to add into
                    elif nxt in summed:             # an array the engine owns: add in place
                        p = pending[nxt]
                        p += g
                    elif tracer is None:
                        pending[nxt] = p = pending[nxt] + g     # (_add, written out)
                        if plain and p.__class__ is _ndarray:
                            summed.add(nxt)
                    else:
                        pending[nxt] = _add(pending[nxt], g, nxt, tracer)
                if follow is None:
                    break
                node, grad = follow, follow_grad
        if tree:
            for acc, g in pending.items():          # the leaves, in the order first reached
                owned = acc in summed
                if acc._hooks is not None:
                    g, owned = _run_hooks(acc._hooks, g, False), False
                _to_leaf(acc, g, owned)
    finally:
        GradMode.enabled = prev_mode


def _to_leaf(acc, g, owned):
    """A plain backward's leaf: add ``g`` into its ``.grad``. An array nothing else holds
    (``owned``) is kept as it is, as PyTorch's AccumulateGrad steals a lone buffer."""
    leaf = acc._variable()
    if leaf is not None and leaf._grad is None and g.__class__ is _ndarray:
        leaf._grad = _node._make(g if owned else g.copy())     # _accumulate's commonest case
    else:
        _accumulate(acc, g, False, None)


def _array(grad):
    """numpy turns 0-d results into numpy scalars; gradients are kept as 0-d arrays."""
    return np.asarray(grad) if isinstance(grad, np.generic) else grad


def _add(before, g, node, tracer):
    """Two paths' gradients meet at ``node``: the chain rule adds them."""
    after = before + g
    if tracer is not None:
        tracer.sum(node, before, g, after)
    return after


def _as_tensor(grad):
    Tensor = _node.Tensor
    return grad if isinstance(grad, Tensor) else Tensor._make(grad)


def _run_hooks(hooks, grad, create_graph):
    """Tensor hooks: each sees the gradient and may return a replacement."""
    grad = _array(grad)
    for hook in list(hooks):
        result = hook(_as_tensor(grad))
        if result is not None:
            if tuple(result.shape) != tuple(grad.shape):
                raise RuntimeError(
                    f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                    f"{tuple(result.shape)}, but the tensor's gradient has shape {tuple(grad.shape)}")
            grad = result if create_graph else result._data
    return grad


def _accumulate(node, grad, create_graph, tracer):
    """leaf.grad += grad (a fresh copy the first time, so no two leaves share an array)."""
    leaf = node._variable()
    if leaf is None:
        return
    if grad.__class__ is not _ndarray:
        grad = _array(grad)
    Tensor = _node.Tensor
    before = leaf._grad
    if tracer is not None:
        snapshot = None if before is None else _as_tensor(before._data.copy())
    if create_graph:
        grad = _as_tensor(grad)
        leaf._grad = grad if before is None else before + grad
    elif before is None:
        leaf._grad = Tensor._make(grad.copy())
    elif before._requires_grad:     # a grad left with a graph by create_graph: keep it pure
        leaf._grad = Tensor._make(before._data + grad)
    else:
        before._data += grad
        before._vc[0] += 1
    if tracer is not None:
        tracer.accumulate(node, snapshot, grad, leaf._grad)


def _retain(node, grad, create_graph):
    tensor = node._retain()
    if tensor is None:
        return
    grad = _array(grad)
    Tensor = _node.Tensor
    if create_graph:
        grad = _as_tensor(grad)
        tensor._grad = grad if tensor._grad is None else tensor._grad + grad
    elif tensor._grad is None:
        tensor._grad = Tensor._make(grad.copy())
    else:
        tensor._grad = Tensor._make(tensor._grad._data + grad)
