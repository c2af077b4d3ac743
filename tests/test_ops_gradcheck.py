"""Table-driven gradient checks of every op, in float64.

Each case is run through ``autograd.gradcheck`` (first derivatives against central differences)
and ``autograd.gradgradcheck`` (second derivatives, through the ``create_graph`` backward).

``test_every_op_has_a_case`` fails when an ``Op`` subclass defined in ``autogradkit.ops`` appears
in no case's graph (forward graph, or the graph of its create_graph backward): a new op must come
with a row in ``CASES``.

Inputs are kept away from kinks (relu/abs/clamp at their boundaries, ties of max/min/maximum):
central differences are meaningless there. The tie conventions are checked against PyTorch in
``test_parity_torch.py``.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.ops
from autogradkit.autograd import gradcheck, gradgradcheck, grad
from autogradkit.autograd.node import Op


# ---- input makers: each takes a numpy Generator and returns a float64 array ------------------
def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def uniform(*shape, lo=-1.0, hi=1.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def positive(*shape, lo=0.5, hi=2.0):
    return uniform(*shape, lo=lo, hi=hi)


def nonzero(*shape, lo=0.3, hi=2.0):
    """Magnitudes in [lo, hi] with random signs: away from the kink of abs/relu/sign at 0."""
    return lambda rng: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def avoiding(points, *shape, lo=-2.0, hi=2.0, gap=0.15):
    """Uniform values, none closer than ``gap`` to any of ``points`` (clamp boundaries)."""
    def make(rng):
        x = rng.uniform(lo, hi, shape)
        for p in points:
            near = np.abs(x - p) < gap
            x = np.where(near, p + np.sign(x - p + 1e-12) * (gap + rng.uniform(0, 0.2, shape)), x)
        return x
    return make


def distinct(*shape, spacing=0.25):
    """Values at least ``spacing`` apart (no ties: max/min have one clear winner)."""
    def make(rng):
        n = int(np.prod(shape))
        return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape) \
            + rng.uniform(0, spacing / 10, shape)
    return make


def distinct_pair(*shape):
    """Two arrays whose elementwise values differ by at least 0.2 (maximum/minimum: no ties)."""
    def make(rng):
        a = rng.uniform(-1.5, 1.5, shape)
        d = rng.uniform(0.2, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
        return a, a + d
    return make


def const(value):
    """A non-differentiable argument passed as is (a bool mask, an index array, a number)."""
    return _Const(value)


@dataclasses.dataclass
class _Const:
    value: Any


@dataclasses.dataclass
class Case:
    id: str
    fn: Callable
    inputs: list
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3
    gradgrad: bool = True
    marks: tuple = ()

    def make_inputs(self, seed=0):
        rng = np.random.default_rng(seed)
        out = []
        for spec in self.inputs:
            if isinstance(spec, _Const):
                out.append(spec.value)
                continue
            arrays = spec(rng)
            for a in (arrays if isinstance(arrays, tuple) else (arrays,)):
                out.append(ag.tensor(np.asarray(a, dtype=np.float64), dtype=ag.float64,
                                     requires_grad=True))
        return out


def _nnf():
    import autogradkit.nn.functional as nnf     # imported when used: a layer on top of the ops
    return nnf


MASK34 = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])

CASES = [
    # ---- + - * / ** : tensors and Python numbers on either side, broadcasting -------------
    Case("add", lambda a, b: a + b, [normal(3, 4), normal(3, 4)]),
    Case("add_scalar_right", lambda a: a + 2.5, [normal(3, 4)]),
    Case("add_scalar_left", lambda a: 2.5 + a, [normal(3, 4)]),
    Case("add_broadcast", lambda a, b: a + b, [normal(3, 1), normal(4)]),
    Case("add_broadcast_0d", lambda a, b: a + b, [normal(2, 3), normal()]),
    Case("add_alpha", lambda a, b: ag.add(a, b, alpha=-2.0), [normal(3, 4), normal(3, 4)]),
    Case("sub", lambda a, b: a - b, [normal(3, 4), normal(3, 4)]),
    Case("sub_scalar_right", lambda a: a - 1.5, [normal(3, 4)]),
    Case("sub_scalar_left", lambda a: 1.5 - a, [normal(3, 4)]),
    Case("sub_broadcast", lambda a, b: a - b, [normal(3, 1), normal(4)]),
    Case("sub_alpha", lambda a, b: ag.sub(a, b, alpha=3), [normal(3, 4), normal(3, 4)]),
    Case("mul", lambda a, b: a * b, [normal(3, 4), normal(3, 4)]),
    Case("mul_scalar_right", lambda a: a * -1.5, [normal(3, 4)]),
    Case("mul_scalar_left", lambda a: -1.5 * a, [normal(3, 4)]),
    Case("mul_broadcast", lambda a, b: a * b, [normal(3, 1), normal(4)]),
    Case("mul_same_tensor", lambda a: a * a, [normal(3, 4)]),
    Case("div", lambda a, b: a / b, [normal(3, 4), nonzero(3, 4, lo=0.5)]),
    Case("div_scalar_right", lambda a: a / 2.5, [normal(3, 4)]),
    Case("div_scalar_left", lambda a: 2.5 / a, [nonzero(3, 4, lo=0.5)]),
    Case("div_broadcast", lambda a, b: a / b, [normal(3, 1), nonzero(4, lo=0.5)]),
    Case("pow_int", lambda a: a ** 3, [normal(3, 4)]),
    Case("pow_float", lambda a: a ** 2.5, [positive(3, 4)]),
    Case("pow_negative", lambda a: a ** -1.5, [positive(3, 4)]),
    Case("pow_zero", lambda a: a ** 0, [normal(3, 4)]),
    Case("pow_method", lambda a: a.pow(2), [normal(3, 4)]),
    Case("pow_scalar_base", lambda a: 2.0 ** a, [normal(3, 4)]),
    Case("pow_tensor_tensor", lambda a, b: a ** b, [positive(3, 4), normal(3, 4)]),
    Case("pow_tensor_broadcast", lambda a, b: a ** b, [positive(3, 1), normal(4)]),
    Case("neg", lambda a: -a, [normal(3, 4)]),
    Case("neg_fn", lambda a: ag.neg(a), [normal(3, 4)]),
    Case("square", lambda a: ag.square(a), [normal(3, 4)]),
    # ---- matmul ---------------------------------------------------------------------------
    Case("matmul_1d_1d", lambda a, b: a @ b, [normal(4), normal(4)]),
    Case("matmul_2d_1d", lambda a, b: a @ b, [normal(3, 4), normal(4)]),
    Case("matmul_1d_2d", lambda a, b: a @ b, [normal(3), normal(3, 4)]),
    Case("matmul_2d_2d", lambda a, b: a @ b, [normal(2, 3), normal(3, 4)]),
    Case("matmul_batched", lambda a, b: a @ b, [normal(2, 3, 4), normal(2, 4, 2)]),
    Case("matmul_batched_broadcast", lambda a, b: ag.matmul(a, b), [normal(2, 1, 3, 4), normal(3, 4, 2)]),
    Case("matmul_batched_1d_left", lambda a, b: a @ b, [normal(3), normal(2, 3, 4)]),
    Case("matmul_batched_1d_right", lambda a, b: a @ b, [normal(2, 3, 4), normal(4)]),
    Case("matmul_batched_by_2d", lambda a, b: a @ b, [normal(2, 3, 4), normal(4, 2)]),
    # ---- elementwise functions ------------------------------------------------------------
    Case("exp", lambda a: a.exp(), [normal(3, 4)]),
    Case("log", lambda a: ag.log(a), [positive(3, 4)]),
    Case("log1p", lambda a: a.log1p(), [uniform(3, 4, lo=-0.5, hi=2.0)]),
    Case("log1p_fn", lambda a: ag.log1p(a), [uniform(3, 4, lo=-1e-3, hi=1e-3)]),
    Case("expm1", lambda a: a.expm1(), [normal(3, 4)]),
    Case("expm1_fn", lambda a: ag.expm1(a), [uniform(3, 4, lo=-1e-3, hi=1e-3)]),
    Case("norm", lambda a: a.norm(), [normal(3, 4)]),
    Case("norm_p2_dim_keepdim", lambda a: ag.norm(a, p=2, dim=1, keepdim=True), [normal(3, 4)]),
    Case("norm_p1_dim", lambda a: a.norm(p=1, dim=0), [nonzero(3, 4)]),
    Case("sqrt", lambda a: a.sqrt(), [positive(3, 4)]),
    Case("abs", lambda a: a.abs(), [nonzero(3, 4)]),
    Case("abs_builtin", lambda a: abs(a), [nonzero(3, 4)]),
    Case("sign", lambda a: a.sign() * a, [nonzero(3, 4)]),
    Case("sin", lambda a: ag.sin(a), [normal(3, 4)]),
    Case("cos", lambda a: a.cos(), [normal(3, 4)]),
    Case("tanh", lambda a: a.tanh(), [normal(3, 4)]),
    Case("sigmoid", lambda a: ag.sigmoid(a), [uniform(3, 4, lo=-6, hi=6)]),
    Case("relu", lambda a: a.relu(), [nonzero(3, 4)]),
    Case("clamp_min", lambda a: a.clamp(min=-0.5), [avoiding([-0.5], 3, 4)]),
    Case("clamp_max", lambda a: a.clamp(max=0.7), [avoiding([0.7], 3, 4)]),
    Case("clamp_both", lambda a: ag.clamp(a, -0.5, 0.7), [avoiding([-0.5, 0.7], 3, 4)]),
    Case("clip", lambda a: a.clip(-1.0, 1.0), [avoiding([-1.0, 1.0], 3, 4)]),
    Case("maximum", lambda a, b: ag.maximum(a, b), [distinct_pair(3, 4)]),
    Case("minimum", lambda a, b: ag.minimum(a, b), [distinct_pair(3, 4)]),
    Case("maximum_broadcast", lambda a, b: a.maximum(b), [avoiding([0.0], 3, 1), avoiding([0.0], 4, lo=0.2, hi=2)]),
    Case("minimum_broadcast", lambda a, b: a.minimum(b), [avoiding([0.0], 3, 1), avoiding([0.0], 4, lo=0.2, hi=2)]),
    Case("where", lambda c, a, b: ag.where(c, a, b), [const(ag.tensor(MASK34)), normal(3, 4), normal(3, 4)]),
    Case("where_broadcast", lambda c, a, b: ag.where(c, a, b),
         [const(ag.tensor([[True], [False], [True]])), normal(4), normal(3, 1)]),
    Case("where_scalar_other", lambda c, a: ag.where(c, a, 0.5), [const(ag.tensor(MASK34)), normal(3, 4)]),
    Case("where_scalar_first", lambda c, b: ag.where(c, -2.0, b), [const(ag.tensor(MASK34)), normal(3, 4)]),
    Case("where_method", lambda c, a, b: a.where(c, b), [const(ag.tensor(MASK34)), normal(3, 4), normal(3, 4)]),
    # ---- reductions -----------------------------------------------------------------------
    Case("sum", lambda a: a.sum(), [normal(2, 3, 4)]),
    Case("sum_dim", lambda a: a.sum(1), [normal(2, 3, 4)]),
    Case("sum_neg_dim_keepdim", lambda a: a.sum(dim=-1, keepdim=True), [normal(2, 3, 4)]),
    Case("sum_tuple_dims", lambda a: ag.sum(a, (0, 2)), [normal(2, 3, 4)]),
    Case("sum_tuple_neg_dims_keepdim", lambda a: a.sum((0, -1), keepdim=True), [normal(2, 3, 4)]),
    Case("mean", lambda a: a.mean(), [normal(2, 3, 4)]),
    Case("mean_dim", lambda a: ag.mean(a, 0), [normal(2, 3, 4)]),
    Case("mean_neg_dim_keepdim", lambda a: a.mean(-2, keepdim=True), [normal(2, 3, 4)]),
    Case("mean_tuple_dims", lambda a: a.mean((1, -1)), [normal(2, 3, 4)]),
    Case("max_all", lambda a: a.max(), [distinct(3, 4)]),
    Case("min_all", lambda a: ag.min(a), [distinct(3, 4)]),
    Case("max_dim", lambda a: a.max(1).values, [distinct(3, 4)]),
    Case("max_neg_dim_keepdim", lambda a: a.max(dim=-1, keepdim=True)[0], [distinct(2, 3, 4)]),
    Case("min_dim", lambda a: ag.min(a, 0).values, [distinct(3, 4)]),
    Case("min_neg_dim_keepdim", lambda a: a.min(-2, keepdim=True).values, [distinct(2, 3, 4)]),
    Case("max_binary", lambda a, b: ag.max(a, b), [distinct_pair(3, 4)]),
    Case("var", lambda a: a.var(), [normal(3, 4)]),
    Case("var_dim", lambda a: a.var(1), [normal(3, 4)]),
    Case("var_biased_keepdim", lambda a: ag.var(a, -1, unbiased=False, keepdim=True), [normal(2, 3, 4)]),
    Case("var_tuple_dims_correction", lambda a: a.var((0, 2), correction=0), [normal(2, 3, 4)]),
    Case("std", lambda a: a.std(), [normal(3, 4)]),
    Case("std_dim_keepdim", lambda a: ag.std(a, 0, keepdim=True), [normal(3, 4)]),
    Case("std_tuple_neg_dims", lambda a: a.std((-1, 0)), [normal(2, 3, 4)]),
    # ---- softmax family -------------------------------------------------------------------
    Case("softmax", lambda a: a.softmax(-1), [normal(3, 4)]),
    Case("softmax_dim0", lambda a: ag.softmax(a, 0), [normal(3, 4)]),
    Case("log_softmax", lambda a: a.log_softmax(1), [normal(3, 4)]),
    Case("log_softmax_neg_dim", lambda a: ag.log_softmax(a, -3), [normal(2, 3, 4)]),
    Case("logsumexp", lambda a: a.logsumexp(1), [normal(3, 4)]),
    Case("logsumexp_keepdim", lambda a: ag.logsumexp(a, -1, keepdim=True), [normal(2, 3, 4)]),
    Case("logsumexp_tuple_dims", lambda a: a.logsumexp((0, 2)), [normal(2, 3, 4)]),
    # ---- shape ----------------------------------------------------------------------------
    Case("reshape", lambda a: a.reshape(2, 6), [normal(3, 4)]),
    Case("reshape_tuple_infer", lambda a: a.reshape((-1, 3)), [normal(3, 4)]),
    Case("view", lambda a: a.view(4, 3) * 2, [normal(3, 4)]),
    Case("view_as", lambda a, b: a.view_as(b) + b, [normal(3, 4), normal(12)]),
    Case("transpose", lambda a: a.transpose(0, 1), [normal(3, 4)]),
    Case("t_matrix", lambda a: a.t() * a.t(), [normal(3, 4)]),
    Case("transpose_neg", lambda a: ag.transpose(a, -1, 0), [normal(2, 3, 4)]),
    Case("permute", lambda a: a.permute(2, 0, 1), [normal(2, 3, 4)]),
    Case("permute_tuple", lambda a: ag.permute(a, (1, -1, 0)), [normal(2, 3, 4)]),
    Case("T", lambda a: a.T, [normal(3, 4)]),
    Case("t", lambda a: a.t() * 1.0, [normal(3, 4)]),
    Case("mT", lambda a: a.mT, [normal(2, 3, 4)]),
    Case("squeeze_all", lambda a: a.squeeze(), [normal(3, 1, 4, 1)]),
    Case("squeeze_dim", lambda a: a.squeeze(1), [normal(3, 1, 4, 1)]),
    Case("squeeze_neg_dim", lambda a: ag.squeeze(a, -1), [normal(3, 1, 4, 1)]),
    Case("unsqueeze", lambda a: a.unsqueeze(0), [normal(3, 4)]),
    Case("unsqueeze_neg", lambda a: ag.unsqueeze(a, -1), [normal(3, 4)]),
    Case("expand", lambda a: a.expand(3, 4), [normal(3, 1)]),
    Case("expand_new_dims", lambda a: a.expand(2, -1, 4), [normal(3, 1)]),
    Case("expand_as", lambda a, b: a.expand_as(b) * b, [normal(4), normal(3, 4)]),
    Case("flatten", lambda a: a.flatten(), [normal(2, 3, 4)]),
    Case("flatten_start", lambda a: a.flatten(1), [normal(2, 3, 4)]),
    Case("flatten_range", lambda a: ag.flatten(a, 0, -2), [normal(2, 3, 4)]),
    Case("cat", lambda a, b, c: ag.cat([a, b, c]), [normal(2, 3), normal(1, 3), normal(3, 3)]),
    Case("cat_neg_dim", lambda a, b: ag.cat((a, b), dim=-1), [normal(2, 3), normal(2, 2)]),
    Case("cat_same_tensor", lambda a: ag.concat([a, a * 2], 1), [normal(2, 3)]),
    Case("stack", lambda a, b, c: ag.stack([a, b, c]), [normal(2, 3), normal(2, 3), normal(2, 3)]),
    Case("stack_neg_dim", lambda a, b: ag.stack([a, b], dim=-1), [normal(2, 3), normal(2, 3)]),
    # ---- indexing -------------------------------------------------------------------------
    Case("index_int", lambda a: a[1], [normal(3, 4)]),
    Case("index_neg_ints", lambda a: a[-1, 2] * a[0, -2], [normal(3, 4)]),
    Case("index_slice_step", lambda a: a[::2], [normal(5, 3)]),
    Case("index_slices_step", lambda a: a[1:, ::2], [normal(3, 5)]),
    Case("index_none_ellipsis", lambda a: a[None, ..., 1], [normal(2, 3, 4)]),
    Case("index_ellipsis_none", lambda a: a[..., None, :2], [normal(2, 3, 4)]),
    Case("index_int_array_repeated", lambda a: a[[0, 2, 0, 0]], [normal(3, 4)]),
    Case("index_int_tensor_2d_repeated", lambda a: a[ag.tensor([[1, 1], [0, 1]])], [normal(3)]),
    Case("index_int_arrays_pairs_repeated", lambda a: a[[0, 2, 0], [1, 3, 1]], [normal(3, 4)]),
    Case("index_slice_and_int_array", lambda a: a[:, [3, 3, 0]], [normal(3, 4)]),
    Case("index_bool_mask", lambda a: a[ag.tensor(MASK34)], [normal(3, 4)]),
    Case("index_bool_row_mask", lambda a: a[ag.tensor([True, False, True])], [normal(3, 4)]),
    Case("index_bool_from_comparison", lambda a: a[a > 0], [nonzero(3, 4)]),
    # ---- copies ---------------------------------------------------------------------------
    Case("to_same_dtype", lambda a: a.to(ag.float64) * 1.0, [normal(3, 4)]),
    Case("to_copy", lambda a: a.to(ag.float64, copy=True), [normal(3, 4)]),
    Case("double", lambda a: a.double() + a, [normal(3, 4)]),
    # through float32 and back: central differences need a step well above float32 rounding
    Case("to_float32_round_trip", lambda a: a.to(ag.float32).to(ag.float64), [normal(3, 4)],
         eps=1e-2, atol=1e-4),
    Case("clone", lambda a: a.clone(), [normal(3, 4)]),
    # ---- fused layer and loss ops (autogradkit.nn.functional) -----------------------------
    Case("linear", lambda x, w, b: _nnf().linear(x, w, b), [normal(4, 3), normal(2, 3), normal(2)]),
    Case("linear_no_bias", lambda x, w: _nnf().linear(x, w), [normal(4, 3), normal(2, 3)]),
    Case("linear_batched", lambda x, w, b: _nnf().linear(x, w, b), [normal(2, 3, 4), normal(2, 4), normal(2)]),
    Case("mse_loss", lambda a, b: _nnf().mse_loss(a, b), [normal(3, 4), normal(3, 4)]),
    Case("mse_loss_sum", lambda a, b: _nnf().mse_loss(a, b, reduction="sum"), [normal(3, 4), normal(3, 4)]),
    Case("mse_loss_none", lambda a, b: _nnf().mse_loss(a, b, reduction="none"), [normal(3, 4), normal(3, 4)]),
    Case("bce_with_logits", lambda x, y: _nnf().binary_cross_entropy_with_logits(x, y),
         [nonzero(3, 4, lo=0.1, hi=4.0), uniform(3, 4, lo=0.05, hi=0.95)]),
    Case("bce_with_logits_none", lambda x, y: _nnf().binary_cross_entropy_with_logits(x, y, reduction="none"),
         [uniform(3, 4, lo=-30, hi=30), uniform(3, 4, lo=0.0, hi=1.0)]),
    Case("nll_loss", lambda z: _nnf().nll_loss(z.log_softmax(1), [1, 0, 3]), [normal(3, 4)]),
    Case("cross_entropy_sum", lambda z: _nnf().cross_entropy(z, ag.tensor([2, 2, 0]), reduction="sum"),
         [normal(3, 4)]),
    Case("cross_entropy_none", lambda z: _nnf().cross_entropy(z, ag.tensor([3, 1]), reduction="none"),
         [normal(2, 4)]),
    # ---- issue 15: cumsum, repeat, masked_fill, bmm, softplus, logsigmoid -----------------
    Case("cumsum", lambda a: a.cumsum(1), [normal(3, 4)]),
    Case("cumsum_neg_dim_fn", lambda a: ag.cumsum(a, -3), [normal(2, 3, 4)]),
    Case("cumsum_0d", lambda a: a.sum().cumsum(0) * a.sum(), [normal(3)]),
    Case("repeat", lambda a: a.repeat(2, 3), [normal(3, 4)]),
    Case("repeat_leading_dims", lambda a: a.repeat((2, 1, 3)), [normal(4)]),
    Case("repeat_ones_and_zero", lambda a: a.repeat(1, 1) + a.repeat(3, 0, 1).sum(), [normal(3, 4)]),
    Case("masked_fill", lambda a: a.masked_fill(ag.tensor(MASK34), 0.5), [normal(3, 4)]),
    Case("masked_fill_broadcast_mask",
         lambda a: ag.masked_fill(a, ag.tensor([True, False, True, False]), -2.0), [normal(3, 4)]),
    Case("masked_fill_tensor_value", lambda a, v: ag.masked_fill(a, ag.tensor(MASK34), v),
         [normal(3, 4), normal()]),
    Case("masked_fill_mask_broadcasts_input", lambda a, v: a.masked_fill(ag.tensor(MASK34), v),
         [normal(4), normal()]),
    Case("masked_fill_inplace", lambda a, v: (a * 1.0).masked_fill_(ag.tensor(MASK34), v),
         [normal(3, 4), normal()]),
    Case("bmm", lambda a, b: ag.bmm(a, b), [normal(2, 3, 4), normal(2, 4, 2)]),
    Case("bmm_method", lambda a, b: a.bmm(b), [normal(3, 2, 2), normal(3, 2, 4)]),
    Case("softplus", lambda a: _nnf().softplus(a), [uniform(3, 4, lo=-30, hi=30)]),
    Case("softplus_beta_threshold", lambda a: _nnf().softplus(a, beta=2.0, threshold=5.0),
         [avoiding([2.5], 3, 4, lo=-4, hi=4)]),
    Case("logsigmoid", lambda a: _nnf().logsigmoid(a), [uniform(3, 4, lo=-30, hi=30)]),
    # ---- a few compositions ---------------------------------------------------------------
    Case("mlp_layer", lambda x, w, b: (x @ w + b).tanh().sum(-1), [normal(2, 3), normal(3, 4), normal(4)]),
    Case("cross_entropy_like", lambda z: -(z.log_softmax(-1)[[0, 1, 2], [1, 0, 3]]).mean(), [normal(3, 4)]),
    Case("standardize", lambda x: (x - x.mean(0, keepdim=True)) / x.std(0, keepdim=True), [normal(4, 3)]),
]


def _params():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return [pytest.param(c, id=c.id, marks=c.marks) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_gradcheck(case):
    inputs = case.make_inputs()
    assert gradcheck(case.fn, inputs, eps=case.eps, atol=case.atol, rtol=case.rtol)


@pytest.mark.parametrize("case", [p for p in _params() if p.values[0].gradgrad])
def test_gradgradcheck(case):
    inputs = case.make_inputs()
    assert gradgradcheck(case.fn, inputs, eps=case.eps, atol=case.atol, rtol=case.rtol)


# ---- coverage: every Op class appears in some case's graph --------------------------------
def _all_op_classes():
    for m in pkgutil.iter_modules(autogradkit.ops.__path__):
        importlib.import_module(f"autogradkit.ops.{m.name}")
    found, stack, seen = set(), list(Op.__subclasses__()), set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        if cls.__name__.startswith("_") or not cls.__module__.startswith("autogradkit.ops."):
            continue
        found.add(cls)
    return found


def _graph_node_classes(tensors):
    """Classes of every node reachable from the tensors' grad_fn (iterative walk)."""
    stack = [t.grad_fn for t in tensors if t is not None and t.grad_fn is not None]
    seen, classes = set(), set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        classes.add(type(node))
        stack.extend(n for n, _ in node.next_functions)
    return classes


def _case_node_classes(case):
    """Node classes in the case's forward graph and in the graph of its create_graph backward."""
    inputs = case.make_inputs()
    out = case.fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    classes = _graph_node_classes(outs)
    leaves = [x for x in inputs if isinstance(x, ag.Tensor) and x.requires_grad]
    seeds = [ag.ones_like(o, dtype=ag.float64).requires_grad_() for o in outs]
    firsts = grad(outs, leaves, seeds, create_graph=True, allow_unused=True)
    return classes | _graph_node_classes(firsts)


def test_op_discovery_finds_the_known_ops():
    """The walk over Op subclasses works (otherwise the coverage test below could not fail)."""
    from autogradkit.ops.elementwise import Add, Clamp
    from autogradkit.ops.reduce import MaxDim, MinDim
    from autogradkit.ops.indexing import IndexAdd
    classes = _all_op_classes()
    assert {Add, Clamp, MaxDim, MinDim, IndexAdd} <= classes
    assert not any(c.__name__.startswith("_") for c in classes)


def test_every_op_has_a_case():
    covered = set()
    for case in CASES:
        classes = _case_node_classes(case)
        assert classes, f"case {case.id} recorded no graph"
        covered |= classes
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _all_op_classes() - covered)
    assert not missing, f"Op classes with no gradcheck case in CASES: {missing}"
