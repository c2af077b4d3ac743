"""Graph nodes: what ``tensor.grad_fn`` points to.

Every op that records a graph creates one ``Op`` node for its output. A node knows

* ``next_functions`` — the nodes of its inputs (edges of the graph, pointing towards the leaves);
* what it saved for backward (``saved_tensors``), and the version of each saved tensor, so an
  in-place change made after the save is caught instead of giving a silently wrong gradient;
* its local derivative rule, ``backward``: given ḡ = ∂L/∂out it returns ∂L/∂input for each input
  (a vector-Jacobian product).

Forward mode (``autograd.forward_ad``) uses the same classes: each op also has ``jvp``, which turns
the inputs' tangents ẋ into the output's tangent ẏ = J ẋ (a Jacobian-vector product). While a dual
level is active ``Op.apply`` calls it as the forward runs (``_push_tangents``); no graph is
recorded for tangents.

A node never holds its own output tensor (that would be a reference cycle: tensor → grad_fn →
tensor). A saved *output* is kept as the raw array; when a differentiable backward needs it as a
tensor it is rebuilt with ``grad_fn`` pointing back at this node, as PyTorch does.

Inside ``autograd.graph.saved_tensors_hooks(pack, unpack)`` a node keeps what ``pack`` returned
for each saved tensor (a ``graph.Packed``) and ``unpack`` gives it back when the rule runs. While
anomaly mode is on (``autograd.detect_anomaly``) a node also remembers the learner's line that
created it.

Leaves that require grad get an ``AccumulateGrad`` node, which adds incoming gradients to
``leaf.grad``. It refers to its leaf weakly, and the leaf refers to it strongly: no cycle.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..tensor_base import TensorBase
from . import growth
from .anomaly_mode import AnomalyMode, remember
from .graph import Packed, SavedHooks, pack
from .grad_mode import GradMode
from .math import math_for


class ForwardMode:
    """The dual level ``autograd.forward_ad`` has entered, or ``None`` (outside one, and while a
    JVP rule or a custom Function's forward runs). ``Op.apply`` reads it once per op."""
    level = None


class Node:
    """Base of every graph node. ``name()`` is PyTorch's (``MulBackward0``, ``AccumulateGrad``…)."""

    __slots__ = ("_next", "__weakref__")
    _hooks = None       # tensor hooks on this node's output, set by register_hook
    _retain = None      # a weak reference to the output, set by retain_grad
    _name = "Node"
    _freed_by = 0       # the backward pass that freed this root's graph (autograd/growth.py)
    _stale = 0          # a pass whose freed graph this node reaches (growth.py), or 0
    formula = ""        # the local rule in one line of math, for the graph drawings
    jvp_formula = ""    # the forward-mode rule (ẏ from the inputs' tangents) in one line

    def name(self):
        """The node's name, as PyTorch names it (``grad_fn.name()``)."""
        return self._name

    @property
    def next_functions(self):
        """((node, 0), …) per input, ``None`` for an input that needs no gradient (PyTorch's shape)."""
        return tuple((n, 0) for n in self._next)

    @property
    def needs_input_grad(self):
        return tuple(n is not None for n in self._next)

    def register_hook(self, hook):
        return _add_hook(self, hook)

    def _release(self):
        """Drop what was saved for backward (the engine calls this unless ``retain_graph``)."""

    def __repr__(self):
        return f"<{self._name}>"


class RemovableHandle:
    """Returned by ``register_hook``; ``.remove()`` unregisters the hook."""

    def __init__(self, node, hook):
        self._node, self._hook = weakref.ref(node), hook     # weak: a handle keeps no graph alive

    def remove(self):
        node = self._node()
        if node is not None and node._hooks and self._hook in node._hooks:
            node._hooks.remove(self._hook)


def _add_hook(node, hook):
    if not callable(hook):
        raise TypeError(f"register_hook: expected a function, got {type(hook).__name__}")
    if node._hooks is None:
        node._hooks = []
    node._hooks.append(hook)
    return RemovableHandle(node, hook)


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: it adds the gradient it receives into ``leaf.grad``."""

    __slots__ = ("_variable", "_hooks", "_retain", "_make")
    _name = "AccumulateGrad"
    formula = "leaf.grad += ḡ"

    def __init__(self, variable):
        self._next = ()
        self._hooks = None
        self._retain = None
        self._variable = weakref.ref(variable)
        self._make = variable._make         # wraps an array as a tensor (for hooks and the trace)

    @property
    def variable(self):
        return self._variable()


class BackwardTwiceError(RuntimeError):
    pass


class InplaceModifiedError(RuntimeError):
    pass


def edge_to(x):
    """The node a gradient for input ``x`` goes to: the op that made it, or the leaf's
    AccumulateGrad; ``None`` when ``x`` needs no gradient (a constant, or a number)."""
    if isinstance(x, TensorBase) and x._requires_grad:
        return x._grad_fn or x._accumulator()
    return None


class Op(Node):
    """An op: ``forward`` on raw arrays, ``backward`` as the local derivative rule.

    Subclasses set ``save`` to say what their rule needs: ``"inputs"``, ``"output"``, ``"both"``
    or ``None``. ``backward(math, grad, *saved)`` receives those values and returns one gradient
    per input (a tuple when there are several inputs). It is written once and runs two ways:

    * ``math`` is the array math of the grad's device and the values are arrays;
    * with ``create_graph=True``, ``math`` is tensor math and the values are tensors, so the
      backward itself is recorded and can be differentiated again.

    The base class handles broadcasting once: a gradient whose shape is the broadcast shape is
    summed back to its input's shape (and cast back to its dtype).

    ``jvp(math, *tangents, *saved)`` is the forward-mode rule: one tangent per input (``None``
    for an input without one, which counts as zero; its term is left out), then the same saved
    values ``backward`` receives; it returns the output's tangent ẏ = J ẋ. Its broadcasting is
    undone once too, the other way round: ẏ is expanded to the output's shape and dtype.
    """

    __slots__ = ("_saved", "_versions", "_out", "_out_vc", "_in_meta", "_make",
                 "_consumed", "_tree",     # flags kept by the shortcuts in autogradkit/fast.py
                 "__dict__")
    save = None
    is_view = False
    _out_tangent = None     # forward mode: (level, the output tangent's array), saved output
    op = ""          # the op's public name in error messages (``mul``, ``matmul`` …)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, math, grad, *saved):
        raise NotImplementedError

    def jvp(self, math, *tangents_and_saved):
        raise NotImplementedError(f"{self._name} has no forward-mode rule (jvp)")

    # -- recording ----------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **params):
        """Run ``forward`` on the inputs' arrays; if any input requires grad, record a node."""
        tensors = [x for x in inputs if isinstance(x, TensorBase)]
        if not tensors:
            raise TypeError(f"{_op_name(cls)}: expected a Tensor, got "
                            f"{', '.join(type(x).__name__ for x in inputs)}; wrap numbers with "
                            "autogradkit.tensor(...)")
        if any(type(t._data) is not type(tensors[0]._data) for t in tensors):
            raise _device_error(cls, inputs)
        node = cls.__new__(cls)
        arrays = [x._data if isinstance(x, TensorBase) else x for x in inputs]
        try:
            out = node.forward(*arrays, **params)
        except (ValueError, TypeError, IndexError) as exc:
            raise _op_error(cls, inputs, exc) from exc
        if isinstance(out, np.generic):             # numpy turns 0-d results into scalars
            out = np.asarray(out)
        make = tensors[0]._make                     # the result is a tensor of the inputs' kind
        records = (GradMode.enabled and any(t._requires_grad for t in tensors)
                   and out.dtype.kind in "fc")      # no gradient flows through integer results
        if not records:
            result = make(out)
        else:
            node._next = tuple(edge_to(x) for x in inputs)
            node._in_meta = tuple((x._data.shape, x._data.dtype) if isinstance(x, TensorBase)
                                  else None for x in inputs)
            node._make = make
            result = make(out, node, True)
            if cls.save in ("inputs", "both"):
                node._saved = inputs
                node._versions = tuple(x._version if isinstance(x, TensorBase) else 0
                                       for x in inputs)
            if cls.save in ("output", "both"):
                node._out, node._out_vc = out, result._vc
            if SavedHooks.stack:            # inside saved_tensors_hooks: keep what pack gives
                node._pack_saved(result)
            if AnomalyMode.enabled:
                remember(node)              # the learner's line that created it
            for f in node._next:            # an input whose graph a backward() has used:
                if f is not None and (f._freed_by or f._stale):
                    growth.check(node)      # a graph growing across iterations? (growth.py)
                    break
        if node.is_view and out.base is not None:
            result._vcs = inputs[0]._vc     # a view shares its base's version counter
            result._base = inputs[0]
        if ForwardMode.level is not None:   # forward mode: the output's tangent, ẏ = J ẋ
            node._push_tangents(inputs, out, result)
        return result

    # -- forward mode -------------------------------------------------------------------------
    def _push_tangents(self, inputs, out, result):
        """Give ``result`` its tangent from the inputs' tangents (``jvp``). Nothing is recorded
        for tangents, unless a tangent must itself be differentiable (an input or a tangent
        requires grad, and grad mode is on): then the rule runs on tensors, as a backward rule
        does with ``create_graph=True``."""
        level = ForwardMode.level
        if self.is_view and result._base is not None:
            result._base._viewed = True     # in-place changes of it would miss a view's tangent
        tangents = tuple(x._tangent if isinstance(x, TensorBase) else None for x in inputs)
        if out.dtype.kind not in "fc" or all(t is None for t in tangents):
            return
        differentiable = GradMode.enabled and any(
            isinstance(x, TensorBase) and x._requires_grad for x in inputs + tangents)
        if differentiable:      # values and tangents as tensors: the rule's steps are recorded
            math = result._math
            out_t = result._make(out, result._grad_fn, result._requires_grad)   # not result
            out_t._vcs = result._vc         # itself: its tangent would then hold it (a cycle)
            saved = self._jvp_saved(inputs, out_t)
        else:                   # values and tangents as arrays: nothing is recorded
            math = math_for(out)
            saved = self._jvp_saved([x._data if isinstance(x, TensorBase) else x
                                     for x in inputs], out)
            tangents = tuple(None if t is None else t._data for t in tangents)
        ForwardMode.level = None            # the rule's own steps carry no tangents
        try:
            t = self.jvp(math, *tangents, *saved)
            if t is not None:
                t = _fit_tangent(math, t, out)
        finally:
            ForwardMode.level = level
        if t is None:
            return
        tangent = t if differentiable else result._make(t)
        level.attach(result, tangent)
        if result._grad_fn is self and self.save in ("output", "both"):
            self._out_tangent = (level, tangent._data)  # for the output rebuilt by create_graph

    def _jvp_saved(self, inputs, out):
        """What ``backward`` would receive (``save``), taken now: inputs and/or the output."""
        save = self.save
        if save == "inputs":
            return tuple(inputs)
        if save == "output":
            return (out,)
        if save == "both":
            return (*inputs, out)
        return ()

    def _pack_saved(self, result):
        """Under ``saved_tensors_hooks``: each saved tensor replaced by what ``pack_hook`` returns
        (``autograd.graph``); the output goes as a tensor on its numbers, without its grad_fn."""
        if self.save in ("inputs", "both"):
            self._saved = tuple(pack(x) for x in self._saved)
        if self.save in ("output", "both"):
            alias = result._make(self._out)
            alias._vcs = result._vc
            self._out = pack(alias, is_output=True)

    # -- replaying ----------------------------------------------------------------------------
    def _unpack(self, create_graph):
        """The saved values for ``backward``: arrays, or tensors with ``create_graph``.

        Each saved tensor's version is compared with the version it had when saved: a mismatch
        means it was changed in place since, and the gradient would be silently wrong.
        """
        values = []
        if self.save in ("inputs", "both"):
            if self._saved is None:
                raise _released_error(self)
            for i, (x, v) in enumerate(zip(self._saved, self._versions or (0,) * len(self._saved))):
                if x.__class__ is Packed:               # saved under saved_tensors_hooks
                    values.append(self._unpacked(x, f"input {i}", create_graph))
                    continue
                if not isinstance(x, TensorBase):       # a plain number
                    values.append(x)
                    continue
                if x._version != v:
                    raise _inplace_error(self, f"input {i}", x, v)
                values.append(x if create_graph else x._data)
        if self.save in ("output", "both"):
            out = self._out
            if out is None:
                raise _released_error(self)
            if out.__class__ is Packed:
                out = self._unpacked(out, "the output", False)
            elif self._out_vc[0] != 0:
                raise _inplace_error(self, "the output", out, 0, self._out_vc[0])
            if create_graph:
                out = self._make(out, self, True)
                carried = self._out_tangent     # forward-over-reverse: the output's tangent too
                if carried is not None and carried[0] is ForwardMode.level:
                    carried[0].attach(out, self._make(carried[1]))
            values.append(out)
        return values

    def _unpacked(self, p, which, create_graph):
        """A value saved under ``saved_tensors_hooks``, given back by its ``unpack_hook``: its
        array, or with ``create_graph`` a tensor joined to the original's place in the graph."""
        t, changed = p.unpack(f"{which} of {self._name}")
        if changed:     # the original's own numbers, changed in place since they were saved
            raise _inplace_error(self, which, t, p.version)
        return p.rebuilt(t) if create_graph else t._data

    def _run_backward(self, math, grad, create_graph):
        """ḡ in, one gradient per input out, each in its input's shape and dtype."""
        return self._fit_to_inputs(math, self.backward(math, grad, *self._unpack(create_graph)))

    def _fit_to_inputs(self, math, grads):
        """The rule's gradients, one per input, each summed back to its input's shape."""
        if not isinstance(grads, (tuple, list)):    # a one-input op returns its gradient alone
            grads = (grads,)
        if self._in_meta is None:       # recorded knowing the shapes already match
            return grads
        result = []
        for g, meta in zip(grads, self._in_meta):
            if g is not None and meta is not None:
                if isinstance(g, np.generic):       # numpy turns 0-d results into scalars
                    g = np.asarray(g)
                shape, dtype = meta
                if g.shape != shape:
                    g = math.sum_to(g, shape)       # undo broadcasting: the one place it happens
                if g.dtype != dtype:
                    g = math.cast(g, dtype)
            result.append(g)
        return result

    def _release(self):
        self._saved = self._out = None

    @property
    def saved_tensors(self):
        """What this node saved for backward, as tensors (for inspection and teaching)."""
        out = []
        if self.save in ("inputs", "both"):
            if self._saved is None:
                raise _released_error(self)
            out += [x.unpack(self._name)[0] if x.__class__ is Packed else x
                    for x in self._saved if isinstance(x, (TensorBase, Packed))]
        if self.save in ("output", "both"):
            if self._out is None:
                raise _released_error(self)
            out.append(self._out.unpack(self._name)[0] if self._out.__class__ is Packed
                       else self._make(self._out))
        return tuple(out)


def add_tangents(*terms):
    """The sum of a JVP rule's terms, one per input that has a tangent (``None``: no tangent, a
    zero term, left out); ``None`` when no input had one."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


def _fit_tangent(math, t, out):
    """A rule's ẏ in the output's shape and dtype: broadcasting undone the forward way (expand),
    as ``_fit_to_inputs`` undoes it for gradients (sum)."""
    if isinstance(t, np.generic):               # numpy turns 0-d results into scalars
        t = np.asarray(t)
    if tuple(t.shape) != tuple(out.shape):
        t = math.expand(t, tuple(out.shape))
    if (t._data if isinstance(t, TensorBase) else t).dtype != out.dtype:
        t = math.cast(t, out.dtype)
    return t


# -- errors written for a learner ----------------------------------------------------------
def _describe(x):
    if isinstance(x, TensorBase):
        return f"tensor of shape {tuple(x._data.shape)}, {x.dtype.name} on {x.device}"
    return f"{type(x).__name__} {x!r}"


def _op_name(cls):
    return cls.op or cls._name.replace("Backward0", "").replace("Backward1", "").lower()


def _device_error(cls, inputs):
    devices = ", ".join(str(x.device) for x in inputs if isinstance(x, TensorBase))
    return RuntimeError(
        f"{_op_name(cls)}: all tensors must be on the same device, got tensors on {devices}. "
        "Move them first, e.g. b = b.to(a.device)")


def _op_error(cls, inputs, exc):
    name = _op_name(cls)
    msg = str(exc)
    if msg.startswith(name + ":"):
        return type(exc)(msg)
    shapes = [tuple(x._data.shape) for x in inputs if isinstance(x, TensorBase)]
    if "broadcast" in msg and len(shapes) >= 2:
        listed = " and ".join(str(s) for s in shapes)
        return ValueError(
            f"{name}: shapes {listed} cannot be broadcast together. Compared from the right, each "
            "pair of dimensions must be equal or one of them must be 1; reshape or unsqueeze an "
            "operand to line them up")
    described = "; ".join(_describe(x) for x in inputs)
    return type(exc)(f"{name}: {msg} (inputs: {described})")


def _released_error(node):
    error = BackwardTwiceError(
        f"Trying to backward through the graph a second time: {node._name} has already freed the "
        "tensors it saved for backward. Pass retain_graph=True to the first backward() (or to "
        "autograd.grad) if you need to go backward through the same graph again.")
    error.node = node           # for growth.explain: the same graph again, or carried state?
    return error


def _inplace_error(node, which, x, saved_version, now=None):
    if isinstance(x, TensorBase):
        now = x._version
        what = f"a tensor of shape {tuple(x._data.shape)}, {x.dtype.name}"
    else:
        what = f"a tensor of shape {tuple(x.shape)}, {x.dtype}"
    return InplaceModifiedError(
        f"one of the tensors needed for gradient computation has been modified by an in-place "
        f"operation: {which} of {node._name} ({what}) is at version {now}; expected version "
        f"{saved_version}. Hint: use an out-of-place op (y = y + 1 instead of y += 1), or "
        ".clone() the tensor before changing it in place.")
