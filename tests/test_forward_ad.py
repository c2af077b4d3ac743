"""Forward mode (``autograd.forward_ad``), proven op by op.

The op table is the gradcheck table's (``tests/test_ops_gradcheck.py``: every op, with broadcasting,
reductions with dim/keepdim, indexing with repeats and masks, matmul of every rank, the softmax
family, ``where``, ``maximum``, ``cat``/``stack``, views, the fused layer ops), plus ``EXTRA``
below. For each case, in float64:

* the JVP equals central differences, (f(x + εv) − f(x − εv)) / 2ε, with every input moving and
  with one input at a time (the others without a tangent, which a rule must treat as zero);
* the adjoint identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩ holds between the op's JVP and its VJP (``backward``)
  for random u, v: the two rules are transposes of one Jacobian;
* the rule gives the same tangent run on arrays (inputs that need no gradient) and run on tensors
  (inputs that require grad: the tangent is then differentiable, as in PyTorch).

``test_every_op_has_a_jvp_case`` fails when an ``Op`` subclass anywhere in autogradkit ran its
JVP rule in no case, and ``test_every_op_has_a_jvp_rule_and_formula`` when one has no ``jvp`` or
no ``jvp_formula``. Then: parity with ``torch.autograd.forward_ad`` (where torch is installed) on
the parity table, kinks and ties included; every device case on the strict CuPy stand-in against
the CPU; the errors; the dual level's life (tangents dropped on leaving it); custom Functions;
in-place ops; forward-over-reverse and reverse-over-forward Hessian-vector products; and the speed
shortcuts stepping aside while a level is active and coming back after. Run this file with
``AUTOGRADKIT_REFERENCE=1`` too.
"""
from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.ops
from autogradkit import backend
from autogradkit.autograd import forward_ad as fwAD
from autogradkit.autograd.node import Op
from autogradkit.ops.indexing import IndexAdd

import strict_cupy
import test_devices as td
import test_ops_gradcheck as gc

try:
    import torch
    import test_parity_torch as tp
except (ImportError, pytest.skip.Exception):     # (test_parity_torch skips itself without torch)
    torch = tp = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
# PyTorch's forward mode registers its decompositions with torch.jit.script on first use, which
# warns that torch.jit.script is deprecated: PyTorch's own business, not this test's
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

# ---- the table: the gradcheck cases, and what forward mode needs besides -------------------
EXTRA = [
    # IndexAdd (the backward of indexing) is an op of its own; its tangent: the same op on ġ
    gc.Case("index_add_repeated", lambda g: IndexAdd.apply(g, shape=(3, 4), key=np.array([0, 2, 0]),
                                                           accumulate=True), [gc.normal(3, 4)]),
    gc.Case("index_add_mask", lambda g: IndexAdd.apply(g, shape=(3, 4), key=gc.MASK34,
                                                       accumulate=False), [gc.normal(7)]),
    # what make_dual records (a view: PyTorch's make_dual returns one) pushes ẋ on unchanged
    gc.Case("make_dual_view", lambda a: fwAD.MakeDual.apply(a) * 2, [gc.normal(3, 4)]),
    gc.Case("max_dim_of_0d", lambda a: a.sum().max(0).values, [gc.normal(3)]),
    gc.Case("cat_one_constant", lambda a, c: ag.cat([c, a, c], dim=1),
            [gc.normal(2, 3), gc.const(ag.tensor(np.ones((2, 1))))]),
    gc.Case("where_both_tensors_broadcast", lambda a, b: ag.where(a > 0, a, b),
            [gc.nonzero(3, 1), gc.normal(4)]),
    gc.Case("softmax_then_matmul", lambda x, w: (x.softmax(-1) @ w).logsumexp(0),
            [gc.normal(2, 3, 4), gc.normal(4, 2)]),
    # issue 15: only the fill value moving (x a constant), and the new ops chained
    gc.Case("masked_fill_value_tangent_only", lambda v, x: x.masked_fill(ag.tensor(gc.MASK34), v),
            [gc.normal(), gc.const(ag.tensor(np.arange(12.0).reshape(3, 4)))]),
    gc.Case("cumsum_repeat_bmm_chain", lambda a, b: ag.bmm(a.cumsum(-1).repeat(2, 1, 1), b),
            [gc.normal(1, 3, 4), gc.normal(2, 4, 2)]),
    gc.Case("softplus_logsigmoid_chain", lambda a: gc._nnf().logsigmoid(gc._nnf().softplus(a, 0.5) - 2),
            [gc.uniform(3, 4, lo=-6, hi=6)]),
]
CASES = gc.CASES + EXTRA


def _params(cases=CASES):
    return [pytest.param(c, id=c.id, marks=c.marks) for c in cases]


# ---- helpers --------------------------------------------------------------------------------
def _is_leaf_input(x):
    return isinstance(x, ag.Tensor) and x.requires_grad


def _directions(inputs, seed=3):
    """A random tangent per differentiable input (None for constants)."""
    rng = np.random.default_rng(seed)
    return [ag.tensor(rng.standard_normal(tuple(x.shape)), dtype=x.dtype) if _is_leaf_input(x)
            else None for x in inputs]


def _array(t):
    return t._data if type(t._data) is np.ndarray else t._data.get()


def push_forward(fn, inputs, tangents):
    """(f(x), J·tangents) as numpy arrays, by one forward pass in a dual level."""
    with fwAD.dual_level():
        duals = [fwAD.make_dual(x, t) if t is not None else x for x, t in zip(inputs, tangents)]
        out = fn(*duals)
        primal, tangent = fwAD.unpack_dual(out)
        value = _array(primal).copy()
        if tangent is None:
            return value, np.zeros_like(value)
        assert tuple(tangent.shape) == tuple(out.shape) and tangent.dtype == out.dtype
        return value, _array(tangent).copy()


def central_differences(fn, inputs, tangents, eps):
    with ag.no_grad():
        moved = [lambda s, x=x, t=t: x.detach() + s * t if t is not None else x
                 for x, t in zip(inputs, tangents)]
        plus = fn(*[m(eps) for m in moved])
        minus = fn(*[m(-eps) for m in moved])
    return (plus.numpy() - minus.numpy()) / (2 * eps)


def _detached(inputs):
    return [x.detach() if isinstance(x, ag.Tensor) else x for x in inputs]


# ---- coverage -------------------------------------------------------------------------------
def _all_op_classes():
    """Every Op subclass defined in autogradkit (the ops, and forward_ad's own)."""
    for m in pkgutil.iter_modules(autogradkit.ops.__path__):
        importlib.import_module(f"autogradkit.ops.{m.name}")
    found, stack, seen = set(), list(Op.__subclasses__()), set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_") and cls.__module__.startswith("autogradkit."):
            found.add(cls)
    return found


def test_op_discovery_finds_forward_ads_own_op():
    classes = _all_op_classes()
    assert {fwAD.MakeDual, IndexAdd, autogradkit.ops.reduce.MinDim} <= classes
    assert len(classes) >= 50


def test_every_op_has_a_jvp_rule_and_formula():
    missing = sorted(c.__name__ for c in _all_op_classes() if c.jvp is Op.jvp)
    assert not missing, f"Op classes without a jvp rule: {missing}"
    no_formula = sorted(c.__name__ for c in _all_op_classes() if not c.jvp_formula)
    assert not no_formula, f"Op classes without a jvp_formula: {no_formula}"


def test_every_op_has_a_jvp_case(monkeypatch):
    """Every Op class ran its JVP rule in some case of the table (a spy on ``_push_tangents``)."""
    ran = set()
    push = Op._push_tangents

    def spy(self, inputs, out, result):
        if any(isinstance(x, ag.Tensor) and x._tangent is not None for x in inputs):
            ran.add(type(self))
        return push(self, inputs, out, result)

    monkeypatch.setattr(Op, "_push_tangents", spy)
    for case in CASES:
        inputs = case.make_inputs()
        push_forward(case.fn, inputs, _directions(inputs))
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _all_op_classes() - ran)
    assert not missing, f"Op classes whose JVP no case runs (add a row to CASES/EXTRA): {missing}"


# ---- every op: central differences, adjoint identity, arrays vs tensors ---------------------
@pytest.mark.parametrize("case", _params())
def test_jvp_matches_central_differences(case):
    inputs = case.make_inputs()
    tangents = _directions(inputs)
    plain = _detached(inputs)
    directions = [tangents]                 # every input moving, then one input at a time
    if sum(t is not None for t in tangents) > 1:
        directions += [[t if i == k else None for i, t in enumerate(tangents)]
                       for k in range(len(tangents)) if tangents[k] is not None]
    for ts in directions:
        value, jv = push_forward(case.fn, plain, ts)
        np.testing.assert_allclose(value, case.fn(*plain).numpy(), rtol=0, atol=0)
        fd = central_differences(case.fn, inputs, ts, case.eps)
        np.testing.assert_allclose(jv, fd, rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{case.id}: JVP vs central differences")


@pytest.mark.parametrize("case", _params())
def test_adjoint_identity_between_jvp_and_vjp(case):
    """⟨u, J v⟩ = ⟨Jᵀu, v⟩: forward mode's J v against reverse mode's Jᵀu."""
    inputs = case.make_inputs()
    v = _directions(inputs, seed=4)
    _, jv = push_forward(case.fn, _detached(inputs), v)
    out = case.fn(*inputs)
    u = np.random.default_rng(5).standard_normal(tuple(out.shape))
    leaves = [x for x in inputs if _is_leaf_input(x)]
    jtu = ag.autograd.grad(out, leaves, grad_outputs=ag.tensor(u, dtype=out.dtype),
                           allow_unused=True)
    lhs = float(np.vdot(u, jv))
    rhs = sum(float(np.vdot(g.numpy(), t.numpy())) for g, t in
              zip(jtu, [t for t in v if t is not None]) if g is not None)
    rtol = 1e-6 if "float32" in case.id else 1e-9      # (through float32 and back: its rounding)
    assert np.isclose(lhs, rhs, rtol=rtol, atol=1e-10), \
        f"{case.id}: ⟨u, Jv⟩ = {lhs}, ⟨Jᵀu, v⟩ = {rhs}"


@pytest.mark.parametrize("case", _params())
def test_jvp_rule_gives_the_same_on_arrays_and_on_tensors(case):
    """Inputs that require grad make the rule run on tensors (a differentiable tangent, recorded);
    plain inputs make it run on arrays. One rule, the same numbers."""
    inputs = case.make_inputs()
    tangents = _directions(inputs)
    _, on_arrays = push_forward(case.fn, _detached(inputs), tangents)
    _, on_tensors = push_forward(case.fn, inputs, tangents)
    np.testing.assert_allclose(on_tensors, on_arrays, rtol=1e-12, atol=1e-14)


# ---- parity with PyTorch's forward mode ----------------------------------------------------
def _torch_jvp(case, m, dtype, seed=7):
    """Run the parity table's case with forward mode in ``m`` (autogradkit or torch)."""
    rng = np.random.default_rng(0)
    arrays = [spec(rng) for spec in case.inputs]
    rng = np.random.default_rng(seed)
    tangents = [rng.standard_normal(a.shape) for a in arrays]
    fw = m.autograd.forward_ad
    with fw.dual_level():
        duals = [fw.make_dual(m.tensor(a.astype(dtype)), m.tensor(t.astype(dtype)))
                 for a, t in zip(arrays, tangents)]
        out = case.fn(m, *duals)
        primal, tangent = fw.unpack_dual(out)
        return {"value": primal, "tangent": tangent}


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", _params(tp.OPS) if tp else [])
def test_jvp_matches_torch_forward_ad(case, dtype):
    tp.same_in_both(lambda m: _torch_jvp(case, m, dtype), **tp.TOL[dtype])


@needs_torch
@pytest.mark.parametrize("case", _params(tp.KINKS) if tp else [])
def test_jvp_at_kinks_and_ties_matches_torch(case):
    """relu/abs at 0, clamp at its bounds, ties of max/min/maximum (shared or split in half), norm
    at 0, 0 ** b, constant std: PyTorch's forward-mode conventions."""
    tp.same_in_both(lambda m: _torch_jvp(case, m, "float64"), **tp.TOL["float64"])


# ---- the GPU backend, through the strict CuPy stand-in ---------------------------------------
@pytest.fixture
def cuda():
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


def _device_jvp(case, device):
    inputs, tangents = [], []
    rng = np.random.default_rng(11)
    for arr in case.inputs:
        inputs.append(ag.tensor(arr, dtype=arr.dtype, device=device,
                                requires_grad=arr.dtype.kind == "f"))
        tangents.append(ag.tensor(rng.standard_normal(arr.shape).astype(arr.dtype), device=device)
                        if arr.dtype.kind == "f" else None)
    with fwAD.dual_level():
        duals = [fwAD.make_dual(x, t) if t is not None else x for x, t in zip(inputs, tangents)]
        out = case.fn(*duals)
        return out, fwAD.unpack_dual(out).tangent


@pytest.mark.parametrize("case", [c for c in td.CASES if c.ops], ids=lambda c: c.id)
def test_jvp_on_the_gpu_standin_matches_the_cpu(cuda, case):
    cpu_out, cpu_t = _device_jvp(case, "cpu")
    gpu_out, gpu_t = _device_jvp(case, "cuda")
    assert cpu_t is not None, f"{case.id}: no tangent on the CPU"
    assert gpu_t is not None and type(gpu_t._data) is strict_cupy.ndarray, \
        f"{case.id}: the tangent left the device"
    assert gpu_t.dtype == cpu_t.dtype and tuple(gpu_t.shape) == tuple(cpu_out.shape)
    np.testing.assert_allclose(gpu_t._data.get(), cpu_t._data, rtol=1e-5, atol=1e-6)


# ---- bad input: each a clear error ----------------------------------------------------------
def test_make_dual_outside_a_dual_level_says_to_enter_one():
    with pytest.raises(RuntimeError, match=r"no dual level is active.*dual_level\(\)"):
        fwAD.make_dual(ag.ones(3), ag.ones(3))


def test_make_dual_refuses_a_tangent_of_another_shape():
    with fwAD.dual_level():
        with pytest.raises(ValueError, match=r"tangent has shape \(4,\) but the primal has shape "
                                             r"\(3,\).*shapes must match"):
            fwAD.make_dual(ag.ones(3), ag.ones(4))


def test_make_dual_refuses_a_tangent_of_another_dtype():
    with fwAD.dual_level():
        with pytest.raises(TypeError, match=r"tangent is float64 but the primal is float32.*"
                                            r"tangent\.to\(primal\.dtype\)"):
            fwAD.make_dual(ag.ones(3), ag.ones(3, dtype=ag.float64))


def test_make_dual_refuses_an_integer_primal():
    with fwAD.dual_level():
        with pytest.raises(TypeError, match=r"primal is an int64 tensor.*floating-point.*"
                                            r"x\.double\(\)"):
            fwAD.make_dual(ag.arange(3), ag.arange(3))


def test_make_dual_refuses_a_tangent_on_another_device(cuda):
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=r"tangent is on cuda:0 but the primal is on cpu.*"
                                               r"tangent\.to\('cpu'\)"):
            fwAD.make_dual(ag.ones(3), ag.ones(3, device="cuda"))


def test_make_dual_refuses_a_tangent_that_is_not_a_tensor():
    with fwAD.dual_level():
        with pytest.raises(TypeError, match=r"tangent must be a Tensor.*got list"):
            fwAD.make_dual(ag.ones(3), [1.0, 2.0, 3.0])
        with pytest.raises(TypeError, match=r"primal must be a Tensor, got float"):
            fwAD.make_dual(1.0, ag.ones(1))


def test_unpack_dual_of_a_number_says_the_function_must_return_tensors():
    with fwAD.dual_level():
        x = fwAD.make_dual(ag.ones(3, dtype=ag.float64), ag.ones(3, dtype=ag.float64))
        with pytest.raises(TypeError, match=r"expected a Tensor, got float.*no \.item\(\)"):
            fwAD.unpack_dual(float(x.sum()))


def test_nested_dual_levels_are_refused_as_in_pytorch():
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            with fwAD.dual_level():
                pass
    with pytest.raises(RuntimeError, match="no dual level is active"):
        fwAD.exit_dual_level()


def test_a_level_entered_inside_a_custom_functions_forward():
    """Outside any level, a Function's forward may use forward mode itself; inside one, nesting
    is refused."""
    class Inner(NoJvp):
        @staticmethod
        def forward(ctx, x):
            with fwAD.dual_level():
                d = fwAD.make_dual(x, ag.ones_like(x))
                return fwAD.unpack_dual(d * d).tangent      # 2x

    assert Inner.apply(ag.tensor([1.0, 3.0])).tolist() == [2.0, 6.0]
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="Nested forward mode AD"):
            Inner.apply(ag.tensor([1.0, 3.0]))


def test_enter_and_exit_dual_level_by_hand():
    level = fwAD.enter_dual_level()
    try:
        assert level == 0
        x = fwAD.make_dual(ag.tensor([1.0, 2.0]), ag.tensor([1.0, 0.0]))
        assert fwAD.unpack_dual(x.exp()).tangent.tolist() == pytest.approx([np.e, 0.0])
        with pytest.raises(RuntimeError, match="level 3 is not the active level"):
            fwAD.exit_dual_level(level=3)
    finally:
        fwAD.exit_dual_level(level=level)
    assert fwAD.unpack_dual(x).tangent is None


# ---- the dual level's life ------------------------------------------------------------------
def test_leaving_the_level_drops_every_tangent_made_in_it():
    v = ag.tensor([1.0, 2.0, 3.0])
    with fwAD.dual_level():
        x = fwAD.make_dual(ag.tensor([0.5, 1.0, 1.5]), v)
        y = (x * x).sin()
        z = y.sum()
        assert all(t._tangent is not None for t in (x, y, z))
    assert all("_tangent" not in t.__dict__ for t in (x, y, z))
    assert fwAD.unpack_dual(y) == (y, None)
    with fwAD.dual_level():             # a new level: nothing carried over
        assert fwAD.unpack_dual(y).tangent is None
        assert fwAD.unpack_dual(y * 2).tangent is None


def test_tensors_outside_a_dual_level_carry_nothing_new():
    x = ag.randn(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    for t in (x, y):
        assert "_tangent" not in t.__dict__ and t._tangent is None
    assert type(y.grad_fn)._out_tangent is None


def test_a_dual_computation_is_freed_by_reference_counting_alone():
    """No reference cycles, also where a tangent is differentiable and made from a saved output
    (exp, softmax): with the garbage collector off, everything goes when the level ends."""
    import gc as garbage_collector
    import weakref
    garbage_collector.disable()
    try:
        x0 = ag.randn(3, dtype=ag.float64, requires_grad=True)
        with fwAD.dual_level():
            x = fwAD.make_dual(x0, ag.ones(3, dtype=ag.float64))
            y = x.exp().softmax(0).tanh()
            t = fwAD.unpack_dual(y).tangent
            assert t.requires_grad
            refs = [weakref.ref(o) for o in (y, t, y.grad_fn, t.grad_fn)]
            del y, t
            assert all(r() is None for r in refs)       # already inside the level
            y = x.exp().softmax(0).tanh()               # kept until the level ends
            refs = [weakref.ref(o) for o in (x, y, fwAD.unpack_dual(y).tangent, y.grad_fn)]
            del x, y
        assert all(r() is None for r in refs)
    finally:
        garbage_collector.enable()


def test_make_dual_keeps_the_tangent_as_is_and_shares_the_numbers():
    x0 = ag.tensor([1.0, 2.0], requires_grad=True)
    v = ag.tensor([0.5, -1.0])
    with fwAD.dual_level():
        x = fwAD.make_dual(x0, v)
        primal, tangent = fwAD.unpack_dual(x)
        assert tangent is v                             # stored as is, as in PyTorch
        assert x is not x0 and np.shares_memory(x._data, x0._data)
        assert x.grad_fn.name() == "ViewBackward0"      # PyTorch's make_dual is a view
        assert fwAD.unpack_dual(primal).tangent is None
        (x * x).sum().backward()                        # the gradient reaches the primal
    assert x0.grad.tolist() == [2.0, 4.0]


def test_only_some_inputs_dual_and_integer_results_carry_no_tangent():
    with fwAD.dual_level():
        a = fwAD.make_dual(ag.tensor([1.0, 3.0, 2.0]), ag.tensor([1.0, 1.0, 1.0]))
        b = ag.tensor([2.0, 2.0, 2.0])
        assert fwAD.unpack_dual(a * b).tangent.tolist() == [2.0, 2.0, 2.0]
        assert fwAD.unpack_dual(b * 3).tangent is None
        assert fwAD.unpack_dual(a.argmax()).tangent is None
        assert fwAD.unpack_dual(a > 1).tangent is None
        assert fwAD.unpack_dual(a.detach()).tangent is None     # as in PyTorch
        assert fwAD.unpack_dual(a.long()).tangent is None


def test_tangents_flow_under_no_grad_as_in_pytorch():
    """no_grad switches recording off, not forward mode: the tangent is computed, on arrays."""
    x0 = ag.tensor([0.5, 1.0], dtype=ag.float64, requires_grad=True)
    with fwAD.dual_level(), ag.no_grad():
        y = fwAD.make_dual(x0, ag.ones(2, dtype=ag.float64)).exp()
        primal, tangent = fwAD.unpack_dual(y)
        assert y.grad_fn is None and not tangent.requires_grad
        assert tangent.tolist() == pytest.approx(np.exp([0.5, 1.0]).tolist())


# ---- custom Functions -----------------------------------------------------------------------
class Cube(ag.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 3 * x ** 2


class ScaledSum(ag.autograd.Function):
    """a·s + b with a number s: jvp gets a tangent per input (None for the number)."""

    @staticmethod
    def forward(ctx, a, s, b):
        ctx.s = s
        ctx.save_for_forward(a)
        return a * s + b

    @staticmethod
    def backward(ctx, g):
        return g * ctx.s, None, g

    @staticmethod
    def jvp(ctx, ta, ts, tb):
        assert ts is None and ctx.saved_tensors[0].shape == ta.shape
        return ta * ctx.s + tb


class NoJvp(ag.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_custom_function_jvp_like_pytorch():
    x0 = ag.tensor([1.0, -2.0, 0.5], dtype=ag.float64)
    v = ag.tensor([1.0, 0.5, 2.0], dtype=ag.float64)
    for requires_grad in (False, True):
        with fwAD.dual_level():
            x = fwAD.make_dual(x0.detach().requires_grad_(requires_grad), v)
            got = fwAD.unpack_dual(Cube.apply(x)).tangent
        assert got.detach().numpy() == pytest.approx((3 * x0 ** 2 * v).numpy())
    with fwAD.dual_level():
        a = fwAD.make_dual(x0, v)
        b = ag.ones(3, dtype=ag.float64)                # no tangent: zeros reach jvp
        assert fwAD.unpack_dual(ScaledSum.apply(a, 2.5, b)).tangent.tolist() == [2.5, 1.25, 5.0]


def test_custom_function_without_jvp_names_itself():
    with fwAD.dual_level():
        x = fwAD.make_dual(ag.ones(2), ag.ones(2))
        with pytest.raises(RuntimeError, match=r"NoJvp: an input carries a tangent.*NoJvp has no "
                                               r"forward-mode rule.*def jvp\(ctx, \*tangents\)"):
            NoJvp.apply(x)
        assert NoJvp.apply(ag.ones(2)).tolist() == [2.0, 2.0]     # no tangent: no jvp needed
    assert NoJvp.apply(ag.ones(2)).tolist() == [2.0, 2.0]


def test_custom_function_jvp_of_the_wrong_shape_is_refused():
    class Bad(Cube):
        @staticmethod
        def jvp(ctx, t):
            return t.sum()

    with fwAD.dual_level():
        x = fwAD.make_dual(ag.ones(3), ag.ones(3))
        with pytest.raises(RuntimeError, match=r"Bad\.jvp returned a tangent of shape \(\).*"
                                               r"output has shape \(3,\)"):
            Bad.apply(x)


@needs_torch
def test_custom_function_matches_torch():
    class TorchCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_forward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            raise AssertionError("not used")

        @staticmethod
        def jvp(ctx, t):
            (x,) = ctx.saved_tensors
            return t * 3 * x ** 2

    def run(m, fn):
        with m.autograd.forward_ad.dual_level():
            x = m.autograd.forward_ad.make_dual(m.tensor([0.5, -1.0], dtype=m.float64),
                                                m.tensor([2.0, 3.0], dtype=m.float64))
            return m.autograd.forward_ad.unpack_dual(fn.apply(x).sin()).tangent
    tp.assert_close(tp.to_np(run(ag, Cube)), tp.to_np(run(torch, TorchCube)))


# ---- in-place ops: the tangent follows, or a clear error -------------------------------------
def _inplace_scenario(m, op):
    fw = m.autograd.forward_ad
    with fw.dual_level():
        x = fw.make_dual(m.tensor([1.0, -2.0, 3.0], dtype=m.float64),
                         m.tensor([0.5, 1.0, -1.0], dtype=m.float64))
        y = x * 1.0
        other = fw.make_dual(m.tensor([2.0, 4.0, 0.5], dtype=m.float64),
                             m.tensor([1.0, 0.0, 2.0], dtype=m.float64))
        op(m, y, other)
        p, t = fw.unpack_dual(y)
        return {"value": p, "tangent": t}


INPLACE = {
    "add_": lambda m, y, o: y.add_(o),
    "add_alpha": lambda m, y, o: y.add_(o, alpha=-2.0),
    "sub_": lambda m, y, o: y.sub_(o),
    "mul_": lambda m, y, o: y.mul_(o),
    "div_": lambda m, y, o: y.div_(o),
    "mul_number": lambda m, y, o: y.mul_(3.0),
    "iadd_plain": lambda m, y, o: y.__iadd__(m.ones(3, dtype=m.float64)),
    "clamp_": lambda m, y, o: y.clamp_(-1.5, 2.0),
    "zero_": lambda m, y, o: y.zero_(),
    "fill_": lambda m, y, o: y.fill_(7.0),
    "copy_": lambda m, y, o: y.copy_(o),
    "copy_plain": lambda m, y, o: y.copy_(m.ones(3, dtype=m.float64)),
    "setitem_dual": lambda m, y, o: y.__setitem__(slice(0, 2), o[1:]),
    "setitem_number": lambda m, y, o: y.__setitem__(1, 5.0),
    "masked_fill_dual_value": lambda m, y, o: y.masked_fill_(m.tensor([True, False, True]), o[2]),
    "masked_fill_number": lambda m, y, o: y.masked_fill_(m.tensor([False, True, False]), -4.0),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_ops_update_the_tangent_like_torch(name):
    tp.same_in_both(lambda m: _inplace_scenario(m, INPLACE[name]))


def test_inplace_into_a_plain_tensor_gives_it_a_tangent():
    with fwAD.dual_level():
        y = ag.zeros(2, dtype=ag.float64)
        v = ag.tensor([3.0, 4.0], dtype=ag.float64)
        y.add_(fwAD.make_dual(ag.ones(2, dtype=ag.float64), v))
        assert fwAD.unpack_dual(y).tangent.tolist() == [3.0, 4.0]


def test_inplace_on_a_view_or_a_viewed_tensor_is_refused_clearly():
    with fwAD.dual_level():
        x = fwAD.make_dual(ag.ones(4), ag.ones(4)) * 1.0
        v = x[1:]
        with pytest.raises(RuntimeError, match=r"mul_: in forward mode this tensor is a view.*"
                                               r"out of place"):
            v.mul_(2.0)
        with pytest.raises(RuntimeError, match=r"add_: in forward mode this tensor has views"):
            x.add_(1.0)
        with pytest.raises(TypeError, match=r"int64 and can't carry the tangent"):
            ag.zeros(4, dtype=ag.int64).add_(x)
    assert x.tolist() == [1.0] * 4                     # nothing was changed


# ---- second order: forward-over-reverse and reverse-over-forward ------------------------------
SECOND = [
    lambda m, x: (x ** 3).sum(),
    lambda m, x: (x.sin() * x.exp()).sum(),
    lambda m, x: m.logsumexp(x * x, 0),
    lambda m, x: (x.softmax(0) * m.tensor([1.0, -2.0, 0.5], dtype=m.float64)).sum(),
    lambda m, x: x.var() * x.std(),
    lambda m, x: (x.tanh() / (x * x + 1)).sum() + (x[[0, 0, 2]] ** 2).sum(),
    lambda m, x: m.cat([x, x * 2]).max() + m.stack([x, x.sigmoid()]).mean(),
    lambda m, x: ((m.nn.functional.softplus(x, beta=2.0) * x.cumsum(0)).sum()
                  + m.nn.functional.logsigmoid(x.repeat(2) * x.repeat(2)).sum()),
]
SECOND_IDS = ["cube", "sin_exp", "logsumexp", "softmax", "var_std", "rational_indexing",
              "cat_stack_max", "softplus_cumsum_logsigmoid_repeat"]
X0, V0 = [0.3, -1.2, 0.8], [1.0, 0.5, -2.0]


def _hvp_forward_over_reverse(fn):
    """H v: the gradient taken with create_graph inside a dual level, the tangents pushed through
    the recorded backward (saved outputs included)."""
    x = ag.tensor(X0, dtype=ag.float64)
    with fwAD.dual_level():
        xd = fwAD.make_dual(x, ag.tensor(V0, dtype=ag.float64)).requires_grad_()
        (g,) = ag.autograd.grad(fn(ag, xd), xd, create_graph=True)
        return fwAD.unpack_dual(g).tangent.detach().numpy().copy()


def _hvp_reverse_over_forward(fn):
    """H v: the JVP ∇f·v made in a dual level (a differentiable tangent), then its gradient."""
    x = ag.tensor(X0, dtype=ag.float64, requires_grad=True)
    with fwAD.dual_level():
        xd = fwAD.make_dual(x, ag.tensor(V0, dtype=ag.float64))
        jv = fwAD.unpack_dual(fn(ag, xd)).tangent
    (hv,) = ag.autograd.grad(jv, x)
    return hv.numpy()


@needs_torch
@pytest.mark.parametrize("fn", SECOND, ids=SECOND_IDS)
def test_hessian_vector_products_both_ways_match_torch(fn):
    x = torch.tensor(X0, dtype=torch.float64)
    _, want = torch.autograd.functional.hvp(lambda t: fn(torch, t), x,
                                            torch.tensor(V0, dtype=torch.float64))
    np.testing.assert_allclose(_hvp_forward_over_reverse(fn), want.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(_hvp_reverse_over_forward(fn), want.numpy(), rtol=1e-9, atol=1e-12)


# ---- the speed shortcuts step aside while a level is active ----------------------------------
def _owner_and_name(key):
    from autogradkit import fast
    from autogradkit.nn import functional as nnf
    from autogradkit.ops import elementwise as E, layers as L
    from autogradkit.tensor import Tensor
    owner, name = key.rsplit(".", 1)
    if owner == "autogradkit.nn.functional":
        return nnf, name
    owners = {"Op": Op, "Tensor": Tensor, "MSELoss": L.MSELoss,
              **{c.__name__: c for c in fast.UNARY + fast.BINARY}}
    return owners.get(owner), name


@pytest.mark.skipif(ag.REFERENCE_MODE, reason="AUTOGRADKIT_REFERENCE=1: no shortcuts installed")
def test_shortcuts_step_aside_in_a_level_and_come_back_after():
    from autogradkit import fast
    assert set(fast.RECORDING) <= set(fast.REPLACED)
    assert (fast.step_aside, fast.step_back_in) in fwAD.LEVEL_HOOKS
    installed = {k: _owner_and_name(k) for k in fast.REPLACED if _owner_and_name(k)[0] is not None}
    assert set(fast.RECORDING) <= set(installed)
    with fwAD.dual_level():
        for key in fast.RECORDING:              # the reference recording is back
            owner, name = installed[key]
            assert getattr(owner, name) == fast.REPLACED[key][0], key
        for key in set(installed) - set(fast.RECORDING):    # the replays stay
            owner, name = installed[key]
            assert getattr(owner, name) == fast.REPLACED[key][1], key
    for key, (owner, name) in installed.items():    # every shortcut back, the very same object
        assert getattr(owner, name) == fast.REPLACED[key][1], key
    for owner, name, _, new in fast._SWAPS:
        assert owner.__dict__[name] is new
    try:                                        # also when the block raises
        with fwAD.dual_level():
            raise KeyError("boom")
    except KeyError:
        pass
    for owner, name, _, new in fast._SWAPS:
        assert owner.__dict__[name] is new


@pytest.mark.skipif(ag.REFERENCE_MODE, reason="AUTOGRADKIT_REFERENCE=1: no shortcuts installed")
def test_values_and_gradients_are_the_same_inside_and_outside_a_level():
    """The same program with the shortcuts (outside a level) and on the reference recording
    (inside one): bit for bit."""
    def program():
        ag.manual_seed(0)
        net = ag.nn.Sequential(ag.nn.Linear(3, 4), ag.nn.Tanh(), ag.nn.Linear(4, 1))
        x, y = ag.randn(5, 3), ag.randn(5, 1)
        loss = ag.nn.functional.mse_loss(net(x) * 2 - 1, y)
        loss.backward()
        return [loss._data.copy()] + [p.grad._data.copy() for p in net.parameters()]
    outside = program()
    with fwAD.dual_level():
        inside = program()
    for a, b in zip(outside, inside):
        assert a.tobytes() == b.tobytes()


def test_a_training_model_in_a_dual_level_gets_the_jvp_of_its_loss():
    """nn.Linear, MSELoss and the operators (the shortcuts' own ground) carry tangents."""
    ag.manual_seed(1)
    net = ag.nn.Linear(3, 2).double()
    x = ag.randn(4, 3, dtype=ag.float64)
    y = ag.randn(4, 2, dtype=ag.float64)
    v = ag.randn(4, 3, dtype=ag.float64)
    loss_of = lambda inp: ag.nn.functional.mse_loss(net(inp) * 1.5 + 0.5 - inp[:, :2], y)
    with fwAD.dual_level():
        got = fwAD.unpack_dual(loss_of(fwAD.make_dual(x, v))).tangent.item()
    with ag.no_grad():
        eps = 1e-6
        want = (loss_of(x + eps * v).item() - loss_of(x - eps * v).item()) / (2 * eps)
    assert got == pytest.approx(want, rel=1e-6)
