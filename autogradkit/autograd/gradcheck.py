"""Checking gradients against finite differences — how autodiff is *tested*, not how it works.

For each input element xₖ the numeric derivative is the central difference

    ∂f/∂xₖ ≈ (f(x + ε·eₖ) − f(x − ε·eₖ)) / (2ε)      (error O(ε²), unlike the forward quotient's O(ε))

computed in float64. The analytic Jacobian comes from backward, one output element at a time
(vector-Jacobian products with one-hot ḡ). Every element that disagrees is reported, not just
the first, so a wrong rule shows its pattern (a sign, a transpose, a missing sum).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import to_device
from ..tensor_base import TensorBase
from .api import grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytic and numeric gradients disagree; ``.mismatches`` has them all."""

    def __init__(self, message, mismatches):
        super().__init__(message)
        self.mismatches = mismatches


@dataclass
class Mismatch:
    input: int          # which input
    index: tuple        # element of that input
    output: tuple       # element of the output
    analytic: float
    numeric: float

    def __str__(self):
        return (f"input {self.input}{list(self.index)} -> output{list(self.output)}: "
                f"analytic {self.analytic:.6g}, numeric {self.numeric:.6g}")


def _outputs(fn, inputs):
    out = fn(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _numeric_jacobians(fn, inputs, eps):
    """J[k][out_index, in_index] by central differences on float64 copies of the inputs."""
    # fresh leaves (so nothing touches the caller's tensors), still requiring grad where the
    # originals do: gradgradcheck's function differentiates inside
    base = [x.detach().clone().requires_grad_(x.requires_grad) if isinstance(x, TensorBase) else x
            for x in inputs]
    outs = _outputs(fn, base)
    jac = []
    for k, x in enumerate(inputs):
        if not (isinstance(x, TensorBase) and x.requires_grad):
            jac.append(None)
            continue
        data = x._data
        per_out = [np.zeros((o._data.size, data.size)) for o in outs]
        for j in range(data.size):
            cols = []
            for sign in (1, -1):
                moved = data.copy()
                flat = moved.reshape(-1)
                flat[j] += sign * eps
                args = list(base)
                args[k] = x._make(moved).requires_grad_(True)
                cols.append([_np(o._data).astype(np.float64).reshape(-1) for o in _outputs(fn, args)])
            for o, (plus, minus) in enumerate(zip(*cols)):
                per_out[o][:, j] = (plus - minus) / (2 * eps)
        jac.append(per_out)
    return jac, outs


def _np(a):
    return to_device(a, "cpu")


def _analytic_jacobians(fn, inputs):
    outs = _outputs(fn, inputs)
    diff = [(k, x) for k, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]
    jac = {k: [np.zeros((o._data.size, x._data.size)) for o in outs] for k, x in diff}
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for i in range(out._data.size):
            seed = np.zeros(out._data.size, dtype=out._data.dtype)
            seed[i] = 1
            g = out._make(seed.reshape(out._data.shape)).to(out.device)
            got = grad([out], [x for _, x in diff], [g], retain_graph=True, allow_unused=True)
            for (k, x), gk in zip(diff, got):
                if gk is not None:
                    jac[k][o][i, :] = _np(gk._data).reshape(-1)
    return jac


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when backward's gradients of ``fn(*inputs)`` match central differences.

    Inputs that require grad must be float64 (float32 rounding would swamp the differences).
    On a mismatch raises ``GradcheckError`` listing every disagreeing element (or returns False
    with ``raise_exception=False``).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for k, x in enumerate(inputs):
        if isinstance(x, TensorBase) and x.requires_grad and x._data.dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} is {x.dtype.name}; use float64 inputs "
                            "(x.double()) — float32 rounding is larger than the differences measured")
    numeric, outs = _numeric_jacobians(fn, inputs, eps)
    analytic = _analytic_jacobians(fn, inputs)
    mismatches = []
    for k, per_out in enumerate(numeric):
        if per_out is None:
            continue
        in_shape = inputs[k]._data.shape
        for o, num in enumerate(per_out):
            ana = analytic[k][o]
            bad = ~np.isclose(ana, num, rtol=rtol, atol=atol, equal_nan=True)
            out_shape = outs[o]._data.shape
            for i, j in zip(*np.nonzero(bad)):
                mismatches.append(Mismatch(k, tuple(int(v) for v in np.unravel_index(j, in_shape)),
                                           tuple(int(v) for v in np.unravel_index(i, out_shape)),
                                           float(ana[i, j]), float(num[i, j])))
    if not mismatches:
        return True
    if not raise_exception:
        return False
    lines = "\n  ".join(str(m) for m in mismatches)
    raise GradcheckError(f"gradcheck: {len(mismatches)} element(s) of the Jacobian disagree "
                         f"(analytic from backward vs numeric by central differences):\n  {lines}",
                         mismatches)


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True):
    """Check second derivatives: gradcheck of the (create_graph) gradient of ``fn``.

    The function checked is ``(inputs, ḡ) -> ḡᵀ·J``, differentiated with respect to both.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_idx = [k for k, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [o._make(rng.standard_normal(o._data.shape)).to(o.device).requires_grad_()
                        for o in outs]
    n = len(inputs)

    def first_derivative(*args):
        xs, gs = args[:n], args[n:]
        ys = _outputs(fn, xs)
        got = grad(ys, [xs[k] for k in diff_idx], list(gs), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else xs[k] * 0 for g, k in zip(got, diff_idx))

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
