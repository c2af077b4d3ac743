"""``nn.utils``: gradient clipping, with PyTorch's names and semantics
(``from torch.nn.utils import clip_grad_norm_``).

* ``clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False)``: all the
  gradients scaled by one factor, min(1, max_norm / (‖g‖ + 1e-6)), where ‖g‖ is the norm of all
  of them together (as if concatenated into one vector); returns ‖g‖, a tensor;
* ``clip_grad_value_(parameters, clip_value)``: each gradient element clamped to
  [−clip_value, clip_value].

Both change the ``.grad`` tensors in place and record nothing; parameters without a gradient
are skipped. ``parameters`` may be one tensor or any iterable (a generator too).
"""
from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..creation import tensor
from ..functional import stack
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients together so that their joint norm is at most ``max_norm``; the joint
    norm before clipping is returned (a tensor of the gradients' dtype)."""
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return tensor(0.0)
    with no_grad():
        if norm_type == math.inf:
            total = stack([g.abs().max() for g in grads]).max()
        else:
            total = stack([(g.abs() ** norm_type).sum() for g in grads]).sum() ** (1 / norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(
                f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                f"{total.item()}, so they cannot be clipped. Look for the NaN or inf first "
                "(autograd.detect_anomaly() names the op that made it), or pass "
                "error_if_nonfinite=False to scale by the non-finite norm anyway.")
        coef = max_norm / (total.item() + 1e-6)
        if coef < 1.0:
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [−clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
