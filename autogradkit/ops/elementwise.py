"""Elementwise ops. Broadcasting is undone once, in ``Op`` (gradients are summed back to each
operand's shape), so these rules are written for same-shape operands.

Notation: ``g`` is ḡ = ∂L/∂out, the upstream gradient; each rule returns ḡ · ∂out/∂input.
Forward mode (``jvp``): ``ta``, ``tb``, ``t`` are the inputs' tangents ȧ, ḃ, ẋ (``None``: no
tangent, a zero term left out); each rule returns ẏ = Σ ∂out/∂input · tangent. The derivatives are
the ones ``backward`` uses: an elementwise Jacobian is diagonal, so ḡ and ẋ meet it the same way.
"""
from __future__ import annotations

import operator

import numpy as np

from ..backend import array_module, sign_of
from ..autograd.node import Op, add_tangents

_where = np.where
_maximum, _tanh, _ndarray = np.maximum, np.tanh, np.ndarray


class Add(Op):
    """out = a + b    ∂out/∂a = 1, ∂out/∂b = 1"""
    __slots__ = ()
    _name, op, formula = "AddBackward0", "add", "∂/∂a = 1, ∂/∂b = 1"
    jvp_formula = "ẏ = ȧ + ḃ"

    forward = staticmethod(operator.add)     # a + b (the operator itself: no Python frame)

    def backward(self, math, g):
        return g, g

    def jvp(self, math, ta, tb):
        return add_tangents(ta, tb)


class Sub(Op):
    """out = a − b    ∂out/∂a = 1, ∂out/∂b = −1"""
    __slots__ = ()
    _name, op, formula = "SubBackward0", "sub", "∂/∂a = 1, ∂/∂b = −1"
    jvp_formula = "ẏ = ȧ − ḃ"

    forward = staticmethod(operator.sub)     # a - b (the operator itself: no Python frame)

    def backward(self, math, g):
        return g, -g

    def jvp(self, math, ta, tb):
        return add_tangents(ta, -tb if tb is not None else None)


class Mul(Op):
    """out = a · b    ∂out/∂a = b, ∂out/∂b = a"""
    __slots__ = ()
    _name, op, formula = "MulBackward0", "mul", "∂/∂a = b, ∂/∂b = a"
    jvp_formula = "ẏ = ȧ·b + a·ḃ"
    save = "inputs"

    forward = staticmethod(operator.mul)     # a * b (the operator itself: no Python frame)

    def backward(self, math, g, a, b):
        na, nb = self._next
        return (g * b if na is not None else None), (g * a if nb is not None else None)

    def jvp(self, math, ta, tb, a, b):
        return add_tangents(ta * b if ta is not None else None, a * tb if tb is not None else None)


class Div(Op):
    """out = a / b    ∂out/∂a = 1/b, ∂out/∂b = −a/b²"""
    __slots__ = ()
    _name, op, formula = "DivBackward0", "div", "∂/∂a = 1/b, ∂/∂b = −a/b²"
    jvp_formula = "ẏ = ȧ/b − ḃ·a/b²"
    save = "inputs"

    forward = staticmethod(operator.truediv)     # a / b (the operator itself: no Python frame)

    def backward(self, math, g, a, b):
        na, nb = self._next
        return (g / b if na is not None else None), (-g * a / (b * b) if nb is not None else None)

    def jvp(self, math, ta, tb, a, b):
        return add_tangents(ta / b if ta is not None else None,
                            -tb * a / (b * b) if tb is not None else None)


class Neg(Op):
    """out = −x    ∂out/∂x = −1"""
    __slots__ = ()
    _name, op, formula = "NegBackward0", "neg", "∂/∂x = −1"
    jvp_formula = "ẏ = −ẋ"

    def forward(self, x):
        return -x

    def backward(self, math, g):
        return -g

    def jvp(self, math, t):
        return -t


class Pow(Op):
    """out = xᵖ (p a number)    ∂out/∂x = p·xᵖ⁻¹"""
    _name, op, formula = "PowBackward0", "pow", "∂/∂x = p·x^(p−1)"
    jvp_formula = "ẏ = p·x^(p−1)·ẋ"
    save = "inputs"

    def forward(self, x, p):
        self.p = p
        return x ** p

    def backward(self, math, g, x):
        p = self.p
        if p == 0:
            return math.zeros_like(g)
        return g * p * x ** (p - 1)

    def jvp(self, math, t, x):
        p = self.p
        if p == 0:
            return math.zeros_like(t)
        return t * p * x ** (p - 1)


class PowTensor(Op):
    """out = aᵇ    ∂out/∂a = b·aᵇ⁻¹, ∂out/∂b = aᵇ·ln a (taken as 0 where a = 0 and b ≥ 0)"""
    _name, op, formula = "PowBackward1", "pow", "∂/∂a = b·a^(b−1), ∂/∂b = a^b·ln(a)"
    jvp_formula = "ẏ = b·a^(b−1)·ȧ + a^b·ln(a)·ḃ"
    save = "both"

    def forward(self, a, b):
        return a ** b

    def backward(self, math, g, a, b, out):
        na, nb = self._next
        # where b = 0 the term b·a^(b−1) is 0 even at a = 0 (not 0·∞ = nan), as in PyTorch
        ga = math.where(b == 0, 0, g * b * a ** (b - 1)) if na is not None else None
        gb = None
        if nb is not None:
            if isinstance(a, (int, float)):     # a number base (2 ** x); 0 ** b as below
                safe_a = a if a != 0 else math.where(b >= 0, 1.0, b * 0)
            else:
                safe_a = math.where((a == 0) & (b >= 0), 1, a)
            gb = g * out * math.log(safe_a)
        return ga, gb

    def jvp(self, math, ta, tb, a, b, out):
        da = math.where(b == 0, 0, ta * b * a ** (b - 1)) if ta is not None else None
        db = None
        if tb is not None:          # 0 ** b as in backward: ln taken of 1 where a = 0 and b ≥ 0
            if isinstance(a, (int, float)):
                safe_a = a if a != 0 else math.where(b >= 0, 1.0, b * 0)
            else:
                safe_a = math.where((a == 0) & (b >= 0), 1, a)
            db = tb * out * math.log(safe_a)
        return add_tangents(da, db)


class Exp(Op):
    """out = eˣ    ∂out/∂x = eˣ = out"""
    __slots__ = ()
    _name, op, formula = "ExpBackward0", "exp", "∂/∂x = exp(x) = out"
    jvp_formula = "ẏ = out·ẋ"
    save = "output"

    def forward(self, x):
        return array_module(x).exp(x)

    def backward(self, math, g, out):
        return g * out

    def jvp(self, math, t, out):
        return t * out


class Log(Op):
    """out = ln x    ∂out/∂x = 1/x"""
    __slots__ = ()
    _name, op, formula = "LogBackward0", "log", "∂/∂x = 1/x"
    jvp_formula = "ẏ = ẋ/x"
    save = "inputs"

    def forward(self, x):
        return array_module(x).log(x)

    def backward(self, math, g, x):
        return g / x

    def jvp(self, math, t, x):
        return t / x


class Log1p(Op):
    """out = ln(1 + x), accurate for tiny x (where 1 + x rounds to 1)    ∂out/∂x = 1/(1 + x)"""
    __slots__ = ()
    _name, op, formula = "Log1PBackward0", "log1p", "∂/∂x = 1/(1 + x)"
    jvp_formula = "ẏ = ẋ/(1 + x)"
    save = "inputs"

    def forward(self, x):
        return array_module(x).log1p(x)

    def backward(self, math, g, x):
        return g / (1 + x)

    def jvp(self, math, t, x):
        return t / (1 + x)


class Expm1(Op):
    """out = eˣ − 1, accurate for tiny x (where eˣ rounds to 1)    ∂out/∂x = eˣ = out + 1"""
    __slots__ = ()
    _name, op, formula = "Expm1Backward0", "expm1", "∂/∂x = exp(x) = out + 1"
    jvp_formula = "ẏ = (out + 1)·ẋ"
    save = "output"

    def forward(self, x):
        return array_module(x).expm1(x)

    def backward(self, math, g, out):
        return g * (out + 1)

    def jvp(self, math, t, out):
        return t * (out + 1)


class Sqrt(Op):
    """out = √x    ∂out/∂x = 1/(2√x) = 1/(2·out)"""
    __slots__ = ()
    _name, op, formula = "SqrtBackward0", "sqrt", "∂/∂x = 1/(2·out)"
    jvp_formula = "ẏ = ẋ/(2·out)"
    save = "output"

    def forward(self, x):
        return array_module(x).sqrt(x)

    def backward(self, math, g, out):
        return g / (2 * out)

    def jvp(self, math, t, out):
        return t / (2 * out)


class Reciprocal(Op):
    """out = 1/x    ∂out/∂x = −1/x² = −out²   (``c / x`` for a number c is ``reciprocal(x) · c``,
    as in PyTorch, whose graph shows MulBackward0 → ReciprocalBackward0)"""
    __slots__ = ()
    _name, op, formula = "ReciprocalBackward0", "reciprocal", "∂/∂x = −out²"
    jvp_formula = "ẏ = −out²·ẋ"
    save = "output"

    def forward(self, x):
        return 1 / x

    def backward(self, math, g, out):
        return -g * (out * out)

    def jvp(self, math, t, out):
        return -t * (out * out)


class Abs(Op):
    """out = |x|    ∂out/∂x = sign(x) (0 at x = 0, PyTorch's choice)"""
    __slots__ = ()
    _name, op, formula = "AbsBackward0", "abs", "∂/∂x = sign(x)"
    jvp_formula = "ẏ = sign(x)·ẋ"
    save = "inputs"

    def forward(self, x):
        return array_module(x).abs(x)

    def backward(self, math, g, x):
        return g * math.sign(x)

    def jvp(self, math, t, x):
        return t * math.sign(x)


class Sign(Op):
    """out = sign(x)    ∂out/∂x = 0 (flat almost everywhere). sign(NaN) is 0, as in PyTorch."""
    __slots__ = ()
    _name, op, formula = "SignBackward0", "sign", "∂/∂x = 0"
    jvp_formula = "ẏ = 0"

    def forward(self, x):
        return sign_of(array_module(x), x)

    def backward(self, math, g):
        return math.zeros_like(g)

    def jvp(self, math, t):
        return math.zeros_like(t)


class Sin(Op):
    """out = sin x    ∂out/∂x = cos x"""
    __slots__ = ()
    _name, op, formula = "SinBackward0", "sin", "∂/∂x = cos(x)"
    jvp_formula = "ẏ = cos(x)·ẋ"
    save = "inputs"

    def forward(self, x):
        return array_module(x).sin(x)

    def backward(self, math, g, x):
        return g * math.cos(x)

    def jvp(self, math, t, x):
        return t * math.cos(x)


class Cos(Op):
    """out = cos x    ∂out/∂x = −sin x"""
    __slots__ = ()
    _name, op, formula = "CosBackward0", "cos", "∂/∂x = −sin(x)"
    jvp_formula = "ẏ = −sin(x)·ẋ"
    save = "inputs"

    def forward(self, x):
        return array_module(x).cos(x)

    def backward(self, math, g, x):
        return -g * math.sin(x)

    def jvp(self, math, t, x):
        return -t * math.sin(x)


class Tanh(Op):
    """out = tanh x    ∂out/∂x = 1 − tanh²x = 1 − out²"""
    __slots__ = ()
    _name, op, formula = "TanhBackward0", "tanh", "∂/∂x = 1 − out²"
    jvp_formula = "ẏ = (1 − out²)·ẋ"
    save = "output"

    def forward(self, x):
        return _tanh(x) if x.__class__ is _ndarray else array_module(x).tanh(x)

    def backward(self, math, g, out):
        return g * (1 - out * out)

    def jvp(self, math, t, out):
        return t * (1 - out * out)


class Sigmoid(Op):
    """out = σ(x) = 1/(1 + e⁻ˣ)    ∂out/∂x = σ(x)(1 − σ(x)) = out·(1 − out)

    A primitive rather than a composite: computed as below it never overflows ``exp``."""
    __slots__ = ()
    _name, op, formula = "SigmoidBackward0", "sigmoid", "∂/∂x = out·(1 − out)"
    jvp_formula = "ẏ = out·(1 − out)·ẋ"
    save = "output"

    def forward(self, x):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))                       # in (0, 1]: no overflow
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, math, g, out):
        return g * out * (1 - out)

    def jvp(self, math, t, out):
        return t * out * (1 - out)


class Relu(Op):
    """out = max(x, 0)    ∂out/∂x = 1 where x > 0, else 0 (0 at x = 0, PyTorch's choice)"""
    __slots__ = ()
    _name, op, formula = "ReluBackward0", "relu", "∂/∂x = 1 if x > 0 else 0"
    jvp_formula = "ẏ = ẋ if x > 0 else 0"
    save = "output"

    def forward(self, x):
        return _maximum(x, 0) if x.__class__ is _ndarray else array_module(x).maximum(x, 0)

    def backward(self, math, g, out):
        # out = max(x, 0) is 0 exactly where x ≤ 0; a NaN passes its gradient on, as in PyTorch
        return g * math.nonzero(out)

    def jvp(self, math, t, out):
        return t * math.nonzero(out)


class Clamp(Op):
    """out = min(max(x, lo), hi)    ∂out/∂x = 1 where lo ≤ x ≤ hi, else 0"""
    _name, op, formula = "ClampBackward1", "clamp", "∂/∂x = 1 if lo ≤ x ≤ hi else 0"
    jvp_formula = "ẏ = ẋ if lo ≤ x ≤ hi else 0"

    def forward(self, x, lo=None, hi=None):
        xp = array_module(x)
        out = x
        mask = True
        if lo is not None:
            out = xp.maximum(out, lo)
            mask = x >= lo
        if hi is not None:
            out = xp.minimum(out, hi)
            mask = mask & (x <= hi)
        self.mask = mask
        return out.astype(x.dtype, copy=False)

    def backward(self, math, g):
        return g * self.mask

    def jvp(self, math, t):
        return t * self.mask


class Maximum(Op):
    """out = max(a, b)    the gradient goes to the larger; on a tie each gets half (PyTorch)"""
    __slots__ = ()
    _name, op, formula = "MaximumBackward0", "maximum", "∂/∂a = [a > b] + ½[a = b]"
    jvp_formula = "ẏ = ([a > b] + ½[a = b])·ȧ + ([b > a] + ½[a = b])·ḃ"
    save = "inputs"

    def forward(self, a, b):
        return array_module(a).maximum(a, b)

    def backward(self, math, g, a, b):
        # written as "unless the other is larger", so a NaN (never compares) gets ḡ, as in PyTorch
        half = (a == b) * 0.5
        return g * (~(a < b) - half), g * (~(a > b) - half)

    def jvp(self, math, ta, tb, a, b):
        half = (a == b) * 0.5           # the same weights as backward: a tie splits in half
        return add_tangents(ta * (~(a < b) - half) if ta is not None else None,
                            tb * (~(a > b) - half) if tb is not None else None)


class Minimum(Op):
    """out = min(a, b)    the gradient goes to the smaller; on a tie each gets half (PyTorch)"""
    __slots__ = ()
    _name, op, formula = "MinimumBackward0", "minimum", "∂/∂a = [a < b] + ½[a = b]"
    jvp_formula = "ẏ = ([a < b] + ½[a = b])·ȧ + ([b < a] + ½[a = b])·ḃ"
    save = "inputs"

    def forward(self, a, b):
        return array_module(a).minimum(a, b)

    def backward(self, math, g, a, b):
        half = (a == b) * 0.5
        return g * (~(a > b) - half), g * (~(a < b) - half)

    def jvp(self, math, ta, tb, a, b):
        half = (a == b) * 0.5
        return add_tangents(ta * (~(a > b) - half) if ta is not None else None,
                            tb * (~(a < b) - half) if tb is not None else None)


class Where(Op):
    """out = a where cond else b    ∂out/∂a = [cond], ∂out/∂b = [not cond]"""
    _name, op, formula = "WhereBackward0", "where", "∂/∂a = [cond], ∂/∂b = [¬cond]"
    jvp_formula = "ẏ = ȧ where cond else ḃ"

    def forward(self, cond, a, b):
        self.cond = cond
        return array_module(cond).where(cond, a, b)

    def backward(self, math, g):
        cond = self.cond
        return None, math.where(cond, g, 0), math.where(cond, 0, g)

    def jvp(self, math, tc, ta, tb):    # (the condition, a bool tensor, has no tangent)
        return math.where(self.cond, 0 if ta is None else ta, 0 if tb is None else tb)



class Softplus(Op):
    """out = log(1 + e^(βx))/β, computed as (log1p(e^(−|βx|)) + max(βx, 0))/β (no overflow for
    large x, exact for very negative x), and out = x where βx > threshold (PyTorch's)
    ∂out/∂x = σ(βx) (1 where βx > threshold)"""
    _name, op, formula = "SoftplusBackward0", "softplus", "∂/∂x = σ(βx) (1 where βx > threshold)"
    jvp_formula = "ẏ = σ(βx)·ẋ (ẋ where βx > threshold)"
    save = "inputs"

    def forward(self, x, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold
        xp = array_module(x)
        bx = x * beta
        soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
        return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)

    def _slope(self, math, x):
        bx = x * self.beta
        return math.where(bx > self.threshold, 1.0, math.sigmoid(bx))

    def backward(self, math, g, x):
        return g * self._slope(math, x)

    def jvp(self, math, t, x):
        return t * self._slope(math, x)


class LogSigmoid(Op):
    """out = log σ(x) = −softplus(−x), computed as min(x, 0) − log1p(e^(−|x|))
    ∂out/∂x = 1 − σ(x) = σ(−x) (computed without cancellation)"""
    _name, op, formula = "LogSigmoidBackward0", "logsigmoid", "∂/∂x = σ(−x)"
    jvp_formula = "ẏ = σ(−x)·ẋ"
    save = "inputs"

    def forward(self, x):
        xp = array_module(x)
        return (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)

    def backward(self, math, g, x):
        return g * math.sigmoid(-x)

    def jvp(self, math, t, x):
        return t * math.sigmoid(-x)
