"""RMSprop, PyTorch's algorithm (Hinton's lecture 6e; ``centered`` as in Graves, 2013):

    g ← ∇θ + λθ                                (weight_decay λ; g ← −g first if maximize)
    v ← αv + (1 − α)g²                         (square_avg)
    ḡ ← ḡ + (1 − α)(g − ḡ)  (centered)         (grad_avg)
    d ← √(v − ḡ²) + ε  (centered)   or   √v + ε
    b ← μb + g/d,  θ ← θ − lr·b   (momentum μ > 0)   or   θ ← θ − lr·g/d
"""
from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..backend import array_module
from .optimizer import Optimizer, check_hyperparameters


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, maximize=False):
        check_hyperparameters(("learning rate", lr), ("epsilon value", eps),
                              ("momentum value", momentum), ("weight_decay value", weight_decay),
                              ("alpha value", alpha))
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, alpha, eps, mu = group["lr"], group["alpha"], group["eps"], group["momentum"]
            wd, centered = group["weight_decay"], group["centered"]
            for p, g in self._gradients(group):
                x = p._data
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = p.detach().clone().zero_()
                    if mu > 0:
                        state["momentum_buffer"] = p.detach().clone().zero_()
                    if centered:
                        state["grad_avg"] = p.detach().clone().zero_()
                state["step"] += 1
                if wd:
                    g = g + wd * x
                v = state["square_avg"]._data
                v *= alpha
                v += (1 - alpha) * g * g
                if centered:
                    gavg = state["grad_avg"]._data
                    gavg += (1 - alpha) * (g - gavg)          # torch's lerp_(g, 1 − α)
                    avg = array_module(v).sqrt(v - gavg * gavg)
                else:
                    avg = array_module(v).sqrt(v)
                avg += eps
                if mu > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= mu
                    buf += g / avg
                    x -= lr * buf
                else:
                    x -= lr * g / avg
                p._vc[0] += 1
        return loss
