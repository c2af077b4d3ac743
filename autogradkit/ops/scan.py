"""Scans: ``cumsum``, the running sum along one dimension.

yᵢ = Σ_{j ≤ i} xⱼ, so ∂L/∂xⱼ = Σ_{i ≥ j} ḡᵢ: the gradient is the cumulative sum taken from the
other end (reverse, cumsum, reverse back). The op is linear: its forward-mode rule is the same
scan on the tangent, ẏ = cumsum(ẋ).
"""
from __future__ import annotations

from ..autograd.node import Op
from ..backend import array_module
from .reduce import normalize_dims


class Cumsum(Op):
    """yᵢ = Σ_{j ≤ i} xⱼ along ``dim``    x̄ⱼ = Σ_{i ≥ j} ḡᵢ (a reverse cumsum)"""
    _name, op, formula = "CumsumBackward0", "cumsum", "x̄ = flip(cumsum(flip(ḡ)))"
    jvp_formula = "ẏ = cumsum(ẋ)"

    def forward(self, x, dim):
        if x.ndim == 0:             # PyTorch accepts dim 0 or -1 for a 0-d tensor: y = x
            normalize_dims(dim, 0, "cumsum")     # (checks the range)
            self.axis = None
            return x.copy()
        (self.axis,) = normalize_dims(dim, x.ndim, "cumsum")
        return array_module(x).cumsum(x, axis=self.axis)

    def backward(self, math, g):
        if self.axis is None:
            return g
        rev = (slice(None),) * self.axis + (slice(None, None, -1),)
        return math.cumsum(g[rev], self.axis)[rev]

    def jvp(self, math, t):
        return t if self.axis is None else math.cumsum(t, self.axis)
