"""``autogradkit.nn`` against PyTorch: module registration and traversal, state dicts (keys, shapes,
strict errors, loading torch's weights), modes, dtype conversion, reprs, ``Linear``'s default
initialisation, every loss and reduction, ``nn.functional``, ``Dropout`` and the article's network.

Expected values come from running the same thing through PyTorch (float64) or from the maths.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autogradkit as ag  # noqa: E402
from autogradkit import nn  # noqa: E402
import autogradkit.nn.functional as F  # noqa: E402

TF = torch.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)


def np_(t):
    return t.detach().numpy()


def rng(seed=0):
    return np.random.default_rng(seed)


def copy_torch_weights(tmodel, model):
    """Load torch's parameters (as numpy arrays) into the autogradkit model of the same shape."""
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})


# ---- architectures built the same way in both libraries ----------------------------------------
def build_mlp(lib, dtype):
    return lib.nn.Sequential(lib.nn.Linear(10, 20, dtype=dtype), lib.nn.ReLU(),
                             lib.nn.Linear(20, 1, dtype=dtype))


def make_nested(lib):
    """A module with a parameter, a buffer, a Sequential, a nested custom module and a bias-free
    layer, in the same shape for autogradkit and torch."""
    nnl = lib.nn

    class Block(nnl.Module):
        def __init__(self):
            super().__init__()
            self.fc = nnl.Linear(4, 3)
            self.act = nnl.Tanh()
            self.register_buffer("running", lib.zeros(3))

        def forward(self, x):
            return self.act(self.fc(x)) + self.running

    class Net(nnl.Module):
        def __init__(self):
            super().__init__()
            self.scale = nnl.Parameter(lib.ones(3))
            self.encoder = nnl.Sequential(nnl.Linear(5, 4), nnl.ReLU())
            self.block = Block()
            self.head = nnl.Linear(3, 2, bias=False)

        def forward(self, x):
            return self.head(self.block(self.encoder(x)) * self.scale)

    return Net()


# ---- registration and traversal ---------------------------------------------------------------
def test_registration_and_traversal_match_torch():
    m, tm = make_nested(ag), make_nested(torch)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in tm.named_children()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [type(c).__name__ for c in m.children()] == [type(c).__name__ for c in tm.children()]
    assert [type(c).__name__ for c in m.modules()] == [type(c).__name__ for c in tm.modules()]
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in m.parameters())
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert m.encoder[0] is list(m.children())[0][0]
    assert "running" in m.block._buffers and "running" not in m.block._parameters


def test_state_dict_keys_and_shapes_equal_torchs():
    m, tm = make_nested(ag), make_nested(torch)
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd)
    assert [tuple(v.shape) for v in sd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert all(not v.requires_grad for v in sd.values())
    assert list(build_mlp(ag, ag.float64).state_dict()) == list(build_mlp(torch, torch.float64).state_dict())


def test_state_dict_shares_numbers_with_the_parameters():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    with ag.no_grad():
        sd["weight"].fill_(7.0)
    assert np.all(np_(lin.weight) == 7.0)       # as in torch: detached, not copied


def test_shared_submodule_appears_under_every_name_like_torch():
    def build(lib):
        class Tied(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = lib.nn.Linear(2, 2)
                self.b = self.a
        return Tied()

    m, tm = build(ag), build(torch)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert len(list(m.modules())) == len(list(tm.modules())) == 2
    copy_torch_weights(tm, m)                   # a torch checkpoint with the aliased keys loads
    np.testing.assert_array_equal(np_(m.a.weight), tm.a.weight.detach().numpy())


def test_reassigning_a_buffer_keeps_it_a_buffer():
    m, tm = make_nested(ag), make_nested(torch)
    m.block.running = ag.ones(3)
    tm.block.running = torch.ones(3)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert np.all(np_(m.state_dict()["block.running"]) == 1)


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused_like_torch():
    lin, tlin = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with pytest.raises(TypeError):
        tlin.weight = torch.zeros(2, 3)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = ag.zeros(2, 3)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    lin.bias, tlin.bias = None, None            # None is allowed and keeps the slot
    assert lin.bias is None
    assert list(lin.state_dict()) == list(tlin.state_dict()) == ["weight"]
    assert list(lin._parameters) == list(tlin._parameters) == ["weight", "bias"]
    seq = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError):
        seq.__setattr__("0", 3)


def test_sequential_indexing_slicing_append_and_named_layers_like_torch():
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(1, 2), lib.nn.ReLU(), lib.nn.Linear(2, 3))
    s, ts = build(ag), build(torch)
    assert list(s[1:].state_dict()) == list(ts[1:].state_dict()) == ["2.weight", "2.bias"]
    assert repr(s[::2]) == repr(ts[::2])
    assert s[-1] is list(s)[2] and len(s) == len(ts) == 3
    s.append(nn.Tanh())
    ts.append(torch.nn.Tanh())
    assert repr(s) == repr(ts)
    named = nn.Sequential(OrderedDict(enc=nn.Linear(2, 2), act=nn.ReLU()))
    tnamed = torch.nn.Sequential(OrderedDict(enc=torch.nn.Linear(2, 2), act=torch.nn.ReLU()))
    assert repr(named) == repr(tnamed)
    assert list(named.state_dict()) == list(tnamed.state_dict()) == ["enc.weight", "enc.bias"]
    assert named.enc is named[0]


def test_assigning_before_init_and_missing_forward_raise_like_torch():
    class NoInit(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="__init__"):
        NoInit()
    with pytest.raises(NotImplementedError):
        nn.Module()(ag.ones(1))


def test_call_runs_forward():
    class Twice(nn.Module):
        def forward(self, x, k=2):
            return x * k

    out = Twice()(ag.tensor([1.0, 2.0]), k=3)
    np.testing.assert_array_equal(np_(out), [3.0, 6.0])


# ---- load_state_dict ------------------------------------------------------------------------
def test_load_torch_state_dict_gives_identical_outputs():
    torch.manual_seed(0)
    tm = make_nested(torch).double()
    with torch.no_grad():
        tm.block.running.copy_(torch.randn(3, dtype=torch.float64))
        tm.scale.copy_(torch.randn(3, dtype=torch.float64))
    m = make_nested(ag).double()
    result = m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = rng().standard_normal((6, 5))
    out, tout = m(ag.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_allclose(np_(out), tout.detach().numpy(), **TOL)
    # and back: autogradkit's weights loaded into torch give the same outputs
    m2 = make_nested(ag).double()
    tm2 = make_nested(torch).double()
    tm2.load_state_dict({k: torch.tensor(np_(v)) for k, v in m2.state_dict().items()})
    np.testing.assert_allclose(np_(m2(ag.tensor(x))), tm2(torch.tensor(x)).detach().numpy(), **TOL)


def test_load_state_dict_accepts_tensors_and_keeps_parameter_identity():
    src, dst = build_mlp(ag, ag.float64), build_mlp(ag, ag.float64)
    params_before = list(dst.parameters())
    dst.load_state_dict(src.state_dict())
    assert all(a is b for a, b in zip(dst.parameters(), params_before))
    for (k, a), b in zip(dst.state_dict().items(), src.state_dict().values()):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=k)
        assert dst.state_dict()[k].dtype == ag.float64
    assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in dst.parameters())
    # as torch: loading casts into the parameter's own dtype
    lin = nn.Linear(2, 2, dtype=ag.float64)
    lin.load_state_dict({"weight": np.ones((2, 2), np.float32), "bias": ag.zeros(2)})
    assert lin.weight.dtype == ag.float64 and lin.bias.dtype == ag.float64


def _snapshot(m):
    return {k: np_(v).copy() for k, v in m.state_dict().items()}


def _assert_unchanged(m, snap):
    now = _snapshot(m)
    assert now.keys() == snap.keys()
    for k in snap:
        np.testing.assert_array_equal(now[k], snap[k], err_msg=k)


def test_load_state_dict_strict_missing_and_unexpected_keys_named_and_nothing_changed():
    m = make_nested(ag)
    snap = _snapshot(m)
    good = {k: np.full(v.shape, 5.0, np.float32) for k, v in snap.items()}
    bad = {k: v for k, v in good.items() if k != "block.fc.bias"}
    bad["block.extra"] = np.zeros(2, np.float32)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    assert "block.fc.bias" in msg and "block.extra" in msg
    assert re.search("missing", msg, re.I) and re.search("unexpected", msg, re.I)
    _assert_unchanged(m, snap)          # every other key was valid, yet nothing was copied
    # torch refuses the same dict
    tm = make_nested(torch)
    with pytest.raises(RuntimeError):
        tm.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})


def test_load_state_dict_shape_mismatch_named_and_nothing_changed_even_non_strict():
    m = make_nested(ag)
    snap = _snapshot(m)
    bad = {k: np.full(v.shape, 5.0, np.float32) for k, v in snap.items()}
    bad["head.weight"] = np.zeros((3, 3), np.float32)
    for strict in (True, False):
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(bad, strict=strict)
        msg = str(info.value)
        assert "head.weight" in msg and "(3, 3)" in msg and "(2, 3)" in msg
        _assert_unchanged(m, snap)
    tm = make_nested(torch)               # torch also raises for a size mismatch with strict=False
    with pytest.raises(RuntimeError):
        tm.load_state_dict({k: torch.tensor(v) for k, v in bad.items()}, strict=False)


def test_load_state_dict_non_strict_reports_and_loads_the_rest_like_torch():
    m, tm = make_nested(ag), make_nested(torch)
    partial = {k: np.full(tuple(v.shape), 2.0, np.float32) for k, v in tm.state_dict().items()
               if k.startswith("encoder")}
    partial["nope"] = np.zeros(1, np.float32)
    res = m.load_state_dict(partial, strict=False)
    tres = tm.load_state_dict({k: torch.tensor(v) for k, v in partial.items()}, strict=False)
    assert res.missing_keys == tres.missing_keys
    assert res.unexpected_keys == tres.unexpected_keys
    assert np.all(np_(m.encoder[0].weight) == 2.0)


# ---- modes, dtype, gradients --------------------------------------------------------------
def test_train_eval_propagate_and_return_self():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    assert m.train() is m and all(x.training for x in m.modules())
    m.train(False)
    assert not any(x.training for x in m.modules())


def test_train_eval_affect_dropout():
    ag.manual_seed(0)
    m = nn.Sequential(nn.Identity(), nn.Dropout(0.5))
    x = ag.ones(1000, dtype=ag.float64)
    y = np_(m(x))
    assert set(np.unique(y)) == {0.0, 2.0}
    m.eval()
    np.testing.assert_array_equal(np_(m(x)), np_(x))
    m.train()
    assert set(np.unique(np_(m(x)))) == {0.0, 2.0}


def test_to_float64_converts_parameters_in_place():
    m = make_nested(ag)
    m.block.register_buffer("count", ag.tensor(3))     # an integer buffer, like num_batches_tracked
    tm = make_nested(torch)
    tm.block.register_buffer("count", torch.tensor(3))
    params = list(m.parameters())
    m.encoder[0].weight.grad = ag.ones(4, 5)
    assert m.to(ag.float64) is m
    tm.to(torch.float64)
    assert all(a is b for a, b in zip(m.parameters(), params))       # same objects: optimizers stay valid
    assert all(isinstance(p, nn.Parameter) and p.is_leaf and p.requires_grad for p in m.parameters())
    for (k, v), tv in zip(m.state_dict().items(), tm.state_dict().values()):
        assert str(v.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], k
    assert m.encoder[0].weight.grad.dtype == ag.float64
    out = m(ag.randn(2, 5, dtype=ag.float64))
    assert out.dtype == ag.float64
    assert m.to("cpu") is m and m.cpu() is m and m.double() is m
    m.float()
    assert all(p.dtype == ag.float32 for p in m.parameters())
    assert m.block.count.dtype == ag.int64


def test_module_zero_grad():
    m = build_mlp(ag, ag.float64)
    m(ag.randn(4, 10, dtype=ag.float64)).sum().backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None for g in grads)
    m.zero_grad(set_to_none=False)
    assert all(p.grad is g and np.all(np_(g) == 0) for p, g in zip(m.parameters(), grads))
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# ---- repr ---------------------------------------------------------------------------------
def _repr_model(lib):
    nnl = lib.nn
    return nnl.Sequential(
        nnl.Flatten(), nnl.Linear(784, 128), nnl.ReLU(), nnl.Dropout(0.25),
        nnl.Sequential(nnl.Linear(128, 64, bias=False), nnl.Tanh(), nnl.Sigmoid()),
        nnl.Identity(), nnl.Linear(64, 10), nnl.Softmax(dim=1), nnl.LogSoftmax(dim=-1))


def test_sequential_repr_equals_torchs():
    assert repr(_repr_model(ag)) == repr(_repr_model(torch))
    assert repr(build_mlp(ag, None)) == repr(build_mlp(torch, None))


def test_custom_module_and_loss_reprs_equal_torchs():
    assert repr(make_nested(ag)) == repr(make_nested(torch))
    for name in ("MSELoss", "L1Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "NLLLoss"):
        for red in ("mean", "sum", "none"):
            assert repr(getattr(nn, name)(reduction=red)) == repr(getattr(torch.nn, name)(reduction=red))


# ---- Linear initialisation -----------------------------------------------------------------
def test_linear_init_is_uniform_within_one_over_sqrt_fan_in():
    ag.manual_seed(1234)
    fan_in, fan_out = 400, 2500                 # 1e6 weights; fan_out != fan_in on purpose
    lin = nn.Linear(fan_in, fan_out, dtype=ag.float64)
    bound = 1 / math.sqrt(fan_in)
    w, b = np_(lin.weight).ravel(), np_(lin.bias)
    assert lin.weight.shape == (fan_out, fan_in) and lin.bias.shape == (fan_out,)
    for values in (w, b):
        assert values.min() >= -bound and values.max() <= bound
    # U(-a, a): mean 0, std a/√3, and it reaches close to both ends
    n = w.size
    sd = bound / math.sqrt(3)
    assert abs(w.mean()) < 5 * sd / math.sqrt(n)
    assert abs(w.std() / sd - 1) < 0.01
    assert w.max() > 0.999 * bound and w.min() < -0.999 * bound
    # uniform, not e.g. normal or triangular: each tenth of the range holds ~10% (5 sigma)
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts / n - 0.1) < 5 * math.sqrt(0.1 * 0.9 / n))
    # the bias uses the same bound (fan_in), not 1/√fan_out
    assert abs(b.std() / sd - 1) < 0.1 and b.max() > 0.9 * bound
    # and torch's layer of the same shape draws from the same distribution
    torch.manual_seed(0)
    tw = torch.nn.Linear(fan_in, 500).weight.detach().numpy().ravel()
    assert abs(tw.std() / w.std() - 1) < 0.02 and abs(np.abs(tw).max() / np.abs(w).max() - 1) < 0.01


def test_linear_init_reproducible_with_manual_seed():
    ag.manual_seed(7)
    a = nn.Linear(5, 3)
    ag.manual_seed(7)
    b = nn.Linear(5, 3)
    c = nn.Linear(5, 3)
    np.testing.assert_array_equal(np_(a.weight), np_(b.weight))
    np.testing.assert_array_equal(np_(a.bias), np_(b.bias))
    assert not np.array_equal(np_(b.weight), np_(c.weight))
    assert a.weight.dtype == ag.float32


def test_linear_forward_backward_vs_torch_including_3d_input_and_no_bias():
    torch.manual_seed(0)
    for bias in (True, False):
        tl = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
        lin = nn.Linear(4, 3, bias=bias, dtype=ag.float64)
        copy_torch_weights(tl, lin)
        xv = rng(1).standard_normal((2, 5, 4))
        gv = rng(2).standard_normal((2, 5, 3))
        x, tx = ag.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
        out, tout = lin(x), tl(tx)
        np.testing.assert_allclose(np_(out), tout.detach().numpy(), **TOL)
        (out * ag.tensor(gv)).sum().backward()
        (tout * torch.tensor(gv)).sum().backward()
        np.testing.assert_allclose(np_(x.grad), tx.grad.numpy(), **TOL)
        np.testing.assert_allclose(np_(lin.weight.grad), tl.weight.grad.numpy(), **TOL)
        if bias:
            np.testing.assert_allclose(np_(lin.bias.grad), tl.bias.grad.numpy(), **TOL)
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(4, 3)(ag.ones(2, 5))


# ---- losses vs torch -------------------------------------------------------------------------
def _loss_case(name):
    """(autogradkit inputs, torch inputs, which inputs need gradients) for a loss."""
    r = rng(hash(name) % 1000)
    if name in ("MSELoss", "L1Loss"):
        a = r.standard_normal((4, 3))
        b = r.standard_normal((4, 3))
        b[0, 0] = a[0, 0]               # a tie: L1's gradient there is 0 in torch
        return [a, b], [True, True]
    if name == "CrossEntropyLoss":
        logits = r.standard_normal((5, 4)) * 3
        logits[0] = [1000.0, -1000.0, 0.0, 5.0]
        logits[1] = [-1000.0, 1000.0, -1000.0, 1000.0]
        return [logits, np.array([0, 2, 3, 1, 1])], [True, False]
    if name == "CrossEntropyLoss-probs":
        logits = r.standard_normal((5, 4)) * 3
        logits[0] = [1000.0, -1000.0, 0.0, 5.0]
        p = r.random((5, 4))
        return [logits, p / p.sum(1, keepdims=True)], [True, True]
    if name == "NLLLoss":
        x = r.standard_normal((5, 4))
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        return [logp, np.array([3, 0, 0, 2, 1])], [True, False]
    if name == "BCEWithLogitsLoss":
        x = r.standard_normal((3, 4)) * 2
        x[0, :3] = [1000.0, -1000.0, 0.0]
        return [x, r.random((3, 4))], [True, True]
    raise KeyError(name)


LOSSES = ["MSELoss", "L1Loss", "CrossEntropyLoss", "CrossEntropyLoss-probs", "NLLLoss",
          "BCEWithLogitsLoss"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_values_and_gradients_match_torch(name, reduction):
    arrays, needs = _loss_case(name)
    cls = name.split("-")[0]
    ins = [ag.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    tins = [torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    out = getattr(nn, cls)(reduction=reduction)(*ins)
    tout = getattr(torch.nn, cls)(reduction=reduction)(*tins)
    assert tuple(out.shape) == tuple(tout.shape)
    assert out.dtype == ag.float64
    np.testing.assert_allclose(np_(out), tout.detach().numpy(), **TOL)
    assert np.all(np.isfinite(np_(out)))
    upstream = rng(5).standard_normal(tuple(tout.shape))
    (out * ag.tensor(upstream)).sum().backward()
    (tout * torch.tensor(upstream)).sum().backward()
    for i, (x, tx) in enumerate(zip(ins, tins)):
        if needs[i]:
            assert np.all(np.isfinite(np_(x.grad)))
            np.testing.assert_allclose(np_(x.grad), tx.grad.numpy(), err_msg=f"grad of input {i}",
                                       **TOL)


def test_cross_entropy_with_huge_logits_stays_finite_and_exact():
    logits = ag.tensor([[1000.0, -1000.0], [-1000.0, 1000.0], [1000.0, 1000.0]], dtype=ag.float64,
                       requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, ag.tensor([0, 0, 1]))
    # per sample: 0, 2000, log 2  (maths, not a reference run)
    assert loss.item() == pytest.approx((0 + 2000 + math.log(2)) / 3, rel=1e-12)
    loss.backward()
    g = np_(logits.grad)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, np.array([[0, 0], [-1, 1], [0.5, -0.5]]) / 3, atol=1e-15)


def test_cross_entropy_float32_huge_logits_finite():
    logits = ag.tensor([[1e4, -1e4, 0.0]], dtype=ag.float32, requires_grad=True)
    loss = F.cross_entropy(logits, ag.tensor([1]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(2e4)
    assert np.all(np.isfinite(np_(logits.grad)))


@pytest.mark.parametrize("cls", ["MSELoss", "L1Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "NLLLoss"])
def test_bad_reduction_is_refused(cls):
    with pytest.raises(ValueError):
        getattr(torch.nn, cls)(reduction="avg")(*[torch.tensor(a) for a in _loss_case(cls)[0]])
    with pytest.raises(ValueError, match="reduction"):
        getattr(nn, cls)(reduction="avg")


def test_loss_input_errors():
    with pytest.raises(IndexError):
        F.cross_entropy(ag.zeros(2, 3), ag.tensor([0, 3]))
    with pytest.raises(TypeError):
        F.nll_loss(ag.zeros(2, 3), ag.tensor([0.0, 1.0], dtype=ag.float64).reshape(2, 1).sum(1))
    with pytest.raises(ValueError):
        F.cross_entropy(ag.zeros(2, 3), ag.zeros(2, 4))        # probability target of another shape
    with pytest.raises(ValueError):
        F.l1_loss(ag.zeros(2, 3), ag.zeros(3, 2))


# ---- nn.functional ---------------------------------------------------------------------------
FUNCTIONAL = {
    "relu": (lambda f, x: f.relu(x)),
    "tanh": (lambda f, x: f.tanh(x)),
    "sigmoid": (lambda f, x: f.sigmoid(x)),
    "softmax": (lambda f, x: f.softmax(x, dim=1)),
    "softmax0": (lambda f, x: f.softmax(x, dim=0)),
    "log_softmax": (lambda f, x: f.log_softmax(x, dim=1)),
    "dropout_eval": (lambda f, x: f.dropout(x, p=0.3, training=False)),
    "dropout_p0": (lambda f, x: f.dropout(x, p=0.0, training=True)),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_matches_torch(name):
    xv = rng(3).standard_normal((4, 5)) * 4
    xv[0, 0] = 0.0                       # relu's kink: torch's gradient there is 0
    xv[1, :] = [800.0, -800.0, 0.0, 1.0, 2.0]
    gv = rng(4).standard_normal((4, 5))
    x, tx = ag.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    out, tout = FUNCTIONAL[name](F, x), FUNCTIONAL[name](TF, tx)
    np.testing.assert_allclose(np_(out), tout.detach().numpy(), **TOL)
    (out * ag.tensor(gv)).sum().backward()
    (tout * torch.tensor(gv)).sum().backward()
    np.testing.assert_allclose(np_(x.grad), tx.grad.numpy(), **TOL)


def test_functional_linear_and_losses_equal_modules_and_torch():
    r = rng(8)
    x, w, b = r.standard_normal((3, 4)), r.standard_normal((2, 4)), r.standard_normal(2)
    y = r.standard_normal((3, 2))
    for with_bias in (True, False):
        out = F.linear(ag.tensor(x), ag.tensor(w), ag.tensor(b) if with_bias else None)
        tout = TF.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b) if with_bias else None)
        np.testing.assert_allclose(np_(out), tout.numpy(), **TOL)
    for fname, mname in (("mse_loss", "MSELoss"), ("l1_loss", "L1Loss"),
                         ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss")):
        target = 1 / (1 + np.exp(-y))
        for red in ("mean", "sum", "none"):
            f_out = getattr(F, fname)(ag.tensor(y), ag.tensor(target), reduction=red)
            m_out = getattr(nn, mname)(reduction=red)(ag.tensor(y), ag.tensor(target))
            t_out = getattr(TF, fname)(torch.tensor(y), torch.tensor(target), reduction=red)
            np.testing.assert_allclose(np_(f_out), t_out.numpy(), **TOL)
            np.testing.assert_array_equal(np_(f_out), np_(m_out))
    logits, t = r.standard_normal((3, 4)), np.array([1, 0, 3])
    np.testing.assert_allclose(np_(F.cross_entropy(ag.tensor(logits), ag.tensor(t))),
                               TF.cross_entropy(torch.tensor(logits), torch.tensor(t)).numpy(), **TOL)


@pytest.mark.parametrize("cls,kwargs,fname", [
    ("ReLU", {}, "relu"), ("Tanh", {}, "tanh"), ("Sigmoid", {}, "sigmoid"),
    ("Softmax", {"dim": 1}, "softmax"), ("LogSoftmax", {"dim": 1}, "log_softmax"),
    ("Softmax", {"dim": 0}, "softmax"), ("Flatten", {}, None), ("Identity", {}, None)])
def test_activation_modules_match_torch(cls, kwargs, fname):
    xv = rng(9).standard_normal((3, 4, 2))
    out = getattr(nn, cls)(**kwargs)(ag.tensor(xv))
    tout = getattr(torch.nn, cls)(**kwargs)(torch.tensor(xv))
    np.testing.assert_allclose(np_(out), tout.numpy(), **TOL)
    assert tuple(out.shape) == tuple(tout.shape)


# ---- Dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scaling_statistics_and_gradient(p):
    ag.manual_seed(11)
    n = 200_000
    x = ag.full((n,), 3.0, dtype=ag.float64, requires_grad=True)
    y = nn.Dropout(p)(x)
    yv = np_(y)
    kept = yv != 0
    np.testing.assert_allclose(yv[kept], 3.0 / (1 - p), rtol=1e-15)      # survivors scaled by 1/(1-p)
    frac_dropped = 1 - kept.mean()
    assert abs(frac_dropped - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert abs(yv.mean() / 3.0 - 1) < 5 * math.sqrt(p / (1 - p) / n)      # unbiased in expectation
    y.sum().backward()
    np.testing.assert_array_equal(np_(x.grad), np.where(kept, 1 / (1 - p), 0.0))


def test_dropout_eval_identity_edge_cases_and_errors():
    x = ag.randn(5, 6, dtype=ag.float64)
    d = nn.Dropout(0.9).eval()
    np.testing.assert_array_equal(np_(d(x)), np_(x))
    np.testing.assert_array_equal(np_(F.dropout(x, 0.5, training=False)), np_(x))
    np.testing.assert_array_equal(np_(nn.Dropout(0.0)(x)), np_(x))
    np.testing.assert_array_equal(np_(nn.Dropout(1.0)(x)), np.zeros((5, 6)))
    np.testing.assert_array_equal(np_(nn.Dropout(1.0)(x)),
                                  TF.dropout(torch.tensor(np_(x)), 1.0).numpy())
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            torch.nn.Dropout(p)
        with pytest.raises(ValueError):
            nn.Dropout(p)
        with pytest.raises(ValueError):
            F.dropout(x, p)


def test_dropout_reproducible_with_manual_seed():
    x = ag.ones(50)
    ag.manual_seed(3)
    a = np_(nn.Dropout(0.5)(x))
    ag.manual_seed(3)
    b = np_(nn.Dropout(0.5)(x))
    c = np_(nn.Dropout(0.5)(x))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


# ---- the article's network --------------------------------------------------------------------
def test_article_network_forward_backward_equal_torch():
    torch.manual_seed(42)
    tnet = build_mlp(torch, torch.float64)
    net = build_mlp(ag, ag.float64)
    copy_torch_weights(tnet, net)
    r = rng(42)
    xv, yv = r.standard_normal((32, 10)), r.standard_normal((32, 1))
    loss = nn.MSELoss()(net(ag.tensor(xv)), ag.tensor(yv))
    tloss = torch.nn.MSELoss()(tnet(torch.tensor(xv)), torch.tensor(yv))
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    loss.backward()
    tloss.backward()
    for (k, p), (tk, tp) in zip(net.named_parameters(), tnet.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(np_(p.grad), tp.grad.numpy(), err_msg=k, **TOL)


def test_article_network_float32_default_dtype_close_to_torch():
    torch.manual_seed(1)
    tnet = build_mlp(torch, None)
    net = build_mlp(ag, None)
    copy_torch_weights(tnet, net)
    xv = rng(1).standard_normal((8, 10)).astype(np.float32)
    yv = rng(2).standard_normal((8, 1)).astype(np.float32)
    loss = F.mse_loss(net(ag.tensor(xv)), ag.tensor(yv))
    tloss = TF.mse_loss(tnet(torch.tensor(xv)), torch.tensor(yv))
    assert loss.dtype == ag.float32
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
    loss.backward()
    tloss.backward()
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(np_(p.grad), tp.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_nn_and_optim_reachable_from_the_package_like_torch():
    import subprocess
    import sys
    code = "import autogradkit as ag; ag.nn.Linear; ag.optim.SGD"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_cross_entropy_graph_matches_pytorchs():
    """CrossEntropyLoss records NllLossBackward0 <- LogSoftmaxBackward0, as PyTorch does."""
    torch = pytest.importorskip("torch")
    z = ag.randn(4, 3, requires_grad=True)
    loss = ag.nn.CrossEntropyLoss()(z, ag.tensor([0, 2, 1, 1]))
    tz = torch.tensor(z.detach().numpy(), requires_grad=True)
    tloss = torch.nn.CrossEntropyLoss()(tz, torch.tensor([0, 2, 1, 1]))

    def chain(fn):
        names = []
        while fn is not None:
            names.append(type(fn).__name__ if hasattr(fn, "next_functions") and not hasattr(fn, "formula")
                         else fn.name())
            nxt = [n for n, _ in fn.next_functions if n is not None]
            fn = nxt[0] if nxt else None
        return names

    assert chain(loss.grad_fn) == chain(tloss.grad_fn)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bias_shape", [(4,), (1, 4), (5, 4), ()])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 5, 3)])
def test_linear_records_like_torch_for_every_bias_shape(bias_shape, x_shape):
    """F.linear accepts any bias that broadcasts, as PyTorch does, with PyTorch's graph names."""
    torch = pytest.importorskip("torch")
    if len(x_shape) == 3 and bias_shape == (5, 4):
        bias_shape = (1, 5, 4)[1:]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in (x_shape, (4, 3), bias_shape)]
    results = []
    for lib in (ag, torch):
        x, w, b = (lib.tensor(a, requires_grad=True) for a in arrays)
        y = lib.nn.functional.linear(x, w, b)
        (y * y).sum().backward()
        names = [y.grad_fn.name()] + [n.name() if n is not None else None
                                      for n, _ in y.grad_fn.next_functions]
        results.append((names, [t.grad.detach().numpy() for t in (x, w, b)]))
    (names, grads), (torch_names, torch_grads) = results
    assert names[0] == torch_names[0]
    for g, tg in zip(grads, torch_grads):
        np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)


# ---- ModuleList and Flatten ---------------------------------------------------------------------
def _stack(m):
    """The same ModuleList built in either library: constructor, append, extend, insert."""
    layers = m.nn.ModuleList([m.nn.Linear(4, 3, dtype=m.float64)])
    layers.append(m.nn.Tanh())
    layers.extend([m.nn.Linear(3, 2, dtype=m.float64), m.nn.ReLU()])
    layers.insert(1, m.nn.Identity())
    return layers


class _Holder:
    """A module that keeps its layers in a ModuleList (built for either library)."""

    @staticmethod
    def make(m):
        class Net(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.flat = m.nn.Flatten()
                self.layers = _stack(m)

            def forward(self, x):
                x = self.flat(x)
                for layer in self.layers:
                    x = layer(x)
                return x
        return Net()


def test_module_list_state_dict_keys_len_indexing_like_torch():
    ours, theirs = _stack(ag), _stack(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) \
        == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert len(ours) == len(theirs) == 5
    assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs]
    assert type(ours[-2]).__name__ == "Linear" and ours[-2] is ours[3]
    assert isinstance(ours[1:3], nn.ModuleList) and len(ours[1:3]) == 2
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 4
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    with pytest.raises(IndexError):
        ours[5]
    with pytest.raises(NotImplementedError):
        ours(ag.zeros(2, 4))


def test_module_list_setitem_delitem_renumber_like_torch():
    keys = []
    for m in (ag, torch):
        layers = _stack(m)
        layers[1] = m.nn.Linear(4, 4, dtype=m.float64)
        del layers[0]
        keys.append(list(layers.state_dict()))
        assert len(layers) == 4
    assert keys[0] == keys[1]


def test_module_list_in_a_module_matches_torch_outputs_and_gradients():
    ours, theirs = _Holder.make(ag), _Holder.make(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.state_dict())[0] == "layers.0.weight"
    ours.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    x = rng(1).standard_normal((5, 2, 2))
    yt = theirs(torch.tensor(x))
    ya = ours(ag.tensor(x))
    np.testing.assert_allclose(ya.detach().numpy(), np_(yt), **TOL)
    yt.sum().backward()
    ya.sum().backward()
    for (n, pa), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(pa.grad.numpy(), pt.grad.numpy(), err_msg=n, **TOL)


@pytest.mark.parametrize("args", [{}, {"start_dim": 0}, {"start_dim": 1, "end_dim": 2},
                                  {"end_dim": -2}, {"start_dim": -2}])
def test_flatten_module_matches_torch(args):
    x = rng(2).standard_normal((2, 3, 4, 5))
    ours, theirs = nn.Flatten(**args), torch.nn.Flatten(**args)
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours(ag.tensor(x)).numpy(), np_(theirs(torch.tensor(x))))
