"""The shortcuts taken for speed give exactly what the general code gives.

A training step is mostly ``Linear``, an activation and a loss on small arrays, so those are
recorded and replayed by shorter paths (``Linear.apply``, ``MSELoss.apply``, the leaf
accumulation in the engine, the plain-SGD loop, module attributes mirrored in the instance
dict). Each test here runs the shortcut and the general path it stands in for, and compares
values, gradients, graph and errors, including the cases the shortcut must hand over.
"""
from __future__ import annotations

import numpy as np
import pytest

import autogradkit as agk
import autogradkit.nn as nn
import autogradkit.optim as optim
from autogradkit.autograd.node import InplaceModifiedError, Op
from autogradkit.ops import layers as L

_generic_apply = Op.apply.__func__


def _np(t):
    return t.detach().numpy()


def _leaf(a, requires_grad=True):
    return agk.tensor(a, requires_grad=requires_grad)


def _run(apply, cls, arrays, needs, **params):
    """Forward through ``apply``, backward with a fixed upstream gradient; outputs and grads."""
    leaves = [_leaf(a, r) for a, r in zip(arrays, needs)]
    out = apply(cls, *leaves, **params)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(out._data.dtype)
    if out.requires_grad:
        out.backward(agk.tensor(g))
    return out, [t.grad for t in leaves]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("needs", [(True, True, True), (False, True, True), (True, False, False),
                                   (False, False, True), (False, False, False)])
def test_linear_shortcut_equals_the_general_recording(dtype, bias, needs):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in ((5, 3), (4, 3), (4,))]
    if not bias:
        arrays, needs = arrays[:2], needs[:2]
    fast, fast_grads = _run(lambda cls, *a: cls.apply(*a), L.Linear, arrays, needs)
    slow, slow_grads = _run(_generic_apply, L.Linear, arrays, needs)
    assert fast._data.dtype == slow._data.dtype == dtype
    np.testing.assert_array_equal(_np(fast), _np(slow))
    assert (fast.grad_fn is None) == (slow.grad_fn is None) == (not any(needs))
    if fast.grad_fn is not None:
        assert fast.grad_fn.name() == slow.grad_fn.name() == ("AddmmBackward0" if bias else "MmBackward0")
        assert [n is None for n, _ in fast.grad_fn.next_functions] == \
               [n is None for n, _ in slow.grad_fn.next_functions]
    for f, s, need in zip(fast_grads, slow_grads, needs):
        assert (f is None) == (s is None) == (not need)
        if f is not None:
            assert f._data.dtype == dtype and f.shape == s.shape
            np.testing.assert_array_equal(_np(f), _np(s))


@pytest.mark.parametrize("shapes, dtypes", [
    (((2, 5, 3), (4, 3), (4,)), (np.float64,) * 3),      # batched input: ViewBackward0
    (((3,), (4, 3), (4,)), (np.float64,) * 3),           # 1-D input
    (((5, 3), (4, 3), (4,)), (np.float32, np.float64, np.float64)),   # mixed dtypes
    (((5, 3), (4, 3), (1,)), (np.float64,) * 3),         # a bias that broadcasts
])
def test_linear_hands_other_cases_to_the_general_path(shapes, dtypes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    fast, fast_grads = _run(lambda cls, *a: cls.apply(*a), L.Linear, arrays, (True,) * 3)
    slow, slow_grads = _run(_generic_apply, L.Linear, arrays, (True,) * 3)
    assert fast.grad_fn.name() == slow.grad_fn.name()
    assert fast.grad_fn._in_meta is not None        # recorded by Op.apply, not the shortcut
    np.testing.assert_array_equal(_np(fast), _np(slow))
    for f, s in zip(fast_grads, slow_grads):
        np.testing.assert_array_equal(_np(f), _np(s))


def test_linear_bad_input_gets_the_learner_error():
    w = _leaf(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"linear: the input's last dimension must equal "
                                         r"in_features; got input of shape \(5, 2\)"):
        L.Linear.apply(agk.ones(5, 2, dtype=agk.float64), w)
    plain = L.Linear.apply(np.ones((5, 3)), w)           # not a Tensor: the general path's way
    np.testing.assert_array_equal(_np(plain), _np(_generic_apply(L.Linear, np.ones((5, 3)), w)))


@pytest.mark.parametrize("which, index", [("x", 0), ("weight", 1), ("bias", 2)])
@pytest.mark.parametrize("counter_before", [False, True])
def test_linear_shortcut_catches_an_in_place_change_of_each_saved_tensor(which, index,
                                                                         counter_before):
    rng = np.random.default_rng(0)
    t = {"x": _leaf(rng.standard_normal((5, 3))), "weight": _leaf(rng.standard_normal((4, 3))),
         "bias": _leaf(rng.standard_normal(4))}
    if counter_before:              # saved at a version above 0 (e.g. after an optimizer step)
        with agk.no_grad():
            for v in t.values():
                v.mul_(1.0)
    out = L.Linear.apply(t["x"], t["weight"], t["bias"])
    assert out.grad_fn._in_meta is None                 # the shortcut recorded it
    with agk.no_grad():
        t[which].add_(1.0)
    with pytest.raises(InplaceModifiedError, match=rf"input {index} of AddmmBackward0"):
        out.sum().backward()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("needs", [(True, False), (True, True), (False, True)])
def test_mse_shortcut_equals_the_general_recording(reduction, needs):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((6, 2)) for _ in range(2)]
    fast, fast_grads = _run(lambda cls, *a, **k: cls.apply(*a, **k), L.MSELoss, arrays, needs,
                            reduction=reduction)
    slow, slow_grads = _run(_generic_apply, L.MSELoss, arrays, needs, reduction=reduction)
    assert fast.shape == slow.shape and fast.grad_fn.name() == slow.grad_fn.name() == "MseLossBackward0"
    np.testing.assert_allclose(_np(fast), _np(slow), rtol=1e-15)
    d = arrays[0] - arrays[1]
    expected = {"mean": (d * d).mean(), "sum": (d * d).sum(), "none": d * d}[reduction]
    np.testing.assert_allclose(_np(fast), expected, rtol=1e-13)
    for f, s, need in zip(fast_grads, slow_grads, needs):
        assert (f is None) == (s is None) == (not need)
        if f is not None:
            np.testing.assert_allclose(_np(f), _np(s), rtol=1e-15)


def test_mse_shortcut_catches_an_in_place_change():
    a, b = _leaf(np.ones((3, 1))), agk.zeros(3, 1, dtype=agk.float64)
    loss = L.MSELoss.apply(a, b, "mean")
    b.add_(1.0)
    with pytest.raises(InplaceModifiedError, match=r"input 1 of MseLossBackward0"):
        loss.backward()


def test_relu_gradient_keeps_the_dtype_and_is_zero_at_and_below_zero():
    x = agk.tensor([-1.0, 0.0, 2.0, 3.0], dtype=agk.float32, requires_grad=True)
    x.relu().backward(agk.tensor([5.0, 6.0, 7.0, 8.0], dtype=agk.float32))
    assert x.grad.dtype == agk.float32
    assert x.grad.tolist() == [0.0, 0.0, 7.0, 8.0]


def test_bias_gradient_of_an_empty_batch_is_zero_and_never_shared():
    w, b = _leaf(np.ones((4, 3))), _leaf(np.ones(4))
    L.Linear.apply(agk.zeros(0, 3, dtype=agk.float64), w, b).sum().backward()
    assert b.grad.tolist() == [0.0] * 4
    first = b.grad
    b.grad = None
    L.Linear.apply(agk.ones(2, 3, dtype=agk.float64), w, b).sum().backward()
    assert b.grad.tolist() == [2.0] * 4 and first.tolist() == [0.0] * 4


def test_leaves_accumulate_across_backward_calls_and_hooks_still_run():
    w = _leaf(np.array([1.0, 2.0]))
    seen = []
    w.register_hook(lambda g: seen.append(g.tolist()))
    for _ in range(2):
        (w * 3.0).sum().backward()
    assert w.grad.tolist() == [6.0, 6.0] and seen == [[3.0, 3.0], [3.0, 3.0]]
    u = _leaf(np.array([1.0]))
    (u * u).sum().backward()                # one leaf reached by two edges: summed first
    assert u.grad.tolist() == [2.0]


def test_leaf_grad_is_never_an_array_another_tensor_holds():
    a, b = _leaf(np.array([1.0, 2.0])), _leaf(np.array([3.0, 4.0]))
    (a + b).sum().backward()                # AddBackward0 sends the same array to both
    a.grad.add_(10.0)
    assert b.grad.tolist() == [1.0, 1.0]


def test_scalar_backward_shortcut_keeps_the_errors_and_leaf_case():
    x = _leaf(np.array(2.0))
    x.backward()                            # a leaf: its own gradient is 1
    assert x.grad.item() == 1.0
    y = _leaf(np.ones(3)) * 2
    with pytest.raises(RuntimeError, match="grad can be created implicitly only for one-element"):
        y.backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        agk.ones(1).backward()


def test_module_attributes_mirror_the_registries_through_every_route():
    m = nn.Module()
    p, q = nn.Parameter(agk.ones(2)), nn.Parameter(agk.zeros(2))
    m.w = p
    assert m.w is p and m._parameters["w"] is p
    m.w = None                              # unregisters the value, keeps the name
    assert m.w is None and m._parameters["w"] is None
    m.w = q
    assert m.w is q
    m.register_parameter("v", p)
    m.register_buffer("running", agk.zeros(3))
    m.add_module("child", nn.Linear(2, 2))
    assert m.v is p and m.running is m._buffers["running"] and m.child is m._modules["child"]
    m.running = agk.ones(3)                 # a buffer stays a buffer
    assert m.running is m._buffers["running"] and m.running.tolist() == [1.0] * 3
    with pytest.raises(TypeError, match="cannot assign Linear as parameter 'w'"):
        m.w = nn.Linear(1, 1)               # refused, as PyTorch does; nothing changes
    assert m.w is q and m._parameters["w"] is q
    del m.w
    m.w = nn.Linear(1, 1)                   # the name freed, then reused for a module
    assert "w" not in m._parameters and m.w is m._modules["w"]
    del m.v, m.child, m.running
    for name in ("v", "child", "running"):
        assert not hasattr(m, name)
    assert [n for n, _ in m.named_parameters()] == ["w.weight", "w.bias"]
    assert "w" in dir(m) and len(dir(m)) == len(set(dir(m)))


def test_plain_sgd_bumps_the_version_so_a_stale_graph_is_refused():
    w = nn.Parameter(agk.ones(3))
    assert w._vcs is None                   # no counter yet: the step must create it
    loss = (w * w).sum()
    (w * 2).sum().backward()
    optim.SGD([w], lr=0.5).step()
    assert w._version == 1 and w.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(InplaceModifiedError, match="MulBackward0"):
        loss.backward()


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True), (False, False)])
def test_same_shape_operator_equals_the_general_binary_path(op, shape, needs):
    from autogradkit.ops import elementwise as E
    cls = {"add": E.Add, "sub": E.Sub, "mul": E.Mul}[op]
    rng = np.random.default_rng(0)
    arrays = [np.asarray(rng.standard_normal(shape)) for _ in range(2)]
    operator = {E.Add: agk.Tensor.__add__, E.Sub: agk.Tensor.__sub__, E.Mul: agk.Tensor.__mul__}
    fast, fast_grads = _run(lambda c, a, b: operator[c](a, b), cls, arrays, needs)
    slow, slow_grads = _run(lambda c, a, b: c.apply_binary(a, b), cls, arrays, needs)
    via_operator = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                    "mul": lambda a, b: a * b}[op](*[_leaf(a, r) for a, r in zip(arrays, needs)])
    for out in (fast, via_operator):
        assert out.shape == slow.shape and out._data.__class__ is np.ndarray
        np.testing.assert_array_equal(_np(out), _np(slow))
        assert (out.grad_fn is None) == (slow.grad_fn is None)
        if out.grad_fn is not None:
            assert out.grad_fn.name() == slow.grad_fn.name() and out.grad_fn._in_meta is None
    for f, s in zip(fast_grads, slow_grads):
        assert (f is None) == (s is None)
        if f is not None:
            np.testing.assert_array_equal(_np(f), _np(s))


def test_same_shape_operator_keeps_the_errors_and_integer_results():
    with pytest.raises(TypeError, match=r"^sub: "):
        agk.tensor([True, False]) - agk.tensor([False, False])
    i = agk.tensor([1, 2]) * agk.tensor([3, 4])
    assert i.dtype == agk.int64 and i.tolist() == [3, 8] and i.grad_fn is None
    w = _leaf(np.ones(2))
    with agk.no_grad():
        assert (w * w).grad_fn is None
    loss = (w * w).sum()
    with agk.no_grad():
        w.mul_(2.0)
    with pytest.raises(InplaceModifiedError, match=r"input 0 of MulBackward0"):
        loss.backward()


def test_gradients_meeting_at_a_node_are_summed_without_touching_anyone_elses_array():
    x = _leaf(np.array([1.0, 2.0, 3.0]))
    y = x * 2.0
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    z = y + y + y + y * 3.0                     # four paths into y, the first two the same array
    w = x + x + x                               # three into the leaf x
    (z.sum() + (w * 5.0).sum()).backward()
    assert y.grad.tolist() == [6.0, 6.0, 6.0] and seen == [[6.0, 6.0, 6.0]]
    assert x.grad.tolist() == [27.0, 27.0, 27.0]       # 6·2 through y, 3·5 through w
    g = y.grad
    (x * 1.0).sum().backward()                  # a second backward adds into x.grad only
    assert g.tolist() == [6.0, 6.0, 6.0] and x.grad.tolist() == [28.0, 28.0, 28.0]


def test_repeated_contributions_summed_in_float32_like_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    grads = []
    for lib in (agk, torch):
        w = lib.tensor(a, requires_grad=True)
        h = lib.tensor(b, requires_grad=True)
        for _ in range(50):
            h = lib.tanh(h * w + w)
        h.sum().backward()
        grads.append(np.asarray(w.grad.detach().numpy()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


# ---- backward without a dependency count on trees (node._link) ---------------------------------
from autogradkit.autograd import engine as _engine            # noqa: E402
from autogradkit.autograd.node import AccumulateGrad          # noqa: E402


def _op_deps(root):
    return {n: c for n, c in _engine._dependencies([root]).items()
            if n.__class__ is not AccumulateGrad}


def _assert_flag_is_sound(t):
    """If the graph below t says "tree", every op node in it really has one consumer there."""
    fn = t.grad_fn
    if fn is not None and fn._tree:
        assert set(_op_deps(fn).values()) <= {1}


def test_tree_flag_follows_how_many_times_each_node_was_consumed():
    x = _leaf(np.array([1.0, 2.0]))
    w = _leaf(np.array([3.0, 4.0]))
    h = x * w
    a = (h * w + w).tanh()                   # leaves shared freely: still a tree
    assert a.grad_fn._tree
    b = h * 2.0                              # h's second consumer
    assert a.grad_fn._tree and not b.grad_fn._tree
    assert not (a + b).grad_fn._tree
    c = a.exp()
    assert not (c * c).grad_fn._tree         # one node used twice by one op
    for t in (a, b, a + b, c * c):
        _assert_flag_is_sound(t)


def test_a_node_consumed_twice_is_summed_whichever_root_backward_starts_from():
    rng = np.random.default_rng(0)
    for lib in (agk,):
        x = _leaf(rng.standard_normal(3))
        h = (x * 2.0).tanh()
        first = (h * 3.0).sum()              # recorded while h had one consumer: a tree
        second = h.sum()                     # h consumed again after `first` was recorded
        assert first.grad_fn._tree and not second.grad_fn._tree
        first.backward(retain_graph=True)
        expected = 3.0 * 2.0 * (1 - np.tanh(2.0 * x.detach().numpy()) ** 2)
        np.testing.assert_allclose(_np(x.grad), expected, rtol=1e-12)
        x.grad = None
        (first + second).backward()          # through both consumers of h: summed
        np.testing.assert_allclose(_np(x.grad), expected * (4.0 / 3.0), rtol=1e-12)


def test_custom_function_nodes_make_the_graph_count_its_dependencies():
    class Double(agk.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = _leaf(np.array([1.0, 2.0]))
    y = Double.apply(x * 1.0)
    z = (y * 3.0).sum()
    assert not z.grad_fn._tree
    z.backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_in_place_change_of_a_consumed_node_is_not_a_tree():
    x = _leaf(np.array([1.0, -1.0]))
    h = x * 2.0
    k = h + 5.0                              # h's first consumer
    h.add_(1.0)                              # records AddBackward0 on h's old node: a second use
    assert not h.grad_fn._tree
    (h.sum() + k.sum()).backward()
    assert x.grad.tolist() == [4.0, 4.0]


def _tanh_ladder(data, count_deps):
    """A tree-shaped graph (leaves shared), differentiated with or without dependency counts."""
    x, w, b = leaves = [_leaf(d) for d in data]
    calls = []
    w.register_hook(lambda g: calls.append(g.tolist()) or g * 2.0)
    h = x
    for _ in range(6):
        h = (h * w + b).tanh() * 0.5 + x
    loss = (h * 3.0).sum()
    assert loss.grad_fn._tree
    if count_deps:
        loss.grad_fn._tree = False           # what a graph that is not a tree goes through
    loss.backward()
    return [_np(t.grad).copy() for t in leaves], calls


def test_tree_and_counted_backward_give_identical_gradients_and_leaf_hooks():
    rng = np.random.default_rng(1)
    data = [rng.standard_normal((4, 3)), rng.standard_normal((3,)), rng.standard_normal((4, 3))]
    (tree_grads, tree_calls), (count_grads, count_calls) = (_tanh_ladder(data, c) for c in (0, 1))
    for a, c in zip(tree_grads, count_grads):
        np.testing.assert_array_equal(a, c)
    assert tree_calls == count_calls and len(tree_calls) == 1


def _random_graph(program):
    pool = [_leaf(np.array([0.5, -0.25])), _leaf(np.array([0.75, 1.5]))]
    for kind, i, j in program:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append([a * b, a + b, a.tanh(), a * 2.0, a - b][kind])
    return pool


def test_tree_flag_is_sound_on_random_graphs():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.integers(0, 30)),
                               min_size=1, max_size=25))
    @hypothesis.settings(max_examples=200, deadline=None)
    def check(program):
        results = []
        for count_deps in (False, True):
            pool = _random_graph(program)
            for t in pool[2:]:
                _assert_flag_is_sound(t)
            root = pool[-1].sum()
            _assert_flag_is_sound(root)
            if root.grad_fn is None:
                return
            if count_deps:
                root.grad_fn._tree = False
            root.backward()
            results.append([None if t.grad is None else _np(t.grad).copy() for t in pool[:2]])
        for a, c in zip(*results):
            assert (a is None) == (c is None)
            if a is not None:
                np.testing.assert_array_equal(a, c)

    check()


def test_linear_and_mse_keep_the_tree_flags():
    rng = np.random.default_rng(2)
    x, w, b = (_leaf(rng.standard_normal(s)) for s in ((4, 3), (2, 3), (2,)))
    target = agk.zeros(4, 2, dtype=agk.float64)
    h = (x * 1.5).tanh()
    y1 = L.Linear.apply(h, w, b)                     # h's first consumer
    assert y1.grad_fn._tree and L.MSELoss.apply(y1, target, "mean").grad_fn._tree
    y2 = L.Linear.apply(h, w * 2.0, b)               # h again, and a weight made by an op
    assert not y2.grad_fn._tree
    y3 = L.Linear.apply(x, w * 2.0, b)               # a weight made by an op, consumed once
    assert y3.grad_fn._tree
    for t in (y1, y2, y3, y1 + y2):
        _assert_flag_is_sound(t)
    loss = L.MSELoss.apply(y1 + y2, target, "sum")
    assert not loss.grad_fn._tree
    loss.backward()
    got = [_np(t.grad).copy() for t in (x, w, b)]
    # the same computation written with plain ops, differentiated by the counted path
    xs, ws, bs = (_leaf(_np(t)) for t in (x, w, b))
    hs = (xs * 1.5).tanh()
    ys = (hs @ ws.T + bs) + (hs @ (ws * 2.0).T + bs)
    (ys * ys).sum().backward()
    for g, t in zip(got, (xs, ws, bs)):
        np.testing.assert_allclose(g, _np(t.grad), rtol=1e-12)
