"""Fused ops for layers and losses, one node each instead of several, named as PyTorch names
them.

They compute exactly what their composites would (``b + x Wᵀ``, ``mean((a − b)²)``), with a rule
of their own because a training step is a few of these on small arrays, where every node's
bookkeeping counts. Their gradients are gradchecked like every other op.
"""
from __future__ import annotations

import numpy as np

from ..autograd.node import Op, add_tangents
from ..backend import array_module
from ..tensor_base import TensorBase

_vdot = np.vdot


class Addmm(Op):
    """out = b + x·wt  (``linear``: wt = Wᵀ)    b̄ = Σ_rows ḡ,  x̄ = ḡ·wtᵀ,  w̄t = xᵀ·ḡ

    PyTorch's ``linear`` on a batch of rows is ``addmm(bias, x, weight.t())``: one node whose
    inputs are the bias, the input and the transposed weight (a ``TBackward0`` node), in that
    order. Shapes: x (N, in), wt (in, out), b (out,), out (N, out)."""
    _name, op, formula = "AddmmBackward0", "addmm", "b̄ = Σ ḡ, x̄ = ḡ·wtᵀ, w̄t = xᵀ·ḡ"
    jvp_formula = "ẏ = ḃ + ẋ·wt + x·ẇt"
    save = "inputs"

    def forward(self, bias, x, wt):
        if x.ndim != 2 or wt.ndim != 2 or x.shape[1] != wt.shape[0]:
            raise ValueError(
                f"addmm: needs matrices x (N, in) and wt (in, out) that line up; got shapes "
                f"{tuple(x.shape)} and {tuple(wt.shape)}")
        out = x.dot(wt)
        out += bias
        return out

    def backward(self, math, g, bias, x, wt):
        need_b, need_x, need_w = (n is not None for n in self._next)
        if need_b:      # a bias of shape (out,): summed over the rows; any other is unbroadcast
            gb = math.sum_rows(g) if bias.ndim == 1 else g
        else:
            gb = None
        gx = math.mm(g, wt.swapaxes(0, 1)) if need_x else None
        # w̄t = xᵀ·ḡ, computed as (ḡᵀ·x)ᵀ so that the weight's own gradient is a plain array
        gw = math.mm(g.swapaxes(0, 1), x).swapaxes(0, 1) if need_w else None
        return gb, gx, gw

    def jvp(self, math, tb, tx, twt, bias, x, wt):
        return add_tangents(tb, tx @ wt if tx is not None else None,
                            x @ twt if twt is not None else None)


class MSELoss(Op):
    """out = mean((a − b)²)    ā = 2(a − b)/n · ḡ,  b̄ = −ā"""
    _name, op, formula = "MseLossBackward0", "mse_loss", "ā = 2(a − b)/n·ḡ, b̄ = −ā"
    jvp_formula = "ẏ = 2 Σ (a − b)·(ȧ − ḃ) / n"
    save = "inputs"
    reduction = "mean"

    def forward(self, a, b, reduction="mean"):
        if a.shape != b.shape:
            raise ValueError(
                f"mse_loss: input of shape {tuple(a.shape)} and target of shape {tuple(b.shape)} "
                "differ; PyTorch would broadcast them (usually a bug, e.g. (N, 1) against (N,)). "
                "Reshape one of them so the shapes match.")
        if reduction != "mean":
            if reduction not in ("sum", "none"):
                raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got "
                                 f"{reduction!r}")
            self.reduction = reduction
        a, b = _promote_integer(a, b)
        d = a - b
        if reduction == "none":
            return d * d
        # Σ d² as one BLAS call: cheaper than (d*d).sum() on small arrays
        total = _vdot(d, d) if type(d) is np.ndarray else d.reshape(-1).dot(d.reshape(-1))
        return total / d.size if reduction == "mean" else total

    def backward(self, math, g, a, b):
        n = a.numel() if isinstance(a, TensorBase) else a.size
        if not isinstance(a, TensorBase):   # (tensors promote by themselves)
            a, b = _promote_integer(a, b)
        ga = (a - b) * (g * (2.0 / n if self.reduction == "mean" else 2.0))
        return ga, (-ga if self._next[1] is not None else None)

    def jvp(self, math, ta, tb, a, b):
        if not isinstance(a, TensorBase):
            a, b = _promote_integer(a, b)
        terms = (a - b) * add_tangents(ta, -tb if tb is not None else None) * 2.0
        if self.reduction == "none":
            return terms
        n = a.numel() if isinstance(a, TensorBase) else a.size
        return terms.sum() / n if self.reduction == "mean" else terms.sum()


def _promote_integer(a, b):
    """PyTorch's type promotion for two arrays: an integer (or bool) one meeting a floating one
    takes its dtype, so a float32 input against an int64 target gives float32."""
    ka, kb = a.dtype.kind, b.dtype.kind
    if ka in "fc" and kb in "biu":
        return a, b.astype(a.dtype)
    if kb in "fc" and ka in "biu":
        return a.astype(b.dtype), b
    return a, b


class BCEWithLogits(Op):
    """out = max(x, 0) − x·y + log(1 + e^(−|x|))  (= −[y log σ(x) + (1 − y) log(1 − σ(x))], without
    overflow)    x̄ = (σ(x) − y)·ḡ,  ȳ = −x·ḡ. Fused: the composite's kinks at x = 0 would give a
    wrong gradient there."""
    _name, op, formula = "BinaryCrossEntropyWithLogitsBackward0", "binary_cross_entropy_with_logits", \
        "x̄ = (σ(x) − y)·ḡ"
    jvp_formula = "d(out) = (σ(x) − y)·ẋ − x·ẏ"
    save = "inputs"

    def forward(self, x, y):
        if x.shape != y.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: input of shape {tuple(x.shape)} and "
                             f"target of shape {tuple(y.shape)} must have the same shape")
        xp = array_module(x)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, math, g, x, y):
        sig = math.sigmoid(x)
        return g * (sig - y), (-g * x if self._next[1] is not None else None)

    def jvp(self, math, tx, ty, x, y):
        return add_tangents(tx * (math.sigmoid(x) - y) if tx is not None else None,
                            -x * ty if ty is not None else None)


class NLLLoss(Op):
    """out = −(1/n) Σᵢ x[i, tᵢ]  (or the sum, or per sample)    x̄[i, tᵢ] = −ḡ/n, zero elsewhere.

    The negative log-likelihood of class indices ``t`` given log-probabilities ``x`` of shape
    (N, C). One node, as PyTorch's ``NllLossBackward0``, instead of index + neg + mean."""
    _name, op, formula = "NllLossBackward0", "nll_loss", "x̄[i, tᵢ] = −ḡ/n"
    jvp_formula = "ẏ = −(1/n) Σᵢ ẋ[i, tᵢ]"

    def forward(self, x, target, reduction="mean"):
        xp = array_module(x)
        self.reduction, self.shape = reduction, x.shape
        self.key = (xp.arange(x.shape[0]), target)
        picked = -x[self.key]
        if reduction == "mean":
            return picked.sum() / x.shape[0]
        if reduction == "sum":
            return picked.sum()
        return picked

    def backward(self, math, g):
        n = self.shape[0]
        scale = -1.0 / n if self.reduction == "mean" else -1.0
        if self.reduction != "none":
            g = math.expand(g.reshape((1,)), (n,))        # the same ḡ for every sample
        return math.index_add(self.shape, self.key, g * scale, False)   # each (i, tᵢ) once

    def jvp(self, math, t):
        picked = -t[self.key]
        if self.reduction == "mean":
            return picked.sum() / self.shape[0]
        return picked.sum() if self.reduction == "sum" else picked
