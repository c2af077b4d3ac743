"""Reductions: ``sum``, ``mean``, ``max``/``min``, ``var``/``std``, and the softmax family.

A reduction's gradient is the upstream gradient spread back over the reduced axes: reshaped so
the reduced axes have size 1 again (``keep_shape``), then broadcast to the input's shape. Its
forward-mode rule (``jvp``) goes the other way: the tangent ẋ is reduced like x was.
"""
from __future__ import annotations


import numpy as np

from ..autograd.node import Op
from ..backend import array_module


def normalize_dims(dim, ndim, op):
    """``dim`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    n = max(ndim, 1)
    for d in dims:
        if not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {d!r}")
        if not -n <= d < n:
            raise IndexError(f"{op}: dimension {d} is out of range for a tensor with {ndim} "
                             f"dimension{'s' if ndim != 1 else ''} (valid: {-n} to {n - 1})")
        out.append(int(d) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dimension listed twice in {dim!r}")
    return tuple(sorted(out)) if ndim else ()


class _Reduction(Op):
    """Shared bookkeeping: which axes are reduced and the input's shape with them kept as 1."""

    def _setup(self, x, dim, keepdim, op):
        axes = normalize_dims(dim, x.ndim, op)
        self.axes, self.keepdim, self.in_shape = axes, keepdim, x.shape
        self.keep_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        return axes

    def _spread(self, math, g):
        """Upstream gradient back to the input's shape (reduced axes broadcast)."""
        return math.expand(g.reshape(self.keep_shape), self.in_shape)


class Sum(_Reduction):
    """out = Σᵢ xᵢ    ∂out/∂xᵢ = 1: every element gets the upstream gradient"""
    _name, op, formula = "SumBackward1", "sum", "∂/∂xᵢ = 1"
    jvp_formula = "ẏ = Σᵢ ẋᵢ"

    def forward(self, x, dim=None, keepdim=False):
        if dim is None:
            self._name = "SumBackward0"
        return x.sum(axis=self._setup(x, dim, keepdim, "sum"), keepdims=keepdim)

    def backward(self, math, g):
        return self._spread(math, g)

    def jvp(self, math, t):
        return t.sum(axis=self.axes, keepdims=self.keepdim)


class Mean(_Reduction):
    """out = (1/n) Σᵢ xᵢ    ∂out/∂xᵢ = 1/n"""
    _name, op, formula = "MeanBackward1", "mean", "∂/∂xᵢ = 1/n"
    jvp_formula = "ẏ = (1/n) Σᵢ ẋᵢ"

    def forward(self, x, dim=None, keepdim=False):
        if dim is None:
            self._name = "MeanBackward0"
        if x.dtype.kind not in "fc":
            raise TypeError(f"mean: needs a floating-point tensor, got {x.dtype}; convert it "
                            "first with .float()")
        axes = self._setup(x, dim, keepdim, "mean")
        self.n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, math, g):
        return self._spread(math, g) / self.n

    def jvp(self, math, t):
        return t.sum(axis=self.axes, keepdims=self.keepdim) / self.n


class MaxAll(_Reduction):
    """out = max(x)    ∂out/∂xᵢ = 1/k for each of the k elements equal to the max (PyTorch's rule)"""
    _name, op, formula = "MaxBackward1", "max", "∂/∂xᵢ = [xᵢ = max]/#ties"
    jvp_formula = "ẏ = Σᵢ [xᵢ = max]·ẋᵢ / #ties"
    save = "both"
    reducer = "max"

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.reducer}: the tensor is empty; there is no {self.reducer}imum")
        self._setup(x, None, False, self.reducer)
        return getattr(x, self.reducer)()

    def backward(self, math, g, x, out):
        mask = x == out
        if out != out:                  # the result is NaN: the NaNs share ḡ, as in PyTorch
            mask = x != x
        return g * mask / float(mask.sum())

    def jvp(self, math, t, x, out):
        mask = x == out                 # the ties share the derivative, as in backward
        if out != out:
            mask = x != x
        return (t * mask).sum() / float(mask.sum())


class MinAll(MaxAll):
    """out = min(x)    ∂out/∂xᵢ = 1/k for each of the k elements equal to the min"""
    _name, formula, op = "MinBackward1", "∂/∂xᵢ = [xᵢ = min]/#ties", "min"
    jvp_formula = "ẏ = Σᵢ [xᵢ = min]·ẋᵢ / #ties"
    reducer = "min"


class MaxDim(_Reduction):
    """out = max over ``dim``    the gradient goes to the element whose index is returned
    (the first maximum along ``dim``)"""
    _name, op, formula = "MaxBackward0", "max", "∂/∂xᵢ = [i = argmax]"
    jvp_formula = "ẏ = ẋ[argmax]"
    arg = "argmax"

    def forward(self, x, dim, keepdim=False):
        axes = self._setup(x, dim, True, self.op)
        self.keep_out = keepdim
        xp = array_module(x)
        if not axes:            # a 0-d tensor: its one element, at index 0 (as in PyTorch)
            self.indices, self.onehot = xp.zeros((), dtype=np.int64), True
            return x.copy()
        (axis,) = axes
        if x.shape and x.shape[axis] == 0:
            raise ValueError(f"{self.op}: cannot reduce over an empty dimension {dim}")
        idx = getattr(x, self.arg)(axis=axis)
        idx_k = xp.expand_dims(idx, axis) if x.ndim else idx
        self.indices = idx if not keepdim else idx_k
        positions = xp.arange(x.shape[axis]).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
        self.onehot = positions == idx_k
        values = xp.take_along_axis(x, idx_k, axis=axis) if x.ndim else x
        return values if keepdim else values.reshape(idx.shape)

    def backward(self, math, g):
        return g.reshape(self.keep_shape) * self.onehot

    def jvp(self, math, t):
        if not self.axes:       # a 0-d tensor: its one element
            return t
        return (t * self.onehot).sum(axis=self.axes, keepdims=self.keep_out)


class MinDim(MaxDim):
    """out = min over ``dim``    the gradient goes to the (first) minimum along ``dim``"""
    _name, op, formula = "MinBackward0", "min", "∂/∂xᵢ = [i = argmin]"
    jvp_formula = "ẏ = ẋ[argmin]"
    arg = "argmin"


class Var(_Reduction):
    """out = Σ(x − x̄)² / (n − c)    ∂out/∂xᵢ = 2(xᵢ − x̄)/(n − c)"""
    _name, op, formula = "VarBackward0", "var", "∂/∂xᵢ = 2(xᵢ − mean)/(n − c)"
    jvp_formula = "ẏ = 2 Σᵢ (xᵢ − mean)·ẋᵢ / (n − c)"
    save = "inputs"

    def forward(self, x, dim=None, correction=1, keepdim=False):
        axes = self._setup(x, dim, keepdim, "var")
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        self.denom = max(n - correction, 0)
        centered = x - x.mean(axis=axes, keepdims=True)
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, math, g, x):
        centered = x - x.mean(axis=self.axes, keepdims=True)
        # n − c = 0 (one element, unbiased): the value is nan, and so is its gradient (not an error)
        return g.reshape(self.keep_shape) * centered * (2 / self.denom if self.denom else np.inf)

    def jvp(self, math, t, x):
        centered = x - x.mean(axis=self.axes, keepdims=True)
        return ((centered * t).sum(axis=self.axes, keepdims=self.keepdim)
                * (2 / self.denom if self.denom else np.inf))


class Std(Var):
    """out = √var(x)    ∂out/∂xᵢ = (xᵢ − x̄)/((n − c)·out)

    Its own rule rather than sqrt(var): where every element is the same (out = 0) the gradient
    is 0, as in PyTorch, not ∞·0 = nan."""
    _name, op, formula = "StdBackward0", "std", "∂/∂xᵢ = (xᵢ − mean)/((n − c)·out)"
    jvp_formula = "ẏ = Σᵢ (xᵢ − mean)·ẋᵢ / ((n − c)·out)"
    save = "both"

    def forward(self, x, dim=None, correction=1, keepdim=False):
        xp = array_module(x)
        out = xp.sqrt(super().forward(x, dim, correction, keepdim))
        self.flat = xp.asarray(out == 0, dtype=out.dtype)     # 1 where x is constant
        return out

    def backward(self, math, g, x, out):
        # where out = 0 the factor is exactly 0 (not g/0), so second derivatives are 0 there too
        return super().backward(math, g * (1 - self.flat) / (2 * (out + self.flat)), x)

    def jvp(self, math, t, x, out):
        # the variance's tangent through √: ẏ = vaṙ/(2·out), 0 where x is constant (out = 0)
        return super().jvp(math, t, x) * (1 - self.flat) / (2 * (out + self.flat))


class LogSumExp(_Reduction):
    """out = log Σ exp(xᵢ), computed as m + log Σ exp(xᵢ − m) with m = max x (no overflow)
    ∂out/∂xᵢ = exp(xᵢ − out) = softmax(x)ᵢ.  A fused rule, for stability."""
    _name, op, formula = "LogsumexpBackward0", "logsumexp", "∂/∂xᵢ = exp(xᵢ − out) = softmax(x)ᵢ"
    jvp_formula = "ẏ = Σᵢ softmax(x)ᵢ·ẋᵢ"
    save = "both"

    def forward(self, x, dim, keepdim=False):
        axes = self._setup(x, dim, keepdim, "logsumexp")
        xp = array_module(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        return out if keepdim else out.reshape([s for i, s in enumerate(x.shape) if i not in axes])

    def backward(self, math, g, x, out):
        return g.reshape(self.keep_shape) * math.exp(x - out.reshape(self.keep_shape))

    def jvp(self, math, t, x, out):
        softmax = math.exp(x - out.reshape(self.keep_shape))
        return (softmax * t).sum(axis=self.axes, keepdims=self.keepdim)


class Softmax(Op):
    """yᵢ = exp(xᵢ) / Σⱼ exp(xⱼ)  (shifted by the max: no overflow)
    ∂L/∂xᵢ = yᵢ (ḡᵢ − Σⱼ ḡⱼ yⱼ)"""
    _name, op, formula = "SoftmaxBackward0", "softmax", "x̄ = y·(ḡ − Σ ḡ·y)"
    jvp_formula = "ẏ = y·(ẋ − Σ ẋ·y)"
    save = "output"

    def forward(self, x, dim):
        (self.axis,) = normalize_dims(dim, x.ndim, "softmax") or (0,)
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, math, g, y):
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))

    def jvp(self, math, t, y):          # J = diag(y) − y yᵀ is symmetric: the same steps
        return y * (t - (t * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Op):
    """yᵢ = xᵢ − logsumexp(x)    ∂L/∂xᵢ = ḡᵢ − softmax(x)ᵢ Σⱼ ḡⱼ  (fused, for stability)"""
    _name, op, formula = "LogSoftmaxBackward0", "log_softmax", "x̄ = ḡ − exp(y)·Σ ḡ"
    jvp_formula = "ẏ = ẋ − Σ exp(y)·ẋ"
    save = "output"

    def forward(self, x, dim):
        (self.axis,) = normalize_dims(dim, x.ndim, "log_softmax") or (0,)
        xp = array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, math, g, y):
        return g - math.exp(y) * g.sum(axis=self.axis, keepdims=True)

    def jvp(self, math, t, y):
        return t - (math.exp(y) * t).sum(axis=self.axis, keepdims=True)
