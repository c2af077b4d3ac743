"""Adagrad, PyTorch's algorithm (Duchi et al., 2011): each coordinate's step shrinks with the sum
of its squared gradients so far.

    g ← ∇θ + λθ                      (weight_decay λ; g ← −g first if maximize)
    lr_t = lr / (1 + (t − 1)·η)      (lr_decay η, t = 1, 2, …)
    s ← s + g²                       (s starts at initial_accumulator_value)
    θ ← θ − lr_t · g / (√s + ε)
"""
from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..backend import array_module
from .optimizer import Optimizer, check_hyperparameters, check_initialized


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        check_hyperparameters(("learning rate", lr), ("lr_decay value", lr_decay),
                              ("weight_decay value", weight_decay),
                              ("initial_accumulator_value value", initial_accumulator_value),
                              ("epsilon value", eps))
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize))
        for group in self.param_groups:     # the state exists from the start, as in PyTorch
            for p in group["params"]:
                check_initialized(self, p)
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["sum"] = p.detach().clone().fill_(group["initial_accumulator_value"])
        return state

    @no_grad()
    def step(self, closure=None):
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
            for p, g in self._gradients(group):
                x = p._data
                state = self._init_state(p, group)      # (a group added later starts here)
                state["step"] += 1
                if wd:
                    g = g + wd * x
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                s = state["sum"]._data
                s += g * g
                std = array_module(s).sqrt(s)
                std += eps
                x -= clr * g / std
                p._vc[0] += 1
        return loss
