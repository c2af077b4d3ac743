"""``Optimizer``: the base of every optimizer. It holds ``param_groups`` (lists of parameters with
their settings) and per-parameter ``state``; ``step()`` updates the parameters in place without
recording a graph."""
from __future__ import annotations

import copy

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors or dicts "
                            "(e.g. model.parameters() or [w, b]), got a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list (did you pass "
                             "model.parameters() of a model with no layers?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf tensor (made by "
                                 f"{p.grad_fn.name()}); optimize the leaves it was computed from")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``backward()`` adds into ``.grad``, so do this before each step's
        backward (or after each step)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:
                    if set_to_none:
                        p._grad = None
                    else:
                        p._grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    # ---- saving and loading -----------------------------------------------------------------
    @staticmethod
    def _run_closure(closure):
        """The loss from ``closure()`` (run with grad mode on), or None without one."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    @staticmethod
    def _gradients(group):
        """(parameter, its gradient's array) for each parameter of ``group`` that has a gradient,
        the gradient negated when the group maximizes."""
        for p in group["params"]:
            if p._grad is not None:
                g = p._grad._data
                yield p, (-g if group["maximize"] else g)

    def state_dict(self):
        """Settings and state, with parameters referred to by their index (as PyTorch does)."""
        index = {}
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                g["params"].append(index[id(p)])
            groups.append(g)
        state = {index[id(p)]: {k: (v.detach().clone() if isinstance(v, Tensor) else v)
                                for k, v in s.items()}
                 for p, s in ((p, self.state[p]) for g in self.param_groups for p in g["params"]
                              if p in self.state)}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the saved optimizer has {len(groups)} parameter "
                             f"groups, this one has {len(self.param_groups)}")
        params = [p for g in self.param_groups for p in g["params"]]
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError("load_state_dict: a parameter group has a different number of "
                                 f"parameters ({len(saved['params'])} saved, {len(own['params'])} here)")
        by_index = {i: p for g_saved, g_own in zip(groups, self.param_groups)
                    for i, p in zip(g_saved["params"], g_own["params"])}
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: (v.detach().clone().to(p.device) if isinstance(v, Tensor) else copy.copy(v))
                             for k, v in s.items()}
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = v
        del params

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def check_hyperparameters(*named):
    """PyTorch's checks and messages: each (name, value) must be >= 0 ("Invalid learning rate: -1")."""
    for name, value in named:
        if not 0.0 <= value:
            raise ValueError(f"Invalid {name}: {value}")


def check_initialized(optimizer, p):
    """An optimizer that builds its state at construction (Adagrad) needs every parameter's shape,
    which a lazy module's parameters don't have until its first forward (PyTorch refuses too)."""
    if getattr(p, "is_uninitialized", False):
        raise ValueError(
            f"{type(optimizer).__name__}: attempted to use an uninitialized parameter (from a lazy "
            "module such as nn.LazyLinear, whose shape is only known at its first forward). Call "
            "the model once on a dummy batch to initialize its parameters, then build the optimizer.")


def _scalar(v):
    return float(v) if isinstance(v, (np.floating, np.integer)) else v
