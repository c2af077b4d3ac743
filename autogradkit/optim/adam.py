"""Adam and AdamW (PyTorch's algorithms):

    m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
    θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)

Adam folds weight decay into the gradient (g ← g + λθ); AdamW decays the weights directly
(θ ← θ − lr·λ·θ), which is what "decoupled weight decay" means.
"""
from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..backend import array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, betas={betas} or eps={eps}")
        if weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad = group["weight_decay"], group["amsgrad"]
            for p, g in self._gradients(group):
                x = p._data
                if wd:
                    if self.decoupled:
                        x *= 1 - lr * wd
                    else:
                        g = g + wd * x
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = p.detach().clone().zero_()
                    state["exp_avg_sq"] = p.detach().clone().zero_()
                    if amsgrad:
                        state["max_exp_avg_sq"] = p.detach().clone().zero_()
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    _xp(vmax).maximum(vmax, v, out=vmax)
                    v = vmax
                bias1 = 1 - b1 ** t
                bias2 = 1 - b2 ** t
                denom = (_xp(v).sqrt(v) / math.sqrt(bias2)) + eps
                x -= (lr / bias1) * (m / denom)
                p._vc[0] += 1
        return loss


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


def _xp(a):
    return array_module(a)
