"""The functional autodiff API, with ``torch.autograd.functional``'s names, signatures and output
structures: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``, ``vhp``.

Each one takes a function and the point to differentiate it at, and hands back derivatives as
tensors, leaving every ``.grad`` alone. All of it is built on ``autograd.grad`` (reverse mode),
and on forward mode (``autograd.forward_ad``) for ``jacobian(strategy="forward-mode")``:

* a **VJP** ḡᵀJ is one backward pass (``autograd.grad`` with ``grad_outputs=ḡ``);
* a **Jacobian** of f: ℝⁿ → ℝᵐ is m VJPs with one-hot ḡ, one row each (reverse mode), or
  n JVPs with one-hot ẋ, one column each (forward mode): choose the smaller of m and n;
* a **JVP** Jv comes here from the *double-backward trick*, as in PyTorch: g(u) = Jᵀu is linear
  in u, so differentiating g with respect to u along v gives Jv. Forward mode proper, one
  forward pass carrying tangents, is ``autogradkit.func.jvp``;
* a **Hessian** is the Jacobian of the gradient; ``vhp`` is vᵀH by differentiating the gradient
  once more, ``hvp`` is Hv by the double-backward trick again (H is symmetric for a twice
  continuously differentiable f, so the two agree).

Loops, not ``vmap``: PyTorch's ``vectorize=True`` batches the rows (or columns) of a Jacobian with
its vmap prototype; autogradkit has no vmap, so ``vectorize`` is accepted and the rows are
computed one at a time either way (same numbers, more Python calls).

Inputs are tensors or tuples of tensors (not lists), as in PyTorch; a function's outputs too.
Every input is replaced by a fresh tensor before ``func`` sees it (``_prepare``), so a function
that also captures the same tensor from outside does not confuse the two.
"""
from __future__ import annotations

from .. import functional as F
from ..backend import array_module
from ..tensor_base import TensorBase
from . import forward_ad
from .api import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

STRATEGIES = ("reverse-mode", "forward-mode")


# ---- checking and packing what the user gives -----------------------------------------------
def _as_tuple(x, what, fn, returned=False):
    """(was ``x`` a tuple?, ``x`` as a tuple of tensors), or an error naming what is not a tensor.
    ``returned``: ``x`` is what the user's function returned (the hints differ)."""
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for k, el in enumerate(items):
        if isinstance(el, TensorBase):
            continue
        where = f"element {k} of {what}" if is_tuple else what
        if isinstance(el, list):
            hint = " (a list: use a tuple instead)"
        elif isinstance(el, (int, float)) and returned:
            hint = (" (a Python number: build the result with tensor operations, and do not call "
                    ".item() or float() inside the function)")
        elif isinstance(el, (int, float)):
            hint = " (a Python number: wrap it, e.g. autogradkit.tensor(2.0, dtype=float64))"
        else:
            hint = ""
        which = "The function must return" if returned else f"{fn} takes"
        raise TypeError(f"{fn}: {where} must be a Tensor, got {type(el).__name__}{hint}. {which} "
                        "a Tensor or a tuple of Tensors.")
    return is_tuple, items


def _outputs(out, fn):
    return _as_tuple(out, "the outputs of the function", fn, returned=True)


def _check_float(inputs, fn):
    for k, x in enumerate(inputs):
        if x._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"{fn}: input {k} is a {x.dtype.name} tensor, but derivatives are defined only "
                "for floating-point inputs. Convert it first, e.g. x.double() (float64) or "
                "x.float() (float32).")


def _prepare(tensors, create_graph, need_graph):
    """A fresh tensor per input (PyTorch's ``_grad_preprocess``): a view of it, still attached to
    its graph, when the result must be differentiable (``create_graph``) and it requires grad;
    otherwise a detached leaf, requiring grad if ``need_graph``."""
    return tuple(x.view_as(x) if create_graph and x._requires_grad
                 else x.detach().requires_grad_(need_graph) for x in tensors)


def _validate_v(v, like, like_is_tuple, fn, what):
    """``v`` must have one tensor per ``like`` (the outputs for a VJP, the inputs otherwise), of
    the same shape."""
    if len(v) != len(like):
        if like_is_tuple:
            raise RuntimeError(f"{fn}: v is a tuple of {len(v)} tensors, but there are {len(like)} "
                               f"{what}s; give one tensor per {what}")
        raise RuntimeError(f"{fn}: v should be a single Tensor (there is one {what}), got a tuple "
                           f"of {len(v)}")
    for k, (a, b) in enumerate(zip(v, like)):
        if tuple(a.shape) != tuple(b.shape):
            which = f"entry {k} of v" if like_is_tuple else "v"
            raise RuntimeError(f"{fn}: {which} has shape {tuple(a.shape)}, but {what} {k} has "
                               f"shape {tuple(b.shape)}; they must match")


def _no_v(items, fn, what):
    if len(items) != 1 or items[0]._data.size != 1:
        raise RuntimeError(
            f"{fn}: v can be left out only when the {what} is a single Tensor with a single "
            f"element (then v = 1); pass v=, shaped like the {what}")


def _check_requires_grad(tensors, kind, strict):
    """``strict=True``: refuse a derivative that is identically zero by construction."""
    if not strict:
        return
    for k, t in enumerate(tensors):
        if t is not None and t._requires_grad:
            continue
        if kind == "outputs":
            raise RuntimeError(f"Output {k} of the function does not require gradients: with "
                               "strict=True every output must be computed, differentiably, from "
                               "the inputs.")
        if kind == "jacobian":
            raise RuntimeError(f"The Jacobian of the function with respect to input {k} does not "
                               "depend on the inputs (a linear function?), so its Hessian is "
                               "zero by construction; this is not allowed with strict=True.")
        raise RuntimeError(f"The gradient with respect to input {k} does not depend on the "
                           "inputs; this is not allowed with strict=True.")


def _postprocess(tensors, create_graph):
    """Results without history unless the user asked for a differentiable one."""
    if create_graph:
        return tensors
    return tuple(t.detach() if isinstance(t, TensorBase) else _postprocess(t, False)
                 for t in tensors)


def _unpack(res, to_unpack):
    """Undo the tuple packing: one flag (inputs) or two (outputs, inputs) for nested results."""
    if isinstance(to_unpack, tuple):
        outputs_tuple, inputs_tuple = to_unpack
        if not inputs_tuple:
            res = tuple(r[0] for r in res)
        return res if outputs_tuple else res[0]
    return res if to_unpack else res[0]


# ---- the two building blocks: a VJP, and zeros where there is no path --------------------------
def _zeros_like(x):
    return x._make(array_module(x._data).zeros_like(x._data))


def _vjp(outputs, inputs, seeds, create_graph, retain_graph=None):
    """ḡᵀJ, one tensor per input (``None`` where no output depends on it): one backward pass.

    ``autograd.grad`` over the outputs that require grad (the others contribute zero), with
    respect to the inputs that require grad."""
    pairs = [(o, s) for o, s in zip(outputs, seeds) if o is not None and o._requires_grad]
    wanted = [k for k, x in enumerate(inputs) if x._requires_grad]
    result = [None] * len(inputs)
    if not pairs or not wanted:
        return result
    got = _grad([o for o, _ in pairs], [inputs[k] for k in wanted], [s for _, s in pairs],
                retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
    for k, g in zip(wanted, got):
        result[k] = g
    return result


def _fill_in_zeros(grads, refs, strict, create_graph, what, which):
    """Zeros (shaped like ``refs[k]``) for a ``None``; with ``strict=True`` an error instead
    (``what``: the sentence that says so, with ``{k}``), and also for a result that does not
    depend on the inputs when ``create_graph=True`` (``which``: "input" or "output")."""
    out = []
    for k, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(f"{what.format(k=k)}; this is not allowed with strict=True.")
            g = _zeros_like(refs[k])
        elif strict and create_graph and not g._requires_grad:
            raise RuntimeError(f"The result for {which} {k} does not depend on the inputs (it is "
                               "constant); this is not allowed with strict=True and "
                               "create_graph=True.")
        out.append(g)
    return tuple(out)


# ---- VJP and JVP ----------------------------------------------------------------------------
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀJ)``: the vector-Jacobian product, one backward pass.

    ``v`` has the outputs' shape (it is the ḡ the backward pass starts from); it may be left out
    when ``func`` returns one single-element tensor. The VJP has the inputs' shape: a Tensor, or a
    tuple when ``inputs`` is a tuple. ``create_graph=True`` makes both results differentiable.
    ``strict=True`` raises where an output does not depend on an input, instead of giving zeros.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", "vjp")
        _check_float(inputs, "vjp")
        inputs = _prepare(inputs, create_graph, True)
        is_outputs_tuple, outputs = _outputs(func(*inputs), "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is None:
            _no_v(outputs, "vjp", "output of the function")
            v = (None,)
        else:
            v = _prepare(_as_tuple(v, "v", "vjp")[1], create_graph, False)
            _validate_v(v, outputs, is_outputs_tuple, "vjp", "output")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        vj = _vjp(outputs, inputs, v, create_graph)
        vj = _fill_in_zeros(vj, inputs, strict, create_graph,
                            "The output of the function is independent of input {k}", "input")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(vj, create_graph), is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``: the Jacobian-vector product, by the double-backward trick.

    ``v`` has the inputs' shape (the direction ẋ the inputs move in); it may be left out when
    ``inputs`` is one single-element tensor. The JVP has the outputs' shape.

    How (as PyTorch computes it): with u a tensor shaped like the outputs and requiring grad, one
    differentiable backward pass gives g(u) = Jᵀu, which is linear in u; a second backward pass,
    of g with respect to u, seeded with v, gives ∂(vᵀJᵀu)/∂u = J v. The value of u does not
    matter (zeros here). Two backward passes instead of one forward pass: the one-pass way is
    forward mode, ``autogradkit.func.jvp`` (or ``autograd.forward_ad`` directly).
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", "jvp")
        _check_float(inputs, "jvp")
        inputs = _prepare(inputs, create_graph, True)
        if v is None:
            _no_v(inputs, "jvp", "input")
            v = None
        else:
            v = _prepare(_as_tuple(v, "v", "jvp")[1], create_graph, False)
            _validate_v(v, inputs, is_inputs_tuple, "jvp", "input")
        is_outputs_tuple, outputs = _outputs(func(*inputs), "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        u = tuple(_zeros_like(o).requires_grad_(o._data.dtype.kind in "fc") for o in outputs)
        g = _vjp(outputs, inputs, u, create_graph=True)           # g = Jᵀu, recorded
        _check_requires_grad(g, "grad_inputs", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        jv = _vjp(g, u, v if v is not None else (None,) * len(g), create_graph)   # ∂(vᵀg)/∂u
        jv = _fill_in_zeros(jv, outputs, strict, create_graph,
                            "Output {k} of the function is independent of the inputs",
                            "output")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(jv, create_graph), is_outputs_tuple))


# ---- Jacobian -------------------------------------------------------------------------------
def _one_hot(t, k):
    """A tensor shaped like ``t``: 1 at flat position ``k``, 0 elsewhere."""
    xp = array_module(t._data)
    e = xp.zeros(t._data.size, dtype=t._data.dtype)
    e[k] = 1
    return t._make(e.reshape(t._data.shape))


def _assemble(pieces, out_shape, in_shape, like, dim):
    """One Jacobian block, shape ``out_shape + in_shape``, from its rows (``dim=0``, reverse mode)
    or columns (``dim=-1``, forward mode). ``stack`` is a recorded op, so a block built from
    differentiable rows (``create_graph=True``) is differentiable too."""
    shape = tuple(out_shape) + tuple(in_shape)
    if not pieces:                                   # an empty output or input
        xp = array_module(like._data)
        return like._make(xp.zeros(shape, dtype=like._data.dtype))
    return F.stack(pieces, dim=dim).reshape(shape)


def jacobian_by_rows(outputs, inputs, create_graph, strict):
    """J[i][j] = ∂outputs[i]/∂inputs[j], row by row: one backward pass per output element k, with
    ḡ one-hot at k; row k is then ∂outputs[i][k]/∂inputs[j] for every j at once."""
    jac = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in inputs]
        for k in range(out._data.size):
            vj = _vjp((out,), inputs, (_one_hot(out, k),), create_graph, retain_graph=True)
            for j, (g, x) in enumerate(zip(vj, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"Output {i} of the function is independent of input "
                                           f"{j}; this is not allowed with strict=True.")
                    g = _zeros_like(x)
                elif strict and create_graph and not g._requires_grad:
                    raise RuntimeError(f"The Jacobian of output {i} with respect to input {j} "
                                       "does not depend on the inputs; this is not allowed with "
                                       "strict=True and create_graph=True.")
                rows[j].append(g)
        jac.append(tuple(_assemble(r, out.shape, x.shape, x, 0) for r, x in zip(rows, inputs)))
    return tuple(jac)


def _push_forward(func, inputs, tangents, fn, strict=False):
    """One forward pass carrying tangents: (is the output a tuple?, primal outputs, J·tangents).
    An output that carries no tangent does not depend on the inputs: its tangent is zero (with
    ``strict=True``, an error)."""
    if forward_ad.active_level() is not None:
        raise RuntimeError(
            f"{fn}: forward mode inside forward mode (jacfwd of jacfwd, a jvp inside a jvp or "
            "inside `with dual_level()`) is not supported: there is one dual level at a time. "
            "Take the outer derivative in reverse mode, e.g. jacrev(jacfwd(f)), or the inner one, "
            "as in jacfwd(jacrev(f)).")
    with forward_ad.dual_level():
        duals = tuple(forward_ad.make_dual(x, t) for x, t in zip(inputs, tangents))
        is_tuple, outs = _outputs(func(*duals), fn)
        primals, jv = [], []
        for k, o in enumerate(outs):
            p, t = forward_ad.unpack_dual(o)
            if t is None and strict:
                raise RuntimeError(f"{fn}: output {k} of the function does not depend on the "
                                   "inputs; this is not allowed with strict=True.")
            primals.append(p)
            jv.append(t if t is not None else _zeros_like(p))
    return is_tuple, tuple(primals), tuple(jv)


def jacobian_by_columns(func, inputs, fn):
    """J[i][j] column by column: one forward pass per input element, with ẋ one-hot there (and
    zero for every other input); the output tangents are column k of each J[i][j]."""
    zeros = [_zeros_like(x) for x in inputs]
    cols, outputs, is_tuple = None, None, False
    for j, x in enumerate(inputs):
        for k in range(x._data.size):
            tangents = zeros[:j] + [_one_hot(x, k)] + zeros[j + 1:]
            is_tuple, outputs, jv = _push_forward(func, inputs, tangents, fn)
            if cols is None:
                cols = [[[] for _ in inputs] for _ in outputs]
            for i, t in enumerate(jv):
                cols[i][j].append(t)
    if outputs is None:                                 # every input is empty: nothing to push
        is_tuple, outputs = _outputs(func(*inputs), fn)
        cols = [[[] for _ in inputs] for _ in outputs]
    jac = tuple(tuple(_assemble(cols[i][j], out.shape, x.shape, out, -1)
                      for j, x in enumerate(inputs)) for i, out in enumerate(outputs))
    return is_tuple, jac


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: block ``[i][j]`` = ∂output i/∂input j, shape
    ``output_i.shape + input_j.shape``.

    The structure is PyTorch's: a Tensor for one input and one output; a tuple when one of the two
    is a tuple; a tuple (per output) of tuples (per input) when both are. Reverse mode gives the
    inputs' dtype, forward mode the outputs'.

    ``strategy="reverse-mode"`` (default): one backward pass per output element, a row each.
    ``strategy="forward-mode"``: one forward pass (``autograd.forward_ad``) per input element, a
    column each; cheaper when there are more outputs than inputs. PyTorch allows forward mode only
    with ``vectorize=True`` (it needs vmap); here both settings run the same loop, so forward mode
    works with ``vectorize=False`` too — pass ``vectorize=True`` for code that must also run on
    PyTorch. As in PyTorch, forward mode refuses ``create_graph=True`` and ``strict=True``.

    ``vectorize`` is accepted and changes nothing: there is no vmap here, rows (or columns) are
    computed in a Python loop. ``create_graph=True`` makes the Jacobian differentiable (for a
    Hessian). ``strict=True`` raises where an output does not depend on an input.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got "
                         f"{strategy!r}. Forward mode is cheaper when the function has more "
                         "outputs than inputs, reverse mode otherwise.")
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError("jacobian: create_graph=True and strategy='forward-mode' "
                                      "are not supported together (as in PyTorch); use "
                                      "strategy='reverse-mode'")
        if strict:
            raise RuntimeError("jacobian: strict=True and strategy='forward-mode' are not "
                               "supported together (as in PyTorch); use strict=False or "
                               "strategy='reverse-mode'")
        is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", "jacobian")
        _check_float(inputs, "jacobian")
        is_outputs_tuple, jac = jacobian_by_columns(func, inputs, "jacobian")
        return _unpack(_postprocess(jac, False), (is_outputs_tuple, is_inputs_tuple))

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", "jacobian")
        _check_float(inputs, "jacobian")
        inputs = _prepare(inputs, create_graph, True)
        is_outputs_tuple, outputs = _outputs(func(*inputs), "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        jac = jacobian_by_rows(outputs, inputs, create_graph, strict)
    return _unpack(_postprocess(jac, create_graph), (is_outputs_tuple, is_inputs_tuple))


# ---- second derivatives ---------------------------------------------------------------------
def _scalar_output(func, fn, strict):
    """``func`` checked to return one single-element tensor, returned as a 0-d tensor."""
    def scalar(*inputs):
        out = func(*inputs)
        is_tuple, outs = _outputs(out, fn)
        _check_requires_grad(outs, "outputs", strict)
        if is_tuple:
            raise RuntimeError(f"{fn}: the function must return a single Tensor, got a tuple of "
                               f"{len(outs)}")
        if out._data.size != 1:
            raise RuntimeError(f"{fn}: the function must return a Tensor with a single element "
                               f"(a scalar such as a loss), got shape {tuple(out.shape)}; for a "
                               "vector-valued function use jacobian")
        return out.squeeze()
    return scalar


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func`` at ``inputs``: the Jacobian of its gradient.

    A Tensor of shape ``input.shape + input.shape`` for one input; for a tuple of inputs, a tuple
    of tuples with block ``[i][j]`` = ∂²f/∂input_i∂input_j of shape ``input_i.shape +
    input_j.shape``. The inner Jacobian (the gradient) is always reverse mode, made
    differentiable; ``outer_jacobian_strategy`` chooses how the outer one is taken:
    ``"reverse-mode"`` (reverse-over-reverse, the default) or ``"forward-mode"``
    (forward-over-reverse: tangents pushed through the recorded backward pass). ``vectorize`` is
    accepted and changes nothing (loops, no vmap); forward mode runs with either setting (PyTorch
    needs ``vectorize=True`` for it).
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", "hessian")
    if outer_jacobian_strategy not in STRATEGIES:
        raise ValueError(f"hessian: outer_jacobian_strategy must be 'reverse-mode' or "
                         f"'forward-mode', got {outer_jacobian_strategy!r}")
    scalar = _scalar_output(func, "hessian", strict)

    def gradient(*inp):
        if outer_jacobian_strategy == "forward-mode":     # keep the tangents: no fresh leaves
            inp = tuple(t.requires_grad_(True) for t in inp)
        jac = jacobian(scalar, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀH)`` for a scalar ``func``: the gradient g = ∇f, made differentiable,
    then one more backward pass, of g seeded with v: ∂(vᵀg)/∂x = vᵀH. Shaped like the inputs."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar ``func``, by the double-backward trick as PyTorch does:
    with u shaped like the inputs, d(u) = ∂(uᵀ∇f)/∂x = Hᵀu is linear in u, and one more backward
    pass of d with respect to u, seeded with v, gives H v. (Equal to ``vhp`` when H is symmetric,
    i.e. f twice continuously differentiable. Forward-over-reverse, one backward pass carrying
    tangents, is ``func.jvp(func.grad(f), (x,), (v,))``.)"""
    return _second_order(func, inputs, v, create_graph, strict, "hvp")


def _second_order(func, inputs, v, create_graph, strict, fn):
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "the inputs", fn)
        _check_float(inputs, fn)
        inputs = _prepare(inputs, create_graph, True)
        if v is None:
            _no_v(inputs, fn, "input")
            v = (None,) * len(inputs)
        else:
            v = _prepare(_as_tuple(v, "v", fn)[1], create_graph, False)
            _validate_v(v, inputs, is_inputs_tuple, fn, "input")
        is_outputs_tuple, outs = _outputs(func(*inputs), fn)
        _check_requires_grad(outs, "outputs", strict)
        if is_outputs_tuple:
            raise RuntimeError(f"{fn}: the function must return a single Tensor, got a tuple of "
                               f"{len(outs)}")
        if outs[0]._data.size != 1:
            raise RuntimeError(f"{fn}: the function must return a Tensor with a single element "
                               f"(a scalar such as a loss), got shape {tuple(outs[0].shape)}")
        g = _vjp(outs, inputs, (None,), create_graph=True)          # g = ∇f, recorded
        _check_requires_grad(g, "jacobian", strict)
        if fn == "hvp":
            u = tuple(_zeros_like(x).requires_grad_() for x in inputs)
            d = _vjp(g, inputs, u, create_graph=True)               # d(u) = Hᵀu, recorded
            wrt, first = u, d
        else:
            wrt, first = inputs, g
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _vjp(first, wrt, v, create_graph)      # vᵀ(∂first/∂wrt)
        res = _fill_in_zeros(res, inputs, strict, create_graph,
                             "The gradient of the function is independent of input {k} (its "
                             "Hessian there is zero)", "input")
    return (_unpack(_postprocess(outs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(res, create_graph), is_inputs_tuple))
