"""Modules added for issue 15, against PyTorch: ``LayerNorm`` (and ``F.layer_norm``),
``LazyLinear``, ``Flatten``'s defaults, ``Softplus`` and ``LogSigmoid``, the convolutional layers
that refuse with a clear error, and ``MSELoss``/``L1Loss`` result dtypes with integer targets.

Every expected value comes from running the same code through PyTorch; nothing is hard-coded.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autogradkit as ag  # noqa: E402
import autogradkit.optim  # noqa: E402,F401
from autogradkit import nn, optim  # noqa: E402
from autogradkit.autograd import forward_ad as fwAD  # noqa: E402
import autogradkit.nn.functional as F  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}
LIBS = (ag, torch)


def np_(t):
    return t.detach().numpy()


def both(fn):
    """fn(lib) for autogradkit and torch."""
    return fn(ag), fn(torch)


def assert_same_signature(ours, theirs):
    """The same parameter names, in order, with the same defaults and kinds."""
    a, b = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
    assert list(a) == list(b)
    for k in a:
        assert (a[k].default, a[k].kind) == (b[k].default, b[k].kind), k


def assert_close(got, want, dtype):
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(np_(got), np_(want), **TOL[dtype])


# ---- LayerNorm -----------------------------------------------------------------------------------
LN_CASES = [  # (normalized_shape as written, input shape, keyword arguments)
    (4, (5, 4), {}),
    (4, (2, 3, 4), {}),
    ((3, 4), (2, 3, 4), {}),
    ([2, 3, 4], (2, 3, 4), dict(eps=1e-3)),
    (4, (6, 4), dict(elementwise_affine=False)),
    ((3, 4), (2, 3, 4), dict(bias=False)),
    (8, (8,), {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,xshape,kwargs", LN_CASES, ids=[str(c) for c in range(len(LN_CASES))])
def test_layernorm_values_and_all_gradients_equal_torchs(shape, xshape, kwargs, dtype):
    r = np.random.default_rng(0)
    xv = 3 * r.standard_normal(xshape) + 1
    weights = [r.standard_normal((shape,) if isinstance(shape, int) else tuple(shape)) for _ in range(2)]
    rv = r.standard_normal(xshape)       # a weighted sum, so the input's gradient isn't zero

    def go(lib):
        dt = getattr(lib, dtype)
        m = lib.nn.LayerNorm(shape, dtype=dt, **kwargs)
        with lib.no_grad():
            for p, v in zip(m.parameters(), weights):
                p.copy_(lib.tensor(v))
        x = lib.tensor(xv, dtype=dt, requires_grad=True)
        out = m(x)
        (out * lib.tensor(rv, dtype=dt)).sum().backward()
        return out, x.grad, [p.grad for p in m.parameters()], [n for n, _ in m.named_parameters()]
    (out, gx, gp, names), (tout, tgx, tgp, tnames) = both(go)
    assert names == tnames
    assert_close(out, tout, dtype)
    assert_close(gx, tgx, dtype)
    for g, tg in zip(gp, tgp):
        assert_close(g, tg, dtype)
    assert out.grad_fn is not None


@pytest.mark.parametrize("kwargs", [{}, dict(elementwise_affine=False), dict(bias=False, eps=1e-3)])
def test_layernorm_initial_parameters_and_repr_equal_torchs(kwargs):
    m, tm = (lib.nn.LayerNorm((2, 3), **kwargs) for lib in LIBS)
    assert repr(m) == repr(tm)
    assert m.normalized_shape == tm.normalized_shape == (2, 3)
    assert m.eps == tm.eps and m.elementwise_affine == tm.elementwise_affine
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    for p, tp in zip(m.parameters(), tm.parameters()):
        np.testing.assert_array_equal(np_(p), np_(tp))
        assert p.dtype == ag.float32 and p.requires_grad
    assert (m.weight is None) == (tm.weight is None) and (m.bias is None) == (tm.bias is None)
    assert repr(nn.LayerNorm(4)) == repr(torch.nn.LayerNorm(4))


def test_layernorm_signature_defaults_equal_torchs():
    assert_same_signature(nn.LayerNorm, torch.nn.LayerNorm)
    assert_same_signature(F.layer_norm, TF.layer_norm)


@pytest.mark.parametrize("with_affine", [False, True])
def test_functional_layer_norm_equals_torchs(with_affine):
    r = np.random.default_rng(1)
    xv, wv, bv = r.standard_normal((3, 2, 5)), r.standard_normal((2, 5)), r.standard_normal((2, 5))

    def go(lib):
        x = lib.tensor(xv, requires_grad=True)
        w, b = (lib.tensor(v, requires_grad=True) for v in (wv, bv))
        out = lib.nn.functional.layer_norm(x, [2, 5], w if with_affine else None,
                                           b if with_affine else None, eps=1e-4)
        (out ** 3).sum().backward()
        return [out, x.grad] + ([w.grad, b.grad] if with_affine else [])
    for got, want in zip(*both(go)):
        assert_close(got, want, "float64")


def test_layer_norm_gradcheck_and_gradgradcheck():
    r = np.random.default_rng(2)
    x = ag.tensor(r.standard_normal((3, 4)), requires_grad=True)
    w = ag.tensor(r.standard_normal(4), requires_grad=True)
    b = ag.tensor(r.standard_normal(4), requires_grad=True)
    fn = lambda x, w, b: F.layer_norm(x, (4,), w, b)  # noqa: E731
    assert ag.autograd.gradcheck(fn, (x, w, b))
    assert ag.autograd.gradgradcheck(fn, (x, w, b))


def test_layernorm_of_constant_rows_is_zero_with_finite_gradients_like_torch():
    def go(lib):
        x = lib.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        out = lib.nn.LayerNorm(3, dtype=lib.float64)(x)
        (out * lib.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], dtype=lib.float64)).sum().backward()
        return out, x.grad
    (out, g), (tout, tg) = both(go)
    assert_close(out, tout, "float64")
    assert_close(g, tg, "float64")
    assert np.all(np_(out)[0] == 0) and np.all(np.isfinite(np_(g)))


@pytest.mark.parametrize("shape,xshape", [(4, (2, 3)), ((3, 4), (2, 4, 3)), (4, ())])
def test_layernorm_shape_mismatch_raises_runtime_error_like_torch(shape, xshape):
    with pytest.raises(RuntimeError):
        torch.nn.LayerNorm(shape)(torch.ones(xshape))
    with pytest.raises(RuntimeError, match=r"normalized_shape=.*got input of size"):
        nn.LayerNorm(shape)(ag.ones(xshape))


def test_layernorm_double_and_training_with_sgd_equal_torch():
    r = np.random.default_rng(3)
    xv, yv = r.standard_normal((16, 6)), r.standard_normal((16, 1))

    def go(lib):
        lib.manual_seed(0)
        net = lib.nn.Sequential(lib.nn.Linear(6, 8), lib.nn.LayerNorm(8), lib.nn.ReLU(),
                                lib.nn.Linear(8, 1)).double()
        if lib is ag:
            net.load_state_dict({k: v.numpy() for k, v in torch_init.items()})
        opt = lib.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        x, y = lib.tensor(xv), lib.tensor(yv)
        for _ in range(10):
            opt.zero_grad()
            loss = lib.nn.MSELoss()(net(x), y)
            loss.backward()
            opt.step()
        return [p.detach() for p in net.parameters()] + [loss.detach()]
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 1)).double()
    torch_init = {k: v.clone() for k, v in tnet.state_dict().items()}
    want = go(torch)
    got = go(ag)
    for g, w in zip(got, want):
        assert_close(g, w, "float64")


# ---- LazyLinear ----------------------------------------------------------------------------------
def test_lazylinear_before_and_after_its_first_forward_like_torch():
    m, tm = nn.LazyLinear(3), torch.nn.LazyLinear(3)
    assert repr(m) == repr(tm) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    params = list(m.parameters())
    assert len(params) == 2 and all(isinstance(p, nn.UninitializedParameter) for p in params)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert [repr(p) for p in params] == [repr(p) for p in tm.parameters()]
    assert [str(p) for p in params] == [str(p) for p in tm.parameters()]
    for mod in (m, tm):
        with pytest.raises(RuntimeError, match="uninitialized"):
            mod.weight.shape
        with pytest.raises(ValueError, match="uninitialized parameter in .*numel"):
            sum(p.numel() for p in mod.parameters())
    y, ty = m(ag.ones(2, 5)), tm(torch.ones(2, 5))
    assert tuple(y.shape) == tuple(ty.shape) == (2, 3) and y.dtype == ag.float32
    assert type(m) is nn.Linear and type(tm) is torch.nn.Linear       # the class it becomes
    assert repr(m) == repr(tm) == "Linear(in_features=5, out_features=3, bias=True)"
    assert m.in_features == tm.in_features == 5
    assert list(m.parameters()) == params                             # the same objects
    assert all(type(p) is nn.Parameter for p in params)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert list(m.state_dict()) == list(tm.state_dict())


def test_lazylinear_initialises_as_linear_does_same_draws():
    ag.manual_seed(11)
    lin = nn.Linear(7, 4)
    ag.manual_seed(11)
    lazy = nn.LazyLinear(4)
    lazy(ag.zeros(2, 7))
    np.testing.assert_array_equal(np_(lazy.weight), np_(lin.weight))
    np.testing.assert_array_equal(np_(lazy.bias), np_(lin.bias))
    bound = 1 / np.sqrt(7)
    assert np.all(np.abs(np_(lazy.weight)) <= bound) and np.std(np_(lazy.weight)) > 0


@pytest.mark.parametrize("make", ["dtype", "double"])
def test_lazylinear_dtype_and_no_bias_like_torch(make):
    def go(lib):
        if make == "dtype":
            m = lib.nn.LazyLinear(2, bias=False, dtype=lib.float64)
        else:
            m = lib.nn.LazyLinear(2, bias=False).double()
        out = m(lib.ones(3, 4, dtype=lib.float64))
        return m, out
    (m, out), (tm, tout) = both(go)
    assert m.bias is None and tm.bias is None
    assert m.weight.dtype == ag.float64 and out.dtype == ag.float64 and tout.dtype == torch.float64
    assert repr(m) == repr(tm)


def test_lazylinear_first_call_records_the_graph_and_later_calls_check_in_features():
    m = nn.LazyLinear(3)
    x = ag.randn(4, 5)
    m(x).sum().backward()                       # the first call is an ordinary forward
    assert tuple(m.weight.grad.shape) == (3, 5)
    np.testing.assert_allclose(np_(m.weight.grad), np.tile(np_(x).sum(0), (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(np_(m.bias.grad), [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="in_features"):
        m(ag.randn(4, 6))
    with pytest.raises(ValueError, match="LazyLinear"):
        nn.LazyLinear(3)(ag.tensor(1.0))


@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                             ("Adam", dict(lr=0.01)), ("RMSprop", dict(lr=0.01))])
def test_optimizer_built_before_the_first_forward_trains_like_torch(opt_name, kwargs):
    r = np.random.default_rng(4)
    xv, yv = r.standard_normal((8, 5)), r.standard_normal((8, 2))

    def go(lib, init=None):
        m = lib.nn.LazyLinear(2, dtype=lib.float64)
        opt = getattr(lib.optim, opt_name)(m.parameters(), **kwargs)    # before shapes are known
        x, y = lib.tensor(xv), lib.tensor(yv)
        m(x)                                                            # dry run
        if init is not None:
            with lib.no_grad():
                m.weight.copy_(lib.tensor(init[0]))
                m.bias.copy_(lib.tensor(init[1]))
        start = [np_(m.weight).copy(), np_(m.bias).copy()]
        for _ in range(20):
            opt.zero_grad()
            loss = lib.nn.MSELoss()(m(x), y)
            loss.backward()
            opt.step()
        return start, [m.weight.detach(), m.bias.detach()]
    start, got = go(ag)
    _, want = go(torch, start)
    for g, w in zip(got, want):
        assert_close(g, w, "float64")


def test_adagrad_before_the_first_forward_refuses_like_torch():
    with pytest.raises(ValueError):
        torch.optim.Adagrad(torch.nn.LazyLinear(3).parameters())
    with pytest.raises(ValueError, match="uninitialized parameter.*dummy batch"):
        optim.Adagrad(nn.LazyLinear(3).parameters())
    m = nn.LazyLinear(3)
    m(ag.ones(1, 2))
    optim.Adagrad(m.parameters())                # after a dry run it works


def test_lazylinear_signature_equals_torchs():
    assert_same_signature(nn.LazyLinear, torch.nn.LazyLinear)


# ---- Flatten, Softplus, LogSigmoid -------------------------------------------------------------
@pytest.mark.parametrize("args", [(), (0,), (1, 2), (2, -1), (0, -1), (-3, -2)])
def test_flatten_defaults_and_results_equal_torchs(args):
    assert_same_signature(nn.Flatten, torch.nn.Flatten)
    xv = np.arange(120.0).reshape(2, 3, 4, 5)

    def go(lib):
        m = lib.nn.Flatten(*args)
        x = lib.tensor(xv, requires_grad=True)
        out = m(x)
        (out * lib.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)))).sum().backward()
        return repr(m), out, x.grad
    (rep, out, g), (trep, tout, tg) = both(go)
    assert rep == trep
    assert_close(out, tout, "float64")
    assert_close(g, tg, "float64")


@pytest.mark.parametrize("args", [(), (2.0,), (0.5, 3.0)])
def test_softplus_module_equals_torchs(args):
    xv = np.array([-30.0, -5.0, -1.0, 0.0, 0.5, 2.0, 7.0, 15.0, 40.0])
    for dtype in ("float32", "float64"):
        def go(lib):
            m = lib.nn.Softplus(*args)
            x = lib.tensor(xv, dtype=getattr(lib, dtype), requires_grad=True)
            out = m(x)
            out.sum().backward()
            return repr(m), out, x.grad
        (rep, out, g), (trep, tout, tg) = both(go)
        assert rep == trep
        assert_close(out, tout, dtype)
        assert_close(g, tg, dtype)


def test_logsigmoid_module_equals_torchs():
    xv = np.array([-200.0, -30.0, -1.0, 0.0, 1.0, 30.0, 200.0])
    for dtype in ("float32", "float64"):
        def go(lib):
            m = lib.nn.LogSigmoid()
            x = lib.tensor(xv, dtype=getattr(lib, dtype), requires_grad=True)
            out = m(x)
            out.sum().backward()
            return repr(m), out, x.grad
        (rep, out, g), (trep, tout, tg) = both(go)
        assert rep == trep == "LogSigmoid()"
        assert_close(out, tout, dtype)
        assert_close(g, tg, dtype)


def test_softplus_signature_equals_torchs():
    assert_same_signature(nn.Softplus, torch.nn.Softplus)


# ---- out of scope: convolutions ------------------------------------------------------------------
UNSUPPORTED = [("Conv1d", (1, 4, 3)), ("Conv2d", (3, 16, 3)), ("Conv3d", (1, 2, 3)),
               ("MaxPool1d", (2,)), ("MaxPool2d", (2,)), ("AvgPool2d", (2,)), ("BatchNorm2d", (16,))]


@pytest.mark.parametrize("name,args", UNSUPPORTED)
def test_convolutional_layers_refuse_with_a_clear_error(name, args):
    getattr(torch.nn, name)(*args)                      # what tutorial code writes
    cls = getattr(nn, name)
    assert issubclass(cls, nn.Module) and name in nn.__all__
    with pytest.raises(NotImplementedError) as info:
        cls(*args, padding=1) if name.startswith("Conv") else cls(*args)
    text = str(info.value)
    assert text.startswith(f"nn.{name}: autogradkit does not implement")
    assert "dense layers" in text and "nn.Linear" in text and "nn.Flatten()" in text
    assert f"torch.nn.{name}" in text


# ---- losses with integer targets ---------------------------------------------------------------
DTYPE_PAIRS = [("float32", "int64"), ("float32", "int32"), ("float64", "int64"),
               ("float32", "float64"), ("float32", "float32")]


@pytest.mark.parametrize("loss", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("xdt,ydt", DTYPE_PAIRS)
def test_loss_result_dtype_value_and_gradient_equal_torchs(loss, reduction, xdt, ydt):
    xv = np.array([[0.5, 2.25, -1.0], [3.0, 0.0, 7.5]])
    yv = np.array([[1, 2, -3], [3, 1, 4]])

    def go(lib):
        x = lib.tensor(xv, dtype=getattr(lib, xdt), requires_grad=True)
        y = lib.tensor(yv, dtype=getattr(lib, ydt))
        out = getattr(lib.nn, loss)(reduction=reduction)(x, y)
        out.sum().backward()
        return out, x.grad
    (out, g), (tout, tg) = both(go)
    assert_close(out, tout, "float32" if "float32" in (xdt, ydt) else "float64")
    assert_close(g, tg, "float32" if xdt == "float32" else "float64")


def test_mse_loss_int_target_functional_create_graph_and_forward_mode_like_torch():
    xv, yv = np.array([0.5, 2.0, -1.0]), np.array([1, 2, 4])

    def go(lib):
        x = lib.tensor(xv, dtype=lib.float32, requires_grad=True)
        y = lib.tensor(yv)
        loss = lib.nn.functional.mse_loss(x, y)
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        return loss, g, gg
    for got, want in zip(*both(go)):
        assert_close(got, want, "float32")
    # (torch's own forward mode refuses an int64 target: compare with its float32 one)
    for lib, fw, target in ((ag, fwAD, ag.tensor(yv)),
                            (torch, torch.autograd.forward_ad, torch.tensor(yv, dtype=torch.float32))):
        with fw.dual_level():
            x = fw.make_dual(lib.tensor(xv, dtype=lib.float32), lib.tensor([1.0, -2.0, 0.5]))
            primal, tangent = fw.unpack_dual(lib.nn.functional.mse_loss(x, target))
            if lib is ag:
                p_ag, t_ag = primal, tangent
    assert_close(p_ag, primal, "float32")
    assert_close(t_ag, tangent, "float32")


def test_d2l_style_lazy_sequential():
    # d2l.ai, "Lazy Initialization": the shapes appear after the first batch goes through
    def go(lib):
        net = lib.nn.Sequential(lib.nn.LazyLinear(256), lib.nn.ReLU(), lib.nn.LazyLinear(10))
        before = str(net[0].weight)
        out = net(lib.rand(2, 20))
        return (before, tuple(out.shape), [tuple(p.shape) for p in net.parameters()], repr(net),
                sum(p.numel() for p in net.parameters()))
    assert go(ag) == go(torch)


# ---- on a "cuda" device (the strict CuPy stand-in of tests/test_devices.py) -------------------------
@pytest.fixture
def cuda():
    strict_cupy = pytest.importorskip("strict_cupy")
    from autogradkit import backend
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


def _train_new_parts(device):
    ag.manual_seed(5)
    model = nn.Sequential(nn.LazyLinear(8, device=device), nn.LayerNorm(8, device=device),
                          nn.Softplus(beta=2.0), nn.Linear(8, 3, device=device), nn.LogSigmoid())
    r = np.random.default_rng(6)
    x = ag.tensor(r.standard_normal((5, 4)), dtype=ag.float32, device=device)
    y = ag.tensor(r.integers(-3, 0, (5, 3)), device=device)        # an int64 target
    model(x)                                                        # dry run: shapes known
    opts = [optim.RMSprop(model.parameters(), lr=0.01, momentum=0.5, centered=True,
                          weight_decay=0.01),
            optim.Adagrad(model.parameters(), lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)]
    out = []
    for step in range(4):
        loss = nn.MSELoss()(model(x), y) + nn.L1Loss()(model(x), y)
        for o in opts:
            o.zero_grad()
        loss.backward()
        opts[step % 2].step()
        out.append(loss.detach())
    return out + list(model.parameters())


def test_new_modules_optimizers_and_int_targets_on_cuda_match_cpu(cuda):
    cpu, gpu = _train_new_parts("cpu"), _train_new_parts("cuda")
    assert len(cpu) == len(gpu) > 4
    for got, want in zip(gpu, cpu):
        assert type(got._data) is cuda.ndarray
        assert got.dtype == want.dtype == ag.float32
        np.testing.assert_allclose(got._data.get(), want._data, rtol=1e-5, atol=1e-6)


def test_module_apply_visits_children_first_then_self_like_torch():
    """d2l's ``net.apply(init_weights)``: every submodule, depth first, children before parents."""
    def walk(lib):
        order = []
        net = lib.nn.Sequential(lib.nn.Linear(2, 3),
                                lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(3, 1)))

        def init_weights(m):
            order.append(type(m).__name__)
            if type(m) is lib.nn.Linear:
                lib.nn.init.normal_(m.weight, std=0.01)
                lib.nn.init.zeros_(m.bias)
        assert net.apply(init_weights) is net
        return order, [float(p.detach().abs().max()) for p in net.parameters()]

    order, sizes = walk(ag)
    assert order == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    assert sizes[1] == 0.0 and sizes[3] == 0.0 and 0 < sizes[0] < 0.1
    torch = pytest.importorskip("torch")
    assert walk(torch)[0] == order


ACTIVATIONS = [("relu", {}, "ReLU", {}), ("leaky_relu", {"negative_slope": 0.2}, "LeakyReLU",
               {"negative_slope": 0.2}), ("leaky_relu", {}, "LeakyReLU", {}),
               ("elu", {"alpha": 1.5}, "ELU", {"alpha": 1.5}), ("elu", {}, "ELU", {}),
               ("silu", {}, "SiLU", {})]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,kwargs,module,module_kwargs", ACTIVATIONS,
                         ids=[f"{a[0]}-{a[2]}{len(a[1])}" for a in ACTIVATIONS])
def test_activations_match_torch_at_kinks_and_extremes(fn, kwargs, module, module_kwargs, dtype):
    """Values and gradients (at 0 too: PyTorch's one-sided choices), finite at ±1000."""
    torch = pytest.importorskip("torch")
    x = np.array([-1000.0, -3.0, -0.5, 0.0, 0.5, 3.0, 1000.0], dtype=dtype)
    a = ag.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ya = getattr(F, fn)(a, **kwargs)
    yt = getattr(torch.nn.functional, fn)(t, **kwargs)
    (ya * ag.tensor(np.arange(1.0, 8.0, dtype=dtype))).sum().backward()
    (yt * torch.tensor(np.arange(1.0, 8.0, dtype=dtype))).sum().backward()
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=0)
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol, atol=0)
    assert np.isfinite(a.grad.numpy()).all() and ya.dtype == getattr(ag, dtype)
    m, mt = getattr(nn, module)(**module_kwargs), getattr(torch.nn, module)(**module_kwargs)
    assert repr(m) == repr(mt)
    np.testing.assert_allclose(m(ag.tensor(x)).numpy(), mt(torch.tensor(x)).numpy(), rtol=tol)


@pytest.mark.parametrize("module", ["ReLU", "LeakyReLU", "ELU", "SiLU"])
def test_inplace_is_accepted_printed_as_torch_and_computed_out_of_place(module):
    torch = pytest.importorskip("torch")
    m = getattr(nn, module)(inplace=True)
    assert repr(m) == repr(getattr(torch.nn, module)(inplace=True))
    x = ag.tensor([-1.0, 2.0])
    y = m(x)
    assert x.tolist() == [-1.0, 2.0]                       # the input is left as it was
    assert y.tolist() != x.tolist()                        # (every one changes -1)
    w = ag.tensor([-1.0, 2.0], requires_grad=True)
    (m(w * 1.0) * 3).sum().backward()                     # usable inside a recorded graph
    assert w.grad is not None


def test_elu_and_silu_pass_gradcheck():
    x = ag.tensor(np.array([-2.0, -0.3, 0.4, 1.7]), requires_grad=True)
    assert ag.autograd.gradcheck(lambda v: F.elu(v, alpha=0.7), (x,))
    assert ag.autograd.gradcheck(F.silu, (x,))
    assert ag.autograd.gradcheck(lambda v: F.leaky_relu(v, 0.1), (x,))


def _grad_sets(lib, dtype, scale):
    rng = np.random.default_rng(7)
    params = []
    for shape in [(3, 4), (4,), (2, 2, 2)]:
        p = lib.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        p.grad = lib.tensor((scale * rng.standard_normal(shape)).astype(dtype))
        params.append(p)
    params.append(lib.tensor(np.ones(2, dtype=dtype), requires_grad=True))   # no gradient
    return params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, float("inf")])
@pytest.mark.parametrize("scale,max_norm", [(1.0, 2.0), (0.05, 2.0), (10.0, 0.5)])
def test_clip_grad_norm_matches_torch(dtype, norm_type, scale, max_norm):
    """The returned norm, its dtype, and every gradient after clipping; a generator of
    parameters, one without a gradient."""
    torch = pytest.importorskip("torch")
    ours, theirs = _grad_sets(ag, dtype, scale), _grad_sets(torch, dtype, scale)
    n1 = nn.utils.clip_grad_norm_((p for p in ours), max_norm, norm_type=norm_type)
    n2 = torch.nn.utils.clip_grad_norm_((p for p in theirs), max_norm, norm_type=norm_type)
    tol = 2e-6 if dtype == "float32" else 1e-12
    assert isinstance(n1, ag.Tensor) and n1.dtype == getattr(ag, dtype) and n1.shape == ()
    np.testing.assert_allclose(n1.item(), n2.item(), rtol=tol)
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=tol, atol=0)


def test_clip_grad_value_and_errors_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _grad_sets(ag, "float64", 3.0), _grad_sets(torch, "float64", 3.0)
    assert nn.utils.clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours[:3], theirs[:3]):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    bad = _grad_sets(ag, "float64", 1.0)
    bad[0].grad = ag.tensor(np.full((3, 4), np.nan))
    with pytest.raises(RuntimeError, match="non-finite|cannot be clipped"):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)         # one tensor, not a list
    w.grad = ag.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(w, 1.0).item() == 5.0
    np.testing.assert_allclose(w.grad.numpy(), [0.6, 0.8], rtol=1e-6)


def test_inference_mode_and_small_functions_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (ag, torch):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            assert not (x * 2).requires_grad and lib.is_inference_mode_enabled()
        with lib.inference_mode(False):
            assert (x * 2).requires_grad and not lib.is_inference_mode_enabled()

        @lib.inference_mode()
        def evaluate():
            return (x * 2).requires_grad
        assert evaluate() is False and (x * 2).requires_grad
        assert lib.is_tensor(x) and not lib.is_tensor([1.0]) and lib.numel(lib.ones(2, 3)) == 6
        c = lib.clone(x)
        assert c.grad_fn.name() == "CloneBackward0"
