"""Fused ops for layers and losses, one node each instead of several.

They compute exactly what their composites would (``x @ Wᵀ + b``, ``mean((a − b)²)``), with a
rule of their own because a training step is a few of these on small arrays, where every node's
bookkeeping counts. Their gradients are gradchecked like every other op.
"""
from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import GradMode
from ..autograd.node import Op, _inplace_error, _link
from ..tensor import Tensor

_ndarray = np.ndarray
_new = object.__new__
_make = Tensor._make
_asarray, _vdot = np.asarray, np.vdot
_apply = Op.apply.__func__      # the generic recording, for the cases Linear.apply leaves to it


class Linear(Op):
    """out = x Wᵀ + b    x̄ = ḡ W,  W̄ = ḡᵀ x (summed over batch axes),  b̄ = ḡ summed over batch axes"""
    _name, op, formula = "AddmmBackward0", "linear", "x̄ = ḡ·W, W̄ = ḡᵀ·x, b̄ = Σ ḡ"
    save = "inputs"
    fresh_grads = True

    @classmethod
    def apply(cls, x, weight, bias=None):
        """Record ``x Wᵀ + b``. The everyday case (a 2-D input, numpy arrays of one dtype) is
        recorded here with the least bookkeeping, since a training step is mostly these; every
        other case — batched inputs, mixed dtypes, the GPU, bad input — goes through ``Op.apply``."""
        try:
            xd, wd = x._data, weight._data
            bd = None if bias is None else bias._data
        except AttributeError:                  # not tensors: Op.apply says what is wrong
            return _apply(cls, x, weight, bias)
        if not (xd.__class__ is _ndarray and wd.__class__ is _ndarray and xd.ndim == 2
                and wd.ndim == 2 and xd.shape[1] == wd.shape[1] and xd.dtype is wd.dtype
                and (bd is None or (bd.__class__ is _ndarray and bd.dtype is wd.dtype
                                    and bd.shape == wd.shape[:1]))):
            return _apply(cls, x, weight, bias)
        out = xd.dot(wd.T)
        if bd is not None:
            out += bd
        rx, rw = x._requires_grad, weight._requires_grad
        rb = bias is not None and bias._requires_grad
        if not ((rx or rw or rb) and GradMode.enabled):
            return _make(out)
        node = _new(cls)
        fx = x._grad_fn if rx else None
        nexts = (fx or ((x._accum or x._accumulator()) if rx else None),
                 (weight._grad_fn or weight._accum or weight._accumulator()) if rw else None)
        vx, vw = x._vcs, weight._vcs
        if bias is None:
            node._name = "MmBackward0"
            node._saved = (x, weight)
            node._versions = None if vx is None and vw is None else (
                0 if vx is None else vx[0], 0 if vw is None else vw[0])
        else:
            nexts += ((bias._grad_fn or bias._accum or bias._accumulator()) if rb else None,)
            node._saved = (x, weight, bias)
            vb = bias._vcs
            node._versions = None if vx is None and vw is None and vb is None else (
                0 if vx is None else vx[0], 0 if vw is None else vw[0], 0 if vb is None else vb[0])
        if weight._grad_fn is None and (bias is None or bias._grad_fn is None):
            node._next = nexts          # _link, written out for parameters (leaves) and input x
            if fx is None:
                node._tree = True
            elif fx._consumed:
                node._tree = False
            else:
                fx._consumed, node._tree = True, fx._tree
            node._consumed = False
        else:
            _link(node, nexts)
        node._in_meta = None        # gradients come out in the inputs' shapes and dtype
        return _make(out, node, True)

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
            raise ValueError(
                f"linear: the input's last dimension must equal in_features; got input of shape "
                f"{tuple(x.shape)} and weight of shape {tuple(weight.shape)} (out_features, "
                f"in_features = {weight.shape[-1]})")
        if x.ndim != 2:
            self._name = "ViewBackward0" if bias is not None else "MmBackward0"
        elif bias is None:
            self._name = "MmBackward0"
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def _run_backward(self, F, grad, create_graph):
        saved = self._saved
        if create_graph or saved is None or grad.__class__ is not _ndarray or self._in_meta is not None:
            return Op._run_backward(self, F, grad, create_graph)
        # The fast path: the saved tensors' arrays, after checking that none was changed in place.
        versions = self._versions or (0, 0, 0)
        for i, t in enumerate(saved):
            vc = t._vcs
            if vc is not None and vc[0] != versions[i]:
                raise _inplace_error(self, f"input {i}", t, versions[i])
        nxt = self._next
        x, w = saved[0]._data, saved[1]._data
        gx = grad.dot(w) if nxt[0] is not None else None
        gw = grad.T.dot(x) if nxt[1] is not None else None
        if len(nxt) == 2:
            return gx, gw
        return gx, gw, (F.sum_rows(grad) if nxt[2] is not None else None)

    def backward(self, F, g, x, weight, bias=None):
        nxt = self._next
        gx = F.mm(g, weight) if nxt[0] is not None else None
        gw = gb = None
        need_w, need_b = nxt[1] is not None, len(nxt) > 2 and nxt[2] is not None
        if need_w or need_b:
            g2 = g.reshape((-1, g.shape[-1]))                   # (batch, out)
            if need_w:
                gw = F.mm(g2.swapaxes(0, 1), x.reshape((-1, x.shape[-1])))
            if need_b:
                gb = F.sum_rows(g2)
        return (gx, gw) if bias is None else (gx, gw, gb)


class MSELoss(Op):
    """out = mean((a − b)²)    ā = 2(a − b)/n · ḡ,  b̄ = −ā"""
    _name, op, formula = "MseLossBackward0", "mse_loss", "ā = 2(a − b)/n·ḡ, b̄ = −ā"
    save = "inputs"
    fresh_grads = True
    reduction = "mean"

    @classmethod
    def apply(cls, a, b, reduction="mean"):
        """Record the loss. The everyday case (two numpy tensors of one shape and dtype, a
        reduced loss) is recorded here with the least bookkeeping; the rest goes through
        ``Op.apply``."""
        if not (a.__class__ is Tensor and b.__class__ is Tensor and reduction != "none"):
            return _apply(cls, a, b, reduction=reduction)
        ad, bd = a._data, b._data
        if not (ad.__class__ is _ndarray and bd.__class__ is _ndarray and ad.shape == bd.shape
                and ad.dtype is bd.dtype and ad.dtype.kind == "f"):
            return _apply(cls, a, b, reduction=reduction)
        node = _new(cls)
        out = _asarray(node.forward(ad, bd, reduction))
        ra, rb = a._requires_grad, b._requires_grad
        if not ((ra or rb) and GradMode.enabled):
            return _make(out)
        fa = a._grad_fn if ra else None
        nexts = (fa or ((a._accum or a._accumulator()) if ra else None),
                 (b._grad_fn or b._accum or b._accumulator()) if rb else None)
        if not rb:                      # _link, written out for a target that needs no grad
            node._next = nexts
            if fa is None:
                node._tree = True
            elif fa._consumed:
                node._tree = False
            else:
                fa._consumed, node._tree = True, fa._tree
            node._consumed = False
        else:
            _link(node, nexts)
        node._in_meta = None
        node._saved = (a, b)
        va, vb = a._vcs, b._vcs
        node._versions = None if va is None and vb is None else (
            0 if va is None else va[0], 0 if vb is None else vb[0])
        return _make(out, node, True)

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
        d = a - b
        if reduction == "none":
            return d * d
        # Σ d² as one BLAS call: cheaper than (d*d).sum() on small arrays
        total = _vdot(d, d) if d.__class__ is _ndarray else d.reshape(-1).dot(d.reshape(-1))
        return total / d.size if reduction == "mean" else total

    def backward(self, F, g, a, b):
        if self.reduction == "mean":
            scale = 2.0 / (a.numel() if isinstance(a, Tensor) else a.size)
        else:
            scale = 2.0
        if g.__class__ is _ndarray and g.ndim == 0:
            scale *= float(g)       # one multiplication of the array instead of two
        else:
            scale = g * scale
        ga = (a - b) * scale
        return ga, (-ga if self._next[1] is not None else None)


class BCEWithLogits(Op):
    """out = max(x, 0) − x·y + log(1 + e^(−|x|))  (= −[y log σ(x) + (1 − y) log(1 − σ(x))], without
    overflow)    x̄ = (σ(x) − y)·ḡ,  ȳ = −x·ḡ. Fused: the composite's kinks at x = 0 would give a
    wrong gradient there."""
    _name, op, formula = "BinaryCrossEntropyWithLogitsBackward0", "binary_cross_entropy_with_logits", \
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
    _name, op, formula = "NllLossBackward0", "nll_loss", "x̄[i, tᵢ] = −ḡ/n"

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
