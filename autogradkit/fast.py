"""Every speed shortcut, in one room.

The rest of the package is the reference path: the code a learner reads is the code that runs.
This module replaces a few of its functions with faster ones that compute exactly the same
numbers, graph and errors. ``autogradkit/__init__.py`` calls ``install()`` last, unless the
environment variable ``AUTOGRADKIT_REFERENCE=1`` was set before the import: the package then runs
on the reference path alone (``autogradkit.REFERENCE_MODE`` says which).

Why they exist: a chain of small ops, or a training step on small arrays, spends almost all of its
time in Python bookkeeping (recording a node, walking the graph), not in arithmetic. Each
replacement below says what it replaces and what it skips. ``REPLACED`` maps each name to
``(reference, replacement)``; ``tests/test_fast_paths.py`` runs both on the same inputs and
checks they agree, and the suite runs in both modes.

=============================  =====================================  ==============================
replacement                    replaces                               what it skips
=============================  =====================================  ==============================
tree flags (``link``)          (nothing: an addition to recording)    lets backward() skip counting
``Op.apply``                   ``Op.apply``, the general recording    nothing: it adds tree flags
``X.apply`` for elementwise    ``Op.apply`` for one tensor, or two    per-input bookkeeping; the
ops (``UNARY``, ``BINARY``)    tensors/numbers                        shapes are remembered only if
                                                                      broadcasting happened
``Tensor.__add__ / __sub__ /   the operators (``_coerce`` and         the coercion and broadcasting
__mul__``                      ``Op.apply``)                          checks, for two same-shape
                                                                      tensors or a tensor and a
                                                                      Python number
``nn.functional.linear``       ``addmm(bias, x, weight.t())``         two ``Op.apply`` calls (2-D
                                                                      numpy input of one dtype)
``Addmm._run_backward``,       ``Op._run_backward``                   unpacking and unbroadcasting
``MSELoss._run_backward``,
``Relu._run_backward``
``MSELoss.apply``              ``Op.apply``                           per-input bookkeeping
``Op._run_backward``           ``Op._run_backward``                   the general unpacking, for
                                                                      ops saving their output or two
                                                                      inputs
``Tensor.backward``            ``autograd.backward`` for              argument checks; on a tree the
                               ``loss.backward()``                    dependency count; copies of
                                                                      gradients nothing else holds
``SGD.step``                   ``SGD.step``                           the momentum/decay branches
                                                                      when there are none
``Module.__init__``            ``Module.__init__``: its registries    ``__getattr__`` on every read
                               (``MirroredRegistry``)                 of ``self.weight``
=============================  =====================================  ==============================

**Forward mode, saved-tensor hooks and anomaly mode step around the recording shortcuts.**
Tangents flow through ``Op.apply`` (``autograd/forward_ad.py``), saved tensors go through
``pack_hook`` there (``autograd/graph.py``), and anomaly mode remembers each node's creation line
there (``autograd/anomaly_mode.py``); the recording shortcuts skip all three. So ``install()``
also registers ``step_aside`` / ``step_back_in`` in ``forward_ad.LEVEL_HOOKS`` (the same list as
``autograd.graph.REFERENCE_HOOKS``): when the first of these begins, the reference comes back for
each entry of ``RECORDING`` (exactly what was there before ``install()``); when the last one ends
(``graph.need_reference`` counts them, so they nest in any order), the shortcuts come back. The
replay shortcuts stay: they run no op on tensors. A node saved under hooks holds ``Packed``
values; the replays hand it to the reference ``Op._run_backward`` (it was recorded by ``Op.apply``,
so ``_in_meta`` is set and the ``Addmm``/``Relu``/``MSELoss`` replays hand it over already), and
``Tensor.backward`` leaves the whole pass to the reference engine while anomaly mode is on.

**Tree flags.** Recording keeps two flags on each op node: ``_consumed``, set when a later op takes
the node as an input, and ``_tree``, true when every op node below has had one consumer (leaves
may be shared). Meeting an input already consumed clears ``_tree``; ``_tree`` is the AND of the
inputs' flags. A root that reaches some node through two consumers necessarily reaches the second
of them, which saw the node already consumed, so a root that says "tree" really is one. The flags
are two slots of ``Op`` (no per-node dict); a node that no recording here made (a custom
``Function``'s, or an ``Op`` built by hand, whose slots are unset) reads as "consumed, not a
tree": always safe.
On a tree, every op node is ready as soon as its one gradient arrives; leaves are summed and
written at the end.

**Ownership.** An op whose array rule returns, for each input, a new array nothing else refers to
declares ``fresh_grads``. The engine may then add later gradients into that array in place, and a
leaf may keep it as its ``.grad`` without a copy (as PyTorch's AccumulateGrad steals a lone buffer).
"""
from __future__ import annotations

import operator
from collections import OrderedDict

import numpy as np

from .autograd import engine, forward_ad, growth, trace
from .autograd.anomaly_mode import AnomalyMode
from .autograd.api import ones_like
from .autograd.graph import Packed
from .autograd.grad_mode import GradMode
from .autograd.math import NUMPY_MATH, math_for
from .autograd.node import (AccumulateGrad, BackwardTwiceError, Node, Op, _device_error,
                            _inplace_error, _op_error, _op_name)
from .nn import functional as nn_functional
from .nn.module import Module
from .ops import elementwise as E, layers as L, shape as S
from .optim.sgd import SGD
from .tensor import Tensor

_ndarray, _generic = np.ndarray, np.generic
_T = S.T
_new = object.__new__
_make = Tensor._make
_asarray = np.asarray

REPLACED = {}       # "Owner.name" -> (reference, replacement), both callable the same way
UNARY = (E.Neg, E.Exp, E.Log, E.Sqrt, E.Reciprocal, E.Abs, E.Sign, E.Sin, E.Cos, E.Tanh, E.Sigmoid,
         E.Relu)
BINARY = (E.Add, E.Sub, E.Mul, E.Div)
# the shortcuts that record ops without Op.apply: out of the way while a dual level is active
RECORDING = ("Op.apply", *(f"{c.__name__}.apply" for c in UNARY + BINARY + (L.MSELoss,)),
             "Tensor.__add__", "Tensor.__sub__", "Tensor.__mul__",
             "autogradkit.nn.functional.linear")
_SWAPS = []         # (owner, name, what install() found there, the shortcut) for RECORDING
_MISSING = object()
FRESH = (E.Mul, E.Reciprocal, E.Relu, L.Addmm, L.MSELoss)    # see "Ownership" above
# the reference versions that the replacements hand the other cases to
_reference_apply = Op.apply.__func__
_reference_run_backward = Op._run_backward
_reference_linear = nn_functional.linear
_reference_backward = Tensor.backward
_reference_sgd_step = SGD.step
_reference_module_init = Module.__init__


def install():
    """Put every shortcut in place: this function is the one place where they are installed."""
    if REPLACED:
        return
    Node._consumed, Node._tree, Node.fresh_grads = True, False, False     # the safe defaults
    for cls in FRESH:
        cls.fresh_grads = True
    plan = [(Op, "apply", classmethod(apply_with_tree_flags))]
    plan += [(cls, "apply", classmethod(apply_unary)) for cls in UNARY]
    plan += [(cls, "apply", classmethod(apply_binary)) for cls in BINARY]
    plan += [(Op, "_run_backward", run_backward_unpacked)]
    plan += [(Tensor, name, _operator(cls, Tensor.__dict__[name], forward))
             for cls, name, forward in ((E.Add, "__add__", operator.add),
                                        (E.Sub, "__sub__", operator.sub),
                                        (E.Mul, "__mul__", operator.mul))]
    plan += [(nn_functional, "linear", linear), (L.Addmm, "_run_backward", addmm_run_backward),
             (L.MSELoss, "apply", classmethod(mse_loss_apply)),
             (L.MSELoss, "_run_backward", mse_run_backward),
             (E.Relu, "_run_backward", relu_run_backward), (Tensor, "backward", backward),
             (SGD, "step", sgd_step), (Module, "__init__", module_init)]
    for owner, name, new in plan:       # every reference is taken before anything is replaced
        fast_one = new.__get__(None, owner) if isinstance(new, classmethod) else new
        REPLACED[f"{owner.__name__}.{name}"] = (getattr(owner, name), fast_one)
        if f"{owner.__name__}.{name}" in RECORDING:
            _SWAPS.append((owner, name, owner.__dict__.get(name, _MISSING), new))
    for owner, name, new in plan:
        setattr(owner, name, new)
    forward_ad.LEVEL_HOOKS.append((step_aside, step_back_in))


def step_aside():
    """Entering a dual level: the reference recording (``Op.apply``, which pushes tangents) back
    in place of each recording shortcut, exactly as it was before ``install()``."""
    for owner, name, before, _ in _SWAPS:
        if before is not _MISSING:
            setattr(owner, name, before)
        elif name in owner.__dict__:
            delattr(owner, name)        # it inherits Op.apply again


def step_back_in():
    """Leaving a dual level: the recording shortcuts back, the very objects ``install()`` put."""
    for owner, name, _, new in _SWAPS:
        setattr(owner, name, new)


# ---- recording ------------------------------------------------------------------------------
def link(node, nexts):
    """Connect ``node`` to its inputs' nodes and keep the tree flags (see the module docstring)."""
    node._next = nexts
    tree, grew = True, False
    for f in nexts:
        if f is None or f.__class__ is AccumulateGrad:
            continue
        if _consumed(f):
            tree = False
            if f._freed_by or f._stale:     # it reaches a graph a backward() has used
                grew = True
        else:
            f._consumed = True
            tree = tree and f._tree
    node._tree, node._consumed = tree, False
    if grew or node._stale:
        growth.check(node)                  # growing across iterations? (autograd/growth.py)


def _consumed(f):
    """``f._consumed``; a node no recording here made has no flags: "consumed" (the safe answer).
    The recordings below write this out as ``try: … except AttributeError`` (free in Python
    3.11 when nothing is raised)."""
    try:
        return f._consumed
    except AttributeError:
        return True


def apply_with_tree_flags(cls, *inputs, **params):
    """``Op.apply``, then the tree flags on the node it recorded."""
    result = _reference_apply(cls, *inputs, **params)
    if result._grad_fn is not None:
        link(result._grad_fn, result._grad_fn._next)
    return result


def apply_unary(cls, x):
    """``Op.apply`` for an elementwise op on one tensor: its gradient has the input's shape."""
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
        out = _asarray(out)
    if not (x._requires_grad and GradMode.enabled):
        return _make(out)
    node._consumed = False
    f = x._grad_fn
    if f is None:                           # a leaf
        node._next, node._tree = (x._accum or x._accumulator(),), True
    else:                                   # link(), written out for the commonest case
        node._next = (f,)
        try:
            consumed = f._consumed
        except AttributeError:              # (see _consumed)
            consumed = True
        if consumed:
            node._tree = False
            if f._freed_by or f._stale:     # (see link)
                growth.check(node)
        else:
            f._consumed, node._tree = True, f._tree
    node._in_meta, node._make = None, _make
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


def apply_binary(cls, a, b):
    """``Op.apply`` for an elementwise op on tensors or numbers (at least one a tensor)."""
    node = _new(cls)
    ta = isinstance(a, Tensor)
    tb = isinstance(b, Tensor)
    if not (ta or tb):
        return _reference_apply(cls, a, b)      # (its error: "expected a Tensor")
    da = a._data if ta else a
    db = b._data if tb else b
    if ta and tb and da.__class__ is not db.__class__:
        raise _device_error(cls, (a, b))
    try:
        out = node.forward(da, db)
    except (ValueError, TypeError) as exc:
        raise _op_error(cls, (a, b), exc) from exc
    if out.__class__ is not _ndarray and isinstance(out, _generic):
        out = _asarray(out)
    ra = ta and a._requires_grad
    rb = tb and b._requires_grad
    if not ((ra or rb) and GradMode.enabled):
        return _make(out)
    link(node, ((a._grad_fn or a._accum or a._accumulator()) if ra else None,
                (b._grad_fn or b._accum or b._accumulator()) if rb else None))
    # Gradients come back in the output's shape and dtype; remember the inputs' own only when
    # they differ (broadcasting or type promotion happened), so Op can undo it.
    if ta and tb:
        plain = da.shape == db.shape and da.dtype is db.dtype
    else:                                   # (the other operand may be an array that broadcasts)
        t = da if ta else db
        plain = t.dtype is out.dtype and t.shape == out.shape
    node._in_meta = None if plain else ((da.shape, da.dtype) if ta else None,
                                        (db.shape, db.dtype) if tb else None)
    node._make = _make
    result = _make(out, node, True)
    if cls.save is not None:
        node._saved = (a, b)
        va = a._vcs if ta else None
        vb = b._vcs if tb else None
        node._versions = None if va is None and vb is None else (
            0 if va is None else va[0], 0 if vb is None else vb[0])
    return result


def _operator(cls, general, forward):
    """``Tensor.__mul__`` & co. Two tensors of one shape, dtype and device, or a float tensor and
    a Python number, are recorded right here: nothing can broadcast or promote. Anything else
    goes to the reference operator ``general``. (For ops saving their inputs or nothing.)"""
    if cls.save not in (None, "inputs") or cls.is_view:
        raise TypeError(f"_operator: {cls.__name__} saves {cls.save!r}"
                        f"{' and is a view' if cls.is_view else ''}; this shortcut records only "
                        "ops that save their inputs or nothing and are not views")
    saves = cls.save is not None

    def op(a, b):
        bc = b.__class__
        if bc is float or bc is int:        # a tensor and a Python number
            da = a._data
            if not (da.__class__ is _ndarray and da.dtype.kind == "f"):
                return general(a, b)
            out = forward(da, b)
            if out.__class__ is not _ndarray:
                out = _asarray(out)         # (a 0-d operand gives a numpy scalar)
            if not (a._requires_grad and GradMode.enabled):
                return _make(out)
            node = _new(cls)
            node._consumed, node._in_meta, node._make = False, None, _make
            f = a._grad_fn
            if f is None:                   # link(), written out
                node._next, node._tree = (a._accum or a._accumulator(), None), True
            else:
                try:
                    consumed = f._consumed
                except AttributeError:      # (see _consumed)
                    consumed = True
                if consumed:
                    node._next, node._tree = (f, None), False
                    if f._freed_by or f._stale:     # (see link)
                        growth.check(node)
                else:
                    f._consumed = True
                    node._next, node._tree = (f, None), f._tree
            if saves:
                node._saved = (a, b)
                vc = a._vcs
                node._versions = None if vc is None else (vc[0], 0)
            t = _new(Tensor)                # Tensor._make(out, node, True), written out
            t._data, t._requires_grad, t._grad_fn, t._vcs = out, True, node, None
            return t
        if bc is not Tensor:
            return general(a, b)
        da, db = a._data, b._data           # two tensors of one shape, dtype and device
        if not (da.__class__ is db.__class__ and da.dtype is db.dtype and da.shape == db.shape):
            return general(a, b)
        try:
            out = forward(da, db)
        except (ValueError, TypeError) as exc:
            raise _op_error(cls, (a, b), exc) from exc
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = _asarray(out)             # (0-d operands give a numpy scalar)
        ra, rb = a._requires_grad, b._requires_grad
        if not ((ra or rb) and GradMode.enabled):
            return _make(out)
        node = _new(cls)
        fa = a._grad_fn if ra else None     # the inputs' op nodes (None: a leaf)
        fb = b._grad_fn if rb else None
        node._next = (fa or ((a._accum or a._accumulator()) if ra else None),
                      fb or ((b._accum or b._accumulator()) if rb else None))
        node._consumed = False
        tree = True                         # link(), written out
        if fa is not None:
            try:
                consumed = fa._consumed
            except AttributeError:          # (see _consumed)
                consumed = True
            if consumed:
                tree = False
                if fa._freed_by or fa._stale:   # (see link)
                    growth.check(node)
            else:
                fa._consumed, tree = True, fa._tree
        if fb is not None:
            if _consumed(fb):
                tree = False
                if fb._freed_by or fb._stale:   # (see link)
                    growth.check(node)
            else:
                fb._consumed, tree = True, tree and fb._tree
        node._tree, node._in_meta, node._make = tree, None, _make
        if saves:
            node._saved = (a, b)
            va, vb = a._vcs, b._vcs
            node._versions = None if va is None and vb is None else (
                0 if va is None else va[0], 0 if vb is None else vb[0])
        t = _new(Tensor)                    # Tensor._make(out, node, True), written out
        t._data, t._requires_grad, t._grad_fn, t._vcs = out, True, node, None
        return t

    op.__name__, op.__qualname__, op.__doc__ = general.__name__, general.__qualname__, general.__doc__
    return op


def linear(x, weight, bias=None):
    """``nn.functional.linear`` for a 2-D numpy input with a bias, all of one dtype: the same two
    nodes as ``addmm(bias, x, weight.t())`` (a ``TBackward0`` and an ``AddmmBackward0``), made
    directly. Every other case goes to the reference."""
    try:
        xd, wd, bd = x._data, weight._data, bias._data
    except AttributeError:
        return _reference_linear(x, weight, bias)
    if not (xd.__class__ is _ndarray and wd.__class__ is _ndarray and bd.__class__ is _ndarray
            and xd.ndim == 2 and wd.ndim == 2 and xd.shape[1] == wd.shape[1]
            and xd.dtype is wd.dtype and bd.dtype is wd.dtype and bd.shape == wd.shape[:1]):
        return _reference_linear(x, weight, bias)
    wtd = wd.T
    out = xd.dot(wtd)
    out += bd
    rx, rw, rb = x._requires_grad, weight._requires_grad, bias._requires_grad
    if not ((rx or rw or rb) and GradMode.enabled):
        return _make(out)
    vw = weight._vcs
    if vw is None:
        vw = weight._vcs = [0]
    t = None
    if rw:                                  # weight.t(): TBackward0, consumed by the addmm only
        t = _new(_T)
        fw = weight._grad_fn
        if fw is None:                      # link(), written out for a parameter
            t._next, t._tree = (weight._accum or weight._accumulator(),), True
        else:
            link(t, (fw,))
        t._consumed, t._in_meta, t._make = True, None, _make    # (consumed by the addmm below)
    wt = _new(Tensor)       # the transposed weight: shares its version counter (no _base: the
                            # rebase check for in-place ops on views cannot meet it)
    wt._data, wt._requires_grad, wt._grad_fn, wt._vcs = wtd, rw, t, vw
    node = _new(L.Addmm)
    fb = bias._grad_fn if rb else None
    fx = x._grad_fn if rx else None
    node._next = (fb or ((bias._accum or bias._accumulator()) if rb else None),
                  fx or ((x._accum or x._accumulator()) if rx else None), t)
    node._consumed = False
    tree = t is None or t._tree             # link(), written out (t is consumed here only)
    if fx is not None:
        try:
            consumed = fx._consumed
        except AttributeError:              # (see _consumed)
            consumed = True
        if consumed:
            tree = False
            if fx._freed_by or fx._stale:   # (see link)
                growth.check(node)
        else:
            fx._consumed, tree = True, tree and fx._tree
    if fb is not None:
        if _consumed(fb):
            tree = False
            if fb._freed_by or fb._stale:   # (see link)
                growth.check(node)
        else:
            fb._consumed, tree = True, tree and fb._tree
    node._tree, node._in_meta, node._make = tree, None, _make
    node._saved = (bias, x, wt)
    vb, vx = bias._vcs, x._vcs
    node._versions = (0 if vb is None else vb[0], 0 if vx is None else vx[0], vw[0])
    result = _new(Tensor)                   # Tensor._make(out, node, True), written out
    result._data, result._requires_grad, result._grad_fn, result._vcs = out, True, node, None
    return result


def addmm_run_backward(self, math, grad, create_graph):
    """``Addmm``'s rule on numpy arrays, the saved tensors unpacked inline."""
    saved = self._saved
    if create_graph or saved is None or grad.__class__ is not _ndarray or self._in_meta is not None:
        return _reference_run_backward(self, math, grad, create_graph)
    for i, (t, v) in enumerate(zip(saved, self._versions)):
        vc = t._vcs
        if vc is not None and vc[0] != v:
            raise _inplace_error(self, f"input {i}", t, v)
    nb, nx, nw = self._next
    x, w = saved[1]._data, saved[2]._data.T
    return (NUMPY_MATH.sum_rows(grad) if nb is not None else None,
            grad.dot(w) if nx is not None else None,
            grad.T.dot(x).T if nw is not None else None)


def relu_run_backward(self, math, grad, create_graph):
    """``Relu``'s rule on a numpy array, its saved output unpacked inline."""
    out = self._out
    if create_graph or out is None or grad.__class__ is not _ndarray or self._in_meta is not None:
        return _reference_run_backward(self, math, grad, create_graph)
    if self._out_vc[0] != 0:
        raise _inplace_error(self, "the output", out, 0, self._out_vc[0])
    return (grad * (out != 0).astype(out.dtype),)   # Relu.backward with ArrayMath.nonzero, written
                                                    # out (test_fast_paths: the same bits)


def mse_run_backward(self, math, grad, create_graph):
    """``MSELoss``'s rule on numpy arrays, its two saved tensors unpacked inline."""
    saved = self._saved
    if create_graph or saved is None or grad.__class__ is not _ndarray or self._in_meta is not None:
        return _reference_run_backward(self, math, grad, create_graph)
    a, b = saved
    for i, (t, v) in enumerate(zip(saved, self._versions or (0, 0))):
        vc = t._vcs
        if vc is not None and vc[0] != v:
            raise _inplace_error(self, f"input {i}", t, v)
    a, b = a._data, b._data     # MSELoss.backward, written out (test_fast_paths: the same bits)
    ga = (a - b) * (grad * (2.0 / a.size if self.reduction == "mean" else 2.0))
    return ga, (-ga if self._next[1] is not None else None)


def mse_loss_apply(cls, a, b, reduction="mean"):
    """``Op.apply`` for the MSE loss of two numpy tensors of one shape and float dtype."""
    if not (a.__class__ is Tensor and b.__class__ is Tensor and reduction != "none"):
        return apply_with_tree_flags(cls, a, b, reduction=reduction)
    ad, bd = a._data, b._data
    if not (ad.__class__ is _ndarray and bd.__class__ is _ndarray and ad.shape == bd.shape
            and ad.dtype is bd.dtype and ad.dtype.kind == "f"):
        return apply_with_tree_flags(cls, a, b, reduction=reduction)
    node = _new(cls)
    out = _asarray(node.forward(ad, bd, reduction=reduction))
    ra, rb = a._requires_grad, b._requires_grad
    if not ((ra or rb) and GradMode.enabled):
        return _make(out)
    link(node, ((a._grad_fn or a._accum or a._accumulator()) if ra else None,
                (b._grad_fn or b._accum or b._accumulator()) if rb else None))
    node._in_meta, node._make = None, _make
    node._saved = (a, b)
    va, vb = a._vcs, b._vcs
    node._versions = None if va is None and vb is None else (
        0 if va is None else va[0], 0 if vb is None else vb[0])
    return _make(out, node, True)


# ---- replaying --------------------------------------------------------------------------------
def run_backward_unpacked(self, math, grad, create_graph):
    """``Op._run_backward`` with the saved values unpacked inline for the commonest ops: those
    that save their output (exp, tanh, relu …) and binary ops saving both inputs (mul, div …)."""
    save = self.save
    if create_graph:
        return _reference_run_backward(self, math, grad, create_graph)
    if save is None:
        grads = self.backward(math, grad)
    elif save == "output":
        out = self._out
        if out is None or out.__class__ is Packed:     # (released, or saved under hooks)
            return _reference_run_backward(self, math, grad, create_graph)
        if self._out_vc[0] != 0:
            raise _inplace_error(self, "the output", out, 0, self._out_vc[0])
        grads = self.backward(math, grad, out)
    elif save == "inputs" and self._saved is not None and len(self._saved) == 2:
        a, b = self._saved
        if a.__class__ is Packed or b.__class__ is Packed:    # saved under saved_tensors_hooks
            return _reference_run_backward(self, math, grad, create_graph)
        va, vb = self._versions or (0, 0)
        if isinstance(a, Tensor):
            vc = a._vcs
            if vc is not None and vc[0] != va:
                raise _inplace_error(self, "input 0", a, va)
            a = a._data
        if isinstance(b, Tensor):
            vc = b._vcs
            if vc is not None and vc[0] != vb:
                raise _inplace_error(self, "input 1", b, vb)
            b = b._data
        grads = self.backward(math, grad, a, b)
    else:
        return _reference_run_backward(self, math, grad, create_graph)
    if self._in_meta is None:   # recorded knowing the shapes match: nothing to sum back
        return grads if grads.__class__ is tuple else (grads,)
    return self._fit_to_inputs(math, grads)


def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """``Tensor.backward``: the everyday ``loss.backward()`` goes straight to ``plain_backward``."""
    fn = self._grad_fn
    if (fn is not None and gradient is None and inputs is None and not create_graph
            and self._data.size == 1 and trace.active() is None and not AnomalyMode.enabled):
        data = self._data
        if data.__class__ is _ndarray:      # ḡ = 1 (np.ones is slower on one element)
            seed = np.array(1, data.dtype).reshape(data.shape)
        else:
            seed = ones_like(data)
        try:
            plain_backward(fn, seed, bool(retain_graph))
        except BackwardTwiceError as error:     # the same graph again, or carried state?
            raise growth.explain(error, (fn,)) from None
        if not retain_graph:
            growth.freed((fn,))                 # (as the engine does)
    else:
        _reference_backward(self, gradient, retain_graph, create_graph, inputs)


def plain_backward(root, seed, retain_graph):
    """``engine.run_backward`` for one root, without ``capture``, a tracer or ``create_graph``.

    The same Kahn order as the engine (the first input made ready is visited next, the others
    wait on the stack, the second on top), so every sum is added in the same order, with these
    savings: on a tree there is no dependency count; a gradient an op made fresh is summed into
    in place; a leaf keeps a fresh gradient without copying it; a ``TBackward0`` (a Linear
    layer's ``weight.t()``) runs its rule, ḡᵀ, inline, and ḡᵀ of a fresh ḡ is fresh too. One
    loop, written out: this is where a training step spends its time.
    """
    try:
        tree = root._tree
    except AttributeError:                  # (see _consumed): not a tree
        tree = False
    deps = None if tree else engine.count_edges([root])
    as_array = engine.as_array
    pending = {}            # node -> the sum of the gradients it has received so far
    owned = set()           # nodes whose pending sum is an array nothing else holds
    ready = [(root, seed)]
    previous, GradMode.enabled = GradMode.enabled, False
    try:
        while ready:
            node, grad = ready.pop()
            while node is not None:     # along a chain, go straight on to the next node
                cls = node.__class__
                if cls is _T and tree and node._hooks is None \
                        and node._retain is None and node._in_meta is None:
                    nxt = node._next[0]     # a Linear layer's weight.t() on a tree: its rule,
                    if nxt.__class__ is AccumulateGrad:     # ḡᵀ, into the weight's sum
                        g = grad.T
                        if nxt not in pending:
                            pending[nxt] = g
                            if node in owned:
                                owned.add(nxt)      # ḡᵀ of a fresh ḡ is fresh
                        elif nxt in owned:
                            p = pending[nxt]
                            p += g
                        else:
                            pending[nxt] = as_array(pending[nxt] + g)
                            owned.add(nxt)
                        owned.discard(node)
                        break
                if grad is not None and node._hooks is not None:
                    grad = engine.run_hooks(node, grad, False)
                if cls is AccumulateGrad:
                    if grad is not None:
                        engine.accumulate(node, grad, False, None)
                    break
                if grad is None:
                    grads = (None,) * len(node._next)
                else:
                    if node._retain is not None:
                        engine.retain(node, grad, False)
                    if grad.__class__ is not _ndarray:
                        grad = as_array(grad)
                    if cls is _T and node._in_meta is None:
                        grads = (grad.T,)   # a Linear layer's weight.t(): its rule, ḡᵀ, inline
                    else:
                        grads = node._run_backward(NUMPY_MATH if grad.__class__ is _ndarray
                                                   else math_for(grad), grad, False)
                    if not retain_graph and node.save is not None:
                        node._saved = node._out = None      # node._release(), written out
                # send each input its gradient (engine.send); follow the first one made ready
                follow = follow_grad = others = None
                fresh = node.fresh_grads
                if cls is _T:               # ḡᵀ is as fresh as the ḡ it received
                    fresh = node in owned and node._hooks is None
                    owned.discard(node)
                for nxt, g in zip(node._next, grads):
                    if nxt is None:
                        continue
                    if g is not None and g.__class__ is not _ndarray:
                        g = as_array(g)
                    if tree:                # op nodes: one consumer, ready now; leaves: at the end
                        now = nxt.__class__ is not AccumulateGrad
                    else:
                        d = deps[nxt] = deps[nxt] - 1
                        now = d == 0
                    if now:
                        if nxt in pending:
                            before = pending.pop(nxt)
                            if g is None:
                                g, fresh_sum = before, nxt in owned
                            else:
                                g, fresh_sum = _add(before, g, nxt in owned), True
                            owned.discard(nxt)
                        else:
                            fresh_sum = fresh
                        if nxt.__class__ is AccumulateGrad and nxt._hooks is None:
                            if g is not None:
                                _to_leaf(nxt, g, fresh_sum)   # a leaf's last gradient: .grad now
                            continue
                        if fresh_sum and nxt.__class__ is _T:
                            owned.add(nxt)          # its ḡᵀ will be fresh too
                        if follow is None:
                            follow, follow_grad = nxt, g
                        elif others is None:
                            others = [(nxt, g)]
                        else:
                            others.append((nxt, g))
                    elif g is not None:     # more gradients to come: keep the running sum
                        if nxt not in pending:
                            pending[nxt] = g
                            if fresh and g.__class__ is _ndarray:
                                owned.add(nxt)      # nothing else holds it: ours to add into
                        elif nxt in owned:  # _add(), written out: ours, so add in place
                            p = pending[nxt]
                            p += g
                        else:
                            pending[nxt] = as_array(pending[nxt] + g)
                            owned.add(nxt)
                if others is not None:
                    ready.extend(reversed(others))
                node, grad = follow, follow_grad
        if tree:
            for acc, g in pending.items():          # the leaves, in the order first reached
                fresh_sum = acc in owned
                if acc._hooks is not None:
                    g, fresh_sum = engine.run_hooks(acc, g, False), False
                _to_leaf(acc, g, fresh_sum)
    finally:
        GradMode.enabled = previous


def _add(before, g, in_place):
    """The chain rule's sum; into ``before`` itself when nothing else holds it."""
    if in_place:
        before += g
        return before
    return engine.as_array(before + g)


def _to_leaf(acc, g, fresh):
    """A leaf's ``.grad``: a fresh array is kept as it is; anything else as the engine does."""
    leaf = acc._variable()
    if leaf is not None and leaf._grad is None and g.__class__ is _ndarray and fresh:
        leaf._grad = _make(g)
    else:
        engine.accumulate(acc, g, False, None)


def sgd_step(self, closure=None):
    """``SGD.step``: plain SGD, θ ← θ − lr·∇θ, as a short loop; the rest as the reference does."""
    groups = self.param_groups
    if closure is not None:
        return _reference_sgd_step(self, closure)
    for group in groups:
        if group["momentum"] or group["weight_decay"] or group["maximize"]:
            return _reference_sgd_step(self, closure)
    for group in groups:
        lr = group["lr"]
        for p in group["params"]:
            grad = p._grad
            if grad is not None:
                data = p._data
                data -= lr * grad._data
                vc = p._vcs             # the version counter: changed in place
                if vc is None:
                    p._vcs = [1]
                else:
                    vc[0] += 1
    return None


# ---- nn.Module: registered attributes mirrored in the instance dict ---------------------------
class MirroredRegistry(OrderedDict):
    """A module's ``_parameters``, ``_modules`` or ``_buffers`` that also keeps each entry as a
    plain attribute of the module, so reading ``self.weight`` is a dict lookup instead of a call
    of ``Module.__getattr__`` (a few of those per layer per step). Every way of writing the
    registry keeps the two in step, ``module._parameters[name] = p`` included."""

    def __init__(self, owner=None):
        super().__init__()
        self.owner = owner

    def __setitem__(self, name, value):
        super().__setitem__(name, value)
        if self.owner is not None:
            object.__setattr__(self.owner, name, value)

    def __delitem__(self, name):
        super().__delitem__(name)
        if self.owner is not None:
            self.owner.__dict__.pop(name, None)

    def pop(self, name, *default):
        if name in self:
            value = super().pop(name)
            if self.owner is not None:
                self.owner.__dict__.pop(name, None)
            return value
        return super().pop(name, *default)

    def popitem(self, last=True):
        name, value = super().popitem(last)
        if self.owner is not None:
            self.owner.__dict__.pop(name, None)
        return name, value

    def clear(self):
        while self:
            self.popitem()

    def setdefault(self, name, default=None):
        if name not in self:
            self[name] = default
        return self[name]


def module_init(self):
    """``Module.__init__``, with registries that mirror their entries (``MirroredRegistry``)."""
    _reference_module_init(self)
    for store in ("_parameters", "_modules", "_buffers"):
        object.__setattr__(self, store, MirroredRegistry(self))
