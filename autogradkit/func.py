"""``autogradkit.func``: ``torch.func``'s function transforms — ``grad``, ``grad_and_value``,
``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``.

A transform takes a function and gives back a new one: ``grad(f)`` is the function x ↦ ∇f(x),
and it can be transformed again (``grad(grad(f))``, ``jacfwd(jacrev(f))``). Which arguments are
differentiated is ``argnums`` (an int, or a tuple of ints); an argument may be a tensor or a
nested tuple, list or dict of tensors (a *pytree*, e.g. a model's parameters as a dict), and the
derivative has the same structure. A function may return a tensor or a pytree of tensors.

Reverse mode (``grad``, ``vjp``, ``jacrev``) runs on ``autograd.grad``; forward mode (``jvp``,
``jacfwd``) on ``autograd.forward_ad``: one forward pass per tangent, carrying it along. So
``hessian(f) = jacfwd(jacrev(f))`` is *forward-over-reverse*: tangents pushed through a
recorded backward pass; a Hessian-vector product is ``jvp(grad(f), (x,), (v,))``.

How this differs from PyTorch:

* **Loops, not vmap.** ``jacrev`` runs one backward pass per output element, ``jacfwd`` one
  forward pass per input element, in a Python loop (``chunk_size`` and ``randomness`` are accepted
  and change nothing). The numbers are the same.
* **One dual level.** Forward mode does not nest: ``jacfwd(jacfwd(f))`` and a ``jvp`` inside a
  ``jvp`` are refused with an error; mix the modes instead (``jacfwd(jacrev(f))``,
  ``jacrev(jacfwd(f))``), or use reverse mode twice.
* **No levels.** torch.func keeps nested transforms apart with "levels"; here each transform
  makes fresh leaves for the arguments it differentiates and records the backward pass
  (``create_graph=True``) whenever grad mode is on, so an outer transform, or an ordinary
  ``backward()``, can differentiate the result again. A result keeps its history only if it
  depends on a tensor from outside that requires grad (an argument, or one the function
  captured); otherwise it comes back detached, as in PyTorch.
"""
from __future__ import annotations

from .autograd import forward_ad
from .autograd.api import grad as _autograd_grad
from .autograd.functional import (_push_forward, _zeros_like, jacobian_by_columns,
                                  jacobian_by_rows)
from .autograd.grad_mode import enable_grad, is_grad_enabled
from .tensor_base import TensorBase

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian"]


# ---- pytrees: nested tuples, lists and dicts of tensors -------------------------------------
def _flatten(tree, who, what):
    """The tensors of ``tree`` in order, and its structure (``_unflatten`` puts them back)."""
    if isinstance(tree, TensorBase):
        return [tree], None
    if isinstance(tree, (tuple, list, dict)):
        keys = list(tree) if isinstance(tree, dict) else None
        children = [tree[k] for k in keys] if keys is not None else list(tree)
        leaves, specs = [], []
        for child in children:
            sub, spec = _flatten(child, who, what)
            leaves += sub
            specs.append((len(sub), spec))
        return leaves, (type(tree), keys, specs)
    raise TypeError(f"{who}: {what} must be Tensors (or tuples, lists or dicts of Tensors), got "
                    f"{type(tree).__name__}" + (" — a Python number: build it with tensor ops, "
                                                "and do not call .item() or float() inside f"
                                                if isinstance(tree, (int, float)) else ""))


def _unflatten(leaves, spec):
    if spec is None:
        return leaves[0]
    cls, keys, specs = spec
    children, start = [], 0
    for n, sub in specs:
        children.append(_unflatten(leaves[start:start + n], sub))
        start += n
    if keys is not None:
        return cls(zip(keys, children))
    return cls(*children) if hasattr(cls, "_fields") else cls(children)   # namedtuples too


def _tensors_in(obj):
    """Every tensor in ``obj`` (anything else is skipped)."""
    if isinstance(obj, TensorBase):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors_in(o)]
    return []


# ---- argnums --------------------------------------------------------------------------------
def _argnum(k, n, who):
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{who}: argnums must be an int or a tuple of ints, got "
                        f"{type(k).__name__}")
    if not -n <= k < n:
        raise ValueError(f"{who}: argnums={k}, but the function was called with only {n} "
                         "positional arguments")
    return k % n


def _select(args, argnums, who):
    """The differentiated arguments: ``args[argnums]``, or a tuple of them."""
    if isinstance(argnums, tuple):
        if not argnums:
            raise ValueError(f"{who}: argnums must not be empty")
        picked = [_argnum(k, len(args), who) for k in argnums]
        if len(set(picked)) != len(picked):
            raise ValueError(f"{who}: argnums must be unique, got {argnums}")
        return tuple(args[k] for k in picked)
    return args[_argnum(argnums, len(args), who)]


def _replace(args, argnums, new):
    args = list(args)
    if isinstance(argnums, tuple):
        for k, value in zip(argnums, new):
            args[k % len(args)] = value
    else:
        args[argnums % len(args)] = new
    return args


# ---- fresh leaves, and results released from the internal graph ------------------------------
def _check_float(leaves, who, what="argument"):
    for k, x in enumerate(leaves):
        if x._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"{who}: differentiated {what} {k} is a {x.dtype.name} tensor, but derivatives are "
                "defined only for floating-point tensors. Convert it first, e.g. x.double() "
                "(float64) or x.float() (float32), or leave it out of argnums.")


def _fresh(x):
    """A new tensor to differentiate with respect to: a view of ``x`` when ``x`` requires grad
    (still attached, so an outer transform or ``backward()`` can go on through it), otherwise a
    new leaf. A tangent ``x`` carries (forward mode) is kept either way."""
    if x._requires_grad:
        return x.view_as(x)
    tangent = _tangent(x)
    leaf = x.detach().requires_grad_()
    return leaf if tangent is None else forward_ad.make_dual(leaf, tangent)


def _tangent(x):
    """The tangent ``x`` carries at the active dual level, or ``None``."""
    return forward_ad.unpack_dual(x).tangent


def _outside(tensors, inside):
    """Does any of ``tensors`` depend, through its graph, on a leaf that is not one of ``inside``
    (the fresh leaves a transform made)? Then it must keep its history; otherwise it is detached."""
    inside = {id(t) for t in inside}
    seen, stack = set(), [t._grad_fn for t in tensors if t._grad_fn is not None]
    stack += [t._accumulator() for t in tensors if t._grad_fn is None and t._requires_grad]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None and id(variable) not in inside:
            return True
        stack.extend(node._next)
    return False


def _map(fn, tree):
    """``tree`` with ``fn`` applied to each tensor in it (anything else is left as it is)."""
    if isinstance(tree, TensorBase):
        return fn(tree)
    if isinstance(tree, dict):
        return type(tree)((k, _map(fn, v)) for k, v in tree.items())
    if isinstance(tree, (tuple, list)):
        items = [_map(fn, v) for v in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return tree


def _release(tree, inside=()):
    """``tree`` with its tensors detached, unless they depend on something outside the transform
    (then the caller may differentiate them again) or carry a tangent (an outer ``jacfwd``)."""
    if _outside(_tensors_in(tree), inside):
        return tree
    return _map(lambda t: t if _tangent(t) is not None else t.detach(), tree)


def _record(leaves):
    """Record the backward pass (``create_graph``) when grad mode is on, or when an argument
    carries a tangent: forward-over-reverse needs the backward pass made of recorded ops, for the
    tangents to flow through it."""
    return is_grad_enabled() or any(_tangent(x) is not None for x in leaves)


def _with_aux(out, has_aux, who):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{who}: with has_aux=True the function must return a tuple "
                           "(output, aux)")
    return out


# ---- grad -----------------------------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """``grad_and_value(f)(*args)`` returns ``(∇f(args), f(args))`` — with ``has_aux=True``,
    ``(∇f, (f, aux))``. ``f`` must return a 0-d tensor (a scalar); the gradient has the structure
    of ``args[argnums]``."""
    who = "grad_and_value(f)(*args)"

    def wrapper(*args, **kwargs):
        diff = _select(args, argnums, who)
        leaves, spec = _flatten(diff, who, "the differentiated arguments")
        _check_float(leaves, who)
        record = _record(leaves)
        with enable_grad():
            fresh = [_fresh(x) for x in leaves]
            output, aux = _with_aux(func(*_replace(args, argnums, _unflatten(fresh, spec)),
                                         **kwargs), has_aux, who)
            if not isinstance(output, TensorBase):
                raise RuntimeError(f"{who}: f must return a Tensor, got {type(output).__name__}")
            if output.ndim != 0:
                raise RuntimeError(f"{who}: f must return a scalar (0-d) Tensor, got one with "
                                   f"{output.ndim} dims, shape {tuple(output.shape)}; for a "
                                   "vector-valued f use vjp or jacrev")
            grads = _gradients(output, fresh, record)
        value = output if not has_aux else (output, aux)
        return _release(_unflatten(grads, spec), fresh), _release(value, fresh)
    return wrapper


def _gradients(output, fresh, record):
    """∂output/∂fresh (zeros where it does not depend on one), a recorded backward pass if
    ``record``."""
    if not output._requires_grad:
        return [_zeros_like(x) for x in fresh]
    got = _autograd_grad([output], fresh, retain_graph=True, create_graph=record,
                         allow_unused=True)
    return [g if g is not None else _zeros_like(x) for g, x in zip(got, fresh)]


def grad(func, argnums=0, has_aux=False):
    """``grad(f)(*args)`` = ∇f at ``args`` (with ``has_aux=True``: ``(∇f, aux)``), with respect to
    ``args[argnums]``. ``f`` must return a 0-d tensor. Transforms compose: ``grad(grad(f))``."""
    value_and = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = value_and(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


# ---- vjp and jvp ----------------------------------------------------------------------------
def vjp(func, *primals, has_aux=False):
    """``output, vjp_fn = vjp(f, *primals)``: ``vjp_fn(cotangents)`` is ḡᵀJ for ḡ = cotangents
    (shaped like the output), a tuple with one entry per primal. One forward pass now, one backward
    pass per call of ``vjp_fn`` (it may be called many times). With ``has_aux=True``:
    ``(output, vjp_fn, aux)``."""
    who = "vjp(f, *primals)"
    leaves, spec = _flatten(tuple(primals), who, "primals")
    _check_float(leaves, who, "primal")
    with enable_grad():
        fresh = [_fresh(x) for x in leaves]
        output, aux = _with_aux(func(*_unflatten(fresh, spec)), has_aux, who)
        outs, out_spec = _flatten(output, who, "the outputs of f")
        for k, o in enumerate(outs):
            if o._data.dtype.kind not in "fc":
                raise RuntimeError(f"{who}: every output of f must be a floating-point Tensor; "
                                   f"output {k} is {o.dtype.name}")

    def vjp_fn(cotangents, *, retain_graph=True, create_graph=None):
        cots, cot_spec = _flatten(cotangents, "vjp_fn", "cotangents")
        if cot_spec != out_spec:
            raise RuntimeError("vjp_fn: the cotangents must have the structure of f's output "
                               f"({len(outs)} tensor(s), as f returned them), got "
                               f"{len(cots)} tensor(s) in another structure")
        for k, (c, o) in enumerate(zip(cots, outs)):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"vjp_fn: cotangent {k} has shape {tuple(c.shape)}, but output "
                                   f"{k} of f has shape {tuple(o.shape)}; they must match")
        record = _record(leaves) if create_graph is None else create_graph
        pairs = [(o, c) for o, c in zip(outs, cots) if o._requires_grad]
        grads = [None] * len(fresh)
        if pairs:
            grads = list(_autograd_grad([o for o, _ in pairs], fresh, [c for _, c in pairs],
                                        retain_graph=retain_graph, create_graph=record,
                                        allow_unused=True))
        grads = [g if g is not None else _zeros_like(x) for g, x in zip(grads, fresh)]
        return _release(_unflatten(grads, spec), fresh)

    output = _release(output, fresh)
    if has_aux:
        return output, vjp_fn, _release(aux, fresh)
    return output, vjp_fn


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(f(*primals), J·tangents)`` in one forward pass carrying the tangents (forward mode,
    ``autograd.forward_ad``). ``primals`` is a tuple (``f(*primals)`` must be a valid call) and
    ``tangents`` has its structure and shapes. With ``has_aux=True``: ``(output, jvp_out, aux)``.
    ``strict=True`` raises where the output does not depend on the primals instead of giving
    zeros."""
    who = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{who}: primals must be a tuple (f(*primals) must be a valid call), "
                           f"got {type(primals).__name__}; for one tensor x write (x,)")
    leaves, spec = _flatten(primals, who, "primals")
    tans, tan_spec = _flatten(tangents, who, "tangents")
    if not isinstance(tangents, tuple) or tan_spec != spec:
        raise RuntimeError(f"{who}: tangents must have the structure of primals (a tuple with one "
                           f"tangent per primal), got {len(tans)} tensor(s) for {len(leaves)}")
    _check_float(leaves, who, "primal")
    for k, (p, t) in enumerate(zip(leaves, tans)):
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(f"{who}: tangent {k} has shape {tuple(t.shape)}, but primal {k} "
                               f"has shape {tuple(p.shape)}; each tangent must have its "
                               "primal's shape")
    tans = [t if t.dtype == p.dtype else t.to(dtype=p.dtype) for p, t in zip(leaves, tans)]
    box = {}

    def flat(*xs):
        out, box["aux"] = _with_aux(func(*_unflatten(list(xs), spec)), has_aux, who)
        outs, box["spec"] = _flatten(out, who, "the outputs of f")
        return tuple(outs)

    _, outs, jv = _push_forward(flat, tuple(leaves), tuple(tans), who, strict=strict)
    result = (_release(_unflatten(list(outs), box["spec"])),
              _release(_unflatten(list(jv), box["spec"])))
    return result + (box["aux"],) if has_aux else result


# ---- Jacobians and the Hessian --------------------------------------------------------------
def _nest(jac, out_spec, arg_spec):
    """Block [i][j] into PyTorch's structure: the output's pytree, each leaf holding the
    differentiated arguments' pytree."""
    return _unflatten([_unflatten(list(row), arg_spec) for row in jac], out_spec)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """``jacrev(f)(*args)``: the Jacobian of ``f`` with respect to ``args[argnums]`` by reverse
    mode — one backward pass per output element, a row each. Block shapes are
    ``output.shape + arg.shape``; the structure is the output's pytree holding the arguments'.
    ``chunk_size`` is accepted and changes nothing (rows are computed one at a time)."""
    who = "jacrev(f)(*args)"
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError("jacrev: chunk_size must be a positive int or None")

    def wrapper(*args):
        diff = _select(args, argnums, who)
        leaves, spec = _flatten(diff, who, "the differentiated arguments")
        _check_float(leaves, who)
        record = _record(leaves)
        with enable_grad():
            fresh = [_fresh(x) for x in leaves]
            out, aux = _with_aux(func(*_replace(args, argnums, _unflatten(fresh, spec))),
                                 has_aux, who)
            outs, out_spec = _flatten(out, who, "the outputs of f")
            jac = jacobian_by_rows(outs, fresh, record, strict=False)
        result = _release(_nest(jac, out_spec, spec), fresh)
        return (result, _release(aux, fresh)) if has_aux else result
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``jacfwd(f)(*args)``: the Jacobian of ``f`` with respect to ``args[argnums]`` by forward
    mode — one forward pass per input element, carrying a one-hot tangent; the output tangents
    are a column each. Same structure and shapes as ``jacrev``; cheaper when there are more
    outputs than inputs. ``randomness`` is accepted and changes nothing (no vmap)."""
    who = "jacfwd(f)(*args)"

    def wrapper(*args):
        diff = _select(args, argnums, who)
        leaves, spec = _flatten(diff, who, "the differentiated arguments")
        _check_float(leaves, who)
        box = {}

        def flat(*xs):
            out, box["aux"] = _with_aux(func(*_replace(args, argnums, _unflatten(list(xs), spec))),
                                        has_aux, who)
            outs, box["spec"] = _flatten(out, who, "the outputs of f")
            return tuple(outs)

        _, jac = jacobian_by_columns(flat, tuple(leaves), who)
        result = _release(_nest(jac, box["spec"], spec))
        return (result, box["aux"]) if has_aux else result
    return wrapper


def hessian(func, argnums=0):
    """``hessian(f)(*args)``: the Hessian of a scalar ``f`` with respect to ``args[argnums]``,
    as ``jacfwd(jacrev(f))`` — forward-over-reverse: the gradient is taken by a recorded backward
    pass, and tangents are pushed through it, one input direction at a time."""
    return jacfwd(jacrev(func, argnums), argnums)
