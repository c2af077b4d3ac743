"""Matrix multiplication, ``a @ b``, for 1-D, 2-D and batched (broadcast) operands.

For C = A B:  Ā = C̄ Bᵀ  and  B̄ = Aᵀ C̄  (a vector-Jacobian product: no Jacobian is ever built).
Forward mode: Ċ = Ȧ B + A Ḃ (the product rule; ``@`` is bilinear, so this holds for every shape).
A 1-D operand is treated as a row (left) or column (right) and the extra axis dropped again.
Batch axes that were broadcast are summed back by ``Op``.
"""
from __future__ import annotations

from ..autograd.node import Op, add_tangents


class MatMul(Op):
    """out = a @ b    ā = ḡ bᵀ, b̄ = aᵀ ḡ"""
    _name, op, formula = "MmBackward0", "matmul", "ā = ḡ·bᵀ, b̄ = aᵀ·ḡ"
    jvp_formula = "ẏ = ȧ·b + a·ḃ"
    save = "inputs"

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}; use * to multiply by a scalar")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned: "
                             f"{ka} != {kb} (the last dimension of the first must equal the "
                             f"{'second-to-last' if b.ndim > 1 else 'only'} dimension of the second)")
        if a.ndim == 1 and b.ndim == 1:
            self._name = "DotBackward0"
        elif a.ndim == 2 and b.ndim == 1:
            self._name = "MvBackward0"
        elif a.ndim > 2 or b.ndim > 2:
            self._name = "BmmBackward0"
        return a @ b

    def backward(self, math, g, a, b):
        need_a, need_b = self._next[0] is not None, self._next[1] is not None
        if a.ndim == 1 and b.ndim == 1:                        # dot product: g is a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:                                        # (k,) @ (..., k, n) -> (..., n)
            g2 = g.reshape(tuple(g.shape[:-1]) + (1, g.shape[-1]))          # (..., 1, n)
            ga = (g2 @ b.swapaxes(-1, -2)) if need_a else None               # (..., 1, k)
            gb = a.reshape((a.shape[0], 1)) @ g2 if need_b else None         # (..., k, n)
            return ga, gb
        if b.ndim == 1:                                        # (..., m, k) @ (k,) -> (..., m)
            g2 = g.reshape(tuple(g.shape) + (1,))                           # (..., m, 1)
            ga = g2 @ b.reshape((1, b.shape[0])) if need_a else None        # (..., m, k)
            gb = None
            if need_b:
                gb = a.swapaxes(-1, -2) @ g2                                 # (..., k, 1)
                gb = gb.reshape(tuple(gb.shape[:-1]))                        # (..., k)
            return ga, gb
        ga = g @ b.swapaxes(-1, -2) if need_a else None
        gb = a.swapaxes(-1, -2) @ g if need_b else None
        return ga, gb

    def jvp(self, math, ta, tb, a, b):
        return add_tangents(ta @ b if ta is not None else None, a @ tb if tb is not None else None)
