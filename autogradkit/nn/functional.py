"""``autogradkit.nn.functional``: layers and losses as plain functions (PyTorch's names)."""
from __future__ import annotations

import numpy as np

from .. import functional as _F
from ..backend import to_device
from ..creation import default_generator
from ..functional import _renamed
from ..tensor import Tensor
from .activations import elu, leaky_relu, logsigmoid, silu, softplus  # noqa: F401
from ..ops import elementwise as _E, layers as _L

tanh, sigmoid = _F.tanh, _F.sigmoid


# PyTorch's activations take ``inplace=``: accepted, and computed out of place (the input is
# left as it was, so nothing a backward pass saved is overwritten).
def relu(input, inplace=False):
    """max(x, 0); its gradient at 0 is 0 (as PyTorch)."""
    return _F.relu(input)


def softmax(x, dim):
    return _F.softmax(x, dim)


def log_softmax(x, dim):
    return _F.log_softmax(x, dim)


def linear(x, weight, bias=None):
    """x Wᵀ + b, recorded as PyTorch records it: ``addmm(bias, x, weight.t())`` for a batch of
    rows (``AddmmBackward0``, or ``MmBackward0`` without a bias); any other input is flattened to
    rows and the result viewed back to the input's leading shape."""
    if not (isinstance(x, Tensor) and isinstance(weight, Tensor)):
        raise TypeError(f"linear: expected tensors, got input {type(x).__name__} and weight "
                        f"{type(weight).__name__}")
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: the input's last dimension must equal in_features; got input of shape "
            f"{tuple(x.shape)} and weight of shape {tuple(weight.shape)} (out_features, "
            f"in_features = {weight.shape[-1] if weight.ndim else '?'})")
    if x.ndim == 2:
        return _linear_rows(x, weight, bias)
    if bias is not None and not (bias.ndim == 1 or (bias.ndim == 2 and bias.shape[0] == 1)):
        return _F.matmul(x, weight.t()) + bias      # a bias that broadcasts over the batch axes
    out = _linear_rows(x.reshape(-1, x.shape[-1]), weight, bias)
    out = out.reshape(*x.shape[:-1], weight.shape[0])
    if bias is None:                                       # PyTorch's names for these views
        out = _renamed(out, "SqueezeBackward4" if x.ndim == 1 else "UnsafeViewBackward0")
    return out


def _linear_rows(x, weight, bias):
    if bias is None:
        return _F.matmul(x, weight.t())
    return _L.Addmm.apply(bias, x, weight.t())


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1 − p) (only when training)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    g = generator if generator is not None else default_generator()
    keep = g.random(tuple(x.shape)) >= p
    mask = Tensor(keep.astype(x._data.dtype) / (1 - p), device=x.device)
    return x * mask


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_reduction(reduction, op):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    """mean((input − target)²), one node (``MseLossBackward0``; it checks ``reduction``)."""
    return _L.MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input, target, reduction="mean"):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"l1_loss: input of shape {tuple(input.shape)} and target of shape "
                         f"{tuple(target.shape)} must have the same shape")
    return _reduce((input - target).abs(), reduction, "l1_loss")


def nll_loss(log_probs, target, reduction="mean"):
    """−log p[target] per sample, from log-probabilities of shape (N, C) and class indices (N,)."""
    if log_probs.ndim != 2:
        raise ValueError(f"nll_loss: expected log-probabilities of shape (N, C), got {tuple(log_probs.shape)}")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (an integer tensor), got {t.dtype}")
    n, c = log_probs.shape
    if t.shape != (n,):
        raise ValueError(f"nll_loss: target must have shape ({n},) for input of shape ({n}, {c}), "
                         f"got {tuple(t.shape)}")
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        raise IndexError(f"nll_loss: target class indices must be in [0, {c - 1}], got values from "
                         f"{int(t.min())} to {int(t.max())}")
    _check_reduction(reduction, "nll_loss")
    if type(t) is not type(log_probs._data):
        t = to_device(t, log_probs.device)
    return _L.NLLLoss.apply(log_probs, target=t.astype(np.int64, copy=False), reduction=reduction)


def cross_entropy(input, target, reduction="mean"):
    """Softmax + negative log-likelihood in one stable step. ``target``: class indices (N,), or
    class probabilities of the input's shape."""
    _check_reduction(reduction, "cross_entropy")
    logp = _F.log_softmax(input, 1 if input.ndim > 1 else 0)
    if isinstance(target, Tensor) and target._data.dtype.kind == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        return _reduce(-(target * logp).sum(1 if input.ndim > 1 else 0), reduction, "cross_entropy")
    return nll_loss(logp, target, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Sigmoid + binary cross-entropy in one stable step."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    return _reduce(_L.BCEWithLogits.apply(input, target), reduction, "binary_cross_entropy_with_logits")


# ---- layer normalization (helper H2, issue 15) ------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x − mean) / √(var + ε) · weight + bias, the mean and the (biased) variance taken over
    the last ``len(normalized_shape)`` dimensions. Built from mean, var and sqrt, so its gradient
    is theirs by the chain rule."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(
            f"layer_norm: given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}; the "
            "input's last dimensions must equal normalized_shape")
    dims = tuple(range(-k, 0))
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, keepdim=True, correction=0)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
