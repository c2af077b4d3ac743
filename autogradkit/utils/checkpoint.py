"""Activation checkpointing (PyTorch's ``torch.utils.checkpoint``): trade compute for memory.

``checkpoint(function, *args)`` runs ``function(*args)`` keeping none of the tensors its ops save
for backward; when backward needs them, it runs ``function`` again on the same inputs (with the
random state it had, so a dropout mask repeats) and takes them from that second run. The
gradients are the same, to the bit; the memory saved for backward inside ``function`` drops to
nothing, for the price of one more forward pass of it. ``checkpoint_sequential`` cuts a chain of
layers into segments and checkpoints each (with √n segments of n layers, memory grows as √n).

How (PyTorch's non-reentrant algorithm, ``use_reentrant=False``): ``function`` runs with grad
mode on, so the graph is recorded as usual — its nodes, its edges to the parameters used inside
``function``, which therefore get their ``.grad`` — but inside ``saved_tensors_hooks`` whose
``pack`` keeps only a number (which saved tensor this is, in order). The first ``unpack`` in
backward recomputes: it runs ``function`` again with a ``pack`` that collects the saved tensors of
that run in the same order, and each ``unpack`` hands back its own.

``use_reentrant`` is PyTorch's argument: both values run the algorithm above (the gradients are
the same either way); left out, it warns as PyTorch 2.x does, and, as there, keyword arguments for
``function`` need ``use_reentrant=False``.
"""
from __future__ import annotations

import warnings

from ..autograd.grad_mode import enable_grad
from ..autograd.graph import saved_tensors_hooks
from ..creation import get_rng_state, set_rng_state
from ..tensor_base import TensorBase

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Frame:
    """One checkpointed call: what is needed to run it again, and that run's saved tensors."""

    def __init__(self, function, args, kwargs, rng_state):
        self.function, self.args, self.kwargs, self.rng_state = function, args, kwargs, rng_state
        self.versions = None        # the inputs' versions after the first run
        self.metadata = []          # (shape, dtype) of each tensor the first run saved
        self.recomputed = {}        # index -> the tensor the recomputation saved there

    def pack(self, tensor):
        """The first run: keep only the saved tensor's index (and shape and dtype), not its
        numbers."""
        self.metadata.append((tuple(tensor.shape), tensor.dtype))
        return len(self.metadata) - 1

    def unpack(self, index):
        """Backward: the index-th saved tensor, recomputed on the first need."""
        if index not in self.recomputed:
            self.recompute()
        return self.recomputed.pop(index)

    def recompute(self):
        """Run ``function`` again on the same inputs and random state, collecting what it saves."""
        found = []
        now = [a._version for a in self.args if isinstance(a, TensorBase)]
        if now != self.versions:
            raise RuntimeError(
                f"checkpoint: an input of {_name(self.function)} was modified by an in-place "
                f"operation after the forward pass (versions {self.versions} then {now}), so "
                "recomputing it would give other numbers. Change a copy instead (.clone()).")

        def collect(tensor):
            found.append(tensor.detach())   # its numbers, not the recomputation's graph
            return None

        inputs = [_alias(a) for a in self.args]
        state = None
        if self.rng_state is not None:
            state = get_rng_state()
            set_rng_state(self.rng_state)
        try:
            with enable_grad(), saved_tensors_hooks(collect, _no_unpack):
                self.function(*inputs, **self.kwargs)
        finally:
            if state is not None:
                set_rng_state(state)
        again = [(tuple(t.shape), t.dtype) for t in found]
        if again != self.metadata:
            raise RuntimeError(
                f"checkpoint: recomputing {_name(self.function)} saved {len(found)} tensors for "
                f"backward, but its first run saved {len(self.metadata)}"
                f"{'' if len(found) != len(self.metadata) else ' of other shapes or dtypes'}. "
                "The function must do the same operations every time it runs (no branches on "
                "anything but its inputs).")
        self.recomputed = dict(enumerate(found))


def _alias(a):
    """A tensor input for the recomputation: the same numbers, no history, requiring grad as the
    input does (so the same ops are recorded and save the same tensors)."""
    if not isinstance(a, TensorBase):
        return a
    d = a.detach()
    d._requires_grad = a._requires_grad
    return d


def _no_unpack(packed):
    raise RuntimeError("checkpoint: the recomputation's graph is never run backward")


def _name(function):
    return getattr(function, "__name__", type(function).__name__)


def _check_reentrant(use_reentrant):
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "use_reentrant=False is recommended (autogradkit runs the non-reentrant algorithm "
            "for both values).", stacklevel=3)


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, its saved tensors recomputed in backward instead of kept.

    Gradients (of the inputs and of the parameters used inside ``function``) are the same as
    without checkpointing. ``preserve_rng_state=True`` makes the recomputation draw the same
    random numbers (the same dropout mask). ``function`` must do the same ops every time."""
    _check_reentrant(use_reentrant)
    if kwargs and use_reentrant is not False:       # (None means True, as in PyTorch 2.x)
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs) + " (checkpoint "
                         "passes keyword arguments to the function only with use_reentrant=False)")
    if context_fn is not None:
        raise NotImplementedError("checkpoint: context_fn is not supported by autogradkit")
    frame = _Frame(function, args, kwargs, get_rng_state() if preserve_rng_state else None)
    with saved_tensors_hooks(frame.pack, frame.unpack):
        out = function(*args, **kwargs)
    frame.versions = [a._version for a in args if isinstance(a, TensorBase)]
    return out


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (an ``nn.Sequential`` or a list of modules/functions) one after the other
    on ``input``, in ``segments`` chunks: each chunk but the last is checkpointed (PyTorch's)."""
    _check_reentrant(use_reentrant)
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children"):
        functions = list(functions.children())
    functions = list(functions)

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        forward.__name__ = f"segment {start}..{end}"
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=False,
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)
