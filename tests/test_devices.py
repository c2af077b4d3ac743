"""Device dispatch without a GPU: numpy on "cpu", a strict CuPy stand-in on "cuda".

Most tests here install ``strict_cupy`` (tests/strict_cupy.py) as the "cuda" array module. It
behaves like CuPy where autogradkit touches it, and like CuPy it refuses to be turned into a
numpy array implicitly or mixed with one, so any path where autogradkit hands a GPU array to numpy
as if it were a numpy array fails here. Every op is run forward and backward on both devices and
must give the same numbers, with results and gradients on the right device.

The tests at the top run without the stand-in: importing autogradkit must not import CuPy, and a
machine without CuPy or a GPU must get a clear message.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass, field

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.ops
from autogradkit import backend
from autogradkit.autograd.node import Op

import strict_cupy

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
GPU = strict_cupy.ndarray


@pytest.fixture
def cuda():
    """Install the strict stand-in as the "cuda" backend for one test, and remove it afterwards."""
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


@pytest.fixture
def no_cuda_state():
    """Forget any loaded/failed CuPy before and after (for tests that fake CuPy's absence)."""
    backend._forget_cupy()
    try:
        yield
    finally:
        backend._forget_cupy()


def on_gpu(t):
    return type(t._data) is GPU


def host(t):
    """A tensor's numbers as a numpy array (copied from the device if needed)."""
    return t._data if type(t._data) is np.ndarray else t._data.get()


def assert_same(got, want, rtol=1e-6, atol=1e-7):
    """``got`` (any device) equals ``want`` (CPU): same shape, dtype and numbers."""
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(host(got), host(want), rtol=rtol, atol=atol)


# =============================================================================================
# The stand-in itself: strict where CuPy is strict
# =============================================================================================
def test_standin_refuses_implicit_conversion_to_numpy():
    a = strict_cupy.asarray(np.arange(6.0).reshape(2, 3))
    assert not isinstance(a, np.ndarray)
    for convert in (np.asarray, np.array, lambda x: np.ascontiguousarray(x)):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)
    for numpy_function in (lambda: np.concatenate([a, a]), lambda: np.where(a > 1, a, 0),
                           lambda: np.expand_dims(a, 0), lambda: np.allclose(a, a)):
        with pytest.raises(TypeError):
            numpy_function()


def test_standin_refuses_mixing_with_numpy_arrays():
    a = strict_cupy.asarray(np.arange(3.0))
    h = np.ones(3)
    for mix in (lambda: a + h, lambda: h + a, lambda: a * h, lambda: h @ a, lambda: a < h,
                lambda: np.add(a, h), lambda: strict_cupy.maximum(a, h),
                lambda: strict_cupy.where(a > 0, h, a), lambda: strict_cupy.concatenate([a, h]),
                lambda: a.__setitem__(slice(None), h), lambda: a.__iadd__(h)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()


def test_standin_works_with_scalars_ufuncs_and_its_own_arrays():
    a = strict_cupy.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    for result in (a + 1, 2.0 * a, np.float32(2) * a, a + a[0], a ** 2, -a, abs(a), a @ a,
                   np.exp(a), np.maximum(a, 2.0), strict_cupy.exp(a), strict_cupy.where(a > 1, a, 0),
                   a.sum(), a.max(), a[0], a.argmax()):
        assert type(result) is GPU            # never a numpy array or numpy scalar
    assert a.sum().ndim == 0 and float(a.sum()) == 6.0 and a[1].item() == 2.0
    assert a.tolist() == [1.0, 2.0, 3.0]
    z = strict_cupy.zeros(3, dtype=np.float32)
    strict_cupy.add.at(z, strict_cupy.asarray(np.array([0, 0, 2])), a)
    assert z.get().tolist() == [3.0, 0.0, 3.0]


def test_standin_copies_between_host_and_device():
    h = np.array([1.0, 2.0])
    d = strict_cupy.asarray(h)
    h[0] = 100.0
    assert d.get()[0] == 1.0                 # host-to-device made a copy
    back = d.get()
    back[1] = 200.0
    assert d[1].item() == 2.0                # device-to-host made a copy
    assert strict_cupy.asarray(d) is d
    assert type(strict_cupy.asnumpy(d)) is np.ndarray
    assert strict_cupy.get_array_module(d) is strict_cupy
    assert strict_cupy.get_array_module(h) is np
    assert strict_cupy.cuda.runtime.getDeviceCount() == 1


# =============================================================================================
# Without the stand-in: lazy import and clear messages
# =============================================================================================
def _fake_cupy_package(tmp_path):
    """A directory holding a ``cupy`` package that *is* the strict stand-in once imported."""
    pkg = tmp_path / "cupy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""\
        import sys
        import strict_cupy
        sys.modules[__name__] = strict_cupy
    """))
    return tmp_path


def test_import_autogradkit_does_not_import_cupy(tmp_path):
    """CuPy is imported on first use of "cuda", never by importing or using autogradkit on the CPU.

    A fake ``cupy`` is importable in the child process, so the check can see an import happen."""
    fake = _fake_cupy_package(tmp_path)
    script = textwrap.dedent("""\
        import sys
        import autogradkit as ag
        import autogradkit.cuda
        assert "cupy" not in sys.modules, "import autogradkit imported cupy"
        x = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = (x @ x).tanh().sum() + x[0, 1] * x.exp().mean()
        y.backward()
        repr(x), repr(x.grad), x.device, ag.device("cuda"), str(ag.zeros(2))
        assert "cupy" not in sys.modules, "CPU work imported cupy"
        assert ag.cuda.is_available()
        assert "cupy" in sys.modules
        t = ag.ones(2).to("cuda")
        print(type(t._data).__module__, t.device)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), TESTS_DIR]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=os.path.dirname(TESTS_DIR), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["strict_cupy", "cuda:0"]


def _assert_cuda_refused(message_part):
    for attempt in (lambda: ag.tensor([1.0, 2.0]).to("cuda"), lambda: ag.ones(2).cuda(),
                    lambda: ag.zeros(2, device="cuda"), lambda: ag.tensor([1.0], device="cuda"),
                    lambda: ag.randn(2, device="cuda"), ag.cuda.check):
        with pytest.raises(backend.CudaUnavailableError) as info:
            attempt()
        assert isinstance(info.value, RuntimeError)
        assert message_part in str(info.value)
    assert ag.cuda.is_available() is False
    assert ag.cuda.device_count() == 0


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed here; this checks a machine without it")
def test_cuda_is_not_available_here(no_cuda_state):
    assert ag.cuda.is_available() is False
    _assert_cuda_refused("pip install 'autogradkit[gpu]'")


def test_missing_cupy_says_how_to_install_it(no_cuda_state, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)       # `import cupy` raises ImportError
    _assert_cuda_refused("pip install 'autogradkit[gpu]'")
    with pytest.raises(backend.CudaUnavailableError, match="CuPy is not installed"):
        ag.ones(1).to("cuda")


def test_cupy_without_a_gpu_says_so(no_cuda_state, monkeypatch):
    def zeros(*args, **kwargs):
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(zeros=zeros))
    _assert_cuda_refused("no CUDA-capable device is detected")
    with pytest.raises(backend.CudaUnavailableError) as info:
        ag.ones(1).to("cuda")
    assert "CuPy is installed but found no usable GPU" in str(info.value)
    assert "nvidia-smi" in str(info.value)


def test_cupy_that_fails_to_import_is_not_called_missing(no_cuda_state, monkeypatch, tmp_path):
    """An installed CuPy that can't load its CUDA libraries raises ImportError from inside; the
    message must not tell the user to install CuPy as if it were absent."""
    pkg = tmp_path / "cupy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "raise ImportError('CuPy failed to load libnvrtc.so.12: cannot open shared object file')\n")
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(backend.CudaUnavailableError) as info:
        ag.ones(1).to("cuda")
    message = str(info.value)
    assert "libnvrtc.so.12" in message
    assert "not installed" not in message
    assert ag.cuda.is_available() is False


def test_cpu_work_never_asks_for_the_gpu_module(monkeypatch):
    """Dispatch on the CPU, including 0-d arrays and numpy scalars, stays on numpy."""
    def refuse():
        raise AssertionError("the GPU array module was requested during CPU-only work")

    monkeypatch.setattr(backend, "load_cupy", refuse)
    x = ag.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)
    s = ag.tensor(1.5, requires_grad=True)
    y = ((x * s).sigmoid() @ x.T).logsumexp(1).sum() + x.max() * s.exp() + x[1, 2].abs() ** 2
    y = y + ag.where(x > 0, x, 0.0).var() + x.clamp(-0.5, 0.5).sum() + ag.cat([x, x]).softmax(0).std()
    (gx, gs) = ag.autograd.grad(y, (x, s), create_graph=True)
    (gx.sum() + gs).backward()
    assert x.grad is not None and s.grad is not None and x.device == "cpu"
    for scalar in (np.float64(1.0), np.float32(2.0), np.int64(3), np.bool_(True)):
        assert backend.array_module(scalar) is np
        assert backend.device_of(scalar) == "cpu"
        assert type(backend.to_device(scalar, "cpu")) is np.ndarray
    assert backend.array_module(np.zeros(2)) is np and backend.device_of(np.zeros(())) == "cpu"


# =============================================================================================
# Devices, moving tensors, printing
# =============================================================================================
def test_device_objects():
    d = ag.device("cuda")       # as PyTorch: no index until a tensor is on it
    assert repr(d) == "device(type='cuda')" and str(d) == "cuda" and d.index is None
    d0 = ag.device("cuda:0")
    assert repr(d0) == "device(type='cuda', index=0)" and str(d0) == "cuda:0" and d0.index == 0
    assert d == "cuda" and d == "cuda:0" and d == ag.device("cuda", 0) and d != "cpu"
    assert repr(ag.device("cpu")) == "device(type='cpu')" and str(ag.device("cpu")) == "cpu"
    assert len({ag.device("cuda"), ag.device("cuda:0")}) == 1
    with pytest.raises(ValueError, match="one GPU"):
        ag.device("cuda:1")
    with pytest.raises(ValueError, match="unknown device"):
        ag.device("tpu")


def test_is_available_and_device_count_with_the_standin(cuda):
    assert ag.cuda.is_available() is True
    assert ag.cuda.device_count() == 1
    ag.cuda.check()


def test_to_cuda_and_back(cuda):
    c = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    for g in (c.to("cuda"), c.cuda(), c.cuda(0), c.to("cuda:0"), c.to(ag.device("cuda")),
              c.to(device="cuda"), c.to(ag.ones(1, device="cuda"))):
        assert on_gpu(g) and g.is_cuda and not c.is_cuda
        assert g.device == ag.device("cuda") and repr(g.device) == "device(type='cuda', index=0)"
        assert_same(g, c)
    g = c.cuda()
    assert g.cuda() is g and g.to("cuda") is g and c.cpu() is c      # already there: no copy
    back = g.cpu()
    assert type(back._data) is np.ndarray and back.device == "cpu"
    assert_same(back, c)
    g64 = c.to("cuda", ag.float64)
    assert on_gpu(g64) and g64.dtype == ag.float64
    assert c.to(ag.float64).cuda().dtype == ag.float64
    assert c.long().cuda().dtype == ag.int64 and (c > 2).cuda().dtype == ag.bool_
    g.add_(10.0)                      # the copies share nothing
    back.mul_(0.0)
    assert c.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert g.tolist() == [[11.0, 12.0], [13.0, 14.0]]
    with pytest.raises(ValueError, match="one GPU"):
        c.to("cuda:1")


def test_numpy_on_cuda_says_to_use_cpu(cuda):
    g = ag.tensor([1.0, 2.0], device="cuda")
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        g.numpy()
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        np.asarray(g)
    assert g.cpu().numpy().tolist() == [1.0, 2.0]
    assert type(g.numpy(force=True)) is np.ndarray


def test_repr_of_cuda_tensors(cuda):
    assert repr(ag.tensor([1.0, 2.0], device="cuda")) == "tensor([1., 2.], device='cuda:0')"
    assert repr(ag.tensor(2.5, device="cuda")) == "tensor(2.5000, device='cuda:0')"
    assert repr(ag.tensor([1, 2], device="cuda")) == "tensor([1, 2], device='cuda:0')"
    assert repr(ag.tensor([1.0], dtype=ag.float64, device="cuda")) == \
        "tensor([1.], device='cuda:0', dtype=autogradkit.float64)"
    x = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    assert repr(x) == "tensor([1., 2.], device='cuda:0', requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], device='cuda:0', grad_fn=<MulBackward0>)"
    assert "device='cuda:0'" in str(ag.ones(2, 3, device="cuda"))
    assert repr(ag.zeros(0, device="cuda")) == "tensor([], device='cuda:0')"
    assert "device" not in repr(ag.tensor([1.0, 2.0]))


def test_python_values_from_cuda_tensors(cuda):
    g = ag.tensor([[1.5, -2.0], [3.0, 4.0]], device="cuda")
    assert g.tolist() == [[1.5, -2.0], [3.0, 4.0]]
    assert g[0, 0].item() == 1.5 and float(g[1, 1]) == 4.0 and int(g[1, 0]) == 3
    assert bool(g[0, 0] > 1) is True
    assert [10, 20, 30][ag.tensor(2, device="cuda")] == 30
    assert len(g) == 2 and [r.device for r in g] == ["cuda:0", "cuda:0"]
    assert g.shape == (2, 2) and g.numel() == 4 and g.dim() == 2


# =============================================================================================
# Creation functions with device=
# =============================================================================================
CREATION = {
    "tensor": lambda **kw: ag.tensor([[1.0, 2.0], [3.0, 4.0]], **kw),
    "tensor_int": lambda **kw: ag.tensor([1, 2, 3], **kw),
    "tensor_bool": lambda **kw: ag.tensor([True, False], **kw),
    "as_tensor": lambda **kw: ag.as_tensor([1.5, 2.5], **kw),
    "zeros": lambda **kw: ag.zeros(2, 3, **kw),
    "ones": lambda **kw: ag.ones((2,), dtype=ag.float64, **kw),
    "empty": lambda **kw: ag.empty(3, **kw),
    "full": lambda **kw: ag.full((2, 2), 3.5, **kw),
    "full_int": lambda **kw: ag.full((2,), 7, **kw),
    "zeros_like": lambda **kw: ag.zeros_like(ag.ones(2, 2), **kw),
    "ones_like": lambda **kw: ag.ones_like(ag.ones(3, dtype=ag.float64), **kw),
    "full_like": lambda **kw: ag.full_like(ag.ones(2), 4.0, **kw),
    "rand": lambda **kw: ag.rand(2, 3, generator=np.random.default_rng(5), **kw),
    "randn": lambda **kw: ag.randn(4, generator=np.random.default_rng(6), **kw),
    "randn_size_kw": lambda **kw: ag.randn(size=(2, 2), generator=np.random.default_rng(6), **kw),
    "normal": lambda **kw: ag.normal(1.0, 2.0, (2, 3), generator=np.random.default_rng(11), **kw),
    "rand_like": lambda **kw: (ag.manual_seed(7), ag.rand_like(ag.ones(3), **kw))[1],
    "randn_like": lambda **kw: (ag.manual_seed(8), ag.randn_like(ag.ones(2, 2), **kw))[1],
    "randint": lambda **kw: ag.randint(0, 10, (5,), generator=np.random.default_rng(9), **kw),
    "randperm": lambda **kw: ag.randperm(6, generator=np.random.default_rng(10), **kw),
    "arange": lambda **kw: ag.arange(5, **kw),
    "arange_float": lambda **kw: ag.arange(0, 1, 0.25, **kw),
    "linspace": lambda **kw: ag.linspace(-1, 1, 5, **kw),
    "eye": lambda **kw: ag.eye(3, 2, **kw),
}


@pytest.mark.parametrize("name", sorted(CREATION))
def test_creation_with_device_cuda(cuda, name):
    want = CREATION[name]()
    got = CREATION[name](device="cuda")
    assert on_gpu(got) and got.device == "cuda:0"
    assert type(want._data) is np.ndarray
    assert_same(got, want)                 # same numbers: random draws happen on the CPU
    assert CREATION[name](device="cpu").device == "cpu"


def test_every_creation_function_is_checked_with_device():
    """Each public creation function taking ``device=`` has a case above."""
    import inspect
    from autogradkit import creation
    taking_device = {n for n in ag.__all__ if callable(getattr(ag, n, None))
                     and getattr(getattr(ag, n), "__module__", "") == creation.__name__
                     and "device" in inspect.signature(getattr(ag, n)).parameters}
    assert len(taking_device) >= 15
    assert taking_device - set(CREATION) == set()


@pytest.mark.parametrize("make", [
    lambda: ag.zeros(2, device="cuda", requires_grad=True),
    lambda: ag.tensor([1.0, 2.0], device="cuda", requires_grad=True),
    lambda: ag.randn(2, device="cuda", requires_grad=True),
    lambda: ag.arange(0.0, 2.0, device="cuda", requires_grad=True),
])
def test_created_cuda_leaves_require_grad(cuda, make):
    x = make()
    assert on_gpu(x) and x.requires_grad and x.is_leaf
    (x * x).sum().backward()
    assert on_gpu(x.grad)
    assert_same(x.grad, (2 * x).detach())


def test_like_functions_follow_the_input_device(cuda):
    g = ag.ones(2, 3, device="cuda", dtype=ag.float64)
    for like in (ag.zeros_like, ag.ones_like, ag.rand_like, ag.randn_like):
        out = like(g)
        assert on_gpu(out) and out.shape == (2, 3) and out.dtype == ag.float64
        assert like(g, device="cpu").device == "cpu"
        assert on_gpu(like(ag.ones(2), device="cuda"))
    assert on_gpu(ag.full_like(g, 2.0)) and ag.full_like(g, 2.0).tolist() == [[2.0] * 3] * 2


def test_tensor_from_arrays_and_tensors_across_devices(cuda):
    d = strict_cupy.asarray(np.array([1.0, 2.0]))
    t = ag.tensor(d)                               # a GPU array stays on the GPU
    assert on_gpu(t) and t.dtype == ag.float64 and t._data is not d
    assert type(ag.tensor(d, device="cpu")._data) is np.ndarray
    g = ag.tensor([1.0, 2.0], device="cuda")
    c = ag.tensor(g, device="cpu")
    assert type(c._data) is np.ndarray and c.tolist() == [1.0, 2.0]
    assert on_gpu(ag.tensor(g)) and ag.tensor(g)._data is not g._data
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ag.from_numpy(d)


def test_as_tensor_keeps_a_tensor_already_there_and_moves_others(cuda):
    g = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    assert ag.as_tensor(g) is g
    assert ag.as_tensor(g, device="cuda") is g
    assert ag.as_tensor(g, dtype=ag.float32, device="cuda:0") is g
    moved = ag.as_tensor(g, device="cpu")
    assert moved.device == "cpu" and moved.tolist() == [1.0, 2.0]
    (moved * moved).sum().backward()              # like torch.as_tensor: history is kept
    assert on_gpu(g.grad) and g.grad.tolist() == [2.0, 4.0]
    c = ag.as_tensor(np.array([1.0, 2.0]), device="cuda")
    assert on_gpu(c)


# =============================================================================================
# Every op, forward and backward, on both devices
# =============================================================================================
_rng = np.random.default_rng(1234)


def R(*shape, dtype=np.float32):
    """Standard normal numbers (no ties)."""
    return _rng.standard_normal(shape).astype(dtype)


def P(*shape, dtype=np.float32):
    """Positive numbers in [0.5, 2.5)."""
    return (_rng.random(shape) * 2 + 0.5).astype(dtype)


def I(*values):
    return np.array(values, dtype=np.int64)


@dataclass
class Case:
    id: str
    fn: object
    inputs: list
    ops: tuple                      # the Op classes this case must run (found in its graph)
    grad: list = field(default=None)   # which inputs require grad (default: the float ones)


def _layers():
    return importlib.import_module("autogradkit.ops.layers")


def _nnf():
    return importlib.import_module("autogradkit.nn.functional")


def _index_add_graph(x):
    """A gradient with create_graph: its graph holds IndexAdd (the backward of indexing)."""
    (g,) = ag.autograd.grad((x[[0, 2, 0]] ** 3).sum(), x, create_graph=True)
    return g


CASES = [
    # elementwise
    Case("add", lambda a, b: a + b, [R(2, 3), R(2, 3)], ("Add",)),
    Case("add_broadcast_scalar", lambda a, b: a + b + 1.5, [R(2, 3), R(3)], ("Add",)),
    Case("add_alpha", lambda a, b: ag.add(a, b, alpha=2), [R(4), R(4)], ("Add", "Mul")),
    Case("sub", lambda a, b: a - b, [R(2, 3), R(2, 1)], ("Sub",)),
    Case("rsub_scalar", lambda a: 2.0 - a, [R(3)], ("Sub",)),
    Case("mul", lambda a, b: a * b, [R(2, 3), R(1, 3)], ("Mul",)),
    Case("mul_float64", lambda a, b: a * b * 0.5, [R(3, dtype=np.float64), R(3, dtype=np.float64)], ("Mul",)),
    Case("mul_int_tensor", lambda a, i: a * i, [R(3), I(1, -2, 3)], ("Mul",)),
    Case("div", lambda a, b: a / b, [R(2, 3), P(2, 3)], ("Div",)),
    Case("rdiv_scalar", lambda a: 3.0 / a, [P(4)], ("Reciprocal", "Mul")),
    Case("reciprocal_of_ints", lambda a: ag.reciprocal(a) * 1.5, [I(1, 2, 4)], ()),
    Case("reciprocal", lambda a: a.reciprocal(), [P(2, 3)], ("Reciprocal",)),
    Case("div_int_int", lambda i, j: (i / j), [I(1, 2, 3), I(2, 2, 4)], ()),
    Case("neg", lambda a: -a, [R(5)], ("Neg",)),
    Case("pow_scalar", lambda a: a ** 3, [R(2, 2)], ("Pow",)),
    Case("pow_zero", lambda a: a ** 0, [R(3)], ("Pow",)),
    Case("pow_half", lambda a: a.pow(0.5), [P(3)], ("Pow",)),
    Case("pow_tensor", lambda a, b: a ** b, [P(2, 3), R(2, 3)], ("PowTensor",)),
    Case("rpow_scalar", lambda b: 2.0 ** b, [R(3)], ("PowTensor",)),
    Case("exp", lambda a: a.exp(), [R(2, 3)], ("Exp",)),
    Case("log", lambda a: ag.log(a), [P(2, 3)], ("Log",)),
    Case("log1p", lambda a: a.log1p(), [P(2, 3)], ("Log1p",)),
    Case("log1p_fn_tiny", lambda a: ag.log1p(a * 1e-9), [R(2, 3)], ("Log1p",)),
    Case("expm1", lambda a: a.expm1(), [R(2, 3)], ("Expm1",)),
    Case("expm1_fn_tiny", lambda a: ag.expm1(a * 1e-9), [R(2, 3)], ("Expm1",)),
    Case("norm", lambda a: a.norm(dim=1), [R(2, 3)], ("Sum", "Sqrt", "Where")),
    Case("norm_p1", lambda a: ag.norm(a, p=1), [R(2, 3)], ("Sum", "Abs")),
    Case("sqrt", lambda a: a.sqrt(), [P(4)], ("Sqrt",)),
    Case("abs", lambda a: abs(a), [R(6)], ("Abs",)),
    Case("sign", lambda a: a.sign() * a, [R(6)], ("Sign", "Mul")),
    Case("sin", lambda a: a.sin(), [R(5)], ("Sin",)),
    Case("cos", lambda a: ag.cos(a), [R(5)], ("Cos",)),
    Case("tanh", lambda a: a.tanh(), [R(5)], ("Tanh",)),
    Case("sigmoid", lambda a: a.sigmoid(), [R(5) * 10], ("Sigmoid",)),
    Case("relu", lambda a: a.relu(), [R(8)], ("Relu",)),
    Case("clamp", lambda a: a.clamp(-0.5, 0.5), [R(8)], ("Clamp",)),
    Case("clamp_min", lambda a: ag.clamp(a, min=0.1), [R(8)], ("Clamp",)),
    Case("clamp_max", lambda a: a.clip(max=-0.1), [R(8)], ("Clamp",)),
    Case("maximum", lambda a, b: ag.maximum(a, b), [R(6), R(6)], ("Maximum",)),
    Case("maximum_ties", lambda a, b: ag.maximum(a, b), [np.array([1., 2., 3.], np.float32),
                                                         np.array([1., 0., 3.], np.float32)], ("Maximum",)),
    Case("max_of_two", lambda a, b: ag.max(a, b), [R(4), R(4)], ("Maximum",)),
    Case("minimum", lambda a, b: ag.minimum(a, b), [R(2, 3), R(3)], ("Minimum",)),
    Case("where", lambda c, a, b: ag.where(c, a, b), [np.array([True, False, True]), R(3), R(3)],
         ("Where",)),
    Case("where_scalar", lambda a: ag.where(a > 0, a, 0.0), [R(6)], ("Where",)),
    Case("where_method", lambda a, b: a.where(a < b, b), [R(2, 3), R(3)], ("Where",)),
    Case("square", lambda a: a.square(), [R(3)], ("Mul",)),
    # reductions
    Case("sum_all", lambda a: a.sum(), [R(2, 3)], ("Sum",)),
    Case("sum_dims", lambda a: a.sum((0, 2), keepdim=True), [R(2, 3, 4)], ("Sum",)),
    Case("sum_int", lambda i: i.sum(), [I(1, 2, 3)], ()),
    Case("sum_bool", lambda a: (a > 0).sum(), [R(7)], ()),
    Case("mean", lambda a: a.mean(), [R(2, 3)], ("Mean",)),
    Case("mean_dim", lambda a: ag.mean(a, dim=1), [R(2, 3)], ("Mean",)),
    Case("max_all", lambda a: a.max(), [R(2, 3)], ("MaxAll",)),
    Case("max_all_ties", lambda a: a.max(), [np.array([1., 3., 3., 2.], np.float32)], ("MaxAll",)),
    Case("min_all", lambda a: ag.min(a), [R(2, 3)], ("MinAll",)),
    Case("max_dim", lambda a: a.max(1).values, [R(3, 4)], ("MaxDim",)),
    Case("max_dim_indices", lambda a: a.max(0, keepdim=True).indices, [R(3, 4)], ()),
    Case("min_dim_keepdim", lambda a: a.min(0, keepdim=True).values, [R(3, 4)], ("MinDim",)),
    Case("var", lambda a: a.var(), [R(2, 5)], ("Var",)),
    Case("var_dim_biased", lambda a: a.var(1, unbiased=False, keepdim=True), [R(2, 5)], ("Var",)),
    Case("std", lambda a: a.std(0), [R(4, 3)], ("Std",)),
    Case("std_all_constant_row", lambda a: a.std(1, keepdim=True),
         [np.array([[1.0, 1.0, 1.0], [0.5, -1.0, 2.0]], np.float32)], ("Std",)),
    Case("logsumexp", lambda a: a.logsumexp(1), [R(3, 4) * 30], ("LogSumExp",)),
    Case("softmax", lambda a: a.softmax(-1), [R(3, 4) * 10], ("Softmax",)),
    Case("log_softmax", lambda a: ag.log_softmax(a, 0), [R(3, 4) * 10], ("LogSoftmax",)),
    Case("argmax_argmin", lambda a: ag.stack([a.argmax(1), a.argmin(1)]), [R(3, 4)], ()),
    Case("argmax_all", lambda a: a.argmax() + a.argmin(), [R(3, 4)], ()),
    Case("all_any", lambda a: ag.stack([(a > -5).all(), (a > 5).any()]), [R(3)], ()),
    # shape
    Case("reshape", lambda a: a.reshape(3, -1), [R(2, 3)], ("Reshape",)),
    Case("view", lambda a: a.view(6) * 2, [R(2, 3)], ("Reshape",)),
    Case("squeeze", lambda a: a.squeeze(), [R(1, 3, 1)], ("Squeeze",)),
    Case("unsqueeze", lambda a: a.unsqueeze(1), [R(3, 2)], ("Unsqueeze",)),
    Case("flatten", lambda a: a.flatten(1), [R(2, 3, 2)], ("Reshape",)),
    Case("permute", lambda a: a.permute(2, 0, 1), [R(2, 3, 4)], ("Permute",)),
    Case("transpose", lambda a: a.transpose(0, 1), [R(2, 3)], ("Transpose",)),
    Case("t", lambda a: a.t(), [R(2, 3)], ("T",)),
    Case("T", lambda a: a.T * 1.0, [R(2, 3)], ("Permute",)),
    Case("expand", lambda a: a.expand(4, 3), [R(1, 3)], ("Expand",)),
    Case("expand_as", lambda a, b: a.expand_as(b) * b, [R(3, 1), R(3, 4)], ("Expand", "Mul")),
    Case("cat", lambda a, b: ag.cat([a, b], 1), [R(2, 3), R(2, 1)], ("Cat",)),
    Case("cat_three", lambda a, b, c: ag.cat([a, b, c]), [R(1, 2), R(2, 2), R(3, 2)], ("Cat",)),
    Case("stack", lambda a, b: ag.stack([a, b], dim=1), [R(2, 3), R(2, 3)], ("Stack",)),
    # indexing
    Case("getitem_int", lambda a: a[1], [R(3, 4)], ("GetItem",)),
    Case("getitem_slice", lambda a: a[:, 1:3], [R(3, 4)], ("GetItem",)),
    Case("getitem_step_none_ellipsis", lambda a: a[None, ::2, ..., -1], [R(4, 2, 3)], ("GetItem",)),
    Case("getitem_list_repeats", lambda a: a[[0, 2, 0, 0]], [R(3, 2)], ("GetItem",)),
    Case("getitem_tensor_index", lambda a, i: a[i], [R(4, 2), I(3, 3, 1)], ("GetItem",)),
    Case("getitem_two_arrays", lambda a, i, j: a[i, j], [R(3, 4), I(0, 2, 2), I(1, 3, 3)], ("GetItem",)),
    Case("getitem_mask", lambda a: a[a > 0], [R(3, 4)], ("GetItem",)),
    Case("getitem_row_mask", lambda a, m: a[m], [R(3, 2), np.array([True, False, True])], ("GetItem",)),
    Case("index_add", _index_add_graph, [R(4, dtype=np.float64)], ("IndexAdd",)),
    # linear algebra
    Case("matmul", lambda a, b: a @ b, [R(2, 3), R(3, 4)], ("MatMul",)),
    Case("dot", lambda a, b: ag.dot(a, b), [R(3), R(3)], ("MatMul",)),
    Case("mv", lambda a, b: a @ b, [R(2, 3), R(3)], ("MatMul",)),
    Case("vm", lambda a, b: a.matmul(b), [R(3), R(3, 2)], ("MatMul",)),
    Case("bmm_broadcast", lambda a, b: a @ b, [R(2, 1, 2, 3), R(4, 3, 2)], ("MatMul",)),
    # conversion
    Case("to_float64", lambda a: a.double() * 2, [R(3)], ("ToCopy",)),
    Case("to_int_and_back", lambda a: a.long().float(), [R(3) * 5], ()),
    Case("clone", lambda a: a.clone(), [R(3)], ("Clone",)),
    # fused layers
    Case("linear", lambda x, w, b: _nnf().linear(x, w, b), [R(4, 3), R(2, 3), R(2)], ("Addmm",)),
    Case("linear_no_bias_3d", lambda x, w: _nnf().linear(x, w), [R(2, 4, 3), R(5, 3)], ("MatMul",)),
    Case("mse_loss", lambda a, b: _layers().MSELoss.apply(a, b), [R(3, 2), R(3, 2)], ("MSELoss",)),
    Case("mse_loss_sum", lambda a, b: _layers().MSELoss.apply(a, b, reduction="sum"), [R(4), R(4)],
         ("MSELoss",)),
    Case("bce_with_logits", lambda x, y: _layers().BCEWithLogits.apply(x, y),
         [R(2, 3) * 5, (_rng.random((2, 3)) > 0.5).astype(np.float32)], ("BCEWithLogits",)),
    Case("nll_loss", lambda z: _layers().NLLLoss.apply(z, target=np.array([1, 0, 2])), [R(3, 4)], ("NLLLoss",)),
    Case("nll_loss_none", lambda z: _layers().NLLLoss.apply(z, target=np.array([3, 1]), reduction="none"),
         [R(2, 4)], ("NLLLoss",)),
    # issue 15 (H1): cumsum, repeat, masked_fill(_), bmm, softplus, logsigmoid
    Case("cumsum", lambda a: a.cumsum(1) * 1.5, [R(3, 4)], ("Cumsum",)),
    Case("repeat", lambda a: a.repeat(2, 1, 3), [R(3, 2)], ("Repeat",)),
    Case("masked_fill", lambda a, m, v: a.masked_fill(m, v) + a.masked_fill(m, 2.0),
         [R(3, 4), np.array([True, False, True, False]), R()], ("MaskedFill",)),
    Case("masked_fill_inplace", lambda a, m: (a * 1.0).masked_fill_(m, -1.0),
         [R(3, 4), np.array([[True], [False], [True]])], ("MaskedFill",)),
    Case("bmm", lambda a, b: a.bmm(b), [R(2, 3, 4), R(2, 4, 2)], ("MatMul",)),
    Case("softplus", lambda a: _nnf().softplus(a * 30, beta=2.0), [R(3, 4)], ("Softplus",)),
    Case("logsigmoid", lambda a: _nnf().logsigmoid(a * 30), [R(3, 4)], ("LogSigmoid",)),
    # a small network, end to end
    Case("mlp", lambda x, w1, b1, w2: ((x @ w1 + b1).relu() @ w2).log_softmax(1)[[0, 1, 2], [1, 0, 1]].mean(),
         [R(3, 4), R(4, 5), R(5), R(5, 2)], ("MatMul", "Add", "Relu", "LogSoftmax", "GetItem", "Mean")),
]


def _op_classes():
    """Every Op subclass defined in a module of ``autogradkit.ops``."""
    found = {}
    for info in pkgutil.iter_modules(autogradkit.ops.__path__):
        module = importlib.import_module(f"autogradkit.ops.{info.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, Op) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                found[name] = obj
    return found


def _graph_ops(t):
    """Class names of every node in the graph behind ``t``."""
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(n for n in getattr(node, "_next", ()) if n is not None)
    return names


def test_every_op_has_a_device_case():
    covered = {op for case in CASES for op in case.ops}
    missing = set(_op_classes()) - covered
    assert not missing, f"ops without a cpu/cuda case in CASES: {sorted(missing)}"


def _run(case, device):
    tensors = []
    for k, arr in enumerate(case.inputs):
        wants = arr.dtype.kind == "f" if case.grad is None else case.grad[k]
        tensors.append(ag.tensor(arr, dtype=arr.dtype, device=device, requires_grad=wants))
    out = case.fn(*tensors)
    return tensors, out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_forward_and_backward_match_cpu(cuda, case):
    cpu_in, cpu_out = _run(case, "cpu")
    gpu_in, gpu_out = _run(case, "cuda")
    assert type(cpu_out._data) is np.ndarray
    assert on_gpu(gpu_out), f"the result of {case.id} on cuda is {type(gpu_out._data)}"
    assert gpu_out.device == "cuda:0"
    assert_same(gpu_out, cpu_out)
    assert gpu_out.requires_grad == cpu_out.requires_grad
    assert set(case.ops) <= _graph_ops(gpu_out), "the case does not run the ops it claims"
    if not cpu_out.requires_grad:
        return
    seed = np.random.default_rng(99).standard_normal(cpu_out.shape).astype(cpu_out._data.dtype)
    cpu_out.backward(ag.tensor(seed, dtype=seed.dtype))
    gpu_out.backward(ag.tensor(seed, dtype=seed.dtype, device="cuda"))
    for k, (c, g) in enumerate(zip(cpu_in, gpu_in)):
        if c.grad is None:
            assert g.grad is None
            continue
        assert g.grad is not None, f"input {k} got no gradient on cuda"
        assert on_gpu(g.grad) and g.grad.device == g.device, f"input {k}'s gradient left the device"
        assert g.grad.dtype == g.dtype
        assert_same(g.grad, c.grad, rtol=1e-5, atol=1e-6)


# =============================================================================================
# Non-differentiable ops on cuda
# =============================================================================================
def test_comparisons_and_logic_on_cuda(cuda):
    a_np, b_np = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    a, b = ag.tensor(a_np, device="cuda"), ag.tensor(b_np, device="cuda")
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        for other in (b, 2.0, 2):
            got = getattr(a, op)(other)
            want = getattr(ag.tensor(a_np), op)(ag.tensor(b_np) if other is b else other)
            assert on_gpu(got) and got.dtype == ag.bool_
            assert got.tolist() == want.tolist()
    m, n = a > 1.5, b > 1.5
    assert on_gpu(m & n) and (m & n).tolist() == [False, True, False]
    assert (m | n).tolist() == [True, True, True] and (m ^ n).tolist() == [True, False, True]
    assert on_gpu(~m) and (~m).tolist() == [True, False, False]
    assert a.equal(a.clone()) and not a.equal(b)
    assert a.allclose(a + 1e-9) and not a.allclose(b)
    assert 2.0 < a.max() and on_gpu(1.0 + a) and on_gpu(1.0 * a) and on_gpu(2 ** a)


# =============================================================================================
# In-place ops on cuda
# =============================================================================================
def _untracked_inplace(device):
    t = ag.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    t.add_(ag.tensor([1.0, 1.0, 1.0, 1.0], device=device))
    t.sub_(1, alpha=2)
    t.mul_(ag.tensor(2.0, device=device))
    t.div_(4)
    t += 1
    t -= ag.ones(4, device=device)
    t *= 3
    t /= 2
    t.clamp_(0.5, 2.5)
    f = t.clone().fill_(3.0)
    f2 = t.clone().fill_(ag.tensor(5.0, device=device))
    z = t.clone().zero_()
    c = t.clone().copy_(ag.tensor([7.0, 8.0, 9.0, 10.0], device=device))
    s = t.clone()
    s[1] = 10.0
    s[ag.tensor([0, 2], device=device)] = ag.tensor([4.0, 5.0], device=device)
    s[s > 9.5] = -1.0
    s[3:] = ag.tensor([6.0], device=device)
    s[[0]] = 11.0
    i = ag.tensor([1, 2], device=device)
    i += 1
    return [t, f, f2, z, c, s, i]


def test_untracked_inplace_ops_on_cuda(cuda):
    for got, want in zip(_untracked_inplace("cuda"), _untracked_inplace("cpu")):
        assert on_gpu(got)
        assert_same(got, want)


def _tracked_inplace(device):
    x = ag.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    w = ag.tensor([0.5, -1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    y.add_(w)
    y.mul_(x)
    y.sub_(w, alpha=0.5)
    y.div_(ag.tensor([1.0, 2.0, 4.0], device=device))
    y.clamp_(-3.0, 3.0)
    z = ag.zeros(3, device=device)
    z.copy_(y)
    loss = (z * z).sum()
    loss.backward()
    return [y, z, loss, x.grad, w.grad]


def test_tracked_inplace_ops_on_cuda(cuda):
    for got, want in zip(_tracked_inplace("cuda"), _tracked_inplace("cpu")):
        assert on_gpu(got)
        assert_same(got, want)


def test_inplace_change_of_a_saved_tensor_is_caught_on_cuda(cuda):
    x = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    a = x * 1
    b = a.sin()
    a.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        b.sum().backward()
    def view_after_inplace(device):
        v = ag.ones(3, device=device)
        view = v[1:]
        with ag.no_grad():
            v.add_(1)
        return view.tolist(), view._version, v._version

    assert view_after_inplace("cuda") == view_after_inplace("cpu")
    assert view_after_inplace("cuda")[0] == [2.0, 2.0]       # a view shares the numbers


def test_gradients_accumulate_and_update_on_cuda(cuda):
    x = ag.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert on_gpu(x.grad) and x.grad.tolist() == [5.0, 7.0, 9.0]
    with ag.no_grad():
        x -= 0.5 * x.grad
    x.grad.zero_()
    assert on_gpu(x) and x.is_leaf and x.tolist() == [-1.5, -1.5, -1.5]
    assert on_gpu(x.grad) and x.grad.tolist() == [0.0, 0.0, 0.0]


# =============================================================================================
# Autograd across devices
# =============================================================================================
def test_to_cuda_is_differentiable_and_the_grad_comes_back_to_the_cpu_leaf(cuda):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("cuda")
    assert on_gpu(y) and y.grad_fn is not None and y.grad_fn.name() == "ToCopyBackward0"
    (y * y).sum().backward()
    assert type(x.grad._data) is np.ndarray and x.grad.device == "cpu"
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_cpu_is_differentiable_and_the_grad_goes_back_to_the_cuda_leaf(cuda):
    w = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (w.cpu().double() ** 3).sum().backward()
    assert on_gpu(w.grad) and w.grad.dtype == ag.float32 and w.grad.tolist() == [3.0, 12.0]


def test_one_leaf_used_on_both_devices_sums_both_paths(cuda):
    u = ag.tensor([1.0, 2.0], requires_grad=True)
    q = (u.to("cuda", ag.float64) * u.cuda()).sum().cpu() + (u * 2).sum()
    q.backward()
    assert type(u.grad._data) is np.ndarray and u.grad.tolist() == [4.0, 6.0]
    (g,) = ag.autograd.grad((u.cuda() ** 3).sum(), u, create_graph=True)
    assert g.device == "cpu" and g.tolist() == [3.0, 12.0]
    (gg,) = ag.autograd.grad(g.sum(), u)
    assert gg.device == "cpu" and gg.tolist() == [6.0, 12.0]


def test_copy_across_devices_is_differentiable(cuda):
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = ag.zeros(3, device="cuda")
    z.copy_(x * 2)
    assert on_gpu(z) and z.tolist() == [2.0, 4.0, 6.0]
    (z * z).sum().backward()
    assert type(x.grad._data) is np.ndarray and x.grad.tolist() == [8.0, 16.0, 24.0]
    h = ag.zeros(2)
    h.copy_(ag.tensor([5.0, 6.0], device="cuda"))       # plain copy, no graph
    assert type(h._data) is np.ndarray and h.tolist() == [5.0, 6.0]


def test_hooks_retain_grad_and_custom_functions_on_cuda(cuda):
    class Cube(ag.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    def run(device):
        x = ag.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
        y = Cube.apply(x) * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: g + 1)
        (y * y).sum().backward()
        return [y, y.grad, x.grad]

    for got, want in zip(run("cuda"), run("cpu")):
        assert on_gpu(got)
        assert_same(got, want)


def test_trace_backward_on_cuda(cuda):
    x = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    with ag.autograd.trace_backward() as trace:
        (x * x + x).sum().backward()
    assert trace.steps and trace.accumulations
    for step in trace.steps:
        assert on_gpu(step.grad_output)
        assert all(g is None or on_gpu(g) for g in step.grad_inputs)
    assert on_gpu(trace.accumulations[-1].after)


# =============================================================================================
# Mixing devices is an error that names both devices
# =============================================================================================
MIXED = {
    "add": lambda c, g: c + g,
    "radd": lambda c, g: g + c,
    "sub": lambda c, g: c - g,
    "mul": lambda c, g: g * c,
    "div": lambda c, g: c / g,
    "pow": lambda c, g: c ** g,
    "matmul": lambda c, g: c @ g,
    "maximum": lambda c, g: ag.maximum(g, c),
    "minimum": lambda c, g: ag.minimum(c, g),
    "where_cond_on_cpu": lambda c, g: ag.where(c > 0, g, g),
    "where_values": lambda c, g: ag.where(g > 0, c, g),
    "cat": lambda c, g: ag.cat([g, c]),
    "stack": lambda c, g: ag.stack([c, g]),
    "int_cpu_float_cuda": lambda c, g: c.long() * g,
    "float64_cpu_float32_cuda": lambda c, g: c.double() + g,
    "lt": lambda c, g: c < g,
    "eq": lambda c, g: g == c,
    "and": lambda c, g: (c > 0) & (g > 0),
    "add_": lambda c, g: g.clone().add_(c),
    "mul_": lambda c, g: c.clone().mul_(g),
    "backward_gradient": lambda c, g: (g.requires_grad_() * 2).backward(c),
    "grad_outputs": lambda c, g: ag.autograd.grad(c.requires_grad_() * 2, c, g),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_mixing_devices_is_an_error_naming_both(cuda, name):
    c = ag.tensor([1.0, -2.0, 3.0])
    g = ag.tensor([4.0, 5.0, -6.0], device="cuda")
    with pytest.raises(RuntimeError) as info:
        MIXED[name](c, g)
    message = str(info.value)
    assert "cpu" in message and "cuda:0" in message, message


MIXED_INDEXING = {
    "index_cpu_tensor_with_cuda_indices": lambda c, g: c[ag.tensor([0, 2], device="cuda")],
    "index_cpu_tensor_with_cuda_mask": lambda c, g: c[g > 0],
    "setitem_cpu_value_into_cuda": lambda c, g: g.__setitem__(slice(0, 2), c[:2]),
    "setitem_cuda_value_into_cpu": lambda c, g: c.__setitem__(slice(0, 2), g[:2]),
    "allclose": lambda c, g: c.allclose(g),
}


@pytest.mark.parametrize("name", sorted(MIXED_INDEXING))
def test_mixing_devices_in_indexing_and_allclose_names_both(cuda, name):
    c = ag.tensor([1.0, -2.0, 3.0])
    g = ag.tensor([4.0, 5.0, -6.0], device="cuda")
    with pytest.raises(RuntimeError) as info:
        MIXED_INDEXING[name](c, g)
    message = str(info.value)
    assert "cpu" in message and "cuda:0" in message, message


def test_cuda_tensor_indexed_with_cpu_indices_works(cuda):
    """Like PyTorch: a cpu index tensor (or list) may index a cuda tensor."""
    g = ag.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device="cuda", requires_grad=True)
    out = g[ag.tensor([2, 0, 2])]
    assert on_gpu(out) and out.tolist() == [[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]]
    out.sum().backward()
    assert on_gpu(g.grad) and g.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    assert g.detach()[ag.tensor([True, False, True])].tolist() == [[1.0, 2.0], [5.0, 6.0]]


# =============================================================================================
# Higher-order gradients and gradcheck on the stand-in
# =============================================================================================
SECOND_ORDER = [
    ("sin_exp", lambda x: (x.sin() * x.exp()).sum()),
    ("tanh_sigmoid", lambda x: (x.tanh() + x.sigmoid() ** 2).sum()),
    ("pow_log", lambda x: (x ** 3 + (x * x + 1).log()).sum()),
    ("pow_tensor", lambda x: ((x * x + 1) ** x).sum()),
    ("sqrt_div", lambda x: ((x * x + 1).sqrt() / (x * x + 2)).sum()),
    ("abs_cos", lambda x: (x.abs() * x.cos()).sum()),
    ("matmul", lambda x: ((x.reshape(2, 2) @ x.reshape(2, 2).T) ** 2).sum()),
    ("softmax", lambda x: (x.reshape(2, 2).softmax(1) * x.reshape(2, 2)).sum()),
    ("log_softmax", lambda x: (x.reshape(2, 2).log_softmax(0) ** 2).sum()),
    ("logsumexp", lambda x: x.reshape(2, 2).logsumexp(1).exp().sum()),
    ("var", lambda x: x.var() * x.reshape(2, 2).var(0, unbiased=False).sum()),
    ("relu_where", lambda x: (x.relu() ** 3).sum() + ag.where(x > 0, x * x, -x).sum()),
    ("maximum", lambda x: ag.maximum(x * x, x + 1).sum() ** 2),
    ("max_all", lambda x: x.max() ** 3 + x.min() ** 2),
    ("indexing", lambda x: (x[[0, 0, 3]] ** 3).sum() + (x[1:3] ** 2).sum() ** 2 + (x[x > 0] ** 3).sum()),
    ("cat_stack_expand", lambda x: (ag.cat([x, x * x]) ** 2).sum() + (ag.stack([x, x]).sum(0) ** 3).sum()
        + (x[None].expand(3, 4) ** 3).sum()),
    ("to_and_back", lambda x: (x.cpu().double().cuda() ** 3).sum() if x.device == "cuda"
        else (x.double() ** 3).sum()),
    ("std", lambda x: x.std() ** 3 + x.reshape(2, 2).std(1).sum()),
    ("clamp", lambda x: (x.clamp(-0.5, 1.0) ** 3).sum()),
    ("max_dim", lambda x: (x.reshape(2, 2).max(1).values ** 3).sum()),
    ("min_dim", lambda x: (x.reshape(2, 2).min(0).values ** 3).sum()),
]


def _second_order(fn, device):
    x = ag.tensor([0.3, -1.2, 0.8, 2.0], dtype=ag.float64, device=device, requires_grad=True)
    (g,) = ag.autograd.grad(fn(x), x, create_graph=True)
    v = ag.tensor([1.0, -0.5, 2.0, 0.25], dtype=ag.float64, device=device)
    (h,) = ag.autograd.grad((g * v).sum(), x)      # a Hessian-vector product
    return g, h


@pytest.mark.parametrize("name,fn", SECOND_ORDER,
                         ids=[p.values[0] if hasattr(p, "marks") else p[0] for p in SECOND_ORDER])
def test_second_order_gradients_match_cpu(cuda, name, fn):
    g_cpu, h_cpu = _second_order(fn, "cpu")
    g_gpu, h_gpu = _second_order(fn, "cuda")
    for got, want in ((g_gpu, g_cpu), (h_gpu, h_cpu)):
        assert on_gpu(got)
        assert_same(got, want, rtol=1e-10, atol=1e-12)


def test_gradcheck_on_cuda_in_float64(cuda):
    rng = np.random.default_rng(3)
    x = ag.tensor(rng.standard_normal((2, 3)), dtype=ag.float64, device="cuda", requires_grad=True)
    w = ag.tensor(rng.standard_normal((3, 2)), dtype=ag.float64, device="cuda", requires_grad=True)
    p = ag.tensor(rng.random(4) + 0.5, dtype=ag.float64, device="cuda", requires_grad=True)
    check = ag.autograd.gradcheck
    assert check(lambda a, b: (a @ b).tanh().log_softmax(1), (x, w))
    assert check(lambda a: (a.sigmoid() * a.exp()).var(0), (x,))
    assert check(lambda a: ag.cat([a[[1, 1, 0]], a[a > 0]]).abs() ** 1.5, (p,))
    assert check(lambda a, b: ag.maximum(a, b.T).logsumexp(1), (x, w))
    assert check(lambda a: (a ** a + 1).log().sqrt(), (p,))
    assert ag.autograd.gradgradcheck(lambda a, b: (a @ b).sigmoid(), (x, w))
    assert ag.autograd.gradgradcheck(lambda a: (a.sin() * a.softmax(0)).sum(0), (x,))


def test_gradcheck_on_cuda_catches_a_wrong_rule(cuda):
    class WrongSquare(ag.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x                              # should be 2x

    x = ag.tensor([1.0, 2.0], dtype=ag.float64, device="cuda", requires_grad=True)
    assert ag.autograd.gradcheck(lambda a: WrongSquare.apply(a), (x,), raise_exception=False) is False
    with pytest.raises(ag.autograd.GradcheckError):
        ag.autograd.gradcheck(lambda a: WrongSquare.apply(a), (x,))


# =============================================================================================
# A training step
# =============================================================================================
def _train(device, steps=3):
    rng = np.random.default_rng(11)
    xs = ag.tensor(rng.standard_normal((8, 4)), device=device)
    ys = ag.tensor(rng.integers(0, 3, 8), device=device)
    params = [ag.tensor(rng.standard_normal(s) * 0.5, device=device, requires_grad=True)
              for s in ((4, 6), (6,), (6, 3), (3,))]
    losses = []
    for _ in range(steps):
        w1, b1, w2, b2 = params
        logits = (xs @ w1 + b1).tanh() @ w2 + b2
        loss = -logits.log_softmax(1)[ag.arange(8, device=device), ys].mean()
        for p in params:
            p.grad = None
        loss.backward()
        with ag.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        losses.append(loss.detach())
    return losses + params


def test_training_steps_on_cuda_match_cpu(cuda):
    for got, want in zip(_train("cuda"), _train("cpu")):
        assert on_gpu(got)
        assert_same(got, want, rtol=1e-5, atol=1e-6)


def _train_module(device):
    from autogradkit import nn, optim
    ag.manual_seed(21)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    model.to(device)
    opt = optim.Adam(model.parameters(), lr=0.05, weight_decay=0.01, amsgrad=True)
    opt2 = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    rng = np.random.default_rng(4)
    xs = ag.tensor(rng.standard_normal((6, 4)), dtype=ag.float32, device=device)
    ys = ag.tensor(rng.integers(0, 3, 6), device=device)
    soft = ag.tensor(rng.random((6, 3)), dtype=ag.float32, device=device).softmax(1)
    out = []
    for step in range(3):
        logits = model(xs)
        loss = (nn.CrossEntropyLoss()(logits, ys) + nn.functional.cross_entropy(logits, soft)
                + nn.BCEWithLogitsLoss()(logits, (soft > 0.3).float())
                + nn.MSELoss()(logits.softmax(1), soft) + nn.L1Loss()(logits, soft * 3))
        for o in (opt, opt2):
            o.zero_grad()
        loss.backward()
        (opt if step % 2 == 0 else opt2).step()
        out.append(loss.detach())
    return out + list(model.parameters())


def test_nn_modules_and_optimizers_on_cuda_match_cpu(cuda):
    cpu, gpu = _train_module("cpu"), _train_module("cuda")
    assert len(cpu) == len(gpu) > 3
    for got, want in zip(gpu, cpu):
        assert on_gpu(got)
        assert_same(got, want, rtol=1e-5, atol=1e-6)
