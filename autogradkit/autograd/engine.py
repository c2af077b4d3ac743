"""The backward pass: reverse-mode automatic differentiation over the recorded graph.

1. **Count** how many edges lead into every node reachable from the output (``count_edges``,
   an iterative walk: no recursion, so a 100,000-node chain is fine).
2. **Kahn's order.** Start from the output with ḡ = ∂L/∂L = 1. A node is *ready* when every node
   that uses it has sent its gradient (its count reached 0). Take a ready node, run its local rule
   (``run_node``), and send each input its share (``send``).
3. **Sum where paths meet.** A node used by several ops receives several shares: they are added
   (the multivariate chain rule), which is why a tensor used twice gets both contributions.
4. ``AccumulateGrad`` nodes add what reaches them into ``leaf.grad``.

Saved tensors are freed after a node runs, unless ``retain_graph=True``. With
``create_graph=True`` the rules run on tensors with recording on, so the gradients carry a graph
of their own. ``autograd.grad`` passes ``capture``: the gradients of the nodes it names are
stored there instead of in any ``.grad``. Anomaly mode (``autograd.detect_anomaly``) watches each
node's step like the trace does, and raises at the first NaN or infinity.
"""
from __future__ import annotations

import numpy as np

from . import anomaly_mode, growth, trace
from .grad_mode import GradMode
from .math import math_for
from .node import AccumulateGrad, BackwardTwiceError


def count_edges(roots):
    """How many edges point into each node reachable from ``roots`` (an iterative walk)."""
    counts = {}
    stack = list(dict.fromkeys(roots))
    seen = set(stack)
    while stack:
        for nxt in stack.pop()._next:
            if nxt is None:
                continue
            counts[nxt] = counts.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return counts


def nodes_needed(roots, counts, targets):
    """The nodes on some path from a root to one of ``targets`` (``autograd.grad`` runs no
    others): walk the graph in Kahn's order, then mark backwards from the targets."""
    remaining, order = dict(counts), []
    ready = [r for r in dict.fromkeys(roots) if r not in remaining]
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in node._next:
            if nxt is not None:
                remaining[nxt] -= 1
                if remaining[nxt] == 0:
                    ready.append(nxt)
    needed = set()
    for node in reversed(order):
        if any(n is not None and (n in targets or n in needed) for n in node._next):
            needed.add(node)
    return needed


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """Run the backward pass from ``roots`` (nodes) seeded with ``root_grads`` (ḡ of each)."""
    counts = count_edges(roots)
    needed = None if capture is None else nodes_needed(roots, counts, capture)
    pending = {}                    # node -> the sum of the gradients it has received so far
    for root, g in zip(roots, root_grads):
        pending[root] = g if root not in pending else pending[root] + g
    ready = [r for r in dict.fromkeys(roots) if r not in counts]
    tracer = anomaly_mode.watch(trace.active())     # anomaly mode checks each node's gradients
    previous, GradMode.enabled = GradMode.enabled, create_graph    # record only if asked to
    try:
        while ready:
            node = ready.pop()
            grad = pending.pop(node, None)
            grads = run_node(node, grad, retain_graph, create_graph, capture, needed, tracer)
            newly_ready = send(node, grads, counts, pending, tracer)
            ready.extend(reversed(newly_ready))         # inputs in order, depth first
    except BackwardTwiceError as error:     # the same graph again, or state carried across
        raise growth.explain(error, roots) from None    # iterations (a recurrent h)?
    finally:
        GradMode.enabled = previous
    if not retain_graph:
        growth.freed(roots)                 # stamped: a later op on them may grow the graph


def run_node(node, grad, retain_graph, create_graph, capture, needed, tracer):
    """One node's turn: hooks, retain_grad, capture; then its rule. One gradient per input."""
    if grad is not None and node._hooks:
        grad = run_hooks(node, grad, create_graph)
    if capture is not None and node in capture:
        capture[node] = grad
    if node.__class__ is AccumulateGrad:
        if capture is None and grad is not None:
            accumulate(node, grad, create_graph, tracer)
        return ()
    if grad is None:
        return (None,) * len(node._next)     # nothing reached it; the order still advances
    if node._retain is not None:
        retain(node, grad, create_graph)
    if needed is not None and node not in needed:
        return (None,) * len(node._next)     # autograd.grad: no target below this node
    grads = node._run_backward(math_for(grad), grad, create_graph)
    if not retain_graph:
        node._release()                      # free what it saved for backward
    if tracer is not None:
        tracer.step(node, grad, grads)
    return grads


def send(node, grads, counts, pending, tracer):
    """Give each input its gradient; return the inputs that have now heard from every user."""
    newly_ready = []
    for nxt, g in zip(node._next, grads):
        if nxt is None:
            continue
        if g is not None:
            g = as_array(g)
            before = pending.get(nxt)
            pending[nxt] = g if before is None else add(before, g, nxt, tracer)
        counts[nxt] -= 1
        if counts[nxt] == 0:
            newly_ready.append(nxt)
    return newly_ready


def add(before, g, node, tracer):
    """Two paths' gradients meet at ``node``: the chain rule adds them."""
    after = as_array(before + g)
    if tracer is not None:
        tracer.sum(node, before, g, after)
    return after


def run_hooks(node, grad, create_graph):
    """Tensor hooks: each sees the gradient (as a tensor) and may return a replacement."""
    for hook in list(node._hooks):
        result = hook(grad if create_graph else node._make(grad))
        if result is not None:
            if tuple(result.shape) != tuple(grad.shape):
                raise RuntimeError(
                    f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                    f"{tuple(result.shape)}, but the tensor's gradient has shape {tuple(grad.shape)}")
            grad = result if create_graph else result._data
    return grad


def accumulate(node, grad, create_graph, tracer):
    """leaf.grad += grad (a copy the first time, so no two tensors share one array)."""
    leaf = node._variable()
    if leaf is None:
        return
    before = leaf._grad
    snapshot = None if tracer is None or before is None else leaf._make(before._data.copy())
    if create_graph:
        leaf._grad = grad if before is None else before + grad
    elif before is None:
        leaf._grad = leaf._make(grad.copy())
    elif before._requires_grad:     # a grad left with a graph by create_graph: keep it pure
        leaf._grad = leaf._make(as_array(before._data + grad))
    else:
        before._data += grad        # in place: accumulates across backward() calls
        before._vc[0] += 1
    if tracer is not None:
        tracer.accumulate(node, snapshot, grad, leaf._grad)


def retain(node, grad, create_graph):
    """A non-leaf that called ``retain_grad()`` keeps (the sum of) its gradients in ``.grad``."""
    tensor = node._retain()
    if tensor is None:
        return
    if create_graph:
        tensor._grad = grad if tensor._grad is None else tensor._grad + grad
    else:
        old = tensor._grad
        tensor._grad = tensor._make(grad.copy() if old is None else as_array(old._data + grad))


def as_array(x):
    """numpy turns the results of 0-d arithmetic into numpy scalars; gradients stay arrays."""
    return np.asarray(x) if isinstance(x, np.generic) else x
