"""Parity with PyTorch: the same code run on ``autogradkit`` and on ``torch`` gives the same values,
gradients, dtypes, conventions at kinks and ties, higher-order gradients, hook and grad-mode
behaviour, reprs and ``grad_fn`` names.

Every expected value here comes from running the same expression through PyTorch (2.13); nothing
is hard-coded. Scenarios are written once as ``f(m)`` with ``m`` either module.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autogradkit as ag  # noqa: E402

MODULES = {"ag": ag, "torch": torch}
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-5, atol=2e-6)}


# ---- helpers ----------------------------------------------------------------------------------
def is_tensor(x):
    return isinstance(x, (ag.Tensor, torch.Tensor))


def dtype_name(t):
    return t.dtype.name if isinstance(t, ag.Tensor) else str(t.dtype).replace("torch.", "")


def to_np(x):
    """Tensors (either library) to numpy arrays, recursively through lists/tuples/dicts."""
    if is_tensor(x):
        return x.detach().numpy()
    if isinstance(x, dict):
        return {k: to_np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_np(v) for v in x]
    return x


def assert_close(got, want, rtol=1e-9, atol=1e-11, where="value"):
    """Same structure, same shapes, same dtypes, values close (NaN equal to NaN)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            assert_close(got[k], want[k], rtol, atol, f"{where}[{k!r}]")
        return
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, rtol, atol, f"{where}[{i}]")
        return
    if want is None or isinstance(want, (bool, str)):
        assert got == want, f"{where}: autogradkit {got!r}, torch {want!r}"
        return
    if isinstance(want, (int, float)):
        assert isinstance(got, (int, float)) and np.isclose(got, want, rtol=rtol, atol=atol), \
            f"{where}: autogradkit {got!r}, torch {want!r}"
        return
    assert isinstance(got, np.ndarray), f"{where}: autogradkit gave {type(got).__name__}, torch an array"
    assert got.shape == want.shape, f"{where}: shape {got.shape} vs torch {want.shape}"
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} vs torch {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=where)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)


def same_in_both(scenario, rtol=1e-9, atol=1e-11):
    """Run ``scenario(m)`` with autogradkit and with torch; their numpy'd results must agree."""
    want = to_np(scenario(torch))
    got = to_np(scenario(ag))
    assert_close(got, want, rtol, atol)
    return got


def leaf(m, array, dtype="float64", requires_grad=True):
    return m.tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad)


# ---- the op table --------------------------------------------------------------------------
def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def positive(*shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def nonzero(*shape):
    return lambda rng: rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def fixed(values):
    return lambda rng: np.array(values, dtype=np.float64)


@dataclasses.dataclass
class P:
    id: str
    fn: Callable            # fn(m, *leaves) -> tensor
    inputs: list
    marks: tuple = ()


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])

OPS = [
    P("add", lambda m, a, b: a + b, [normal(3, 4), normal(3, 4)]),
    P("add_scalar_left_right", lambda m, a: (2.5 + a) + 1, [normal(3, 4)]),
    P("add_broadcast", lambda m, a, b: a + b, [normal(3, 1), normal(4)]),
    P("add_alpha", lambda m, a, b: m.add(a, b, alpha=-2), [normal(3, 4), normal(3, 4)]),
    P("sub", lambda m, a, b: a - b, [normal(3, 4), normal(3, 4)]),
    P("sub_scalars", lambda m, a: (1.5 - a) - 2, [normal(3, 4)]),
    P("sub_broadcast", lambda m, a, b: a - b, [normal(4), normal(3, 1)]),
    P("mul", lambda m, a, b: a * b, [normal(3, 4), normal(3, 4)]),
    P("mul_scalars", lambda m, a: -1.5 * a * 3, [normal(3, 4)]),
    P("mul_broadcast", lambda m, a, b: a * b, [normal(3, 1), normal(4)]),
    P("div", lambda m, a, b: a / b, [normal(3, 4), nonzero(3, 4)]),
    P("div_scalars", lambda m, a: 2.5 / a / 4, [nonzero(3, 4)]),
    P("div_broadcast", lambda m, a, b: a / b, [normal(3, 1), nonzero(4)]),
    P("pow_int", lambda m, a: a ** 3, [normal(3, 4)]),
    P("pow_float", lambda m, a: a ** 2.5, [positive(3, 4)]),
    P("pow_negative", lambda m, a: a ** -1.5, [positive(3, 4)]),
    P("pow_zero", lambda m, a: a ** 0, [normal(3, 4)]),
    P("pow_scalar_base", lambda m, a: 2.0 ** a, [normal(3, 4)]),
    P("pow_tensor", lambda m, a, b: a ** b, [positive(3, 4), normal(3, 4)]),
    P("pow_tensor_broadcast", lambda m, a, b: a ** b, [positive(3, 1), normal(4)]),
    P("neg", lambda m, a: -a, [normal(3, 4)]),
    P("square", lambda m, a: m.square(a), [normal(3, 4)]),
    P("matmul_1d_1d", lambda m, a, b: a @ b, [normal(4), normal(4)]),
    P("matmul_2d_1d", lambda m, a, b: a @ b, [normal(3, 4), normal(4)]),
    P("matmul_1d_2d", lambda m, a, b: a @ b, [normal(3), normal(3, 4)]),
    P("matmul_2d_2d", lambda m, a, b: m.matmul(a, b), [normal(2, 3), normal(3, 4)]),
    P("matmul_batched", lambda m, a, b: a @ b, [normal(2, 3, 4), normal(2, 4, 2)]),
    P("matmul_batched_broadcast", lambda m, a, b: a @ b, [normal(2, 1, 3, 4), normal(3, 4, 2)]),
    P("matmul_1d_batched", lambda m, a, b: a @ b, [normal(3), normal(2, 3, 4)]),
    P("matmul_batched_1d", lambda m, a, b: a @ b, [normal(2, 3, 4), normal(4)]),
    P("exp", lambda m, a: a.exp(), [normal(3, 4)]),
    P("log", lambda m, a: m.log(a), [positive(3, 4)]),
    P("log1p", lambda m, a: a.log1p(), [positive(3, 4)]),
    P("log1p_fn_negative", lambda m, a: m.log1p(a * 0.4), [normal(3, 4)]),
    P("expm1", lambda m, a: a.expm1(), [normal(3, 4)]),
    P("expm1_fn", lambda m, a: m.expm1(a), [normal(3, 4)]),
    # tiny x: 1 + x rounds to 1, log(1 + x) would give 0 and exp(x) − 1 would give 0
    P("log1p_tiny", lambda m, a: a.log1p(), [fixed([1e-10, -1e-12, 1e-300, 0.0, 3.0])]),
    P("expm1_tiny", lambda m, a: m.expm1(a), [fixed([1e-10, -1e-12, 1e-300, 0.0, -3.0])]),
    P("norm", lambda m, a: a.norm(), [normal(3, 4)]),
    P("norm_fn_p2_dim", lambda m, a: m.norm(a, p=2, dim=1), [normal(3, 4)]),
    P("norm_fro_tuple_dims_keepdim", lambda m, a: a.norm(dim=(0, 2), keepdim=True), [normal(2, 3, 4)]),
    P("norm_keepdim_all", lambda m, a: a.norm(keepdim=True), [normal(3, 4)]),
    P("norm_p1", lambda m, a: a.norm(p=1), [nonzero(3, 4)]),
    P("norm_fn_p1_dim_keepdim", lambda m, a: m.norm(a, 1, -1, True), [nonzero(3, 4)]),
    P("sqrt", lambda m, a: a.sqrt(), [positive(3, 4)]),
    P("abs", lambda m, a: a.abs(), [nonzero(3, 4)]),
    P("sign", lambda m, a: a.sign() * a, [nonzero(3, 4)]),
    P("sin", lambda m, a: m.sin(a), [normal(3, 4)]),
    P("cos", lambda m, a: a.cos(), [normal(3, 4)]),
    P("tanh", lambda m, a: a.tanh(), [normal(3, 4)]),
    P("sigmoid", lambda m, a: m.sigmoid(a), [lambda rng: rng.uniform(-30, 30, (3, 4))]),
    P("relu", lambda m, a: a.relu(), [nonzero(3, 4)]),
    P("clamp_min", lambda m, a: a.clamp(min=-0.5), [normal(3, 4)]),
    P("clamp_max", lambda m, a: a.clamp(max=0.7), [normal(3, 4)]),
    P("clamp_both", lambda m, a: m.clamp(a, -0.5, 0.7), [normal(3, 4)]),
    P("maximum", lambda m, a, b: m.maximum(a, b), [normal(3, 4), normal(3, 4)]),
    P("minimum", lambda m, a, b: m.minimum(a, b), [normal(3, 4), normal(3, 4)]),
    P("maximum_broadcast", lambda m, a, b: m.maximum(a, b), [normal(3, 1), normal(4)]),
    P("minimum_broadcast", lambda m, a, b: m.minimum(a, b), [normal(3, 1), normal(4)]),
    P("where", lambda m, a, b: m.where(m.tensor(MASK), a, b), [normal(3, 4), normal(3, 4)]),
    P("where_broadcast", lambda m, a, b: m.where(m.tensor([[True], [False], [True]]), a, b),
      [normal(4), normal(3, 1)]),
    P("where_scalar", lambda m, a: m.where(m.tensor(MASK), a, 0.5), [normal(3, 4)]),
    P("sum", lambda m, a: a.sum(), [normal(2, 3, 4)]),
    P("sum_dim", lambda m, a: a.sum(1), [normal(2, 3, 4)]),
    P("sum_neg_dim_keepdim", lambda m, a: a.sum(-1, keepdim=True), [normal(2, 3, 4)]),
    P("sum_tuple_dims", lambda m, a: m.sum(a, (0, -1)), [normal(2, 3, 4)]),
    P("mean", lambda m, a: a.mean(), [normal(2, 3, 4)]),
    P("mean_dim_keepdim", lambda m, a: a.mean(0, keepdim=True), [normal(2, 3, 4)]),
    P("mean_tuple_neg_dims", lambda m, a: a.mean((-1, 1)), [normal(2, 3, 4)]),
    P("max_all", lambda m, a: a.max(), [normal(3, 4)]),
    P("min_all", lambda m, a: m.min(a), [normal(3, 4)]),
    P("max_dim", lambda m, a: a.max(1).values, [normal(3, 4)]),
    P("max_neg_dim_keepdim", lambda m, a: a.max(-1, keepdim=True)[0], [normal(2, 3, 4)]),
    P("min_dim", lambda m, a: m.min(a, 0).values, [normal(3, 4)]),
    P("var", lambda m, a: a.var(), [normal(3, 4)]),
    P("var_dim", lambda m, a: a.var(1), [normal(3, 4)]),
    P("var_unbiased_false_keepdim", lambda m, a: a.var(-1, unbiased=False, keepdim=True), [normal(2, 3, 4)]),
    P("var_tuple_correction", lambda m, a: a.var((0, 2), correction=0), [normal(2, 3, 4)]),
    P("std", lambda m, a: a.std(), [normal(3, 4)]),
    P("std_dim_keepdim", lambda m, a: m.std(a, 0, keepdim=True), [normal(3, 4)]),
    P("std_tuple_dims", lambda m, a: a.std((-1, 0)), [normal(2, 3, 4)]),
    P("softmax", lambda m, a: a.softmax(-1), [normal(3, 4)]),
    P("softmax_dim0_large", lambda m, a: m.softmax(a * 50, 0), [normal(3, 4)]),
    P("log_softmax", lambda m, a: a.log_softmax(1), [normal(3, 4)]),
    P("log_softmax_large", lambda m, a: m.log_softmax(a * 100, -1), [normal(3, 4)]),
    P("logsumexp", lambda m, a: a.logsumexp(1), [normal(3, 4)]),
    P("logsumexp_keepdim_large", lambda m, a: m.logsumexp(a * 100, -1, keepdim=True), [normal(2, 3, 4)]),
    P("logsumexp_tuple_dims", lambda m, a: a.logsumexp((0, 2)), [normal(2, 3, 4)]),
    P("reshape", lambda m, a: a.reshape(2, 6), [normal(3, 4)]),
    P("reshape_infer", lambda m, a: a.reshape(-1, 3), [normal(3, 4)]),
    P("view", lambda m, a: a.view(4, 3), [normal(3, 4)]),
    P("transpose", lambda m, a: a.transpose(0, -1), [normal(2, 3, 4)]),
    P("permute", lambda m, a: a.permute(2, 0, 1), [normal(2, 3, 4)]),
    P("T", lambda m, a: a.T, [normal(3, 4)]),
    P("mT", lambda m, a: a.mT, [normal(2, 3, 4)]),
    P("squeeze", lambda m, a: a.squeeze(), [normal(3, 1, 4, 1)]),
    P("squeeze_dim", lambda m, a: a.squeeze(1), [normal(3, 1, 4, 1)]),
    P("squeeze_dim_not_1", lambda m, a: a.squeeze(0), [normal(3, 1, 4, 1)]),
    P("unsqueeze", lambda m, a: a.unsqueeze(-1), [normal(3, 4)]),
    P("expand", lambda m, a: a.expand(2, -1, 4), [normal(3, 1)]),
    P("flatten", lambda m, a: a.flatten(), [normal(2, 3, 4)]),
    P("flatten_range", lambda m, a: m.flatten(a, 1, 2), [normal(2, 3, 4)]),
    P("cat", lambda m, a, b, c: m.cat([a, b, c]), [normal(2, 3), normal(1, 3), normal(3, 3)]),
    P("cat_neg_dim", lambda m, a, b: m.cat((a, b), dim=-1), [normal(2, 3), normal(2, 2)]),
    P("stack", lambda m, a, b: m.stack([a, b]), [normal(2, 3), normal(2, 3)]),
    P("stack_neg_dim", lambda m, a, b: m.stack([a, b], dim=-1), [normal(2, 3), normal(2, 3)]),
    P("index_int", lambda m, a: a[1], [normal(3, 4)]),
    P("index_neg_int_pair", lambda m, a: a[-1, 2], [normal(3, 4)]),
    P("index_slice_step", lambda m, a: a[1:, ::2], [normal(3, 5)]),
    P("index_none_ellipsis", lambda m, a: a[None, ..., 1], [normal(2, 3, 4)]),
    P("index_int_list_repeated", lambda m, a: a[[0, 2, 0, 0]], [normal(3, 4)]),
    P("index_int_tensor_repeated", lambda m, a: a[m.tensor([[1, 1], [0, 1]])], [normal(3)]),
    P("index_int_pairs_repeated", lambda m, a: a[[0, 2, 0], [1, 3, 1]], [normal(3, 4)]),
    P("index_slice_int_list", lambda m, a: a[:, [3, 3, 0]], [normal(3, 4)]),
    P("index_bool_mask", lambda m, a: a[m.tensor(MASK)], [normal(3, 4)]),
    P("index_bool_rows", lambda m, a: a[m.tensor([True, False, True])], [normal(3, 4)]),
    P("to_same_dtype", lambda m, a: a.to(a.dtype) * 2, [normal(3, 4)]),
    P("to_float32_and_back", lambda m, a: a.to(m.float32).to(m.float64), [normal(3, 4)]),
    P("to_float64", lambda m, a: a.to(m.float64) * 2, [normal(3, 4)]),
    P("clone", lambda m, a: a.clone(), [normal(3, 4)]),
    P("mixed_precision_mul", lambda m, a, b: a * b.to(m.float64 if a.dtype == m.float32 else m.float32),
      [normal(3, 4), normal(3, 4)]),
]

_NAN_WARNINGS = (pytest.mark.filterwarnings("ignore::RuntimeWarning"),     # numpy: 0/0
                 pytest.mark.filterwarnings("ignore::UserWarning"))        # torch: dof <= 0

# Kinks and ties, where PyTorch's conventions decide the gradient.
KINKS = [
    P("relu_at_zero", lambda m, a: a.relu(), [fixed([-1.0, 0.0, 0.0, 2.0])]),
    P("abs_at_zero", lambda m, a: a.abs(), [fixed([-1.0, 0.0, 2.0])]),
    P("sign_at_zero", lambda m, a: a.sign() * 3, [fixed([-1.0, 0.0, 2.0])]),
    P("clamp_at_boundaries", lambda m, a: a.clamp(-0.5, 0.75), [fixed([-1.0, -0.5, 0.0, 0.75, 1.0])]),
    P("clamp_min_at_boundary", lambda m, a: a.clamp(min=-0.5), [fixed([-1.0, -0.5, 0.0])]),
    P("clamp_max_at_boundary", lambda m, a: a.clamp(max=0.75), [fixed([0.0, 0.75, 1.0])]),
    P("max_all_ties", lambda m, a: a.max(), [fixed([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]])]),
    P("min_all_ties", lambda m, a: a.min(), [fixed([[1.0, 0.0, 3.0], [0.0, 0.0, 2.0]])]),
    P("max_dim_ties", lambda m, a: a.max(1).values, [fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])]),
    P("min_dim_ties", lambda m, a: a.min(0).values, [fixed([[1.0, 3.0, 0.0], [1.0, 2.0, 0.0]])]),
    P("max_dim_keepdim_ties", lambda m, a: a.max(-1, keepdim=True).values, [fixed([[5.0, 5.0], [4.0, 4.0]])]),
    P("maximum_ties", lambda m, a, b: m.maximum(a, b), [fixed([1.0, 2.0, 3.0]), fixed([1.0, 1.0, 4.0])]),
    P("minimum_ties", lambda m, a, b: m.minimum(a, b), [fixed([1.0, 2.0, 3.0]), fixed([1.0, 1.0, 4.0])]),
    P("maximum_ties_broadcast", lambda m, a, b: m.maximum(a, b),
      [fixed([[1.0], [2.0]]), fixed([1.0, 2.0, 0.0])]),
    P("max_binary_ties", lambda m, a, b: m.max(a, b), [fixed([1.0, 2.0]), fixed([1.0, 3.0])]),
    # ‖0‖: the 2-norm's gradient x/‖x‖ is 0/0 there; PyTorch gives 0, so do we
    P("norm_at_zero", lambda m, a: a.norm(), [fixed([0.0, 0.0, 0.0])]),
    P("norm_dim_zero_row", lambda m, a: a.norm(dim=1), [fixed([[0.0, 0.0], [3.0, -4.0]])]),
    P("norm_p1_at_zero", lambda m, a: a.norm(p=1, dim=0), [fixed([[0.0, 1.0], [0.0, -2.0]])]),
    P("pow_square_at_zero", lambda m, a: a ** 2, [fixed([0.0, 1.0])]),
    P("pow_zero_exponent_at_zero", lambda m, a: a ** 0, [fixed([0.0, 1.0])]),
    # 0 ** b: PyTorch takes ∂/∂a as 0 where b == 0 and ∂/∂b as 0 where a == 0, b >= 0
    P("pow_tensor_zero_base", lambda m, a, b: a ** b, [fixed([0.0, 0.0, 0.0, 2.0]), fixed([0.0, 2.0, 1.0, 0.0])],
      marks=(pytest.mark.filterwarnings("ignore::RuntimeWarning"),)),
    P("pow_zero_scalar_base", lambda m, a: 0.0 ** a, [fixed([0.0, 1.0, 2.5, -1.0])],
      marks=(pytest.mark.filterwarnings("ignore::RuntimeWarning"),)),
    # a constant input: std is 0 and PyTorch takes its gradient as 0 (not ∞·0 = nan)
    P("std_constant_rows", lambda m, a: a.std(1), [fixed([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])]),
    P("std_constant", lambda m, a: a.std(), [fixed([2.0, 2.0, 2.0])]),
    # n − 1 = 0: nan value and nan gradient, not an error
    P("var_single_element", lambda m, a: a.var(1), [fixed([[1.0], [2.0]])], marks=_NAN_WARNINGS),
    P("std_single_element", lambda m, a: a.std(), [fixed([3.0])], marks=_NAN_WARNINGS),
    P("max_dim_of_0d", lambda m, a: a[1].max(0).values * a[0].min(-1, keepdim=True)[0], [fixed([2.0, -3.0])]),
    P("sigmoid_extremes", lambda m, a: a.sigmoid(), [fixed([-800.0, -30.0, 0.0, 30.0, 800.0])]),
    P("softmax_extremes", lambda m, a: a.softmax(0), [fixed([-800.0, 0.0, 800.0])]),
]


def _make(case, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [leaf(m, spec(rng), dtype) for spec in case.inputs]


def _run_op(case, m, dtype):
    xs = _make(case, m, dtype)
    out = case.fn(m, *xs)
    rng = np.random.default_rng(1)
    g = m.tensor(rng.standard_normal(tuple(out.shape)).astype(dtype_name(out)))
    out.backward(gradient=g)
    return {"out": out, "grads": [x.grad for x in xs]}


def _op_params(cases):
    return [pytest.param(c, id=c.id, marks=c.marks) for c in cases]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", _op_params(OPS + KINKS))
def test_forward_and_gradients_match_torch(case, dtype):
    same_in_both(lambda m: _run_op(case, m, dtype), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("values", [
    [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [-1.0, -4.0, 5.0]],
    [[0.0, 0.0, 0.0], [7.0, 7.0, 7.0], [1.0, 2.0, 1.0]],
], ids=["some_ties", "all_ties"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_dim_values_indices_and_gradient(values, which, keepdim, dim, dtype):
    def scenario(m):
        x = leaf(m, values, dtype)
        res = getattr(x, which)(dim, keepdim=keepdim)
        v, i = res
        g = m.tensor(np.arange(1, v.numel() + 1, dtype=dtype).reshape(tuple(v.shape)))
        v.backward(g)
        return {"values": res.values, "indices": res.indices, "unpacked": [v, i], "grad": x.grad}
    same_in_both(scenario, **TOL[dtype])


@pytest.mark.parametrize("which", ["max", "min"])
def test_max_min_dim_without_grad_gives_same_indices(which):
    data = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]
    same_in_both(lambda m: list(getattr(m.tensor(data), which)(1, keepdim=True))
                 + list(getattr(m.tensor(data), which)(0)))


# ---- higher-order gradients --------------------------------------------------------------------
SMOOTH = [c for c in OPS if c.id not in {
    "relu", "abs", "sign", "clamp_min", "clamp_max", "clamp_both", "maximum", "minimum",
    "maximum_broadcast", "minimum_broadcast", "max_all", "min_all", "max_dim", "max_neg_dim_keepdim",
    "min_dim", "to_float32_and_back"}]


def _hvp(case, m, seed=2):
    """∂/∂x (Σ v·∂L/∂x) for L = Σ w·f(x): a Hessian-vector product through create_graph."""
    xs = _make(case, m, "float64")
    out = case.fn(m, *xs)
    rng = np.random.default_rng(seed)
    w = m.tensor(rng.standard_normal(tuple(out.shape)))
    L = (out * w).sum()
    g1 = m.autograd.grad(L, xs, create_graph=True)
    vs = [m.tensor(rng.standard_normal(tuple(x.shape))) for x in xs]
    inner = sum((g * v).sum() for g, v in zip(g1, vs)) + sum((x * 0).sum() for x in xs)
    g2 = m.autograd.grad(inner, xs, allow_unused=True, materialize_grads=True)
    return {"grad": list(g1), "hvp": list(g2)}


@pytest.mark.parametrize("case", _op_params(SMOOTH))
def test_hessian_vector_products_match_torch(case):
    same_in_both(lambda m: _hvp(case, m), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("fn", [
    lambda m, x: (x ** 3).sum(),
    lambda m, x: (x.sin() * x.exp()).sum(),
    lambda m, x: x.tanh().sum(),
    lambda m, x: (x.sigmoid() * x).sum(),
    lambda m, x: m.logsumexp(x, 0),
    lambda m, x: (x.softmax(0) * m.tensor([1.0, -2.0, 0.5], dtype=m.float64)).sum(),
    lambda m, x: x.var() * x.std(),
    lambda m, x: (x / (x * x + 1)).sum(),
], ids=["cube", "sin_exp", "tanh", "silu", "logsumexp", "softmax", "var_std", "rational"])
def test_third_derivative_of_a_scalar_function(fn):
    """d/dx, d²/dx², d³/dx³ of a function of a 3-vector (each taken with create_graph)."""
    def scenario(m):
        x = leaf(m, [0.3, -1.2, 0.8])
        d1 = m.autograd.grad(fn(m, x), x, create_graph=True)[0]
        d2 = m.autograd.grad(d1.sum(), x, create_graph=True)[0]
        d3 = m.autograd.grad((d2 * d2).sum(), x)[0]
        return [d1, d2, d3]
    same_in_both(scenario)


def test_second_derivative_of_tensor_power_of_zero_dim_tensors():
    def scenario(m):
        a = leaf(m, 1.5)
        b = leaf(m, 0.5)
        ga, gb = m.autograd.grad(a ** b, [a, b], create_graph=True)
        return list(m.autograd.grad(ga + gb * gb, [a, b]))
    same_in_both(scenario)


@pytest.mark.parametrize("fn", [
    lambda m, a, b: m.maximum(a, b) * a,
    lambda m, a, b: m.minimum(a * a, b) * b,
    lambda m, a, b: (a * a).relu() * b + m.stack([a, b]).max() * a,
    lambda m, a, b: a.clamp(0, 1) * b.abs() + (a / b).sqrt(),
], ids=["maximum", "minimum", "relu_max", "clamp_abs_sqrt"])
def test_second_derivative_through_zero_dim_tensors(fn):
    def scenario(m):
        a = leaf(m, 1.5)
        b = leaf(m, 0.5)
        ga, gb = m.autograd.grad(fn(m, a, b), [a, b], create_graph=True)
        return list(m.autograd.grad(ga + gb * gb, [a, b]))
    same_in_both(scenario)


def test_second_derivative_through_one_element_tensors():
    """The same as above with shape (1,) instead of 0-d: no comparison of 0-d tensors involved."""
    def scenario(m):
        a = leaf(m, [1.5])
        b = leaf(m, [0.5])
        y = a ** b + m.maximum(a, b) * a + m.minimum(a * a, b) * b
        ga, gb = m.autograd.grad(y.sum(), [a, b], create_graph=True)
        return list(m.autograd.grad((ga + gb * gb).sum(), [a, b]))
    same_in_both(scenario)


def test_full_hessian_by_rows():
    def scenario(m):
        x = leaf(m, [0.5, -0.25, 1.5])
        A = m.tensor([[2.0, -1.0, 0.0], [0.5, 1.0, 3.0], [0.0, 1.0, -1.0]], dtype=m.float64)
        y = (A @ x).tanh().sum() + (x ** 4).sum()
        g = m.autograd.grad(y, x, create_graph=True)[0]
        return [m.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(3)]
    same_in_both(scenario)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_backward_with_create_graph_then_grad_of_grad():
    def scenario(m):
        x = leaf(m, [0.5, -1.0, 2.0])
        y = (x ** 3 * x.exp()).sum()
        y.backward(create_graph=True)
        gx = x.grad
        z = (gx * gx).sum()
        x2 = m.autograd.grad(z, x)[0]
        return {"grad": gx, "requires_grad": gx.requires_grad, "grad_of_grad": x2}
    same_in_both(scenario)


# ---- hooks ----------------------------------------------------------------------------------
def test_hook_on_leaf_modifies_gradient():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        seen = []
        x.register_hook(lambda g: seen.append(g.clone()))
        x.register_hook(lambda g: g * 2)
        (x * x).sum().backward()
        return {"seen": seen, "grad": x.grad}
    same_in_both(scenario)


def test_hook_on_non_leaf_modifies_what_flows_on():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        y = x * 3
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        y.register_hook(lambda g: g + 1)
        (y * y).sum().backward()
        return {"seen": seen, "grad": x.grad}
    same_in_both(scenario)


def test_hooks_run_in_registration_order_and_chain():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        y = x.exp()
        y.register_hook(lambda g: g * 10)
        y.register_hook(lambda g: g - 1)
        y.sum().backward()
        return x.grad
    same_in_both(scenario)


def test_removed_hook_no_longer_runs():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        y = x * x
        calls = []
        h1 = x.register_hook(lambda g: calls.append("leaf") or g * 100)
        h2 = y.register_hook(lambda g: calls.append("non-leaf") or g * 100)
        h1.remove()
        h2.remove()
        h2.remove()             # removing twice is harmless
        y.sum().backward()
        return {"calls": ",".join(calls), "grad": x.grad}
    same_in_both(scenario)


def test_hook_with_retain_grad_sees_and_keeps_modified_gradient():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 3)
        (y ** 2).sum().backward()
        return {"y.grad": y.grad, "x.grad": x.grad}
    same_in_both(scenario)


def test_hook_fires_once_per_backward_with_the_summed_gradient():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        (y * 3 + y.exp() + y).sum().backward()
        return {"seen": seen, "grad": x.grad}
    same_in_both(scenario)


# ---- accumulation, reuse, retain_grad -------------------------------------------------------
def test_gradients_accumulate_across_two_backward_calls():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        (x * x).sum().backward()
        first = x.grad.clone()
        (x.sin() * 2).sum().backward()
        return {"first": first, "total": x.grad}
    same_in_both(scenario)


def test_second_backward_through_retained_graph_doubles_the_gradient():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        once = x.grad.clone()
        y.backward()
        return {"once": once, "twice": x.grad}
    same_in_both(scenario)


@pytest.mark.parametrize("m", [ag, torch], ids=["ag", "torch"])
def test_second_backward_without_retain_graph_raises(m):
    x = leaf(m, [1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()


def test_grad_set_to_none_restarts_accumulation():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        (x * 3).sum().backward()
        x.grad = None
        (x * x).sum().backward()
        return x.grad
    same_in_both(scenario)


@pytest.mark.parametrize("expr", [
    lambda a: a + a,
    lambda a: a * a,
    lambda a: a * a * a - a / (a + 3),
    lambda a: (a.exp() + a.sin() * a + a.tanh()) * a,
    lambda a: a[0] * a + a[1:].sum() - a.max(),
], ids=["a+a", "a*a", "cubic", "three_branches", "index_and_reduce"])
def test_tensor_used_several_times(expr):
    def scenario(m):
        a = leaf(m, [0.5, -1.5, 2.0])
        b = expr(a)
        b.backward(m.ones_like(b))
        return {"b": b, "grad": a.grad}
    same_in_both(scenario)


def test_retain_grad_on_non_leaf():
    def scenario(m):
        x = leaf(m, [[1.0, -2.0], [0.5, 3.0]])
        h = x @ x.T
        h.retain_grad()
        z = h.tanh()
        z.retain_grad()
        (z * m.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=m.float64)).sum().backward()
        return {"h": h.grad, "z": z.grad, "x": x.grad, "retains": [h.retains_grad, z.retains_grad,
                                                                   x.retains_grad]}
    same_in_both(scenario)


def test_retain_grad_accumulates_across_backward_calls():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        y = x * x
        y.retain_grad()
        y.sum().backward(retain_graph=True)
        (y * 3).sum().backward()
        return {"y": y.grad, "x": x.grad}
    same_in_both(scenario)


@pytest.mark.parametrize("m", [ag, torch], ids=["ag", "torch"])
def test_reading_grad_of_non_leaf_warns(m):
    x = leaf(m, [1.0, 2.0])
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning):
        assert y.grad is None


def test_non_leaf_without_retain_grad_keeps_no_grad_and_leaf_attrs():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.sum().backward()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yg = y.grad
        return {"y.grad": yg, "x.is_leaf": x.is_leaf, "y.is_leaf": y.is_leaf,
                "y.requires_grad": y.requires_grad, "x.grad_fn": x.grad_fn, "x.grad": x.grad}
    same_in_both(scenario)


# ---- grad mode ------------------------------------------------------------------------------
def _grad_mode_scenario(m):
    x = leaf(m, [1.0, 2.0])
    res = {"start": m.is_grad_enabled()}
    with m.no_grad():
        res["no_grad.enabled"] = m.is_grad_enabled()
        y = x * 2
        res["no_grad.y.requires_grad"] = y.requires_grad
        res["no_grad.y.grad_fn"] = y.grad_fn is None
        with m.enable_grad():
            res["nested_enable.enabled"] = m.is_grad_enabled()
            res["nested_enable.requires_grad"] = (x * 2).requires_grad
        res["after_nested"] = m.is_grad_enabled()
    res["after_no_grad"] = m.is_grad_enabled()
    with m.set_grad_enabled(False):
        res["set_false.requires_grad"] = (x * 2).requires_grad
        with m.set_grad_enabled(True):
            res["set_true_nested.requires_grad"] = (x * 2).requires_grad
        res["set_false_after_nested"] = m.is_grad_enabled()
    res["after_set"] = m.is_grad_enabled()
    m.set_grad_enabled(False)               # a plain call takes effect at once
    res["plain_call_false"] = m.is_grad_enabled()
    res["plain_call.requires_grad"] = (x * 2).requires_grad
    m.set_grad_enabled(True)
    res["plain_call_true"] = m.is_grad_enabled()
    try:
        with m.no_grad():
            raise KeyError("inside")
    except KeyError:
        pass
    res["restored_after_exception"] = m.is_grad_enabled()
    return res


def test_grad_mode_contexts():
    same_in_both(_grad_mode_scenario)


def _grad_mode_decorator_scenario(m):
    x = leaf(m, [1.0, 2.0])

    @m.no_grad()
    def double(t):
        return t * 2, m.is_grad_enabled()

    @m.enable_grad()
    def triple(t):
        return t * 3

    @m.set_grad_enabled(False)
    def quadruple(t):
        return t * 4

    res = {"after_decorating": m.is_grad_enabled()}    # decorating changes nothing now
    y, inside = double(x)
    res["no_grad.requires_grad"] = y.requires_grad
    res["no_grad.inside"] = inside
    res["no_grad.after"] = m.is_grad_enabled()
    with m.no_grad():
        res["enable_grad_inside_no_grad"] = triple(x).requires_grad
        res["still_off"] = m.is_grad_enabled()
    res["set_grad_enabled_decorator"] = quadruple(x).requires_grad
    res["after_all"] = m.is_grad_enabled()
    res["name_kept"] = double.__name__
    return res


def test_grad_mode_decorators():
    same_in_both(_grad_mode_decorator_scenario)


def test_grad_mode_bare_decorators():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])

        @m.no_grad
        def double(t):
            return t * 2

        @m.enable_grad
        def triple(t):
            return t * 3

        with m.no_grad():
            tripled = triple(x).requires_grad
        return {"no_grad": double(x).requires_grad, "enable_grad": tripled,
                "after": m.is_grad_enabled()}
    same_in_both(scenario)


def test_grad_mode_is_restored_after_tests():
    assert ag.is_grad_enabled() and torch.is_grad_enabled()


# ---- autograd.grad and backward(gradient=) -------------------------------------------------
def test_autograd_grad_with_grad_outputs():
    def scenario(m):
        x = leaf(m, [[1.0, -2.0], [0.5, 3.0]])
        w = leaf(m, [0.5, -1.5])
        y = (x * w).tanh()
        go = m.tensor([[1.0, 2.0], [-3.0, 0.5]], dtype=m.float64)
        gx, gw = m.autograd.grad(y, [x, w], grad_outputs=go)
        return {"gx": gx, "gw": gw, "x.grad": x.grad, "w.grad": w.grad}
    same_in_both(scenario)


def test_autograd_grad_with_several_outputs_and_grad_outputs():
    def scenario(m):
        x = leaf(m, [1.0, -2.0, 0.5])
        y1 = x.exp()
        y2 = (x * x).sum()
        go1 = m.tensor([1.0, 0.5, -1.0], dtype=m.float64)
        go2 = m.tensor(2.0, dtype=m.float64)
        return list(m.autograd.grad([y1, y2], [x], grad_outputs=[go1, go2]))
    same_in_both(scenario)


def test_autograd_grad_allow_unused():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        unused = leaf(m, [3.0])
        y = (x * x).sum()
        got = m.autograd.grad(y, [x, unused], allow_unused=True)
        return list(got)
    same_in_both(scenario)


@pytest.mark.parametrize("m", [ag, torch], ids=["ag", "torch"])
def test_autograd_grad_unused_input_raises_without_allow_unused(m):
    x = leaf(m, [1.0, 2.0])
    unused = leaf(m, [3.0])
    with pytest.raises(RuntimeError):
        m.autograd.grad((x * x).sum(), [x, unused])


def test_autograd_grad_wrt_intermediate():
    def scenario(m):
        x = leaf(m, [1.0, 2.0, -1.0])
        h = x.sin()
        y = (h * h * x).sum()
        gh, gx = m.autograd.grad(y, [h, x])
        return [gh, gx, x.grad]
    same_in_both(scenario)


def test_backward_with_gradient_argument():
    def scenario(m):
        x = leaf(m, [[1.0, -2.0], [0.5, 3.0]])
        y = x.exp() * x
        y.backward(gradient=m.tensor([[1.0, 0.0], [2.0, -1.0]], dtype=m.float64))
        return x.grad
    same_in_both(scenario)


@pytest.mark.parametrize("m", [ag, torch], ids=["ag", "torch"])
def test_backward_of_non_scalar_without_gradient_raises(m):
    x = leaf(m, [1.0, 2.0])
    with pytest.raises(RuntimeError):
        (x * 2).backward()


def test_backward_with_inputs_only_fills_those():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, -1.0])
        (x * w).sum().backward(inputs=[w])
        return {"x": x.grad, "w": w.grad}
    same_in_both(scenario)


def test_gradient_of_zero_dim_leaf():
    def scenario(m):
        x = m.tensor(2.0, dtype=m.float64, requires_grad=True)
        (x * x * 3).backward()
        first = x.grad.clone()
        x.exp().backward()
        return {"first": first, "grad": x.grad, "list": x.grad.tolist(),
                "repr": repr(x.grad).replace("torch.", "").replace("autogradkit.", "")}
    same_in_both(scenario)


def test_gradient_wrt_zero_dim_intermediate():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        s = x.sum()
        s.retain_grad()
        y = s * s.exp()
        y.backward()
        t = x.mean()
        (gt,) = m.autograd.grad(t ** 3 * 2, [t])
        return {"gt": gt, "s.grad": s.grad, "x.grad": x.grad}
    same_in_both(scenario)


def test_retain_grad_tensor_that_is_an_autograd_grad_input():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        h = x * 2
        h.retain_grad()
        (gh,) = m.autograd.grad((h * h).sum(), [h])
        return {"gh": gh, "h.grad": h.grad}
    same_in_both(scenario)


def test_retain_grad_tensor_between_output_and_autograd_grad_input():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        h = x * 2
        h.retain_grad()
        (gx,) = m.autograd.grad((h * h).sum(), [x])
        return {"gx": gx, "h.grad": h.grad, "x.grad": x.grad}
    same_in_both(scenario)


def test_comparison_of_zero_dim_tensors():
    def scenario(m):
        x = leaf(m, 1.5)
        c = x > 0
        y = m.where(c, x * 2, x * 3)
        y.backward()
        return {"c": c, "y": y, "grad": x.grad, "eq": x == 1.5, "ne": (x != 1.5).numpy()}
    same_in_both(scenario)


# ---- dtypes of mixed ops ----------------------------------------------------------------------
DTYPE_CASES = {
    "f32*float": lambda m: m.tensor([1.0, 2.0]) * 2.5,
    "float*f32": lambda m: 2.5 * m.tensor([1.0, 2.0]),
    "f32*int": lambda m: m.tensor([1.0, 2.0]) * 3,
    "f64*float": lambda m: m.tensor([1.0, 2.0], dtype=m.float64) * 2.5,
    "int*float": lambda m: m.tensor([1, 2]) * 2.5,
    "int+float": lambda m: m.tensor([1, 2]) + 0.5,
    "float-int_tensor": lambda m: 0.5 - m.tensor([1, 2]),
    "int*int": lambda m: m.tensor([1, 2]) * 3,
    "int32*int": lambda m: m.tensor([1, 2], dtype=m.int32) * 3,
    "int32+int64": lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor([1, 2]),
    "f32+f64": lambda m: m.tensor([1.0, 2.0]) + m.tensor([1.0, 2.0], dtype=m.float64),
    "f64+f32": lambda m: m.tensor([1.0, 2.0], dtype=m.float64) + m.tensor([1.0, 2.0]),
    "f32*int_tensor": lambda m: m.tensor([1.5, 2.0]) * m.tensor([2, 3]),
    "int_tensor*f64": lambda m: m.tensor([2, 3]) * m.tensor([1.5, 2.0], dtype=m.float64),
    "int/int": lambda m: m.tensor([1, 2]) / m.tensor([2, 4]),
    "int/pyint": lambda m: m.tensor([1, 3]) / 2,
    "pyint/int": lambda m: 3 / m.tensor([1, 2]),
    "int**int": lambda m: m.tensor([1, 3]) ** 2,
    "int**float": lambda m: m.tensor([1, 4]) ** 0.5,
    "f32**int_tensor": lambda m: m.tensor([1.5, 2.0]) ** m.tensor([2, 3]),
    "f32/f64": lambda m: m.tensor([1.0, 2.0]) / m.tensor([4.0], dtype=m.float64),
    "sum_int": lambda m: m.tensor([1, 2]).sum(),
    "sum_bool": lambda m: m.tensor([True, False, True]).sum(),
    "mean_f64": lambda m: m.tensor([1.0, 2.0], dtype=m.float64).mean(),
    "maximum_int_f32": lambda m: m.maximum(m.tensor([1, 5]), m.tensor([2.0, 3.0])),
    "where_f32_float": lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0]), 0.5),
    "where_f32_f64": lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0]),
                                       m.tensor([3.0, 4.0], dtype=m.float64)),
    "matmul_f32": lambda m: m.tensor([[1.0, 2.0]]) @ m.tensor([[3.0], [4.0]]),
    "exp_f64": lambda m: m.tensor([1.0], dtype=m.float64).exp(),
    "cat_int_f32": lambda m: m.cat([m.tensor([1, 2]), m.tensor([0.5])]),
    "cat_f32_int": lambda m: m.cat([m.tensor([0.5]), m.tensor([1, 2])]),
    "stack_int_f64_f32": lambda m: m.stack([m.tensor([1, 2]), m.tensor([0.5, 1.5], dtype=m.float64),
                                            m.tensor([2.5, 3.0])]),
    "cat_bool_int32": lambda m: m.cat([m.tensor([True]), m.tensor([1, 2], dtype=m.int32)]),
    "int+0d_f64": lambda m: m.tensor([1, 2]) + m.tensor(0.5, dtype=m.float64),
    "0d_f32+0d_f64": lambda m: m.tensor(1.5) + m.tensor(0.5, dtype=m.float64),
    "compare": lambda m: m.tensor([1.0, 2.0]) > 1.5,
    "neg_int": lambda m: -m.tensor([1, 2]),
    "abs_int": lambda m: m.tensor([-1, 2]).abs(),
}


@pytest.mark.parametrize("name", list(DTYPE_CASES))
def test_dtype_of_mixed_ops(name):
    fn = DTYPE_CASES[name]
    want, got = fn(torch), fn(ag)
    assert dtype_name(got) == dtype_name(want)
    assert_close(to_np(got), to_np(want), rtol=1e-6, atol=1e-7)


ZERO_DIM_PROMOTION = {
    "f32*0d_f64": lambda m: m.tensor([1.0, 2.0]) * m.tensor(2.0, dtype=m.float64),
    "0d_f64+f32": lambda m: m.tensor(2.0, dtype=m.float64) + m.tensor([1.0, 2.0]),
    "int32+0d_int64": lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(3),
    "maximum_f32_0d_f64": lambda m: m.maximum(m.tensor([1.0, 2.0]), m.tensor(1.5, dtype=m.float64)),
    "where_f32_0d_f64": lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0]),
                                          m.tensor(0.5, dtype=m.float64)),
}


@pytest.mark.parametrize("name", list(ZERO_DIM_PROMOTION))
def test_dtype_with_zero_dim_tensor_operand(name):
    fn = ZERO_DIM_PROMOTION[name]
    assert dtype_name(fn(ag)) == dtype_name(fn(torch))


@pytest.mark.parametrize("lower", ["float32", "float64"])
def test_gradient_dtype_follows_the_leaf(lower):
    def scenario(m):
        a = leaf(m, [1.0, 2.0], "float32")
        b = leaf(m, [3.0, -1.0], "float64")
        c = leaf(m, [0.5, 0.25], lower)
        y = (a * b).exp() + m.maximum(a, c) + (a * 2.5).sum() + m.where(a > 1.5, c, b)
        y.sum().backward()
        return [a.grad, b.grad, c.grad, y]
    same_in_both(scenario, rtol=1e-5, atol=1e-6)


# ---- repr -------------------------------------------------------------------------------------
def _repr(m, fn):
    return repr(fn(m)).replace("torch.", "autogradkit.")


REPRS = {
    "leaf_requires_grad": lambda m: m.tensor([1.0, 2.0, 3.0], requires_grad=True),
    "sum_grad_fn": lambda m: (m.tensor([1.0, 2.0, 3.0], requires_grad=True) ** 2).sum(),
    "four_decimals": lambda m: m.tensor([0.1, 0.2]),
    "whole_floats": lambda m: m.tensor([1.0, 2.0, 3.0]),
    "negative_aligned": lambda m: m.tensor([-1.5, 2.0]),
    "matrix": lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]),
    "matrix_decimals": lambda m: m.tensor([[0.1, 2.0], [3.0, -4.25]]),
    "scalar": lambda m: m.tensor(2.5),
    "scalar_whole": lambda m: m.tensor(3.0),
    "int": lambda m: m.tensor([1, 2, 3]),
    "int_scalar": lambda m: m.tensor(3),
    "int_matrix": lambda m: m.arange(12).reshape(3, 4),
    "int32": lambda m: m.tensor([1, 2], dtype=m.int32),
    "bool": lambda m: m.tensor([True, False]),
    "float64": lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
    "float64_requires_grad": lambda m: m.tensor([0.5, 2.0], dtype=m.float64, requires_grad=True),
    "mul_grad_fn": lambda m: m.tensor([1.0, 2.0], requires_grad=True) * 2,
    "scientific": lambda m: m.tensor([1e-5, 1e5]),
    "scientific_small": lambda m: m.tensor([1e-4, 1.0]),
    "zeros_matrix": lambda m: m.zeros(2, 3),
    "empty": lambda m: m.tensor([]),
    "empty_2d": lambda m: m.zeros(0, 3),
    "nan_inf_decimals": lambda m: m.tensor([float("nan"), float("inf"), 1.5]),
    "rounding": lambda m: m.tensor([1.123456789, -0.5]),
    "float16": lambda m: m.tensor([1.0], dtype=m.float16),
}

REPR_BUGS = {
    "matrix_grad_fn": (lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True) * 2,
                       "a multi-line tensor's grad_fn=/requires_grad= goes on a new line; PyTorch "
                       "keeps it on the last line when it fits"),
    "nan_inf_whole": (lambda m: m.tensor([float("nan"), float("inf"), 1.0]),
                      "extra padding: 'tensor([nan, inf,  1.])' vs 'tensor([nan, inf, 1.])'"),
    "scientific_whole": (lambda m: m.tensor([1e5, 1.0]),
                         "whole numbers in scientific notation print as '1.e+05' instead of "
                         "'1.0000e+05'"),
    "line_wrapping": (lambda m: m.arange(30.0).reshape(3, 10) / 3,
                      "rows wrap after 8 values instead of 9 (PyTorch's 80-character lines)"),
    "summarized": (lambda m: m.arange(2000.0),
                   "summarized tensors use 3 significant decimals in scientific notation and no "
                   "space before '...'"),
}


@pytest.mark.parametrize("name", list(REPRS))
def test_repr_matches_torch(name):
    assert _repr(ag, REPRS[name]) == _repr(torch, REPRS[name])


@pytest.mark.parametrize("name", list(REPR_BUGS))
def test_repr_layouts_that_used_to_differ_from_torch(name):
    fn = REPR_BUGS[name][0]
    assert _repr(ag, fn) == _repr(torch, fn)


def test_repr_of_float16_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(ag.tensor([1.0, 2000.0], dtype=ag.float16))


# ---- grad_fn names ----------------------------------------------------------------------------
def _node_name(fn):
    """A graph node's name; torch's C++ nodes are namespaced ("torch::autograd::AccumulateGrad")."""
    if fn is None:
        return None
    return fn.name().split("::")[-1]


def _name(t):
    return _node_name(t.grad_fn)


GRAD_FN_NAMES = {
    "MulBackward0": lambda m, a, b: a * b,
    "AddBackward0": lambda m, a, b: a + b,
    "SubBackward0": lambda m, a, b: a - b,
    "DivBackward0": lambda m, a, b: a / b,
    "NegBackward0": lambda m, a, b: -a,
    "PowBackward0": lambda m, a, b: a ** 2,
    "PowBackward1": lambda m, a, b: a.abs() ** b,
    "SumBackward0": lambda m, a, b: a.sum(),
    "SumBackward1": lambda m, a, b: a.sum(1),
    "MeanBackward0": lambda m, a, b: a.mean(),
    "MeanBackward1": lambda m, a, b: a.mean(0),
    "ExpBackward0": lambda m, a, b: a.exp(),
    "LogBackward0": lambda m, a, b: a.abs().log(),
    "TanhBackward0": lambda m, a, b: a.tanh(),
    "SigmoidBackward0": lambda m, a, b: a.sigmoid(),
    "ReluBackward0": lambda m, a, b: a.relu(),
    "ClampBackward1": lambda m, a, b: a.clamp(-0.5, 0.5),
    "MaximumBackward0": lambda m, a, b: m.maximum(a, b),
    "WhereBackward0": lambda m, a, b: m.where(a > 0, a, b),
    "MaxBackward1": lambda m, a, b: a.max(),
    "MaxBackward0": lambda m, a, b: a.max(1).values,
    "VarBackward0": lambda m, a, b: a.var(),
    "MmBackward0": lambda m, a, b: a @ b.T,
    "DotBackward0": lambda m, a, b: a[0] @ b[0],
    "MvBackward0": lambda m, a, b: a @ b[0],
    "ViewBackward0": lambda m, a, b: a.reshape(3, 2),
    "PermuteBackward0": lambda m, a, b: a.T,
    "TransposeBackward0": lambda m, a, b: a.transpose(0, 1),
    "ExpandBackward0": lambda m, a, b: a.expand(2, 2, 3),
    "CatBackward0": lambda m, a, b: m.cat([a, b]),
    "StackBackward0": lambda m, a, b: m.stack([a, b]),
    "SelectBackward0": lambda m, a, b: a[0],
    "SliceBackward0": lambda m, a, b: a[:, 1:],
    "IndexBackward0": lambda m, a, b: a[[0, 0]],
    "SoftmaxBackward0": lambda m, a, b: a.softmax(1),
    "LogSoftmaxBackward0": lambda m, a, b: a.log_softmax(1),
    "LogsumexpBackward0": lambda m, a, b: a.logsumexp(1),
    "CloneBackward0": lambda m, a, b: a.clone(),
    "ToCopyBackward0": lambda m, a, b: a.to(m.float32),
    "RsubBackward1": lambda m, a, b: 2.0 - a,
    "PowBackward2": lambda m, a, b: 2.0 ** a,
    "ReciprocalBackward0": lambda m, a, b: a.reciprocal(),
    "SqueezeBackward0": lambda m, a, b: a[:1].squeeze(),
    "SqueezeBackward1": lambda m, a, b: a[:1].squeeze(0),
    "SqueezeBackward2": lambda m, a, b: a[:1].squeeze((0,)),
    "UnsqueezeBackward0": lambda m, a, b: a[:, None],
}


@pytest.mark.parametrize("make", [lambda m, a: 2.5 / a, lambda m, a: 1 / a, lambda m, a: a[None],
                                  lambda m, a: a[..., None], lambda m, a: 3 - a * 2],
                         ids=["number_over_tensor", "one_over_tensor", "none_index",
                              "ellipsis_none_index", "number_minus_tensor"])
def test_graph_of_forms_that_pytorch_rewrites(make):
    """``c / x`` is MulBackward0 → ReciprocalBackward0 in PyTorch, ``x[None]`` an unsqueeze: the
    whole chain of node names, the values and the gradients match."""
    rng = np.random.default_rng(4)
    A = rng.random((2, 3)) + 0.5
    got = []
    for m in (torch, ag):
        a = leaf(m, A)
        out = make(m, a)
        chain, node = [], out.grad_fn
        while node is not None:
            chain.append(_node_name(node))
            nxt = [f for f, _ in node.next_functions if f is not None]
            node = nxt[0] if nxt else None
        out.sum().backward()
        got.append((chain, out.detach().numpy().copy(), a.grad.numpy().copy()))
    (tc, tv, tg), (ac, av, ag_) = got
    assert ac == tc
    np.testing.assert_array_equal(av, tv)
    np.testing.assert_allclose(ag_, tg, rtol=1e-15)


@pytest.mark.parametrize("expected", list(GRAD_FN_NAMES))
def test_grad_fn_names(expected):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    names = []
    for m in (torch, ag):
        out = GRAD_FN_NAMES[expected](m, leaf(m, A), leaf(m, B))
        names.append(_name(out))
    assert names[0] == expected, "the table is out of date with torch"
    assert names[1] == names[0]


def test_next_functions_of_a_leaf_is_accumulate_grad():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        c = m.tensor([3.0, 4.0], dtype=m.float64)
        y = x * c
        fns = y.grad_fn.next_functions
        names = [_node_name(f) for f, _ in fns]
        acc = fns[0][0]
        return {"names": ",".join(str(n) for n in names), "len": len(fns),
                "type": type(acc).__name__, "variable_is_x": acc.variable is x,
                "same_node_each_time": (x * 2).grad_fn.next_functions[0][0] is acc,
                "leaf_grad_fn": x.grad_fn}
    same_in_both(scenario)


def test_next_functions_chain_names():
    def scenario(m):
        x = leaf(m, [1.0, 2.0])
        y = (x.exp() * 2).sum()
        chain, node = [], y.grad_fn
        while node is not None:
            chain.append(_node_name(node))
            nxt = [f for f, _ in node.next_functions if f is not None]
            node = nxt[0] if nxt else None
        return ",".join(chain)
    same_in_both(scenario)


# ---- NaN inputs: where the gradient goes ---------------------------------------------------------
NAN_GRADIENTS = {
    "relu": lambda m, x, y: x.relu(),
    "max_all": lambda m, x, y: x.max(),
    "min_all": lambda m, x, y: x.min(),
    "maximum": lambda m, x, y: m.maximum(x, y),
    "maximum_swapped": lambda m, x, y: m.maximum(y, x),
    "minimum": lambda m, x, y: m.minimum(x, y),
    "abs": lambda m, x, y: x.abs(),
    "sign_times_x": lambda m, x, y: x.sign() * y,
}


@pytest.mark.parametrize("name", sorted(NAN_GRADIENTS))
def test_nan_inputs_get_the_gradient_pytorch_gives_them(name):
    """relu and maximum pass ḡ to a NaN (it never compares smaller); max() shares it among the
    NaNs it returned. Ties and ±0 are in the same tensors."""
    nan = float("nan")
    got = []
    for m in (torch, ag):
        x = leaf(m, [nan, 1.0, -2.0, 0.0, nan, 3.0])
        y = leaf(m, [0.0, 1.0, 2.0, -0.0, nan, 1.0])
        NAN_GRADIENTS[name](m, x, y).sum().backward()
        got.append([None if t.grad is None else t.grad.numpy().tolist() for t in (x, y)])
    assert str(got[1]) == str(got[0])


# ---- argmax/argmin's axis=, size= keywords, normal ---------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m, x: m.argmax(x, axis=1),
    lambda m, x: x.argmax(axis=0),
    lambda m, x: x.argmax(axis=-1, keepdim=True),
    lambda m, x: m.argmin(x, axis=0, keepdim=True),
    lambda m, x: x.argmin(axis=1),
    lambda m, x: m.argmax(x, dim=1),
    lambda m, x: x.argmin(),
], ids=["fn_axis", "method_axis", "axis_keepdim", "argmin_fn_axis_keepdim", "argmin_method_axis",
        "dim", "flat"])
def test_argmax_argmin_accept_axis_like_torch(call):
    same_in_both(lambda m: call(m, m.tensor([[1.0, 5.0, 2.0], [7.0, -1.0, 3.0]])))


@pytest.mark.parametrize("name", ["zeros", "ones", "rand", "randn", "empty"])
@pytest.mark.parametrize("size", [(2, 3), [4], ()], ids=["tuple", "list", "empty"])
def test_creation_with_size_keyword_like_torch(name, size):
    def scenario(m):
        t = getattr(m, name)(size=size)
        d = getattr(m, name)(size=size, dtype=m.float64)
        return {"shape": list(t.shape), "dtype": dtype_name(t), "dtype64": dtype_name(d)}
    same_in_both(scenario)


@pytest.mark.parametrize("name", ["zeros", "randn"])
def test_creation_size_keyword_rejects_an_int_like_torch(name):
    for m in (torch, ag):
        with pytest.raises(TypeError):
            getattr(m, name)(size=3)


def test_size_keyword_and_positional_sizes_agree():
    ag.manual_seed(3)
    a = ag.randn(size=(2, 3))
    ag.manual_seed(3)
    b = ag.randn(2, 3)
    assert np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(TypeError):
        ag.zeros(2, size=(2,))


def test_normal_with_number_mean_and_std_like_torch():
    def scenario(m):
        m.manual_seed(0)
        t = m.normal(2.0, 3.0, (2, 5))
        d = m.normal(0.0, 1.0, size=(4,), dtype=m.float64)
        return {"shape": list(t.shape), "dtype": dtype_name(t), "shape64": list(d.shape),
                "dtype64": dtype_name(d), "requires_grad": t.requires_grad}
    same_in_both(scenario)


def test_normal_draws_from_the_seeded_generator():
    ag.manual_seed(7)
    a = ag.normal(1.5, 0.5, (1000,), dtype=ag.float64)
    ag.manual_seed(7)
    b = ag.normal(1.5, 0.5, size=(1000,), dtype=ag.float64)
    ag.manual_seed(7)
    z = ag.randn(1000, dtype=ag.float64)
    assert np.array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy(), 1.5 + 0.5 * z.numpy(), rtol=1e-15)
    assert abs(a.numpy().mean() - 1.5) < 0.1 and abs(a.numpy().std() - 0.5) < 0.1
    assert np.all(ag.normal(3.0, 0.0, (3,)).numpy() == 3.0)
    with pytest.raises(ValueError):
        ag.normal(0.0, -1.0, (2,))


def test_norm_is_a_composite_and_refuses_what_it_does_not_support():
    """PyTorch records one LinalgVectorNormBackward0 node; our norm is a composite of recorded
    ops (the 2-norm ends in a where that keeps ‖0‖'s gradient 0), so its grad_fn names differ."""
    x = ag.tensor([3.0, 4.0], requires_grad=True)
    assert type(x.norm().grad_fn).__name__ == "Where"
    assert type(x.norm(p=1).grad_fn).__name__ == "Sum"
    for m in (torch, ag):           # an integer tensor has no norm, in either library
        with pytest.raises((TypeError, RuntimeError)):
            m.tensor([1, 2]).norm()
    with pytest.raises(ValueError):
        x.norm(p=3)
