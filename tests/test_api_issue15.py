"""Issue 15, item 1 (part): the PyTorch API that tutorial code meets first — default device,
``accelerator``, ``device`` indices, ``allclose``/``isclose``/``equal``, ``out=``, ``uniform_``/
``normal_``, ``size=`` on creation functions, and ``DataLoader``'s keywords — checked against
PyTorch where it is installed."""
import warnings

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import backend, data as agdata
from autogradkit.utils.data import (DataLoader, Dataset, IterableDataset, Subset, TensorDataset,
                                    default_collate, random_split)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _cpu_default():
    yield
    ag.set_default_device(None)


# ---- default device ----------------------------------------------------------------------------
CREATORS = {
    "tensor": lambda **kw: ag.tensor([1.0, 2.0], **kw),
    "as_tensor": lambda **kw: ag.as_tensor([1.0, 2.0], **kw),
    "zeros": lambda **kw: ag.zeros(2, 3, **kw),
    "ones": lambda **kw: ag.ones(size=(2,), **kw),
    "empty": lambda **kw: ag.empty(2, **kw),
    "full": lambda **kw: ag.full((2,), 3.0, **kw),
    "rand": lambda **kw: ag.rand(2, **kw),
    "randn": lambda **kw: ag.randn(size=(2, 3), **kw),
    "arange": lambda **kw: ag.arange(3, **kw),
    "linspace": lambda **kw: ag.linspace(0, 1, 3, **kw),
    "eye": lambda **kw: ag.eye(2, **kw),
    "normal": lambda **kw: ag.normal(0.0, 1.0, (2,), **kw),
    "randint": lambda **kw: ag.randint(0, 5, (3,), **kw),
    "randperm": lambda **kw: ag.randperm(4, **kw),
}


def test_default_device_starts_cpu_and_reads_back(torch):
    assert ag.get_default_device() == ag.device("cpu")
    assert repr(ag.get_default_device()) == repr(torch.get_default_device()) == "device(type='cpu')"
    ag.set_default_device("cpu")
    assert ag.zeros(2).device == "cpu"
    ag.set_default_device("cuda")
    assert repr(ag.get_default_device()) == "device(type='cuda', index=0)"
    ag.set_default_device(None)
    assert ag.get_default_device() == "cpu"


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_default_cuda_without_gpu_fails_clearly_at_use(name, monkeypatch):
    """With 'cuda' the default, every creation function goes there: without CuPy/GPU, the
    existing clear error, at the moment of use (not at set_default_device)."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", ModuleNotFoundError("no cupy", name="cupy"))
    ag.set_default_device("cuda")
    with pytest.raises(backend.CudaUnavailableError, match="CUDA is not available"):
        CREATORS[name]()
    assert CREATORS[name](device="cpu").device == "cpu"      # device= still wins


@pytest.fixture
def cuda():
    """The strict CuPy stand-in (tests/strict_cupy.py) as the "cuda" backend, for one test."""
    import strict_cupy
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


def test_default_device_reaches_the_gpu_with_the_standin(cuda):
    ag.set_default_device("cuda")
    for name, make in CREATORS.items():
        t = make()
        assert t.device == "cuda" and isinstance(t._data, cuda.ndarray), name
    lin = ag.nn.Linear(3, 2)
    assert lin.weight.device == "cuda" and lin.bias.device == "cuda"
    assert lin(ag.randn(4, 3)).device == "cuda"
    w = ag.zeros(3).uniform_(-1, 1)
    assert isinstance(w._data, cuda.ndarray) and float(abs(w).max().item()) <= 1
    cpu = ag.tensor(np.ones(2), device="cpu")
    assert ag.tensor(cpu).device == "cpu"                  # a tensor stays where it is
    out = ag.zeros(2)
    assert ag.add(ag.ones(2), 1.0, out=out) is out and out.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="on cpu but out= is on cuda"):
        ag.add(cpu, 1.0, out=out)
    with pytest.raises(RuntimeError, match="different devices"):
        ag.allclose(cpu, out)


def test_like_functions_keep_the_inputs_device():
    x = ag.ones(2, device="cpu")
    ag.set_default_device("cuda")      # never used: *_like follow their input
    for f in (ag.zeros_like, ag.ones_like, ag.rand_like, ag.randn_like):
        assert f(x).device == "cpu"
    assert ag.full_like(x, 2.0).device == "cpu"


def test_nn_linear_follows_the_default_device(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", ModuleNotFoundError("no cupy", name="cupy"))
    ag.set_default_device("cuda")
    with pytest.raises(backend.CudaUnavailableError):
        ag.nn.Linear(3, 2)
    ag.set_default_device("cpu")
    assert ag.nn.Linear(3, 2).weight.device == "cpu"


# ---- accelerator, device objects ---------------------------------------------------------------
def test_accelerator_on_a_machine_without_gpu(torch, monkeypatch):
    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    assert ag.accelerator.is_available() is False
    assert ag.accelerator.current_accelerator() is None
    assert ag.accelerator.device_count() == 0
    device = (ag.accelerator.current_accelerator().type if ag.accelerator.is_available()
              else "cpu")
    assert device == "cpu"
    if not torch.accelerator.is_available():
        assert torch.accelerator.current_accelerator() is None


def test_accelerator_with_a_gpu(monkeypatch):
    monkeypatch.setattr(backend, "cuda_available", lambda: True)
    acc = ag.accelerator.current_accelerator()
    assert acc == ag.device("cuda") and acc.type == "cuda" and acc.index is None
    assert ag.accelerator.is_available() and ag.accelerator.device_count() == 1
    assert ag.accelerator.current_accelerator(check_available=True).type == "cuda"


@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:0"])
def test_device_index_repr_str_as_torch(torch, spec):
    a, t = ag.device(spec), torch.device(spec)
    assert a.type == t.type and a.index == t.index
    assert repr(a) == repr(t) and str(a) == str(t)


def test_device_equality():
    assert ag.device("cuda", 0).index == 0 and ag.device("cuda") != "cpu"
    assert ag.device("cpu") == "cpu" and ag.device("cuda:0") == ag.device("cuda:0")
    # autogradkit has one GPU: 'cuda' and 'cuda:0' name the same one (PyTorch says unequal)
    assert ag.device("cuda") == ag.device("cuda:0")
    assert len({ag.device("cuda"), ag.device("cuda:0")}) == 1


# ---- allclose, isclose, equal ------------------------------------------------------------------
def test_allclose_isclose_equal_match_torch(torch):
    a = np.array([1.0, 2.0, np.nan, 1e-9], dtype=np.float32)
    b = np.array([1.0 + 1e-6, 2.1, np.nan, 0.0], dtype=np.float32)
    A, B = ag.tensor(a), ag.tensor(b)
    TA, TB = torch.tensor(a), torch.tensor(b)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.1}, {"atol": 0.0}, {"rtol": 0.1, "equal_nan": True}):
        got = ag.isclose(A, B, **kw)
        assert got.dtype == ag.bool_
        np.testing.assert_array_equal(got.numpy(), torch.isclose(TA, TB, **kw).numpy())
        np.testing.assert_array_equal(A.isclose(B, **kw).numpy(), got.numpy())
        assert ag.allclose(A[:2], B[:2], **kw) == torch.allclose(TA[:2], TB[:2], **kw)
        assert ag.allclose(A, B, **kw) == torch.allclose(TA, TB, **kw)
    assert ag.allclose(A[:2], B[:2], 0.1) is True            # rtol positionally
    assert ag.equal(A[:2], A[:2]) is True and ag.equal(A[:2], B[:2]) is False
    assert ag.equal(ag.ones(2), ag.ones(3)) is False and torch.equal(torch.ones(2), torch.ones(3)) is False
    assert ag.allclose(ag.ones(2, 3), ag.ones(3)) is True     # broadcasts, as torch
    assert torch.allclose(torch.ones(2, 3), torch.ones(3)) is True
    with pytest.raises(RuntimeError, match=r"allclose: shapes \(2,\) and \(3,\) don't broadcast"):
        ag.allclose(ag.ones(2), ag.ones(3))
    with pytest.raises(RuntimeError):
        torch.allclose(torch.ones(2), torch.ones(3))


# ---- out= ------------------------------------------------------------------------------------
OUT_FUNCS = ["add", "sub", "mul", "div", "matmul", "pow", "maximum", "minimum", "mm"]


@pytest.mark.parametrize("name", OUT_FUNCS)
def test_out_writes_in_place_as_torch(torch, name):
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 3)).astype(np.float32) + 0.5, rng.random((3, 3)).astype(np.float32) + 0.5
    out, tout = ag.zeros(3, 3), torch.zeros(3, 3)
    version = out._vc[0]
    res = getattr(ag, name)(ag.tensor(a), ag.tensor(b), out=out)
    getattr(torch, name)(torch.tensor(a), torch.tensor(b), out=tout)
    assert res is out and out._vc[0] == version + 1
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-6)
    # an empty out is resized
    empty, tempty = ag.tensor([]), torch.tensor([])
    getattr(ag, name)(ag.tensor(a), ag.tensor(b), out=empty)
    getattr(torch, name)(torch.tensor(a), torch.tensor(b), out=tempty)
    assert tuple(empty.shape) == tuple(tempty.shape) == (3, 3)
    np.testing.assert_allclose(empty.numpy(), tempty.numpy(), rtol=1e-6)


def test_out_casts_where_torch_does(torch):
    i = ag.tensor([1, 2, 3])
    out = ag.zeros(3, dtype=ag.float64)
    ag.add(i, i, out=out)                                   # int result into a float out: fine
    assert out.dtype == ag.float64 and out.tolist() == [2.0, 4.0, 6.0]
    out32 = ag.zeros(3)
    ag.mul(ag.ones(3, dtype=ag.float64), 2.0, out=out32)    # float64 into float32: fine
    assert out32.dtype == ag.float32 and out32.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError) as ours:
        ag.mul(ag.ones(3), 2.0, out=ag.zeros(3, dtype=ag.int64))
    with pytest.raises(RuntimeError) as theirs:
        torch.mul(torch.ones(3), 2.0, out=torch.zeros(3, dtype=torch.int64))
    assert "result type Float can't be cast to the desired output type Long" in str(ours.value)
    assert "result type Float can't be cast to the desired output type Long" in str(theirs.value)
    with pytest.raises(RuntimeError, match="to the desired output type Bool"):
        ag.add(ag.ones(2), 1.0, out=ag.zeros(2, dtype=ag.bool_))


def test_out_refuses_autograd_and_wrong_shapes(torch):
    w = ag.ones(3, requires_grad=True)
    msg = "functions with out=... arguments don't support automatic differentiation"
    with pytest.raises(RuntimeError, match=r"mul\(\): functions with out=\.\.\. arguments"):
        ag.mul(w, 2.0, out=ag.zeros(3))
    with pytest.raises(RuntimeError, match=msg):
        torch.mul(torch.ones(3, requires_grad=True), 2.0, out=torch.zeros(3))
    with pytest.raises(RuntimeError, match=msg):
        ag.add(ag.ones(3), 1.0, out=ag.zeros(3, requires_grad=True))
    with ag.no_grad():
        out = ag.zeros(3)
        ag.mul(w, 2.0, out=out)
    assert out.tolist() == [2.0, 2.0, 2.0] and out.grad_fn is None
    with pytest.raises(RuntimeError, match=r"out= has shape \(4,\) but the result has shape \(3,\)"):
        ag.mul(ag.ones(3), 2.0, out=ag.zeros(4))
    with pytest.raises(RuntimeError, match="matmul"):
        ag.matmul(ag.ones(2, 3), ag.ones(3, 2), out=ag.zeros(3, 3))


# ---- uniform_, normal_, fill_, zero_ -----------------------------------------------------------
def test_uniform_and_normal_fill_in_place_reproducibly():
    ag.manual_seed(3)
    x = ag.empty(1000)
    assert x.uniform_(-2, 3) is x and x._vc[0] == 1
    v = x.numpy()
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.2 and x.dtype == ag.float32
    y = ag.empty(2000, dtype=ag.float64).normal_(mean=1.0, std=0.5)
    assert abs(y.numpy().mean() - 1.0) < 0.05 and abs(y.numpy().std() - 0.5) < 0.05
    assert y.dtype == ag.float64
    ag.manual_seed(3)
    assert np.array_equal(ag.empty(1000).uniform_(-2, 3).numpy(), v)    # the seed repeats it
    assert np.array_equal(ag.zeros(4).uniform_(generator=np.random.default_rng(1)).numpy(),
                          ag.zeros(4).uniform_(generator=np.random.default_rng(1)).numpy())
    assert ag.ones(3).fill_(2.5).tolist() == [2.5] * 3 and ag.ones(2).zero_().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="std"):
        ag.zeros(2).normal_(0, -1)
    with pytest.raises(TypeError, match="floating-point"):
        ag.zeros(2, dtype=ag.int64).uniform_()


def test_in_place_random_respects_leaf_rule_and_versions(torch):
    w = ag.zeros(3, requires_grad=True)
    for fill in (lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.fill_(1.0),
                 lambda t: t.zero_()):
        with pytest.raises(RuntimeError, match="leaf"):
            fill(w)
        with pytest.raises(RuntimeError, match="leaf"):
            fill(torch.zeros(3, requires_grad=True))
    with ag.no_grad():
        w.uniform_(-0.1, 0.1)
        w.normal_(0, 0.01)
    assert w.requires_grad and w.is_leaf and w._vc[0] == 2
    # a value saved for backward and then refilled: backward refuses, as in PyTorch
    x = ag.ones(3, requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    h.normal_()
    with pytest.raises(RuntimeError, match="version"):
        y.backward()


# ---- size= on creation functions ---------------------------------------------------------------
def test_size_keyword_everywhere(torch):
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        assert tuple(getattr(ag, name)(size=(2, 3)).shape) == tuple(getattr(torch, name)(size=(2, 3)).shape)
        assert tuple(getattr(ag, name)(2, 3, dtype=ag.float64).shape) == (2, 3)
        assert getattr(ag, name)(2, 3, dtype=ag.float64).dtype == ag.float64
        assert tuple(getattr(ag, name)((2, 3)).shape) == (2, 3)
    assert tuple(ag.full(size=(2, 2), fill_value=1.5).shape) == (2, 2)
    assert tuple(ag.normal(0.0, 0.01, size=(3, 4)).shape) == tuple(torch.normal(0.0, 0.01, size=(3, 4)).shape)
    assert tuple(ag.normal(0, 1, (3, 2)).shape) == (3, 2)
    r = ag.randint(0, 10, size=(5,))
    t = torch.randint(0, 10, size=(5,))
    assert tuple(r.shape) == tuple(t.shape) and r.dtype == ag.int64
    assert tuple(ag.randint(10, (4,)).shape) == tuple(torch.randint(10, (4,)).shape) == (4,)
    assert ag.randint(3, (100,)).numpy().max() < 3


# ---- DataLoader --------------------------------------------------------------------------------
def test_utils_data_exports_and_old_path():
    assert DataLoader is agdata.DataLoader and TensorDataset is agdata.TensorDataset
    assert Dataset is agdata.Dataset and Subset is agdata.Subset and random_split is agdata.random_split
    assert IterableDataset is agdata.IterableDataset and default_collate is agdata.default_collate


def test_dataloader_accepts_torchs_keywords_and_num_workers_note(monkeypatch):
    monkeypatch.setattr(agdata, "_WORKERS_NOTE_SHOWN", False)
    ds = TensorDataset(ag.arange(10).float(), ag.arange(10))
    with pytest.warns(UserWarning, match="num_workers=2 is accepted.*in this process"):
        loader = DataLoader(ds, batch_size=4, shuffle=False, sampler=None, batch_sampler=None,
                            num_workers=2, collate_fn=None, pin_memory=True, drop_last=False,
                            timeout=0, worker_init_fn=None, generator=None,
                            persistent_workers=True, prefetch_factor=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # said once per process: not again
        again = DataLoader(ds, batch_size=4, num_workers=4)
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b[1].tolist() for b in again] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(loader) == 3


def test_dataloader_collate_fn_sampler_batch_sampler():
    ds = TensorDataset(ag.arange(6).float(), ag.arange(6))
    seen = []

    def collate(samples):
        seen.append(len(samples))
        xs, ys = zip(*samples)
        return ag.stack(list(xs)) * 10, list(int(y) for y in ys)

    xb, yb = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate)))
    assert seen == [4] and xb.tolist() == [0.0, 10.0, 20.0, 30.0] and yb == [0, 1, 2, 3]
    by_sampler = DataLoader(ds, batch_size=2, sampler=[5, 3, 1, 0])
    assert [b[1].tolist() for b in by_sampler] == [[5, 3], [1, 0]] and len(by_sampler) == 2
    by_batches = DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert [b[1].tolist() for b in by_batches] == [[0, 5], [2]] and len(by_batches) == 2
    one_by_one = list(DataLoader(ds, batch_size=None))
    assert len(one_by_one) == 6 and one_by_one[2][1].item() == 2 and one_by_one[2][1].shape == ()
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])


def test_default_collate_matches_torch(torch):
    from torch.utils.data import default_collate as tcollate
    samples = [(np.float32(1.5) * i, i, float(i), {"a": [1.0 * i, 2.0]}) for i in range(3)]
    samples = [(ag.tensor([s[0], 1.0]), s[1], s[2], s[3]) for s in samples]
    ours = default_collate(samples)
    theirs = tcollate([(torch.tensor(s[0].numpy()), s[1], s[2], {"a": s[3]["a"]}) for s in samples])
    for o, t in zip(ours[:3], theirs[:3]):
        assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(o.numpy(), t.numpy())
    assert ours[3]["a"][0].tolist() == theirs[3]["a"][0].tolist()


def test_iterable_dataset_batches_in_order():
    class Stream(IterableDataset):
        def __iter__(self):
            for i in range(5):
                yield ag.tensor([float(i)]), i

    batches = list(DataLoader(Stream(), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert tuple(batches[0][0].shape) == (2, 1)
    assert [b[1].tolist() for b in DataLoader(Stream(), batch_size=2, drop_last=True)] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(), shuffle=True)


@pytest.mark.parametrize("call", ["x.split(3)", "x.split([2, 5])", "x.split(1, dim=1)",
                                  "x.chunk(3)", "x.chunk(2, dim=1)", "lib.split(x, 4)",
                                  "lib.chunk(x, 4)", "x.split(7)", "x.chunk(10)"])
def test_split_and_chunk_pieces_and_gradients_are_torch_s(call):
    torch = pytest.importorskip("torch")
    out = {}
    for lib in (ag, torch):
        x = lib.tensor(np.arange(14.0).reshape(7, 2), requires_grad=True)
        pieces = eval(call, {"x": x, "lib": lib})
        assert isinstance(pieces, tuple)
        sum((p * (i + 1)).sum() for i, p in enumerate(pieces)).backward()
        out[lib.__name__] = ([tuple(p.shape) for p in pieces],
                             [p.detach().numpy().tolist() for p in pieces], x.grad.numpy().tolist())
    assert out["autogradkit"] == out["torch"]


def test_split_sizes_that_do_not_add_up_are_refused_with_the_shapes():
    x = ag.zeros(7, 2)
    with pytest.raises(RuntimeError, match=r"split: the sizes \[2, 4\] add up to 6.*\(7, 2\)"):
        x.split([2, 4])
