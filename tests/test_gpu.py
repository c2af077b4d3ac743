"""Real-GPU tests: autogradkit on CuPy, checked against the CPU.

Run them on a machine with an NVIDIA GPU with ``./run gpu-test`` (installs the ``gpu`` extra,
CuPy, and runs ``pytest -m gpu``). Elsewhere they are skipped with the reason; the same code
paths are exercised without a GPU by tests/test_devices.py, on a strict CuPy stand-in.

float64 is used where numbers are compared, so that the only differences between the devices are
the last-bit ones of different (equally correct) math libraries and summation orders.
"""
from __future__ import annotations

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import backend
from autogradkit.nn import functional as NF

import strict_cupy

REASON = "needs CuPy and an NVIDIA GPU (run ./run gpu-test on a GPU machine)"


def _gpu_here():
    backend._forget_cupy()
    try:
        return ag.cuda.is_available()
    finally:
        backend._forget_cupy()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_here(), reason=REASON)]

RTOL, ATOL = 1e-9, 1e-12


@pytest.fixture(autouse=True)
def cupy():
    """The real CuPy (not a stand-in another test may have installed) as the "cuda" module."""
    backend._forget_cupy()
    xp = backend.load_cupy()
    assert xp.__name__ == "cupy"
    yield xp
    backend._forget_cupy()


def host(t):
    return t._data if type(t._data) is np.ndarray else t._data.get()


def on_gpu(t, cupy):
    return type(t._data) is cupy.ndarray


def assert_same(got, want, rtol=RTOL, atol=ATOL):
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(host(got), host(want), rtol=rtol, atol=atol)


def test_gpu_is_available(cupy):
    assert ag.cuda.is_available()
    assert ag.cuda.device_count() >= 1
    t = ag.ones(2, device="cuda")
    assert on_gpu(t, cupy) and t.is_cuda and t.device == ag.device("cuda", 0)
    assert repr(t) == "tensor([1., 1.], device='cuda:0')"


@pytest.mark.parametrize("make", [
    lambda **kw: ag.tensor([[1.0, 2.0], [3.0, 4.0]], **kw),
    lambda **kw: ag.zeros(2, 3, **kw),
    lambda **kw: ag.ones(4, dtype=ag.float64, **kw),
    lambda **kw: ag.full((2,), 7, **kw),
    lambda **kw: ag.arange(5, **kw),
    lambda **kw: ag.linspace(0, 1, 5, **kw),
    lambda **kw: ag.eye(3, **kw),
    lambda **kw: ag.rand(3, generator=np.random.default_rng(1), **kw),
    lambda **kw: ag.randn(3, generator=np.random.default_rng(2), **kw),
    lambda **kw: ag.randint(0, 9, (4,), generator=np.random.default_rng(3), **kw),
], ids=["tensor", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn", "randint"])
def test_creation_on_the_gpu(cupy, make):
    got, want = make(device="cuda"), make()
    assert on_gpu(got, cupy)
    assert_same(got, want, rtol=0, atol=0)


def test_to_and_cpu_round_trips(cupy):
    c = ag.tensor([[1.5, -2.0], [3.25, 4.0]], dtype=ag.float64)
    g = c.to("cuda")
    assert on_gpu(g, cupy) and g.dtype == ag.float64
    assert g.cuda() is g and g.to("cuda:0") is g
    back = g.cpu()
    assert type(back._data) is np.ndarray and back.tolist() == c.tolist()
    g.add_(1.0)
    back.mul_(0.0)
    assert c.tolist() == [[1.5, -2.0], [3.25, 4.0]] and g.tolist() == [[2.5, -1.0], [4.25, 5.0]]
    assert on_gpu(c.cuda(), cupy) and on_gpu(c.to(device="cuda", dtype=ag.float32), cupy)
    assert c.to("cuda", ag.float32).dtype == ag.float32
    assert c.long().cuda().cpu().tolist() == [[1, -2], [3, 4]]
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        g.numpy()


def test_to_is_differentiable_across_devices(cupy):
    x = ag.tensor([1.0, 2.0, 3.0], dtype=ag.float64, requires_grad=True)
    (x.cuda() ** 2).sum().cpu().backward()
    assert type(x.grad._data) is np.ndarray and x.grad.tolist() == [2.0, 4.0, 6.0]
    w = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (w.cpu() ** 3).sum().backward()
    assert on_gpu(w.grad, cupy) and w.grad.tolist() == [3.0, 12.0]


def test_mixing_devices_is_an_error_naming_both(cupy):
    c, g = ag.ones(3), ag.ones(3, device="cuda")
    for mix in (lambda: c + g, lambda: g * c, lambda: c @ g, lambda: ag.cat([g, c]),
                lambda: ag.where(g > 0, c, g), lambda: c < g, lambda: g.clone().add_(c)):
        with pytest.raises(RuntimeError) as info:
            mix()
        assert "cpu" in str(info.value) and "cuda:0" in str(info.value)


def _R(*shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _P(*shape, seed):
    return np.random.default_rng(seed).random(shape) + 0.5


OPS = [
    ("add_broadcast", lambda a, b: a + b * 2 - 1, [_R(2, 3, seed=1), _R(3, seed=2)]),
    ("mul_div", lambda a, b: a * b / (b * b + 1), [_R(2, 3, seed=3), _R(2, 3, seed=4)]),
    ("pow", lambda a, b: a ** 3 + a.abs() ** b, [_R(4, seed=5), _R(4, seed=6)]),
    ("exp_log_sqrt", lambda a: a.exp() + a.abs().log() + a.abs().sqrt(), [_P(5, seed=7)]),
    ("trig", lambda a: a.sin() * a.cos() + a.tanh(), [_R(5, seed=8)]),
    ("sigmoid_relu", lambda a: a.sigmoid() + a.relu() * 2, [_R(6, seed=9) * 5]),
    ("clamp", lambda a: a.clamp(-0.5, 0.5), [_R(8, seed=10)]),
    ("maximum_where", lambda a, b: ag.maximum(a, b) + ag.where(a > b, a, b * 2),
     [_R(6, seed=11), _R(6, seed=12)]),
    ("sum_mean", lambda a: a.sum((0, 2), keepdim=True) + a.mean(), [_R(2, 3, 4, seed=13)]),
    ("max_min", lambda a: a.max() + a.min() + a.max(1).values.sum() + a.min(0).values.sum(),
     [_R(3, 4, seed=14)]),
    ("var_std", lambda a: a.var(1) + a.std(0).sum(), [_R(3, 4, seed=15)]),
    ("softmax_family", lambda a: a.softmax(1) + a.log_softmax(0) + a.logsumexp(1, keepdim=True),
     [_R(3, 4, seed=16) * 10]),
    ("shapes", lambda a: a.reshape(4, 3).T.permute(1, 0).transpose(0, 1).unsqueeze(0).squeeze(0).flatten(),
     [_R(2, 6, seed=17)]),
    ("expand_cat_stack", lambda a, b: ag.cat([a.expand(3, 4), b]).sum(0)
        + ag.stack([b[0], b[1]], 1).sum(1).sum(),
     [_R(1, 4, seed=18), _R(2, 4, seed=19)]),
    ("indexing", lambda a: a[1:, ::2].sum() + a[[0, 0, 2]].sum(1) + a[a > 0].sum() + a[:, -1],
     [_R(3, 4, seed=20)]),
    ("matmul", lambda a, b, v: (a @ b).sum() + a @ v + (v @ b).sum() + v @ v,
     [_R(3, 4, seed=21), _R(4, 3, seed=22), _R(4, seed=23)]),
    ("batched_matmul", lambda a, b: a @ b, [_R(2, 1, 3, 4, seed=24), _R(5, 4, 2, seed=25)]),
    ("to_clone", lambda a: a.float().double().clone() * 3, [_R(3, seed=26)]),
    ("linear_losses", lambda x, w, b, y: NF.linear(x, w, b).sum() + NF.mse_loss(x, y)
        + NF.binary_cross_entropy_with_logits(x, y.sigmoid()) + NF.cross_entropy(x, y.softmax(1)),
     [_R(3, 4, seed=27), _R(2, 4, seed=28), _R(2, seed=29), _R(3, 4, seed=30)]),
]


@pytest.mark.parametrize("name,fn,inputs", OPS, ids=[o[0] for o in OPS])
def test_ops_values_and_gradients_match_cpu(cupy, name, fn, inputs):
    def run(device):
        xs = [ag.tensor(a, dtype=ag.float64, device=device, requires_grad=True) for a in inputs]
        out = fn(*xs)
        seed = np.random.default_rng(0).standard_normal(tuple(out.shape))
        out.backward(ag.tensor(seed, dtype=ag.float64, device=device))
        return out, xs

    (cpu_out, cpu_in), (gpu_out, gpu_in) = run("cpu"), run("cuda")
    assert on_gpu(gpu_out, cupy)
    assert_same(gpu_out, cpu_out)
    for c, g in zip(cpu_in, gpu_in):
        assert on_gpu(g.grad, cupy)
        assert_same(g.grad, c.grad)


def test_second_order_gradients_match_cpu(cupy):
    def run(device):
        x = ag.tensor([0.3, -1.2, 0.8, 2.0], dtype=ag.float64, device=device, requires_grad=True)
        y = (x.sin() * x.exp()).sum() + (x.reshape(2, 2) @ x.reshape(2, 2)).tanh().sum() \
            + x.reshape(2, 2).log_softmax(1)[[0, 1, 1], [1, 0, 0]].sum()
        (g,) = ag.autograd.grad(y, x, create_graph=True)
        (h,) = ag.autograd.grad((g * g).sum(), x)
        return g, h

    for got, want in zip(run("cuda"), run("cpu")):
        assert on_gpu(got, cupy)
        assert_same(got, want)


def test_gradcheck_on_the_gpu(cupy):
    rng = np.random.default_rng(5)
    x = ag.tensor(rng.standard_normal((2, 3)), dtype=ag.float64, device="cuda", requires_grad=True)
    w = ag.tensor(rng.standard_normal((3, 2)), dtype=ag.float64, device="cuda", requires_grad=True)
    assert ag.autograd.gradcheck(lambda a, b: (a @ b).tanh().log_softmax(1), (x, w))
    assert ag.autograd.gradcheck(lambda a: a[[1, 1, 0]].sigmoid().var(0), (x,))
    assert ag.autograd.gradgradcheck(lambda a, b: (a @ b).sigmoid(), (x, w))


def _mlp_steps(device, steps=3):
    rng = np.random.default_rng(11)
    xs = ag.tensor(rng.standard_normal((16, 4)), dtype=ag.float32, device=device)
    ys = ag.tensor(rng.integers(0, 3, 16), device=device)
    params = [ag.tensor(rng.standard_normal(s) * 0.5, dtype=ag.float32, device=device, requires_grad=True)
              for s in ((4, 8), (8,), (8, 3), (3,))]
    out = []
    for _ in range(steps):
        w1, b1, w2, b2 = params
        logits = (xs @ w1 + b1).relu() @ w2 + b2
        loss = -logits.log_softmax(1)[ag.arange(16, device=device), ys].mean()
        for p in params:
            p.grad = None
        loss.backward()
        out.append(loss.detach())
        with ag.no_grad():
            for p in params:
                p -= 0.1 * p.grad
    return out + params + [p.grad for p in params]


def test_mlp_training_steps_on_the_gpu_equal_cpu(cupy):
    for got, want in zip(_mlp_steps("cuda"), _mlp_steps("cpu")):
        assert on_gpu(got, cupy)
        assert_same(got, want, rtol=1e-4, atol=1e-5)


def _module_steps(device, steps=3):
    from autogradkit import nn, optim
    ag.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    opt = optim.Adam(model.parameters(), lr=0.05)
    rng = np.random.default_rng(12)
    xs = ag.tensor(rng.standard_normal((16, 4)), dtype=ag.float32, device=device)
    ys = ag.tensor(rng.integers(0, 3, 16), device=device)
    losses = []
    for _ in range(steps):
        loss = nn.CrossEntropyLoss()(model(xs), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses + list(model.parameters())


def test_nn_training_steps_on_the_gpu_equal_cpu(cupy):
    for got, want in zip(_module_steps("cuda"), _module_steps("cpu")):
        assert on_gpu(got, cupy)
        assert_same(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("module", ["cupy", "strict_cupy"])
def test_the_strict_standin_is_as_strict_as_cupy(cupy, module):
    """Where tests/strict_cupy.py refuses something, CuPy must refuse it too (and vice versa for
    what autogradkit relies on), so that passing on the stand-in means something."""
    xp = cupy if module == "cupy" else strict_cupy
    h = np.array([1.0, 2.0, 3.0])
    a = xp.asarray(h)
    h[0] = 100.0
    assert type(a) is xp.ndarray and float(a[0]) == 1.0          # host to device copies
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(3)
    with pytest.raises(TypeError):
        np.ones(3) + a
    assert type(np.exp(a)) is xp.ndarray
    assert type(a.sum()) is xp.ndarray and a.sum().ndim == 0
    assert type(a[0]) is xp.ndarray and a[0].ndim == 0
    assert type(a.get()) is np.ndarray and type(xp.asnumpy(a)) is np.ndarray
    z = xp.zeros(3)
    xp.add.at(z, xp.asarray(np.array([0, 0, 2])), xp.ones(3))
    assert z.get().tolist() == [2.0, 0.0, 1.0]
