"""Ops that move numbers around without changing them: reshape, permute, expand, cat, stack.

Their gradients move the upstream gradient back the same way: reshape it back, permute it back,
sum it over the expanded axes, or cut it into the pieces that were joined. Their forward-mode
rules (``jvp``) move the tangent exactly as the numbers moved: these ops are linear.
"""
from __future__ import annotations

import numpy as np

from ..autograd.node import Op, add_tangents
from ..backend import array_module
from .reduce import normalize_dims


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class Reshape(Op):
    """out = x with a new shape (same numbers, same order)    x̄ = ḡ reshaped back"""
    _name, op, formula = "ViewBackward0", "reshape", "x̄ = ḡ.reshape(x.shape)"
    jvp_formula = "ẏ = ẋ.reshape(out.shape)"
    is_view = True

    def forward(self, x, shape):
        self.in_shape = x.shape
        shape = tuple(int(s) for s in shape)
        if shape.count(-1) > 1:
            raise ValueError(f"{self.op}: only one dimension can be -1 (inferred), got {shape}")
        known = _numel(s for s in shape if s != -1)
        if -1 in shape:
            if known == 0 or x.size % known:
                raise ValueError(f"{self.op}: cannot reshape a tensor of shape {tuple(x.shape)} "
                                 f"({x.size} elements) into shape {shape}")
            shape = tuple(x.size // known if s == -1 else s for s in shape)
        elif known != x.size:
            raise ValueError(f"{self.op}: cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into shape {shape} ({known} elements)")
        self.out_shape = shape
        return x.reshape(shape)

    def backward(self, math, g):
        return g.reshape(self.in_shape)

    def jvp(self, math, t):
        return t.reshape(self.out_shape)


class Squeeze(Reshape):
    _name, op = "SqueezeBackward0", "squeeze"


class Unsqueeze(Reshape):
    _name, op = "UnsqueezeBackward0", "unsqueeze"


class Permute(Op):
    """out = x with its axes reordered    x̄ = ḡ with the inverse reordering"""
    _name, op, formula = "PermuteBackward0", "permute", "x̄ = ḡ permuted back"
    jvp_formula = "ẏ = ẋ permuted like x"
    is_view = True

    def forward(self, x, dims):
        dims = tuple(int(d) for d in dims)
        if len(dims) != x.ndim:
            raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {x.ndim} "
                             "dimensions; list every dimension once")
        axes = normalize_dims(dims, x.ndim, "permute")
        dims = tuple(d % max(x.ndim, 1) for d in dims)
        del axes
        self.dims = dims
        self.inverse = tuple(int(i) for i in np.argsort(dims))
        return x.transpose(dims)

    def backward(self, math, g):
        return math.permute(g, self.inverse)

    def jvp(self, math, t):
        return math.permute(t, self.dims)


class Transpose(Permute):
    _name, op = "TransposeBackward0", "transpose"


class T(Permute):
    """out = xᵀ, a matrix's transpose (``x.t()``)    x̄ = ḡᵀ"""
    _name, op, formula = "TBackward0", "t", "x̄ = ḡᵀ"
    jvp_formula = "ẏ = ẋᵀ"
    inverse = dims = (1, 0)

    def forward(self, x):
        return x.T


class Expand(Op):
    """out = x broadcast to a larger shape (no copy)    x̄ = ḡ summed over the broadcast axes"""
    _name, op, formula = "ExpandBackward0", "expand", "x̄ = ḡ summed over expanded axes"
    jvp_formula = "ẏ = ẋ expanded like x"
    is_view = True

    def forward(self, x, shape):
        shape = tuple(int(s) for s in shape)
        lead = len(shape) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: the target shape {shape} has fewer dimensions than the "
                             f"tensor's shape {tuple(x.shape)}")
        full = tuple(x.shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(shape))
        for i, s in enumerate(x.shape):
            if s != 1 and s != full[lead + i]:
                raise ValueError(f"expand: the tensor's shape {tuple(x.shape)} cannot be expanded to "
                                 f"{shape}: dimension {lead + i} has size {s}, not 1 or {full[lead + i]}")
        self.out_shape = full
        return array_module(x).broadcast_to(x, full)

    def backward(self, math, g):
        return g          # Op sums it back to the input's shape

    def jvp(self, math, t):
        return math.expand(t, self.out_shape)


class Cat(Op):
    """out = the inputs joined along ``dim``    each input's gradient is its slice of ḡ"""
    _name, op, formula = "CatBackward0", "cat", "x̄ₖ = ḡ[slice of xₖ]"
    jvp_formula = "ẏ[slice of xₖ] = ẋₖ"

    def forward(self, *arrays, dim=0):
        if not arrays:
            raise ValueError("cat: expected a non-empty list of tensors")
        ref = arrays[0]
        (axis,) = normalize_dims(dim, ref.ndim, "cat")
        for k, a in enumerate(arrays):
            if a.ndim != ref.ndim or any(s != r for i, (s, r) in enumerate(zip(a.shape, ref.shape)) if i != axis):
                raise ValueError(f"cat: tensors must have the same shape except in dimension {dim}; "
                                 f"tensor 0 has shape {tuple(ref.shape)} and tensor {k} has shape {tuple(a.shape)}")
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        out = array_module(ref).concatenate(arrays, axis=axis)
        self.out_shape = out.shape
        return out

    def backward(self, math, g):
        grads, start = [], 0
        lead = (slice(None),) * self.axis
        for n in self.sizes:
            grads.append(g[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)

    def jvp(self, math, *tangents):
        # the transpose of backward: each tangent put in its input's slice (zeros where none)
        terms, start = [], 0
        lead = (slice(None),) * self.axis
        for n, t in zip(self.sizes, tangents):
            key = lead + (slice(start, start + n),)
            terms.append(math.index_add(self.out_shape, key, t, False) if t is not None else None)
            start += n
        return add_tangents(*terms)


class Stack(Op):
    """out = the inputs stacked along a new ``dim``    input k's gradient is ḡ[..., k, ...]"""
    _name, op, formula = "StackBackward0", "stack", "x̄ₖ = ḡ[k along dim]"
    jvp_formula = "ẏ[k along dim] = ẋₖ"

    def forward(self, *arrays, dim=0):
        if not arrays:
            raise ValueError("stack: expected a non-empty list of tensors")
        for k, a in enumerate(arrays):
            if a.shape != arrays[0].shape:
                raise ValueError(f"stack: all tensors must have the same shape; tensor 0 has shape "
                                 f"{tuple(arrays[0].shape)} and tensor {k} has shape {tuple(a.shape)}")
        (self.axis,) = normalize_dims(dim, arrays[0].ndim + 1, "stack")
        out = array_module(arrays[0]).stack(arrays, axis=self.axis)
        self.out_shape = out.shape
        return out

    def backward(self, math, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (k,)] for k in range(len(self._next)))

    def jvp(self, math, *tangents):
        lead = (slice(None),) * self.axis
        return add_tangents(*(math.index_add(self.out_shape, lead + (k,), t, False)
                              if t is not None else None for k, t in enumerate(tangents)))


class Repeat(Op):
    """out = x tiled ``sizes`` times along each dimension (PyTorch's ``repeat``: numpy's ``tile``,
    with leading dimensions of size 1 added to x when ``sizes`` is longer)
    x̄ = ḡ cut into its tiles, summed"""
    _name, op, formula = "RepeatBackward0", "repeat", "x̄ = Σ over tiles of ḡ"
    jvp_formula = "ẏ = ẋ tiled like x"

    def forward(self, x, sizes):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < x.ndim:
            raise ValueError(f"repeat: got {len(sizes)} repeat sizes {sizes} for a tensor of shape "
                             f"{tuple(x.shape)}; give at least one per dimension "
                             f"(x.repeat({', '.join(['1'] * x.ndim)}) leaves it unchanged)")
        if any(s < 0 for s in sizes):
            raise ValueError(f"repeat: repeat sizes can't be negative, got {sizes}")
        shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
        self.in_shape, self.shape, self.sizes = x.shape, shape, sizes
        # (s₀, n₀, s₁, n₁, …): tile k of axis i is index k on axis 2i; out merges each pair
        self.split = tuple(v for s, n in zip(sizes, shape) for v in (s, n))
        self.out_shape = tuple(s * n for s, n in zip(sizes, shape))
        return array_module(x).tile(x.reshape(shape), sizes)

    def backward(self, math, g):
        g = g.reshape(self.split).sum(axis=tuple(range(0, len(self.split), 2)))
        return g.reshape(self.in_shape)

    def jvp(self, math, t):
        spread = tuple(v for n in self.shape for v in (1, n))
        return math.expand(t.reshape(spread), self.split).reshape(self.out_shape)
