"""A recording of a real backward pass, for teaching and for the visualizers to replay.

    with autograd.trace_backward() as trace:
        loss.backward()
    for step in trace.steps: ...

Each ``Step`` holds the node that ran, the upstream gradient ḡ it received, and the gradient it
sent to each input. ``Sum`` records a place where two paths' gradients met and were added;
``Accumulate`` records a leaf's ``.grad`` before and after. Values are copies taken at the time, so
the trace stays true after later steps or later backward calls. The visualizers only replay this:
they never work gradients out on their own.
"""
from __future__ import annotations

import contextlib

from dataclasses import dataclass, field

import numpy as np

from ..tensor_base import TensorBase

_active = None


def active():
    return _active


def _copy(x, make):
    """A tensor holding a copy of ``x`` (an array, or a tensor with create_graph)."""
    if x is None:
        return None
    if isinstance(x, TensorBase):
        return x.detach().clone()
    return make(np.asarray(x) if isinstance(x, np.generic) else x.copy())


@dataclass
class Step:
    """One node's backward: upstream gradient in, one gradient out per input (None: not needed)."""
    index: int
    node: object
    grad_output: object
    grad_inputs: tuple

    @property
    def name(self):
        return self.node.name()


@dataclass
class Sum:
    """Two contributions met at ``node``: ``before + incoming = after`` (chain rule over paths)."""
    index: int
    node: object
    before: object
    incoming: object
    after: object


@dataclass
class Accumulate:
    """A leaf's gradient changed: ``before`` (None the first time) + ``incoming`` = ``after``."""
    index: int
    node: object
    before: object
    incoming: object
    after: object

    @property
    def variable(self):
        return self.node.variable


@dataclass
class BackwardTrace:
    events: list = field(default_factory=list)

    @property
    def steps(self):
        return [e for e in self.events if isinstance(e, Step)]

    @property
    def sums(self):
        return [e for e in self.events if isinstance(e, Sum)]

    @property
    def accumulations(self):
        return [e for e in self.events if isinstance(e, Accumulate)]

    # The engine calls these as it goes; each node's ``_make`` wraps the copies as tensors.
    def step(self, node, grad, grads):
        make = node._make
        self.events.append(Step(len(self.events), node, _copy(grad, make),
                                tuple(_copy(g, make) for g in grads)))

    def sum(self, node, before, incoming, after):
        make = node._make
        self.events.append(Sum(len(self.events), node, _copy(before, make),
                               _copy(incoming, make), _copy(after, make)))

    def accumulate(self, node, before, incoming, after):
        self.events.append(Accumulate(len(self.events), node, before,
                                      _copy(incoming, node._make), _copy(after, node._make)))

    def __len__(self):
        return len(self.events)


@contextlib.contextmanager
def trace_backward():
    """Record every backward pass run inside the ``with`` block into one ``BackwardTrace``."""
    global _active
    prev, _active = _active, BackwardTrace()
    try:
        yield _active
    finally:
        _active = prev
