"""Fused ops for layers and losses, one node each instead of several.

They compute exactly what their composites would (``x @ Wᵀ + b``, ``mean((a − b)²)``), with a
rule of their own because a training step is a few of these on small arrays, where every node's
bookkeeping counts. Their gradients are gradchecked like every other op.
"""
from __future__ import annotations

from ..autograd.node import Op


class Linear(Op):
    """out = x Wᵀ + b    x̄ = ḡ W,  W̄ = ḡᵀ x (summed over batch axes),  b̄ = ḡ summed over batch axes"""
    name, op, formula = "AddmmBackward0", "linear", "x̄ = ḡ·W, W̄ = ḡᵀ·x, b̄ = Σ ḡ"
    save = "inputs"

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
            raise ValueError(
                f"linear: the input's last dimension must equal in_features; got input of shape "
                f"{tuple(x.shape)} and weight of shape {tuple(weight.shape)} (out_features, "
                f"in_features = {weight.shape[-1]})")
        if x.ndim != 2:
            self.name = "ViewBackward0" if bias is not None else "MmBackward0"
        elif bias is None:
            self.name = "MmBackward0"
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, F, g, x, weight, bias=None):
        need_x, need_w = self._next[0] is not None, self._next[1] is not None
        need_b = len(self._next) > 2 and self._next[2] is not None
        gx = g @ weight if need_x else None
        gw = gb = None
        if need_w or need_b:
            g2 = g.reshape((-1, g.shape[-1]))                   # (batch, out)
            if need_w:
                gw = g2.swapaxes(0, 1) @ x.reshape((-1, x.shape[-1]))
            if need_b:
                gb = g2.sum(axis=0)
        return (gx, gw) if bias is None else (gx, gw, gb)


class MSELoss(Op):
    """out = mean((a − b)²)    ā = 2(a − b)/n · ḡ,  b̄ = −ā"""
    name, op, formula = "MseLossBackward0", "mse_loss", "ā = 2(a − b)/n·ḡ, b̄ = −ā"
    save = "inputs"

    def forward(self, a, b, reduction="mean"):
        if a.shape != b.shape:
            raise ValueError(
                f"mse_loss: input of shape {tuple(a.shape)} and target of shape {tuple(b.shape)} "
                "differ; PyTorch would broadcast them (usually a bug, e.g. (N, 1) against (N,)). "
                "Reshape one of them so the shapes match.")
        self.reduction, self.n = reduction, a.size
        d = a - b
        sq = d * d
        if reduction == "mean":
            return sq.sum() / self.n          # (numpy's mean() costs more on small arrays)
        if reduction == "sum":
            return sq.sum()
        return sq

    def backward(self, F, g, a, b):
        d = a - b
        ga = d * (g * (2.0 / self.n if self.reduction == "mean" else 2.0))
        return ga, (-ga if self._next[1] is not None else None)


class BCEWithLogits(Op):
    """out = max(x, 0) − x·y + log(1 + e^(−|x|))  (= −[y log σ(x) + (1 − y) log(1 − σ(x))], without
    overflow)    x̄ = (σ(x) − y)·ḡ,  ȳ = −x·ḡ. Fused: the composite's kinks at x = 0 would give a
    wrong gradient there."""
    name, op, formula = "BinaryCrossEntropyWithLogitsBackward0", "binary_cross_entropy_with_logits", \
        "x̄ = (σ(x) − y)·ḡ"
    save = "inputs"

    def forward(self, x, y):
        if x.shape != y.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: input of shape {tuple(x.shape)} and "
                             f"target of shape {tuple(y.shape)} must have the same shape")
        from .elementwise import _xp
        xp = _xp(x)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, F, g, x, y):
        sig = F.sigmoid(x)
        return g * (sig - y), (-g * x if self._next[1] is not None else None)


class NLLLoss(Op):
    """out = −(1/n) Σᵢ x[i, tᵢ]  (or the sum, or per sample)    x̄[i, tᵢ] = −ḡ/n, zero elsewhere.

    The negative log-likelihood of class indices ``t`` given log-probabilities ``x`` of shape
    (N, C). One node, as PyTorch's ``NllLossBackward0``, instead of index + neg + mean."""
    name, op, formula = "NllLossBackward0", "nll_loss", "x̄[i, tᵢ] = −ḡ/n"

    def forward(self, x, target, reduction="mean"):
        from .elementwise import _xp
        xp = _xp(x)
        self.reduction, self.shape = reduction, x.shape
        self.key = (xp.arange(x.shape[0]), target)
        picked = -x[self.key]
        if reduction == "mean":
            return picked.sum() / x.shape[0]
        if reduction == "sum":
            return picked.sum()
        return picked

    def backward(self, F, g):
        n = self.shape[0]
        scale = -1.0 / n if self.reduction == "mean" else -1.0
        if self.reduction != "none":
            g = F.expand(g.reshape((1,)), (n,))        # the same ḡ for every sample
        return F.index_add(self.shape, self.key, g * scale, False)   # each (i, tᵢ) once
