"""Copies: to another dtype or device (``to``), or a plain copy (``clone``)."""
from __future__ import annotations

from .. import backend
from ..autograd.node import Op


class ToCopy(Op):
    """out = x converted to a dtype and/or device    x̄ = ḡ converted back"""
    _name, op, formula = "ToCopyBackward0", "to", "x̄ = ḡ converted back"
    jvp_formula = "ẏ = ẋ converted"

    def forward(self, x, dtype, device):
        self.in_dtype, self.in_device = x.dtype, backend.device_of(x)
        self.dtype, self.device = dtype, device
        return backend.to_device(x, device).astype(dtype, copy=True)

    def backward(self, math, g):
        return math.to(g, self.in_dtype, self.in_device)

    def jvp(self, math, t):
        return math.to(t, self.dtype, self.device)


class Clone(Op):
    """out = a copy of x    x̄ = ḡ"""
    _name, op, formula = "CloneBackward0", "clone", "x̄ = ḡ"
    jvp_formula = "ẏ = ẋ"

    def forward(self, x):
        return x.copy()

    def backward(self, math, g):
        return g

    def jvp(self, math, t):
        return t
