"""Custom ops with PyTorch's calling convention::

    class Cube(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 3 * x ** 2

    y = Cube.apply(x)

``forward`` runs without recording (its inside is the op's business); ``backward`` gets ḡ and
returns one gradient per input of ``forward`` (``None`` for inputs that need none). When it is
written with tensor ops, ``create_graph=True`` makes it differentiable too.

For forward mode (``autograd.forward_ad``) give it PyTorch's ``jvp(ctx, *tangents)``: one tangent
per input of ``forward`` (zeros for a tensor input without one, ``None`` for a non-tensor), and
it returns the output's tangent. Tensors it needs can be kept with ``ctx.save_for_forward``.
"""
from __future__ import annotations

import weakref

from ..tensor_base import TensorBase
from ..backend import array_module
from . import anomaly_mode, forward_ad
from .graph import Packed, SavedHooks, pack
from .grad_mode import GradMode, no_grad
from .node import Node, _released_error, _inplace_error


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``: a place to keep what backward needs."""

    def __init__(self, node):
        self._node_ref = weakref.ref(node)     # weak: the node holds the ctx (no cycle)
        self._to_save = ()
        self._for_forward = None               # what jvp reads as saved_tensors

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    def save_for_forward(self, *tensors):
        """Keep tensors for ``jvp`` (there, ``ctx.saved_tensors`` gives them back)."""
        self._for_forward = tensors

    @property
    def saved_tensors(self):
        if self._for_forward is not None:       # inside jvp
            return tuple(self._for_forward)
        return self._node_ref()._unpack_saved()

    @property
    def needs_input_grad(self):
        return self._node_ref()._needs

    def mark_non_differentiable(self, *tensors):
        pass


class CustomNode(Node):
    """The graph node of a custom ``Function`` (named ``<ClassName>Backward``)."""

    __slots__ = ("_fn", "ctx", "_saved", "_versions", "_out", "_out_vc", "_needs", "_in_meta",
                 "_hooks", "_retain", "_name", "_make")
    formula = "user-defined backward"
    save = "custom"

    def _unpack_saved(self):
        if self._saved is None:                 # freed by a backward without retain_graph
            raise _released_error(self)
        values = []
        for i, (x, v) in enumerate(zip(self._saved, self._versions)):
            if x.__class__ is Packed:           # saved under saved_tensors_hooks
                t, changed = x.unpack(f"saved tensor {i} of {self._name}")
                if changed:
                    raise _inplace_error(self, f"saved tensor {i}", t, v)
                x = x.rebuilt(t) if GradMode.enabled else t
            elif isinstance(x, TensorBase):
                if x._version != v:
                    raise _inplace_error(self, f"saved tensor {i}", x, v)
            values.append(x)
        return tuple(values)

    def _run_backward(self, math, grad, create_graph):
        g = grad if isinstance(grad, TensorBase) else self._make(grad)
        result = self._fn.backward(self.ctx, g)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != len(self._next):
            raise RuntimeError(
                f"{self._fn.__name__}.backward returned {len(result)} gradient(s), but forward took "
                f"{len(self._next)} input(s); return one per input (None where there is none)")
        out = []
        for k, (r, meta) in enumerate(zip(result, self._in_meta)):
            if r is None or meta is None:
                out.append(None)
                continue
            if not isinstance(r, TensorBase):
                raise TypeError(f"{self._fn.__name__}.backward: gradient {k} is a "
                                f"{type(r).__name__}, expected a Tensor or None")
            if tuple(r._data.shape) != meta[0]:
                raise RuntimeError(
                    f"{self._fn.__name__}.backward returned a gradient of shape "
                    f"{tuple(r._data.shape)} for input {k}, which has shape {meta[0]}")
            out.append(r if create_graph else r._data)
        return out

    def _release(self):
        self._saved = self._out = None

    @property
    def saved_tensors(self):
        return self._unpack_saved()


class Function:
    """Base class for custom differentiable ops: subclass it, define ``forward`` and ``backward``
    as static methods, and call ``YourOp.apply(...)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom Function must define backward(ctx, grad_output)")

    @staticmethod
    def jvp(ctx, *tangents):
        raise NotImplementedError("a custom Function must define jvp(ctx, *tangents) to be used "
                                  "in forward mode")

    @classmethod
    def apply(cls, *args):
        dual = forward_ad.has_tangent(*args)
        if dual and cls.jvp is Function.jvp:
            raise RuntimeError(
                f"{cls.__name__}: an input carries a tangent (forward mode, inside a dual_level), "
                f"but {cls.__name__} has no forward-mode rule. Define it as PyTorch does: "
                "@staticmethod def jvp(ctx, *tangents): return the output's tangent, one "
                "tangent per input of forward (keep what it needs with ctx.save_for_forward).")
        node = CustomNode()
        node._fn, node._name = cls, f"{cls.__name__}Backward"
        node._hooks = node._retain = None
        ctx = FunctionCtx(node)
        node.ctx = ctx
        node._needs = tuple(isinstance(a, TensorBase) and a._requires_grad for a in args)
        with no_grad(), forward_ad.paused():    # its own jvp gives the output's tangent
            out = cls.forward(ctx, *args)
        if not isinstance(out, TensorBase):
            raise TypeError(f"{cls.__name__}.forward must return a single Tensor, got "
                            f"{type(out).__name__}")
        result = cls._record(node, ctx, out, args)
        if dual:
            if any(result is a for a in args):      # forward handed an input back: a new tensor
                result = result._make(result._data)
            _push_custom_tangent(cls, ctx, args, result)
        return result

    @classmethod
    def _record(cls, node, ctx, out, args):
        """The output with this node as its ``grad_fn`` (when a graph is recorded)."""
        if not (GradMode.enabled and any(node._needs)):
            return out
        if out._grad_fn is not None or out._requires_grad or any(out is a for a in args):
            out = out._make(out._data)
        node._next = tuple((a._grad_fn or a._accumulator()) if need else None
                           for a, need in zip(args, node._needs))
        node._in_meta = tuple((tuple(a._data.shape), a._data.dtype) if isinstance(a, TensorBase) else None
                              for a in args)
        node._saved = tuple(ctx._to_save)
        node._versions = tuple(x._version if isinstance(x, TensorBase) else None for x in node._saved)
        if SavedHooks.stack:                # inside saved_tensors_hooks: keep what pack gives
            node._saved = tuple(pack(x) for x in node._saved)
        node._make = out._make
        result = out._make(out._data, node, True)
        if anomaly_mode.AnomalyMode.enabled:
            anomaly_mode.remember(node)     # the learner's line that created it
        return result


def _push_custom_tangent(cls, ctx, args, result):
    """Forward mode for a custom Function: ``jvp(ctx, *tangents)`` gives the output's tangent."""
    tangents = []
    for a in args:
        if not isinstance(a, TensorBase):
            tangents.append(None)
        elif a._tangent is not None:
            tangents.append(a._tangent)
        else:                               # no tangent: zeros (PyTorch materializes them too)
            tangents.append(a._make(array_module(a._data).zeros_like(a._data)))
    if ctx._for_forward is None:
        ctx._for_forward = ctx._to_save     # what forward saved, readable in jvp too
    try:
        with forward_ad.paused():
            t = cls.jvp(ctx, *tangents)
    finally:
        ctx._for_forward = None
    if not isinstance(t, TensorBase):
        raise TypeError(f"{cls.__name__}.jvp must return the output's tangent as a Tensor, got "
                        f"{type(t).__name__}")
    if tuple(t._data.shape) != tuple(result._data.shape) or t._data.dtype != result._data.dtype:
        raise RuntimeError(
            f"{cls.__name__}.jvp returned a tangent of shape {tuple(t._data.shape)} "
            f"({t.dtype.name}), but forward's output has shape {tuple(result._data.shape)} "
            f"({result.dtype.name}); a tangent has its primal's shape and dtype")
    forward_ad.attach(result, t)
