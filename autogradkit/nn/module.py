"""``Module``: the base of every layer and model.

Assigning a ``Parameter`` or a ``Module`` as an attribute registers it, so ``parameters()``,
``state_dict()``, ``to()`` and ``zero_grad()`` find everything without being told.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..backend import Device
from ..tensor import Tensor
from ..autograd.grad_mode import no_grad
from .parameter import Parameter


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------------
    # Registered parameters, submodules and buffers live in their stores (``_parameters`` …),
    # which define the module; reading ``self.weight`` finds it there through ``__getattr__``.
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; call "
                                 "super().__init__() first in your module's __init__")
        params, mods, bufs = self._parameters, self._modules, self._buffers
        if name in params and not isinstance(value, Parameter):
            if value is not None:       # as PyTorch: don't silently unregister a weight
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a Parameter or None expected)")
            params[name] = None
        elif name in mods and not isinstance(value, Module):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                "(a Module or None expected)")
            mods[name] = None
        elif name in bufs and (value is None or isinstance(value, Tensor)) \
                and not isinstance(value, Parameter):
            bufs[name] = value          # reassigning a buffer keeps it a buffer
        else:
            for store in (params, mods, bufs):
                store.pop(name, None)
            if isinstance(value, (Parameter, Module)):
                self.__dict__.pop(name, None)           # (a plain attribute of that name)
                (params if isinstance(value, Parameter) else mods)[name] = value
            else:
                object.__setattr__(self, name, value)     # a plain attribute

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        self._check_new_name("register_parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self._parameters[name] = param

    def register_buffer(self, name, tensor):
        self._check_new_name("register_buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None")
        self._buffers[name] = tensor

    def add_module(self, name, module):
        self._check_new_name("add_module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None")
        self._modules[name] = module

    def _check_new_name(self, op, name, store):
        """PyTorch's checks: a string without dots, not already another kind of attribute."""
        if not isinstance(name, str):
            raise TypeError(f"{op}: the name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{op}: the name can't be empty or contain \".\", got {name!r}")
        if name not in store and hasattr(self, name):
            raise KeyError(f"{op}: attribute '{name}' already exists; delete it first "
                           f"(del module.{name}) or pick another name")

    # ---- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, mod = stack.pop(0)
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            stack[0:0] = [((f"{name}.{k}" if name else k), m)
                          for k, m in mod._modules.items() if m is not None]

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule, children first, then on this one (as
        PyTorch does: ``net.apply(init_weights)``); returns ``self``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    # ---- state ----------------------------------------------------------------------------------
    def _named_state(self):
        """(dotted name, tensor) for every parameter and buffer, in PyTorch's order. A module (or
        tensor) reachable by several paths appears under each of them, as in PyTorch."""
        stack = [("", self)]
        while stack:
            mod_name, mod = stack.pop()
            for store in (mod._parameters, mod._buffers):
                for name, t in store.items():
                    if t is not None:
                        yield (f"{mod_name}.{name}" if mod_name else name), t
            stack.extend(reversed([((f"{mod_name}.{k}" if mod_name else k), m)
                                   for k, m in mod._modules.items() if m is not None]))

    def state_dict(self):
        """Every parameter and buffer by its dotted name, detached (sharing the numbers)."""
        return OrderedDict((k, t.detach()) for k, t in self._named_state())

    def load_state_dict(self, state_dict, strict=True):
        """Copy tensors into this module's parameters and buffers (in place, without recording).

        With ``strict=True`` the keys must match exactly; every problem is listed at once and
        nothing is changed unless all is well.
        """
        own = OrderedDict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, t in own.items():
            if k in state_dict:
                src = state_dict[k]
                shape = tuple(src.shape) if hasattr(src, "shape") else np.shape(src)
                if tuple(shape) != tuple(t.shape):
                    mismatched.append(f"{k}: the checkpoint has shape {tuple(shape)}, the model "
                                      f"has {tuple(t.shape)}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + " | ".join(problems))
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    src = state_dict[k]
                    t.copy_(src if isinstance(src, Tensor) else Tensor(np.asarray(src)))
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes, devices, gradients ------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p._grad is not None:
                if set_to_none:
                    p._grad = None
                else:
                    p._grad.zero_()

    def to(self, *args, **kwargs):
        """Move/convert every parameter and buffer in place (the module object stays the same)."""
        with no_grad():
            for mod in self.modules():
                for store in (mod._parameters, mod._buffers):
                    for name, t in store.items():
                        if t is None:
                            continue
                        if t._data.dtype.kind in "fc":
                            moved = t.to(*args, **kwargs)
                        else:           # as PyTorch: a dtype converts only floating tensors
                            moved = t.to(device=_device_arg(args, kwargs))
                        if moved is not t:
                            t._data = moved._data
                            if t._grad is not None:
                                t._grad = t._grad.to(*args, **kwargs)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ---- calling --------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- printing -------------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers))


def _device_arg(args, kwargs):
    for a in args:
        if isinstance(a, Tensor):
            return a.device
        if isinstance(a, (str, Device)):
            return a
    return kwargs.get("device")


class _IncompatibleKeys:
    def __init__(self, missing, unexpected):
        self.missing_keys, self.unexpected_keys = missing, unexpected

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"
