"""Graph nodes: what ``tensor.grad_fn`` points to.

Every op that records a graph creates one ``Op`` node for its output. A node knows

* ``next_functions`` — the nodes of its inputs (edges of the graph, pointing towards the leaves);
* what it saved for backward (``saved_tensors``), and the version of each saved tensor, so an
  in-place change made after the save is caught instead of giving a silently wrong gradient;
* its local derivative rule, ``backward``: given ḡ = ∂L/∂out it returns ∂L/∂input for each input
  (a vector-Jacobian product).

A node never holds its own output tensor (that would be a reference cycle: tensor → grad_fn →
tensor). A saved *output* is kept as the raw array; when a differentiable backward needs it as a
tensor it is rebuilt with ``grad_fn`` pointing back at this node, as PyTorch does.

Leaves that require grad get an ``AccumulateGrad`` node, which adds incoming gradients to
``leaf.grad``. It refers to its leaf weakly, and the leaf refers to it strongly: no cycle.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from .grad_mode import GradMode

Tensor = None   # set by autogradkit.tensor once the Tensor class exists (it needs this module)

_ndarray = np.ndarray
_generic = np.generic
_new = object.__new__
_make = None    # Tensor._make, set with Tensor
_FLOAT_KINDS = "fc"
_ALL_ZERO = itertools.repeat(0)    # the versions of saved tensors that had no counter yet


class Node:
    """Base of every graph node. ``name`` is PyTorch's (``MulBackward0``, ``AccumulateGrad``…)."""

    __slots__ = ("_next", "__weakref__")
    _hooks = None       # tensor hooks on this node's output, set by register_hook
    _retain = None      # a weak reference to the output, set by retain_grad
    # True for ops whose array-path rule returns, for each input, a new array that nothing else
    # refers to (not the incoming gradient, not a view, not one array for two inputs): a leaf
    # can then keep it as its .grad without a copy.
    fresh_grads = False
    # Whether the graph below this node is a tree: every op node in it has had one consumer
    # (leaves aside). Ops keep these up to date as they record (see ``_link``); a node that does
    # not (a custom Function's) reads as "consumed" and "not a tree", which is always safe.
    _consumed = True
    _tree = False
    _name = "Node"
    formula = ""

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

    __slots__ = ("_variable", "_hooks", "_retain")
    _name = "AccumulateGrad"
    formula = "leaf.grad += ḡ"

    def __init__(self, variable):
        self._next = ()
        self._hooks = None
        self._retain = None
        self._variable = weakref.ref(variable)

    @property
    def variable(self):
        return self._variable()


class BackwardTwiceError(RuntimeError):
    pass


class InplaceModifiedError(RuntimeError):
    pass


class Op(Node):
    """An op: ``forward`` on raw arrays, ``backward`` as the local derivative rule.

    Subclasses set ``save`` to say what their rule needs: ``"inputs"``, ``"output"``, ``"both"``
    or ``None``. ``backward(F, grad, *saved)`` receives those values and returns one gradient per
    input (a tuple when there are several inputs). It is written once and runs two ways:

    * ``F`` is the array math of the grad's device and the values are arrays — the fast path;
    * with ``create_graph=True``, ``F`` is tensor math and the values are tensors, so the backward
      itself is recorded and can be differentiated again.

    The base class handles broadcasting once: a gradient whose shape is the broadcast shape is
    summed back to its input's shape (and cast back to its dtype).
    """

    __slots__ = ("_saved", "_versions", "_out", "_out_vc", "_in_meta", "_consumed", "_tree",
                 "__dict__")
    save = None
    is_view = False
    op = ""          # the op's public name in error messages (``mul``, ``matmul`` …)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, F, grad, *saved):
        raise NotImplementedError

    # -- recording --------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **params):
        """Run ``forward`` on the inputs' arrays; if any input requires grad, record a node."""
        node = _new(cls)
        arrays, nexts, meta, versions = [], [], [], []
        kind = None
        record = False
        for x in inputs:
            if isinstance(x, Tensor):
                a = x._data
                if kind is None:
                    kind = a.__class__
                elif a.__class__ is not kind:
                    raise _device_error(cls, inputs)
                arrays.append(a)
                meta.append((a.shape, a.dtype))
                vc = x._vcs
                versions.append(0 if vc is None else vc[0])
                if x._requires_grad:
                    nexts.append(x._grad_fn or x._accum or x._accumulator())
                    record = True
                    continue
            else:
                arrays.append(x)
                meta.append(None)
                versions.append(0)
            nexts.append(None)
        try:
            out = node.forward(*arrays, **params)
        except (ValueError, TypeError, IndexError) as exc:
            raise _op_error(cls, inputs, exc) from exc
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = np.asarray(out)
        if not (record and GradMode.enabled) or out.dtype.kind not in _FLOAT_KINDS:
            result = _make(out)                 # (no gradient flows through integer results)
        else:
            _link(node, tuple(nexts))
            node._in_meta = tuple(meta)
            result = _make(out, node, True)
            save = cls.save
            if save is not None:
                if save != "output":
                    node._saved = inputs
                    node._versions = tuple(versions)
                if save != "inputs":
                    node._out = out
                    node._out_vc = result._vc
        if node.is_view and out.base is not None:
            base = inputs[0]
            result._vcs = base._vc      # a view shares its base's version counter (in every mode)
            result._base = base
        return result

    # The two fast paths below do exactly what ``apply`` does, for the common cases of an
    # elementwise op on one tensor, or on a tensor and a tensor-or-number. They exist only for
    # speed (a chain of small ops is dominated by this bookkeeping), and skip the per-input
    # bookkeeping that elementwise ops never need: their gradients already have the output's
    # shape unless broadcasting happened, which is checked.
    @classmethod
    def apply_unary(cls, x):
        node = _new(cls)
        try:
            data = x._data
        except AttributeError:
            raise TypeError(f"{_op_name(cls)}: expected a Tensor, got {type(x).__name__}; wrap "
                            "numbers with autogradkit.tensor(...)") from None
        try:
            out = node.forward(data)
        except (ValueError, TypeError) as exc:
            raise _op_error(cls, (x,), exc) from exc
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = np.asarray(out)
        if not (x._requires_grad and GradMode.enabled):
            return _make(out)
        f = x._grad_fn
        if f is None:                           # a leaf
            node._next, node._tree = (x._accum or x._accumulator(),), True
        else:                                   # _link, written out for the commonest case
            node._next = (f,)
            if f._consumed:
                node._tree = False
            else:
                f._consumed, node._tree = True, f._tree
        node._consumed = False
        node._in_meta = None
        result = _make(out, node, True)
        save = cls.save
        if save is not None:
            if save != "output":
                node._saved = (x,)
                vc = x._vcs
                node._versions = None if vc is None else (vc[0],)   # None: all at version 0
            if save != "inputs":
                node._out = out
                node._out_vc = result._vcs = [0]    # the output's version counter, made now
        return result

    @classmethod
    def apply_binary(cls, a, b):
        """``a`` and ``b``: tensors or numbers, at least one a tensor (from ``Tensor.__mul__`` &c.)."""
        node = _new(cls)
        ta = a.__class__ is Tensor or isinstance(a, Tensor)
        tb = b.__class__ is Tensor or isinstance(b, Tensor)
        da = a._data if ta else a
        db = b._data if tb else b
        if ta and tb and da.__class__ is not db.__class__:
            raise _device_error(cls, (a, b))
        try:
            out = node.forward(da, db)
        except (ValueError, TypeError) as exc:
            raise _op_error(cls, (a, b), exc) from exc
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = np.asarray(out)
        ra = ta and a._requires_grad
        rb = tb and b._requires_grad
        if not ((ra or rb) and GradMode.enabled):
            return _make(out)
        _link(node, ((a._grad_fn or a._accum or a._accumulator()) if ra else None,
                     (b._grad_fn or b._accum or b._accumulator()) if rb else None))
        # Gradients come back in the output's shape and dtype; remember the inputs' own only
        # when they differ (broadcasting or type promotion happened), so Op can undo it.
        if ta and tb:
            plain = da.shape == db.shape and da.dtype is db.dtype
        else:
            plain = (da if ta else db).dtype is out.dtype
        node._in_meta = None if plain else ((da.shape, da.dtype) if ta else None,
                                            (db.shape, db.dtype) if tb else None)
        result = _make(out, node, True)
        save = cls.save
        if save is not None:
            if save != "output":
                node._saved = (a, b)
                va = a._vcs if ta else None
                vb = b._vcs if tb else None
                node._versions = None if va is None and vb is None else (   # None: all at 0
                    0 if va is None else va[0], 0 if vb is None else vb[0])
            if save != "inputs":
                node._out = out
                node._out_vc = result._vc
        return result

    @classmethod
    def same_shape_operator(cls, general):
        """The Tensor method for this op (``Tensor.__mul__`` for ``Mul``). Two tensors of one
        shape, dtype and device are recorded right here: nothing can broadcast or promote, so
        there is nothing to remember for undoing it, and ``a * b`` — the commonest call there
        is — costs one Python call. Anything else (numbers, broadcasting, promotion, devices)
        goes to ``general(a, b)``. For ops that save their inputs or nothing (add, sub, mul)."""
        forward, saves = cls.forward, cls.save is not None

        def operator(a, b):
            if b.__class__ is Tensor:
                da, db = a._data, b._data
                if da.__class__ is db.__class__ and da.dtype is db.dtype and da.shape == db.shape:
                    try:
                        out = forward(da, db)
                    except (ValueError, TypeError) as exc:
                        raise _op_error(cls, (a, b), exc) from exc
                    if out.__class__ is not _ndarray and isinstance(out, _generic):
                        out = np.asarray(out)       # (two 0-d arrays give a numpy scalar)
                    ra, rb = a._requires_grad, b._requires_grad
                    if not ((ra or rb) and GradMode.enabled):
                        return _make(out)
                    node = _new(cls)
                    fa = a._grad_fn if ra else None     # the inputs' op nodes (None: a leaf)
                    fb = b._grad_fn if rb else None
                    node._next = (fa or ((a._accum or a._accumulator()) if ra else None),
                                  fb or ((b._accum or b._accumulator()) if rb else None))
                    tree = True                         # _link, written out
                    if fa is not None:
                        if fa._consumed:
                            tree = False
                        else:
                            fa._consumed, tree = True, fa._tree
                    if fb is not None:
                        if fb._consumed:
                            tree = False
                        else:
                            fb._consumed, tree = True, tree and fb._tree
                    node._tree, node._consumed = tree, False
                    node._in_meta = None
                    if saves:
                        node._saved = (a, b)
                        va, vb = a._vcs, b._vcs
                        node._versions = None if va is None and vb is None else (
                            0 if va is None else va[0], 0 if vb is None else vb[0])
                    return _make(out, node, True)
            return general(a, b)

        operator.__name__, operator.__qualname__ = general.__name__, general.__qualname__
        operator.__doc__ = general.__doc__
        return operator

    # -- replaying ----------------------------------------------------------------------------
    def _unpack(self, create_graph):
        """The saved values for ``backward``: arrays on the fast path, tensors with create_graph.

        Each saved tensor's version is compared with the version it had when saved: a mismatch
        means it was changed in place since, and the gradient would be silently wrong.
        """
        save = self.save
        values = []
        if save != "output":
            saved = self._saved
            if saved is None:
                raise _released_error(self)
            versions = self._versions or _ALL_ZERO
            i = 0
            for x, v in zip(saved, versions):
                if not isinstance(x, Tensor):       # a plain number
                    values.append(x)
                elif x._vcs is not None and x._vcs[0] != v:
                    raise _inplace_error(self, f"input {i}", x, v)
                else:
                    values.append(x if create_graph else x._data)
                i += 1
        if save != "inputs":
            out = self._out
            if out is None:
                raise _released_error(self)
            if self._out_vc[0] != 0:
                raise _inplace_error(self, "the output", out, 0, self._out_vc[0])
            values.append(_make(out, self, True) if create_graph else out)
        return values

    def _run_backward(self, F, grad, create_graph):
        save = self.save
        if save is None:
            grads = self.backward(F, grad)
        elif save == "output" and not create_graph:     # the commonest case, unpacked inline
            out = self._out
            if out is None:
                raise _released_error(self)
            if self._out_vc[0] != 0:
                raise _inplace_error(self, "the output", out, 0, self._out_vc[0])
            grads = self.backward(F, grad, out)
        elif save == "inputs" and not create_graph and self._saved is not None \
                and len(self._saved) == 2:
            a, b = self._saved              # a binary op (mul, div, ...): unpacked inline
            versions = self._versions
            va, vb = (0, 0) if versions is None else versions
            if a.__class__ is Tensor or isinstance(a, Tensor):
                vc = a._vcs
                if vc is not None and vc[0] != va:
                    raise _inplace_error(self, "input 0", a, va)
                a = a._data
            if b.__class__ is Tensor or isinstance(b, Tensor):
                vc = b._vcs
                if vc is not None and vc[0] != vb:
                    raise _inplace_error(self, "input 1", b, vb)
                b = b._data
            grads = self.backward(F, grad, a, b)
        else:
            grads = self.backward(F, grad, *self._unpack(create_graph))
        if grads.__class__ is not tuple:        # a one-input op returns its gradient alone
            grads = (grads,)
        if self._in_meta is None:       # elementwise, nothing broadcast: shapes already right
            return grads
        result = []
        for g, meta in zip(grads, self._in_meta):
            if g is not None and meta is not None:
                if isinstance(g, _generic):         # numpy turns 0-d results into scalars
                    g = np.asarray(g)
                shape, dtype = meta
                if g.shape != shape:
                    g = F.sum_to(g, shape)
                if g.dtype != dtype:
                    g = F.cast(g, dtype)
            result.append(g)
        return result

    @property
    def saved_tensors(self):
        """What this node saved for backward, as tensors (for inspection and teaching)."""
        if self.save is None:
            return ()
        out = []
        if self.save != "output":
            if self._saved is None:
                raise _released_error(self)
            out += [x for x in self._saved if isinstance(x, Tensor)]
        if self.save != "inputs":
            if self._out is None:
                raise _released_error(self)
            out.append(Tensor._make(self._out))
        return tuple(out)


def _link(node, nexts):
    """Connect a new node to its inputs' nodes, and keep the tree flags.

    Each input op node is marked consumed; meeting one that already was means two nodes use
    it, and the graph below ``node`` is no longer a tree. ``backward()`` from a tree needs no
    dependency count: every node in it is ready as soon as its one gradient arrives (leaves,
    shared freely, are summed and written at the end). The flags are only ever cleared towards
    "not a tree", so a later consumer can only make later nodes walk, never fool an earlier one:
    a root reaching a node through two consumers reaches the second of them, which saw it
    consumed.
    """
    node._next = nexts
    tree = True
    for f in nexts:
        if f is None or f.__class__ is AccumulateGrad:
            continue
        if f._consumed:
            tree = False
        else:
            f._consumed = True
            tree = tree and f._tree
    node._tree, node._consumed = tree, False


# -- errors written for a learner ----------------------------------------------------------
def _describe(x):
    if isinstance(x, Tensor):
        return f"tensor of shape {tuple(x._data.shape)}, {x.dtype.name} on {x.device}"
    return f"{type(x).__name__} {x!r}"


def _op_name(cls):
    return cls.op or cls._name.replace("Backward0", "").replace("Backward1", "").lower()


def _device_error(cls, inputs):
    devices = ", ".join(str(x.device) for x in inputs if isinstance(x, Tensor))
    return RuntimeError(
        f"{_op_name(cls)}: all tensors must be on the same device, got tensors on {devices}. "
        "Move them first, e.g. b = b.to(a.device)")


def _op_error(cls, inputs, exc):
    name = _op_name(cls)
    msg = str(exc)
    if msg.startswith(name + ":"):
        return type(exc)(msg)
    shapes = [tuple(x._data.shape) for x in inputs if isinstance(x, Tensor)]
    if "broadcast" in msg and len(shapes) >= 2:
        listed = " and ".join(str(s) for s in shapes)
        return ValueError(
            f"{name}: shapes {listed} cannot be broadcast together. Compared from the right, each "
            "pair of dimensions must be equal or one of them must be 1; reshape or unsqueeze an "
            "operand to line them up")
    described = "; ".join(_describe(x) for x in inputs)
    return type(exc)(f"{name}: {msg} (inputs: {described})")


def _released_error(node):
    return BackwardTwiceError(
        f"Trying to backward through the graph a second time: {node._name} has already freed the "
        "tensors it saved for backward. Pass retain_graph=True to the first backward() (or to "
        "autograd.grad) if you need to go backward through the same graph again.")


def _inplace_error(node, which, x, saved_version, now=None):
    if isinstance(x, Tensor):
        now = x._version
        what = f"a tensor of shape {tuple(x._data.shape)}, {x.dtype.name}"
    else:
        what = f"a tensor of shape {tuple(x.shape)}, {x.dtype}"
    return InplaceModifiedError(
        f"one of the tensors needed for gradient computation has been modified by an in-place "
        f"operation: {which} of {node._name} ({what}) is at version {now}; expected version "
        f"{saved_version}. Hint: use an out-of-place op (y = y + 1 instead of y += 1), or "
        ".clone() the tensor before changing it in place.")
