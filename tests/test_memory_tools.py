"""Memory you can see and trade: ``autograd.graph.saved_tensors_hooks`` (and ``save_on_cpu``,
``disable_saved_tensors_hooks``, ``saved_nbytes``) and ``utils.checkpoint``.

Both modes: with the shortcuts installed, the hooks make them step aside (``fast.RECORDING``);
these tests run the same in both (CI runs this file with ``AUTOGRADKIT_REFERENCE=1`` too)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import autograd, nn
from autogradkit.autograd.graph import (disable_saved_tensors_hooks, save_on_cpu, saved_nbytes,
                                        saved_tensors_hooks)
from autogradkit.autograd.node import InplaceModifiedError
from autogradkit.utils.checkpoint import checkpoint, checkpoint_sequential


def _numpy_hooks(log=None):
    """The teaching example: keep saved tensors as numpy copies, give tensors back."""
    def pack(t):
        if log is not None:
            log.append((tuple(t.shape), t.dtype))
        return t.detach().numpy().copy()

    def unpack(a):
        return ag.from_numpy(a)
    return pack, unpack


def _mlp(dtype=ag.float64, seed=0):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.Tanh(), nn.Linear(4, 1, dtype=dtype))


def _grads(net, *extra):
    return [p.grad._data.copy() for p in net.parameters()] + [t.grad._data.copy() for t in extra]


def _same_bits(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()


def _graph_nodes(*outputs):
    seen, stack = [], [t.grad_fn for t in outputs]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.append(n)
        stack += list(n._next)
    return seen


def _graph_nbytes(*outputs):
    return sum(saved_nbytes(n) for n in _graph_nodes(*outputs))


# ---- saved_tensors_hooks ---------------------------------------------------------------------
def _mlp_loss(net, x, y, hooks=None):
    if hooks is None:
        return nn.functional.mse_loss(net(x), y)
    with saved_tensors_hooks(*hooks):
        return nn.functional.mse_loss(net(x), y)


def test_numpy_round_trip_gives_the_same_gradients_to_the_bit():
    x, y = ag.randn(5, 3, dtype=ag.float64), ag.randn(5, 1, dtype=ag.float64)
    net = _mlp()
    _mlp_loss(net, x, y).backward()
    want = _grads(net)
    net = _mlp()
    log = []
    loss = _mlp_loss(net, x, y, _numpy_hooks(log))
    assert log, "pack was never called"
    loss.backward()
    _same_bits(_grads(net), want)


def test_every_saved_tensor_goes_through_pack_and_unpack_once():
    """Inputs, outputs (tanh, exp save theirs), and a custom Function's save_for_backward."""
    class Cube(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    packed, unpacked = [], []

    def pack(t):
        packed.append(t)
        return ("box", t)

    def unpack(box):
        unpacked.append(box)
        return box[1]

    x = ag.tensor([0.5, -1.0, 2.0], dtype=ag.float64, requires_grad=True)
    w = ag.tensor([1.0, 2.0, 3.0], dtype=ag.float64)
    with saved_tensors_hooks(pack, unpack):
        a = x * w               # saves x and w
        b = a.tanh()            # saves its output
        c = Cube.apply(b)       # saves b
        loss = c.sum()          # saves nothing
    assert len(packed) == 4
    assert packed[0] is x and packed[1] is w
    assert np.array_equal(packed[2]._data, b._data) and packed[2].grad_fn is None
    assert packed[3] is b
    loss.backward()
    assert len(unpacked) == 4
    t = np.tanh(x._data * w._data)
    np.testing.assert_allclose(x.grad._data, 3 * t ** 2 * (1 - t ** 2) * w._data, rtol=1e-12)


def test_pack_runs_with_grad_mode_off_and_unpack_must_give_a_tensor():
    modes = []
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: modes.append(ag.is_grad_enabled()) or t, lambda t: 3):
        y = (x * x).sum()
    assert modes == [False, False]
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor but got result of "
                                        "type int"):
        y.backward()


def test_hooks_nest_and_the_innermost_pair_is_used():
    order = []
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: order.append("outer") or t, lambda t: t):
        with saved_tensors_hooks(lambda t: order.append("inner") or t, lambda t: t):
            x.exp()
        x.exp()
    x.exp()
    assert order == ["inner", "outer"]


def test_hooks_count_bytes_saved_for_backward_and_match_saved_nbytes():
    sizes = []

    def pack(t):
        sizes.append(t.numel() * t.element_size())
        return t
    x, y = ag.randn(5, 3, dtype=ag.float64), ag.randn(5, 1, dtype=ag.float64)
    net = _mlp()
    loss = _mlp_loss(net, x, y, (pack, lambda t: t))
    # what pack received is what the graph holds (pack returned the tensors themselves)
    assert sum(sizes) == _graph_nbytes(loss) > 0
    net = _mlp()
    assert _graph_nbytes(_mlp_loss(net, x, y)) == sum(sizes)     # the same without hooks


def test_saved_nbytes_counts_what_the_node_holds_under_hooks():
    x = ag.randn(100, dtype=ag.float64, requires_grad=True)
    with saved_tensors_hooks(lambda t: t.detach().numpy().astype(np.float16), ag.from_numpy):
        y = x.exp()             # its output, kept as float16: 200 bytes instead of 800
    assert saved_nbytes(y.grad_fn) == 200
    with saved_tensors_hooks(lambda t: "somewhere on disk", lambda key: x):
        z = x.exp()
    assert saved_nbytes(z.grad_fn) == 0          # holds no numbers here
    assert saved_nbytes(x.exp().grad_fn) == 800


def test_pack_count_compared_with_torch():
    """torch saves only what the needed gradients read; autogradkit keeps every input a rule may
    read: AddmmBackward0's bias (2 layers), and the first layer's weight.t() although its input x
    needs no gradient. So 6 (torch) + 3 here; the gradients are the same."""
    torch = pytest.importorskip("torch")
    x0 = np.random.default_rng(0).normal(size=(5, 3))
    y0 = np.random.default_rng(1).normal(size=(5, 1))
    net = _mlp()
    n = [0]

    def count(t):
        n[0] += 1
        return t
    loss = _mlp_loss(net, ag.tensor(x0), ag.tensor(y0), (count, lambda t: t))
    loss.backward()
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                               torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for p, q in zip(tnet.parameters(), net.parameters()):
            p.copy_(torch.from_numpy(q._data))
    tn = [0]
    with torch.autograd.graph.saved_tensors_hooks(lambda t: tn.__setitem__(0, tn[0] + 1) or t,
                                                  lambda t: t):
        tloss = torch.nn.functional.mse_loss(tnet(torch.from_numpy(x0)), torch.from_numpy(y0))
    tloss.backward()
    assert (n[0], tn[0]) == (9, 6)
    for p, q in zip(tnet.parameters(), net.parameters()):
        np.testing.assert_allclose(q.grad._data, p.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_in_place_change_of_the_original_is_caught_when_unpack_gives_it_back():
    a = ag.tensor([1.0, 2.0], requires_grad=True) * 1
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        b = a * a
    a.add_(1)
    with pytest.raises(InplaceModifiedError, match="input 0 of MulBackward0.*version 1; "
                                                   "expected version 0"):
        b.sum().backward()


def test_in_place_change_of_a_saved_output_is_caught_under_hooks():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x.exp()
    y.mul_(2)
    with pytest.raises(InplaceModifiedError, match="the output of ExpBackward0"):
        y.sum().backward()


def test_a_copy_made_by_pack_keeps_the_numbers_of_the_moment_it_was_saved():
    """As in PyTorch: no error, and the gradient is the one of the saved numbers."""
    x = ag.tensor([1.0, 2.0], dtype=ag.float64, requires_grad=True)
    a = x * 1
    with saved_tensors_hooks(*_numpy_hooks()):
        b = a * a
    with ag.no_grad():
        a.add_(1)
    b.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_backward_twice_is_refused_and_retain_graph_unpacks_again():
    calls = []
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: calls.append(1) or t):
        y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(calls) == 4 and x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_create_graph_works_under_hooks():
    torch = pytest.importorskip("torch")
    x = ag.tensor([1.0, 2.0, -0.5], dtype=ag.float64, requires_grad=True)
    with saved_tensors_hooks(*_numpy_hooks()):
        y = (x ** 3 * x.exp()).sum()
    (g,) = autograd.grad(y, x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x)
    tx = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64, requires_grad=True)
    ty = (tx ** 3 * tx.exp()).sum()
    (tg,) = torch.autograd.grad(ty, tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(g._data, tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h._data, th.numpy(), rtol=1e-12)


def test_custom_function_saved_tensors_under_hooks_with_create_graph():
    class Square(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x
    x = ag.tensor([3.0], dtype=ag.float64, requires_grad=True)
    with saved_tensors_hooks(*_numpy_hooks()):
        y = Square.apply(x).sum()
    (g,) = autograd.grad(y, x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x)
    assert g.tolist() == [6.0] and h.tolist() == [2.0]


def test_save_on_cpu_and_disable_saved_tensors_hooks():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with save_on_cpu():
        y = (x * x.exp()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad._data, (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))),
                               rtol=1e-6)
    with disable_saved_tensors_hooks("no hooks here"):
        with pytest.raises(RuntimeError, match="no hooks here"):
            with saved_tensors_hooks(lambda t: t, lambda t: t):
                x.exp()
        x.exp()                 # no hooks entered: nothing to refuse


def test_hooks_are_not_used_outside_their_block():
    calls = []
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
        pass
    (x * x).sum().backward()
    try:
        with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
            raise KeyError("leave by an exception")
    except KeyError:
        pass
    (x * x).sum().backward()
    assert calls == []


# ---- checkpoint -----------------------------------------------------------------------------
def _deep(seed=0, dropout=False):
    ag.manual_seed(seed)
    layers = []
    for _ in range(4):
        layers += [nn.Linear(8, 8, dtype=ag.float64), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


_X0 = np.random.default_rng(1).normal(size=(5, 8))


def _run(how, dropout=False):
    net = _deep(dropout=dropout)
    x = ag.tensor(_X0, requires_grad=True)
    ag.manual_seed(7)
    if how == "plain":
        y = net(x)
    elif how == "checkpoint":
        y = checkpoint(net, x, use_reentrant=False)
    else:
        y = checkpoint_sequential(net, how, x, use_reentrant=False)
    loss = (y ** 2).sum()
    nbytes = _graph_nbytes(loss)
    loss.backward()
    return _grads(net, x), nbytes, loss._data.copy()


@pytest.mark.parametrize("how", ["checkpoint", 2, 3])
def test_checkpoint_gives_the_same_gradients_to_the_bit_and_saves_fewer_bytes(how):
    want, plain_bytes, want_loss = _run("plain")
    got, nbytes, loss = _run(how)
    _same_bits(got, want)
    assert loss.tobytes() == want_loss.tobytes()
    assert nbytes < plain_bytes
    if how == "checkpoint":
        assert nbytes == 5 * 8 * 8      # only the final square's input is kept


def test_checkpoint_replays_the_random_state_so_dropout_masks_repeat():
    want, _, _ = _run("plain", dropout=True)
    got, _, _ = _run("checkpoint", dropout=True)
    _same_bits(got, want)


def test_checkpoint_bytes_counted_by_hooks():
    sizes = []
    net = _deep()
    x = ag.tensor(_X0, requires_grad=True)
    with saved_tensors_hooks(lambda t: sizes.append(t.numel() * t.element_size()) or t,
                             lambda t: t):
        y = checkpoint(net, x, use_reentrant=False)
        loss = (y ** 2).sum()
    assert sum(sizes) == 320    # the function's own saves go to checkpoint's (inner) hooks
    loss.backward()


def test_checkpoint_with_keyword_arguments_tuple_outputs_and_create_graph():
    def f(a, b, scale=1.0):
        return (a * b).tanh() * scale, a.exp()
    a = ag.tensor([0.3, -0.2], dtype=ag.float64, requires_grad=True)
    b = ag.tensor([1.5, 2.0], dtype=ag.float64, requires_grad=True)
    u, v = checkpoint(f, a, b, use_reentrant=False, scale=2.0)
    (ga, gb) = autograd.grad((u * v).sum(), (a, b), create_graph=True)
    (ha,) = autograd.grad(ga.sum(), a)
    a2 = ag.tensor([0.3, -0.2], dtype=ag.float64, requires_grad=True)
    b2 = ag.tensor([1.5, 2.0], dtype=ag.float64, requires_grad=True)
    u2, v2 = f(a2, b2, scale=2.0)
    (ga2, gb2) = autograd.grad((u2 * v2).sum(), (a2, b2), create_graph=True)
    (ha2,) = autograd.grad(ga2.sum(), a2)
    _same_bits([ga._data, gb._data, ha._data], [ga2._data, gb2._data, ha2._data])


def test_checkpoint_backward_twice_needs_retain_graph_and_recomputes_again():
    net = _deep()
    x = ag.tensor(_X0, requires_grad=True)
    loss = checkpoint(net, x, use_reentrant=False).sum()
    loss.backward(retain_graph=True)
    first = x.grad._data.copy()
    loss.backward()
    np.testing.assert_array_equal(x.grad._data, 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_checkpoint_warns_without_use_reentrant_like_torch():
    x = ag.tensor([1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda t: t.exp(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint(lambda t: t.exp(), x, use_reentrant=True)


def test_checkpoint_refuses_a_function_that_saves_differently_when_rerun():
    calls = [0]

    def f(t):
        calls[0] += 1
        return t.exp() if calls[0] == 1 else t * t
    x = ag.tensor([1.0], requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False)
    with pytest.raises(RuntimeError, match="recomputing f saved 2 tensors for backward, but its "
                                           "first run saved 1"):
        y.sum().backward()


def test_checkpoint_matches_torch_parameter_gradients():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint_sequential as tseq
    net = _deep()
    tnet = torch.nn.Sequential(*[m for _ in range(4) for m in (torch.nn.Linear(8, 8),
                                                                 torch.nn.Tanh())]).double()
    with torch.no_grad():
        for p, q in zip(tnet.parameters(), net.parameters()):
            p.copy_(torch.from_numpy(q._data))
    x = ag.tensor(_X0, requires_grad=True)
    (checkpoint_sequential(net, 2, x, use_reentrant=False) ** 2).sum().backward()
    tx = torch.tensor(_X0, requires_grad=True)
    (tseq(tnet, 2, tx, use_reentrant=False) ** 2).sum().backward()
    for p, q in zip(tnet.parameters(), net.parameters()):
        np.testing.assert_allclose(q.grad._data, p.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad._data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_utils_exposes_checkpoint_like_torch():
    import autogradkit.utils as utils
    assert utils.checkpoint.checkpoint is checkpoint
    assert utils.checkpoint.checkpoint_sequential is checkpoint_sequential


def test_checkpoint_refuses_an_input_changed_in_place_before_backward():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1
    y = checkpoint(lambda t: t.exp(), a, use_reentrant=False)
    with ag.no_grad():
        a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation after the forward"):
        y.sum().backward()


# ---- every op: the same gradients (first and second order) under hooks -------------------------
def _op_params():
    import test_ops_gradcheck as gc
    return gc._params()


def _gradients_of(case, hooks):
    """∂/∂inputs of Σ ḡ·out, and (gradgrad cases) of the sum of those, ``case.fn`` run inside
    ``saved_tensors_hooks(*hooks)`` when given."""
    import contextlib
    inputs = case.make_inputs()
    diff = [x for x in inputs if isinstance(x, ag.Tensor) and x.requires_grad]
    with saved_tensors_hooks(*hooks) if hooks else contextlib.nullcontext():
        out = case.fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    seeds = [ag.tensor(np.linspace(-1, 1, o.numel()).reshape(tuple(o.shape)), dtype=o.dtype)
             for o in outs]
    first = autograd.grad(outs, diff, seeds, create_graph=case.gradgrad, allow_unused=True)
    got = [g._data.copy() for g in first if g is not None]
    used = [g for g in first if g is not None and g.requires_grad]
    if case.gradgrad and used:
        total = sum((g * g).sum() for g in used)
        got += [g._data.copy() for g in autograd.grad(total, diff, allow_unused=True)
                if g is not None]
    return got


@pytest.mark.parametrize("case", _op_params())
def test_every_op_gives_the_same_gradients_under_numpy_hooks(case):
    calls = []
    pack, unpack = _numpy_hooks()
    got = _gradients_of(case, (lambda t: calls.append(1) or pack(t), unpack))
    _same_bits(got, _gradients_of(case, None))


# ---- on the GPU (the strict CuPy stand-in of tests/test_devices.py) -----------------------------
@pytest.fixture
def cuda():
    import strict_cupy
    from autogradkit import backend
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


def test_save_on_cpu_keeps_gpu_tensors_on_the_cpu_and_brings_them_back(cuda):
    x = ag.tensor([1.0, 2.0, 3.0], dtype=ag.float64, device="cuda", requires_grad=True)
    with save_on_cpu():
        y = x.exp() * x
    node = y.grad_fn
    assert all(type(p.packed[1]._data) is np.ndarray for p in node._saved)    # (device, copy)
    assert saved_nbytes(node) == 2 * 24
    y.sum().backward()
    assert type(x.grad._data) is cuda.ndarray
    want = np.exp([1.0, 2.0, 3.0]) * (1 + np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(cuda.asnumpy(x.grad._data), want, rtol=1e-12)


def test_anomaly_and_checkpoint_on_the_gpu(cuda):
    x = ag.tensor([-1.0, 4.0], device="cuda", requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="'SqrtBackward0' returned nan"):
                x.sqrt().sum().backward()
    net = _deep().to("cuda")
    xs = ag.tensor(_X0, device="cuda", requires_grad=True)
    (checkpoint(net, xs, use_reentrant=False) ** 2).sum().backward()
    got = [cuda.asnumpy(g) for g in _grads(net, xs)]
    want, _, _ = _run("plain")
    np.testing.assert_allclose(got[-1], want[-1], rtol=1e-12)


def test_a_graph_saved_under_hooks_can_be_drawn_with_what_it_saved():
    from autogradkit import viz
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(*_numpy_hooks()):
        y = (x * x.exp()).sum()
    assert "digraph" in viz.to_dot(y, show_saved=True)
    assert sum(saved_nbytes(n) for n in _graph_nodes(y)) == 3 * 8     # three float32 pairs


def test_checkpoint_keyword_arguments_need_use_reentrant_false_like_torch():
    x = ag.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda t, scale: t * scale, x, use_reentrant=True, scale=2.0)
    assert checkpoint(lambda t, scale: t * scale, x, use_reentrant=False, scale=2.0).item() == 2.0
