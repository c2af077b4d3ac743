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
"""
from __future__ import annotations

import weakref

from ..tensor_base import TensorBase
from .grad_mode import GradMode, no_grad
from .node import Node, _released_error, _inplace_error


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``: a place to keep what backward needs."""

    def __init__(self, node):
        self._node_ref = weakref.ref(node)     # weak: the node holds the ctx (no cycle)
        self._to_save = ()

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    @property
    def saved_tensors(self):
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
            if isinstance(x, TensorBase):
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

    @classmethod
    def apply(cls, *args):
        node = CustomNode()
        node._fn, node._name = cls, f"{cls.__name__}Backward"
        node._hooks = node._retain = None
        ctx = FunctionCtx(node)
        node.ctx = ctx
        node._needs = tuple(isinstance(a, TensorBase) and a._requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, TensorBase):
            raise TypeError(f"{cls.__name__}.forward must return a single Tensor, got "
                            f"{type(out).__name__}")
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
        node._make = out._make
        result = out._make(out._data, node, True)
        return result
