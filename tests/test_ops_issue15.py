"""Issue 15 ops: ``cumsum``, ``Tensor.repeat``, ``masked_fill``/``masked_fill_``, ``bmm``,
``nn.functional.softplus``/``logsigmoid``; ``log1p``/``expm1`` for tiny x; cross-entropy's
gradient is exactly (softmax − onehot)/N.

Gradchecks and forward-mode checks of the new ops are rows of the tables in
``test_ops_gradcheck.py`` and ``test_forward_ad.py``; here: parity with PyTorch (values, gradients,
result dtypes, ``grad_fn`` names) in float32 and float64, numerical stability at extreme inputs,
semantics against numpy, the errors, in-place behaviour, and the GPU stand-in.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.nn.functional as F
from autogradkit import backend

import strict_cupy
import test_devices as td

try:
    import torch
except ImportError:     # the parity tests skip themselves; the rest runs without torch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])


def _np(t):
    return t.detach().numpy()


def _nnf(m):
    return m.nn.functional


# ---- parity with PyTorch: values, gradients, dtypes, grad_fn names ------------------------
@dataclasses.dataclass
class P:
    id: str
    fn: Callable            # fn(m, *leaves) -> tensor
    shapes: list            # one float input per shape (leaves that require grad)


OPS = [
    P("cumsum_dim1", lambda m, a: a.cumsum(1), [(3, 4)]),
    P("cumsum_fn_neg_dim", lambda m, a: m.cumsum(a, dim=-3), [(2, 3, 4)]),
    P("cumsum_1d", lambda m, a: m.cumsum(a, 0), [(7,)]),
    P("cumsum_0d", lambda m, a: a.sum().cumsum(0), [(3,)]),
    P("cumsum_dtype_float64", lambda m, a: m.cumsum(a, 1, dtype=m.float64), [(3, 4)]),
    P("repeat", lambda m, a: a.repeat(2, 3), [(3, 4)]),
    P("repeat_tuple_leading", lambda m, a: a.repeat((2, 1, 3)), [(4,)]),
    P("repeat_list_3d", lambda m, a: a.repeat([1, 2, 1, 2]), [(2, 3, 1)]),
    P("repeat_zero", lambda m, a: a.repeat(0, 2), [(3, 4)]),
    P("masked_fill_number", lambda m, a: a.masked_fill(m.tensor(MASK), 0.5), [(3, 4)]),
    P("masked_fill_int_value", lambda m, a: m.masked_fill(a, m.tensor(MASK), -3), [(3, 4)]),
    P("masked_fill_broadcast_mask", lambda m, a: a.masked_fill(m.tensor([True, False, False, True]), 2.0),
      [(3, 4)]),
    P("masked_fill_mask_broadcasts_input", lambda m, a: a.masked_fill(m.tensor(MASK), -1.0), [(4,)]),
    P("masked_fill_tensor_value", lambda m, a, v: a.masked_fill(m.tensor(MASK), v), [(3, 4), ()]),
    P("masked_fill_float64_value", lambda m, a, v: a.masked_fill(m.tensor(MASK), v.double()),
      [(3, 4), ()]),
    P("masked_fill_neg_inf_softmax", lambda m, a: a.masked_fill(~m.tensor(MASK), float("-inf")).softmax(-1),
      [(3, 4)]),
    P("masked_fill_inplace", lambda m, a, v: (a * 2).masked_fill_(m.tensor(MASK), v) * a, [(3, 4), ()]),
    P("bmm", lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    P("bmm_method", lambda m, a, b: a.bmm(b), [(3, 1, 2), (3, 2, 2)]),
    P("softplus", lambda m, a: _nnf(m).softplus(a * 10), [(3, 4)]),
    P("softplus_beta_threshold", lambda m, a: _nnf(m).softplus(a * 5, beta=2.0, threshold=3.0), [(3, 4)]),
    P("softplus_positional", lambda m, a: _nnf(m).softplus(a * 5, 0.5, 1.0), [(3, 4)]),
    P("logsigmoid", lambda m, a: _nnf(m).logsigmoid(a * 10), [(3, 4)]),
]
TOL = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=2e-6, atol=2e-6)}


def _run(m, case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in case.shapes]
    leaves = [m.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(m, *leaves)
    upstream = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
    out.backward(m.tensor(upstream.astype(_np(out).dtype)))
    return out, [x.grad for x in leaves]


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", OPS, ids=[c.id for c in OPS])
def test_values_gradients_dtypes_and_names_match_torch(case, dtype):
    want, want_grads = _run(torch, case, dtype)
    got, got_grads = _run(ag, case, dtype)
    assert tuple(got.shape) == tuple(want.shape)
    assert str(_np(got).dtype) == str(_np(want).dtype)
    assert got.grad_fn.name() == want.grad_fn.name()
    np.testing.assert_allclose(_np(got), _np(want), **TOL[dtype])
    for k, (g, w) in enumerate(zip(got_grads, want_grads)):
        assert _np(g).dtype == _np(w).dtype, f"input {k}"
        np.testing.assert_allclose(_np(g), _np(w), **TOL[dtype], err_msg=f"gradient of input {k}")


@needs_torch
@pytest.mark.parametrize("case", OPS, ids=[c.id for c in OPS])
def test_second_derivatives_match_torch(case):
    """The gradient of ⟨u, ∂f⟩ with create_graph (what gradgradcheck checks, here against torch)."""
    def run(m):
        rng = np.random.default_rng(3)
        leaves = [m.tensor(rng.standard_normal(s), requires_grad=True) for s in case.shapes]
        out = case.fn(m, *leaves)
        u = m.tensor(rng.standard_normal(tuple(out.shape)))
        firsts = m.autograd.grad(out, leaves, u, create_graph=True)
        total = sum(((g * g).sum() if g.requires_grad else g.sum() * 0) for g in firsts)
        if not total.requires_grad:
            return [np.zeros(s) for s in case.shapes]
        seconds = m.autograd.grad(total, leaves, allow_unused=True)
        return [np.zeros(s) if g is None else _np(g) for g, s in zip(seconds, case.shapes)]
    for got, want in zip(run(ag), run(torch)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_cumsum_of_integers_gives_int64_like_torch(dtype):
    a = np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype)
    for dim in (0, 1, -1):
        got, want = ag.tensor(a).cumsum(dim), torch.tensor(a).cumsum(dim)
        assert got.dtype == ag.int64 and str(want.dtype) == "torch.int64"
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    got = ag.cumsum(ag.tensor(a), 1, dtype=ag.float32)
    want = torch.cumsum(torch.tensor(a), 1, dtype=torch.float32)
    assert got.dtype == ag.float32 and got.tolist() == want.tolist()


@needs_torch
def test_masked_fill_of_an_int_tensor_keeps_its_dtype_like_torch():
    a = np.arange(6).reshape(2, 3)
    m = np.array([True, False, True])
    got = ag.tensor(a).masked_fill(ag.tensor(m), 1.7)
    want = torch.tensor(a).masked_fill(torch.tensor(m), 1.7)
    assert got.dtype == ag.int64 and got.tolist() == want.tolist()


# ---- semantics against numpy ---------------------------------------------------------------
def test_repeat_is_numpys_tile_not_numpys_repeat():
    a = np.arange(6.0).reshape(2, 3)
    x = ag.tensor(a)
    np.testing.assert_array_equal(x.repeat(2, 2).numpy(), np.tile(a, (2, 2)))
    np.testing.assert_array_equal(x.repeat(3, 1, 2).numpy(), np.tile(a, (3, 1, 2)))
    assert x.repeat(1, 2).tolist() == [[0, 1, 2, 0, 1, 2], [3, 4, 5, 3, 4, 5]]
    assert x.repeat(1, 1).tolist() == a.tolist()


def test_repeat_gradient_sums_the_tiles():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = ag.tensor(np.arange(12.0).reshape(2, 6))
    (x.repeat(2, 2) * w).sum().backward()
    # x[i] appears at (r, i) and (r, i + 3) for r = 0, 1
    assert x.grad.tolist() == [0 + 3 + 6 + 9, 1 + 4 + 7 + 10, 2 + 5 + 8 + 11]


def test_cumsum_gradient_is_the_reverse_cumsum():
    g = np.array([1.0, 10.0, 100.0, 1000.0])
    x = ag.tensor(np.zeros(4), requires_grad=True)
    x.cumsum(0).backward(ag.tensor(g))
    assert x.grad.tolist() == [1111.0, 1110.0, 1100.0, 1000.0]


def test_cumsum_backward_is_differentiable():
    x = ag.tensor([0.5, -1.0, 2.0], dtype=ag.float64, requires_grad=True)
    (g,) = ag.autograd.grad((x.cumsum(0) ** 2).sum(), x, create_graph=True)
    (h,) = ag.autograd.grad(g.sum(), x)
    # f = Σᵢ (Σ_{j≤i} xⱼ)², ∂²f/∂xⱼ∂xₖ = 2·#{i ≥ max(j, k)}; summed over j: column sums of that matrix
    H = 2 * np.array([[3, 2, 1], [2, 2, 1], [1, 1, 1]], dtype=float)
    np.testing.assert_allclose(h.numpy(), H.sum(0))


def test_masked_fill_gradient_zero_where_filled_and_value_gets_the_sum():
    x = ag.tensor(np.ones((3, 4)), requires_grad=True)
    v = ag.tensor(0.0, dtype=ag.float64, requires_grad=True)
    g = np.arange(12.0).reshape(3, 4)
    x.masked_fill(ag.tensor(MASK), v).backward(ag.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(MASK, 0.0, g))
    assert v.grad.shape == () and v.grad.item() == g[MASK].sum()


def test_masked_fill_in_place_bumps_the_version_and_rebases_history():
    a = ag.tensor(np.ones((3, 4)), requires_grad=True)
    y = a * 3
    v0 = y._version
    out = y.masked_fill_(ag.tensor(MASK), 0.0)
    assert out is y and y._version == v0 + 1 and y.grad_fn.name() == "MaskedFillBackward0"
    np.testing.assert_array_equal(_np(y), np.where(MASK, 0.0, 3.0))
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.where(MASK, 0.0, 3.0))


def test_masked_fill_in_place_without_a_graph_writes_where_it_is():
    t = ag.zeros(2, 3)
    data = t._data
    t.masked_fill_(ag.tensor([True, False, True]), ag.tensor(5.0))
    assert t._data is data and t._version == 1
    assert t.tolist() == [[5.0, 0.0, 5.0], [5.0, 0.0, 5.0]]


def test_masked_fill_in_place_is_caught_by_a_node_that_saved_the_tensor():
    a = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = a * 2
    z = y * y                       # MulBackward0 saved y
    y.masked_fill_(ag.tensor([True, False, False]), 0.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|changed in place|version"):
        z.sum().backward()


# ---- numerical stability: softplus and logsigmoid at extreme inputs ----------------------------
EXTREMES = [-1000.0, -50.0, 0.0, 50.0, 1000.0, -20.0, 20.0, 1e-8, -1e-8]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn", [
    lambda m, x: _nnf(m).softplus(x),
    lambda m, x: _nnf(m).softplus(x, beta=3.0, threshold=10.0),
    lambda m, x: _nnf(m).softplus(x, beta=0.5),
    lambda m, x: _nnf(m).logsigmoid(x),
], ids=["softplus", "softplus_beta3_threshold10", "softplus_beta_half", "logsigmoid"])
def test_extreme_inputs_give_finite_values_and_gradients_equal_to_torch(fn, dtype):
    def run(m):
        x = m.tensor(np.array(EXTREMES, dtype=dtype), requires_grad=True)
        y = fn(m, x)
        y.sum().backward()
        return _np(y), _np(x.grad)
    (got, got_g), (want, want_g) = run(ag), run(torch)
    assert np.isfinite(got).all() and np.isfinite(got_g).all()
    assert got.dtype == want.dtype == got_g.dtype
    tol = dict(rtol=1e-6, atol=0) if dtype == "float32" else dict(rtol=1e-14, atol=0)
    np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(got_g, want_g, **tol)


def test_softplus_and_logsigmoid_exact_values_at_the_extremes():
    x = ag.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=ag.float64, requires_grad=True)
    sp = F.softplus(x)
    np.testing.assert_allclose(_np(sp), [0.0, np.exp(-50.0), np.log(2.0), 50.0, 1000.0], rtol=1e-15)
    ls = F.logsigmoid(x)
    np.testing.assert_allclose(_np(ls), [-1000.0, -50.0, -np.log(2.0), -np.exp(-50.0), 0.0], rtol=1e-15)
    (g,) = ag.autograd.grad(sp.sum(), x)
    np.testing.assert_allclose(g.numpy(), [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-15)
    (g,) = ag.autograd.grad(ls.sum(), x)
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0, 0.5, np.exp(-50.0), 0.0], rtol=1e-15)


def test_softplus_threshold_returns_x_itself():
    x = ag.tensor([20.5, 30.0], dtype=ag.float64)
    assert F.softplus(x).tolist() == [20.5, 30.0]
    x = ag.tensor([2.0], dtype=ag.float64)
    assert F.softplus(x, threshold=1.0).tolist() == [2.0]
    assert F.softplus(x).item() == pytest.approx(np.log1p(np.exp(2.0)), rel=1e-15)
    want = 4 * np.log1p(np.exp(0.5))
    assert F.softplus(x, beta=0.25, threshold=0.6).item() == pytest.approx(want, rel=1e-15)


# ---- log1p and expm1 for tiny x ------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log1p_expm1_accurate_for_tiny_x_like_torch(dtype):
    values = np.array([1e-10, -1e-10, 1e-20, 3e-8, 0.0], dtype=dtype)
    for name in ("log1p", "expm1"):
        got = getattr(ag.tensor(values), name)()
        want = getattr(torch.tensor(values), name)()
        assert got.dtype.name == dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6 if dtype == "float32" else 1e-15)
    # and against the series: log1p(x) = x − x²/2, expm1(x) = x + x²/2 (tiny x), not log(1 + x) = 0
    x = 1e-10
    assert ag.log1p(ag.tensor([x], dtype=ag.float64)).item() == pytest.approx(x - x * x / 2, rel=1e-15, abs=0)
    assert ag.expm1(ag.tensor([x], dtype=ag.float64)).item() == pytest.approx(x + x * x / 2, rel=1e-15, abs=0)
    naive = ag.log(1 + ag.tensor([x], dtype=ag.float64)).item()     # what log1p avoids
    assert naive != pytest.approx(x, rel=1e-10, abs=0)


# ---- cross-entropy: its gradient is exactly (softmax − onehot)/N ----------------------------
def _onehot(target, c):
    return np.eye(c)[target]


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(scale):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, 5)) * scale
    target = rng.integers(0, 5, 8)
    x = ag.tensor(z, requires_grad=True)
    F.cross_entropy(x, ag.tensor(target)).backward()
    np.testing.assert_allclose(x.grad.numpy(), (_softmax(z) - _onehot(target, 5)) / 8, rtol=1e-12, atol=1e-17)
    x.grad = None
    F.cross_entropy(x, ag.tensor(target), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), _softmax(z) - _onehot(target, 5), rtol=1e-12, atol=1e-16)


def test_cross_entropy_with_probability_targets_gradient_is_p_minus_y():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3))
    y = _softmax(rng.standard_normal((4, 3)))           # each row sums to 1
    x = ag.tensor(z, requires_grad=True)
    F.cross_entropy(x, ag.tensor(y)).backward()
    np.testing.assert_allclose(x.grad.numpy(), (_softmax(z) - y) / 4, rtol=1e-12, atol=1e-16)


def test_cross_entropy_large_logits_give_finite_exact_gradients():
    z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [500.0, 500.0, -1000.0]])
    target = np.array([0, 0, 1])
    x = ag.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, ag.tensor(target))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx((0 + 2000 + np.log(2)) / 3, rel=1e-15)
    loss.backward()
    want = (np.array([[1.0, 0, 0], [0, 1, 0], [0.5, 0.5, 0]]) - _onehot(target, 3)) / 3
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_array_equal(x.grad.numpy(), want)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_graph_and_gradient_match_torch(reduction, dtype):
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((6, 4)) * 30).astype(dtype)
    target = rng.integers(0, 4, 6)

    def run(m):
        x = m.tensor(z, requires_grad=True)
        loss = _nnf(m).cross_entropy(x, m.tensor(target), reduction=reduction)
        names = [loss.grad_fn.name(), loss.grad_fn.next_functions[0][0].name()]
        loss.backward(m.ones_like(loss))
        return names, _np(loss), _np(x.grad)
    (got_names, got, got_g), (want_names, want, want_g) = run(ag), run(torch)
    assert got_names == want_names == ["NllLossBackward0", "LogSoftmaxBackward0"]
    tol = TOL[dtype]
    np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(got_g, want_g, **tol)
    assert got_g.dtype == want_g.dtype


# ---- errors: name the op, the shapes, and the fix ---------------------------------------------
def test_bmm_refuses_other_ranks_and_suggests_matmul():
    with pytest.raises(ValueError, match=r"bmm: both operands must be 3-D.*\(3, 4\) and \(4, 5\).*matmul"):
        ag.bmm(ag.ones(3, 4), ag.ones(4, 5))
    with pytest.raises(ValueError, match=r"bmm: .*\(2, 3, 4\) and \(3, 4, 5\).*same batch size.*matmul"):
        ag.ones(2, 3, 4).bmm(ag.ones(3, 4, 5))
    with pytest.raises(ValueError, match=r"bmm: .*\(2, 3, 4\) and \(2, 3, 5\).*\(2, 4, p\)"):
        ag.bmm(ag.ones(2, 3, 4), ag.ones(2, 3, 5))


def test_repeat_errors():
    with pytest.raises(ValueError, match=r"repeat: got 1 repeat sizes \(2,\) for a tensor of shape \(2, 3\)"):
        ag.ones(2, 3).repeat(2)
    with pytest.raises(ValueError, match=r"repeat: repeat sizes can't be negative"):
        ag.ones(2).repeat(-1)


def test_cumsum_errors():
    with pytest.raises(IndexError, match=r"cumsum: dimension 2 is out of range for a tensor with 2"):
        ag.ones(2, 3).cumsum(2)
    with pytest.raises(TypeError, match=r"cumsum: expected a Tensor"):
        ag.cumsum([1.0, 2.0], 0)


def test_masked_fill_errors_and_nothing_changes():
    x = ag.ones(3, 4)
    with pytest.raises(TypeError, match=r"masked_fill: mask must be a bool tensor, got int64.*mask.bool\(\)"):
        x.masked_fill(ag.tensor(MASK.astype(np.int64)), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: value must be a number or a 0-dimensional tensor, "
                                         r"got a tensor of shape \(2,\)"):
        x.masked_fill(ag.tensor(MASK), ag.ones(2))
    with pytest.raises(ValueError, match=r"masked_fill: a mask of shape \(2,\) can't be broadcast with a "
                                         r"tensor of shape \(3, 4\)"):
        x.masked_fill(ag.tensor([True, False]), 0.0)
    with pytest.raises(TypeError, match=r"masked_fill: mask must be a bool Tensor, got ndarray"):
        x.masked_fill(MASK, 0.0)
    with pytest.raises(ValueError, match=r"masked_fill_: a mask of shape \(3, 4\) doesn't broadcast to the "
                                         r"tensor's shape \(4,\)"):
        ag.ones(4).masked_fill_(ag.tensor(MASK), 0.0)
    leaf = ag.ones(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"masked_fill_: a leaf tensor that requires grad.*no_grad"):
        leaf.masked_fill_(ag.tensor(MASK), 0.0)
    assert x.tolist() == [[1.0] * 4] * 3 and leaf.tolist() == [[1.0] * 4] * 3
    with ag.no_grad():
        leaf.masked_fill_(ag.tensor(MASK), 0.0)
    np.testing.assert_array_equal(_np(leaf), np.where(MASK, 0.0, 1.0))


# ---- the GPU backend, through the strict CuPy stand-in ----------------------------------------
@pytest.fixture
def cuda():
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


R = td.R
# the same rows are proposed for test_devices.CASES (its test_every_op_has_a_device_case)
DEVICE_CASES = [
    td.Case("cumsum", lambda a: a.cumsum(1) * 1.5, [R(3, 4)], ("Cumsum",)),
    td.Case("repeat", lambda a: a.repeat(2, 1, 3), [R(3, 2)], ("Repeat",)),
    td.Case("masked_fill", lambda a, m, v: a.masked_fill(m, v) + a.masked_fill(m, 2.0),
            [R(3, 4), MASK, R()], ("MaskedFill",)),
    td.Case("masked_fill_inplace", lambda a, m: (a * 1.0).masked_fill_(m, -1.0), [R(3, 4), MASK],
            ("MaskedFill",)),
    td.Case("bmm", lambda a, b: a.bmm(b), [R(2, 3, 4), R(2, 4, 2)], ("MatMul",)),
    td.Case("softplus", lambda a: F.softplus(a * 30, beta=2.0), [R(3, 4)], ("Softplus",)),
    td.Case("logsigmoid", lambda a: F.logsigmoid(a * 30), [R(3, 4)], ("LogSigmoid",)),
]


@pytest.mark.parametrize("case", DEVICE_CASES, ids=[c.id for c in DEVICE_CASES])
def test_new_ops_on_the_gpu_standin_match_the_cpu(cuda, case):
    td.test_op_forward_and_backward_match_cpu(cuda, case)
