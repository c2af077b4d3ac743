"""``backward`` and ``grad``: the two ways to ask for gradients.

* ``loss.backward()`` adds ∂loss/∂leaf into every leaf's ``.grad``;
* ``autograd.grad(outputs, inputs)`` returns ∂outputs/∂inputs and touches no ``.grad``.

(PyTorch keeps these in ``torch/autograd/__init__.py``; ``autograd.functional`` is its
Jacobian/Hessian API, built on ``grad`` — here ``autograd/functional.py``.)
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..tensor_base import TensorBase
from .engine import run_backward


def _seq(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _seed(outputs, grad_outputs, create_graph, who):
    """The gradient each output starts with: given, or 1 for a one-element output."""
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, TensorBase):
            raise TypeError(f"{who}: outputs must be tensors, got {type(out).__name__}")
        if not out._requires_grad:
            raise RuntimeError(
                f"{who}: element {k} of the outputs does not require grad and has no grad_fn, so "
                "there is nothing to differentiate. Did you create the inputs with "
                "requires_grad=True, and compute outside no_grad()?")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be created implicitly only for one-element outputs, but this "
                    f"output has shape {tuple(out._data.shape)}. Reduce it to a number first (e.g. "
                    "y.sum().backward()), or pass gradient= a tensor of the output's shape "
                    "(e.g. ones_like(y)) — it is the ḡ = ∂L/∂y that backward starts from.")
            g = out._make(ones_like(out._data))
        elif not isinstance(g, TensorBase):
            g = out._make(ones_like(out._data) * g) if isinstance(g, (int, float)) else \
                out._make(np.asarray(g))
        if tuple(g._data.shape) != tuple(out._data.shape):
            raise RuntimeError(
                f"{who}: the gradient given for output {k} has shape {tuple(g._data.shape)}, but the "
                f"output has shape {tuple(out._data.shape)}; they must match")
        if type(g._data) is not type(out._data):
            raise RuntimeError(f"{who}: the gradient is on {g.device} but the output is on {out.device}")
        if g._data.dtype != out._data.dtype:
            g = g.to(dtype=out._data.dtype)
        seeds.append(g if create_graph else g._data)
    return seeds


def ones_like(a):
    """ḡ = 1 for every element of ``a`` (the seed of ``loss.backward()``)."""
    return array_module(a).ones(a.shape, dtype=a.dtype)


def _root(t):
    return t._grad_fn if t._grad_fn is not None else t._accumulator()


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Add the gradients of ``tensors`` into the ``.grad`` of every leaf they depend on."""
    tensors = _seq(tensors)
    grads = _seq(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if len(grads) != len(tensors):
        raise ValueError(f"backward: got {len(tensors)} tensors but {len(grads)} gradients")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seed(tensors, grads, create_graph, "backward")
    if inputs is not None:
        inputs = _seq(inputs)
        got = grad(tensors, inputs, [s if create_graph else t._make(s) for t, s in zip(tensors, seeds)],
                   retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
        for t, g in zip(inputs, got):
            if g is not None:
                t._grad = g if t._grad is None else t._grad + g
        return
    run_backward([_root(t) for t in tensors], seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """∂outputs/∂inputs as a tuple (one per input), without touching any ``.grad``.

    ``grad_outputs`` plays the role of ḡ for each output (needed when an output is not a single
    number): the result is then the vector-Jacobian product ḡᵀ·J.
    """
    outputs, inputs = _seq(outputs), _seq(inputs)
    grads = _seq(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise ValueError(f"grad: got {len(outputs)} outputs but {len(grads)} grad_outputs")
    if retain_graph is None:
        retain_graph = create_graph
    for k, x in enumerate(inputs):
        if not isinstance(x, TensorBase) or not x._requires_grad:
            raise RuntimeError(f"grad: input {k} does not require grad; create it with "
                               "requires_grad=True (or call .requires_grad_())")
    seeds = _seed(outputs, grads, create_graph, "grad")
    targets = [_root(x) for x in inputs]
    capture = dict.fromkeys(targets)
    run_backward([_root(t) for t in outputs], seeds, retain_graph, create_graph, capture=capture)
    result = []
    for k, (x, node) in enumerate(zip(inputs, targets)):
        g = capture[node]
        if g is None:
            if materialize_grads:
                result.append(x._make(array_module(x._data).zeros_like(x._data)))
                continue
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {k} was not used to compute the outputs, so its gradient is "
                    "undefined. Pass allow_unused=True to get None for it instead.")
            result.append(None)
        else:
            result.append(g if isinstance(g, TensorBase) else x._make(g))
    return tuple(result)
