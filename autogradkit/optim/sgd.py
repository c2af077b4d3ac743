"""Stochastic gradient descent, PyTorch's algorithm:

    g ← ∇θ + λθ                         (weight_decay λ)
    b ← μ·b + (1 − τ)·g  (b = g at the first step)   (momentum μ, dampening τ)
    g ← g + μ·b  (nesterov)  or  g ← b
    θ ← θ − lr·g
"""
from __future__ import annotations

from ..autograd.grad_mode import enable_grad
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def step(self, closure=None):
        # (no no_grad() needed: the update works on the raw arrays, so nothing can be recorded)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                g = p._grad._data
                if maximize:
                    g = -g
                if wd:
                    g = g + wd * p._data
                if mu:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = p._grad.detach().clone()
                        buf._data[...] = g
                    else:
                        buf._data *= mu
                        buf._data += (1 - tau) * g
                    g = g + mu * buf._data if nesterov else buf._data
                p._data -= lr * g            # in place: views and optimizer state stay valid
                p._vc[0] += 1
        return loss
