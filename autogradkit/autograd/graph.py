"""``autograd.graph``: what the recorded graph keeps alive for backward, and hooks on it.

* ``saved_tensors_hooks(pack_hook, unpack_hook)`` (PyTorch's): inside the block, every tensor an
  op saves for backward — its inputs, its output, what a custom ``Function`` passes to
  ``ctx.save_for_backward`` — goes through ``pack_hook(tensor)`` when it is saved, and the node
  keeps whatever that returns; when backward needs it, ``unpack_hook(packed)`` must give a tensor
  with the same numbers back. Blocks nest; the innermost pair is the one used. Uses: count the
  bytes saved for backward, keep them elsewhere (``save_on_cpu``), or recompute them instead
  (``utils.checkpoint``).
* ``saved_nbytes(node)``: the bytes a node holds for its backward rule (``saved_arrays``).

What autogradkit saves differs from PyTorch in one way a counting hook sees: an op keeps every
input its rule may read (``MulBackward0`` keeps both factors even when only one needs a gradient,
``AddmmBackward0`` keeps its bias), where PyTorch keeps only those the needed gradients read. So a
pack hook runs more often here (9 calls against PyTorch's 6 for a Linear-Tanh-Linear net's MSE
loss); gradients are the same.

As in PyTorch, ``pack_hook`` runs with grad mode off and gets the saved tensor itself (a saved
*output* comes as a tensor on the output's numbers, without its ``grad_fn``: a node never holds its
own output). The in-place check still runs under hooks wherever it can matter: when
``unpack_hook`` gives back a tensor on the original's numbers (the same tensor, or one sharing its
version counter) that has been changed in place since it was saved, the error is raised as without
hooks. (PyTorch skips the check under hooks and would compute a silently wrong gradient there.) A
copy made by ``pack_hook`` keeps the numbers of the moment it was saved: no check is needed.

The switch the speed shortcuts listen to lives here too (``need_reference``): forward mode, these
hooks and anomaly mode need the reference recording (``Op.apply``), so while any of them is active
``autogradkit/fast.py``'s recording shortcuts step aside.
"""
from __future__ import annotations

import numpy as np

from ..tensor_base import TensorBase
from .grad_mode import GradMode

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "saved_nbytes",
           "saved_arrays"]

# (on_first, on_last) pairs: ``on_first()`` runs when the first reason to record on the reference
# path appears, ``on_last()`` when the last one ends. fast.install() registers the pair that takes
# its recording shortcuts out of the way (forward_ad.LEVEL_HOOKS is this same list).
REFERENCE_HOOKS = []


class _Reasons:
    count = 0       # how many active blocks (dual level, saved-tensor hooks, anomaly mode) need it


def need_reference(more):
    """One more (``more=True``) or one fewer reason to record on the reference path."""
    if more:
        _Reasons.count += 1
        if _Reasons.count == 1:
            for on_first, _ in REFERENCE_HOOKS:
                on_first()
    else:
        _Reasons.count -= 1
        if _Reasons.count == 0:
            for _, on_last in REFERENCE_HOOKS:
                on_last()


class SavedHooks:
    """The active ``(pack_hook, unpack_hook)`` pairs, innermost last; ``Op.apply`` reads ``stack``
    (empty: nothing to pack, the usual case). A ``None`` entry: hooks disabled, with its message."""
    stack = []


class Packed:
    """One saved tensor as a node holds it under hooks: what ``pack_hook`` returned, the hook that
    gives it back, the original's version counter and version (for the in-place check), its
    place in the graph (``edge``, for ``create_graph``), and its shape and dtype (for display)."""

    __slots__ = ("packed", "unpack_hook", "vc", "version", "edge", "shape", "dtype")

    def unpack(self, who):
        """The tensor ``unpack_hook`` gives back (``who`` names the node and slot in errors), and
        whether it is the original's numbers changed in place since they were saved."""
        t = self.unpack_hook(self.packed)
        if not isinstance(t, TensorBase):
            raise TypeError(f"Output of saved tensor unpack_hook expected to be a Tensor but got "
                            f"result of type {type(t).__name__} (unpacking {who})")
        return t, t._vcs is self.vc and self.vc[0] != self.version

    def rebuilt(self, t):
        """For a differentiable backward: ``t``'s numbers joined to the original's place in the
        graph (its ``grad_fn``, or its leaf's ``AccumulateGrad``), as PyTorch rebuilds them."""
        edge = self.edge
        if edge is None:
            return t._make(t._data)
        if edge.__class__.__name__ == "AccumulateGrad":
            leaf = t._make(t._data, None, True)
            leaf._accum = edge              # gradients still reach the original leaf's .grad
            return leaf
        return t._make(t._data, edge, True)


def pack(x, is_output=False):
    """``x`` as the node keeps it: through the innermost ``pack_hook`` (grad mode off), or ``x``
    itself when there is none, or when ``x`` is not a tensor."""
    hooks = SavedHooks.stack[-1]
    if hooks is None or not isinstance(x, TensorBase):      # (None: hooks disabled)
        return x
    p = Packed()
    p.unpack_hook, p.vc, p.version = hooks[1], x._vc, x._vc[0]
    p.shape, p.dtype = x.shape, x.dtype
    p.edge = None if is_output or not x._requires_grad else (x._grad_fn or x._accumulator())
    previous, GradMode.enabled = GradMode.enabled, False
    try:
        p.packed = hooks[0](x)
    finally:
        GradMode.enabled = previous
    return p


class saved_tensors_hooks:
    """``with autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):`` — every tensor saved
    for backward inside the block goes through ``pack_hook`` now and ``unpack_hook`` later::

        def pack(t):                   # called once per saved tensor, in the forward pass
            return t.detach().numpy().copy()
        def unpack(a):                 # called when backward needs it: give a tensor back
            return autogradkit.from_numpy(a)

        with autograd.graph.saved_tensors_hooks(pack, unpack):
            loss = model(x).sum()
        loss.backward()
    """

    def __init__(self, pack_hook, unpack_hook):
        if not (callable(pack_hook) and callable(unpack_hook)):
            raise TypeError("saved_tensors_hooks: pack_hook and unpack_hook must be functions, got "
                            f"{type(pack_hook).__name__} and {type(unpack_hook).__name__}")
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        if _disabled_message:
            raise RuntimeError(_disabled_message[-1])
        SavedHooks.stack.append((self.pack_hook, self.unpack_hook))
        need_reference(True)
        return self

    def __exit__(self, *exc):
        SavedHooks.stack.pop()
        need_reference(False)
        return False


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors are kept on the CPU (as numpy arrays) and moved back to their device when
    backward needs them (PyTorch's; ``pin_memory`` is accepted and has no effect here)."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack(t):
            return (t.device, t.cpu())

        def unpack(packed):
            device, t = packed
            return t.to(device)
        super().__init__(pack, unpack)


_disabled_message = []


class disable_saved_tensors_hooks:
    """Inside the block, entering ``saved_tensors_hooks`` raises ``RuntimeError(error_message)``
    (PyTorch's), and hooks entered before it are not used: tensors are saved as they are."""

    def __init__(self, error_message):
        self.error_message = error_message

    def __enter__(self):
        SavedHooks.stack.append(None)
        _disabled_message.append(self.error_message)
        return self

    def __exit__(self, *exc):
        SavedHooks.stack.pop()
        _disabled_message.pop()
        return False


# ---- what a node holds ------------------------------------------------------------------------
def _held(value):
    """The array(s) one saved value holds: a tensor's or an array's numbers; under hooks, what
    ``pack_hook`` returned, when it is a tensor, an array, or has ``.nbytes`` (else nothing:
    a file name or a recomputation key holds no numbers here)."""
    if isinstance(value, Packed):
        value = value.packed
        if isinstance(value, tuple):        # save_on_cpu's (device, tensor)
            return [a for v in value for a in _held(v)]
    if isinstance(value, TensorBase):
        return [value._data]
    if isinstance(value, np.ndarray) or hasattr(value, "nbytes"):
        return [value]
    return []


def saved_arrays(node):
    """The arrays ``node`` keeps for backward (saved inputs and/or output); empty once released.
    Under ``saved_tensors_hooks`` these are what ``pack_hook`` returned (see ``_held``)."""
    found = []
    for value in (getattr(node, "_saved", None) or ()):
        found += _held(value)
    out = getattr(node, "_out", None)
    if out is not None:
        found += _held(out)
    return found


def saved_nbytes(node):
    """Bytes held by ``node`` for its backward rule (0 for a leaf's ``AccumulateGrad``)."""
    return sum(int(a.nbytes) for a in saved_arrays(node))
