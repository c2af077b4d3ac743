"""``autogradkit.data`` (``TensorDataset``, ``DataLoader``) and ``autogradkit.save`` / ``load``:
batching, reproducible shuffling, round trips of state dicts and nested structures, and refusing
pickles and corrupt or foreign files without ever running their code."""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.optim  # noqa: F401  (not imported by ``import autogradkit``)
from autogradkit import nn, optim
from autogradkit.data import DataLoader, TensorDataset
from autogradkit.serialization import UnsafeOrCorruptFileError


def np_(t):
    return t.detach().numpy()


def dataset(n=10):
    x = ag.arange(n * 2, dtype=ag.float64).reshape(n, 2)
    y = ag.arange(n)
    return TensorDataset(x, y)


def epoch_ids(loader):
    return [int(i) for _, yb in loader for i in np_(yb)]


# ---- DataLoader ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop_last,sizes", [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (10, 5, False, [5, 5]),
    (10, 5, True, [5, 5]), (10, 20, False, [10]), (10, 20, True, []), (10, 1, False, [1] * 10)])
def test_batch_sizes_len_and_drop_last(n, bs, drop_last, sizes):
    for shuffle in (False, True):
        loader = DataLoader(dataset(n), batch_size=bs, shuffle=shuffle, drop_last=drop_last,
                            generator=0)
        batches = list(loader)
        assert [len(xb) for xb, _ in batches] == sizes
        assert [len(yb) for _, yb in batches] == sizes
        assert len(loader) == len(sizes)
        for xb, yb in batches:                 # rows stay paired with their labels
            np.testing.assert_array_equal(np_(xb), np.stack([2 * np_(yb), 2 * np_(yb) + 1], 1))
            assert xb.dtype == ag.float64 and yb.dtype == ag.int64


def test_no_shuffle_keeps_order():
    assert epoch_ids(DataLoader(dataset(7), batch_size=3)) == list(range(7))


def test_every_sample_once_per_epoch_and_new_order_each_epoch():
    loader = DataLoader(dataset(50), batch_size=8, shuffle=True, generator=123)
    orders = [epoch_ids(loader) for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(50))
    assert orders[0] != list(range(50))
    assert orders[0] != orders[1] != orders[2]
    dropped = DataLoader(dataset(50), batch_size=8, shuffle=True, drop_last=True, generator=1)
    ids = epoch_ids(dropped)
    assert len(ids) == 48 and len(set(ids)) == 48


def test_shuffle_is_reproducible_with_the_same_seed():
    def orders(**kw):
        loader = DataLoader(dataset(30), batch_size=4, shuffle=True, **kw)
        return [epoch_ids(loader) for _ in range(2)]
    assert orders(generator=7) == orders(generator=7)
    assert orders(generator=7) != orders(generator=8)
    assert (orders(generator=np.random.default_rng(5)) == orders(generator=np.random.default_rng(5)))
    ag.manual_seed(42)                    # no generator: seeded from autogradkit's global seed
    a = orders()
    ag.manual_seed(42)
    b = orders()
    ag.manual_seed(43)
    c = orders()
    assert a == b and a != c


def test_dataloader_over_a_plain_sequence_collates():
    samples = [(ag.tensor([float(i), -float(i)]), i) for i in range(5)]
    batches = list(DataLoader(samples, batch_size=2))
    assert len(batches) == 3
    xb, yb = batches[0]
    np.testing.assert_array_equal(np_(xb), [[0.0, -0.0], [1.0, -1.0]])
    np.testing.assert_array_equal(np_(yb), [0, 1])
    assert tuple(batches[-1][0].shape) == (1, 2)


def test_data_errors():
    with pytest.raises(ValueError):
        DataLoader(dataset(), batch_size=0)
    with pytest.raises(ValueError):
        TensorDataset(ag.zeros(3, 2), ag.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()
    ds = dataset(4)
    assert len(ds) == 4
    x, y = ds[2]
    np.testing.assert_array_equal(np_(x), [4.0, 5.0])
    assert int(y.item()) == 2


# ---- save / load round trips ---------------------------------------------------------------------
def net():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def test_state_dict_round_trip_and_fresh_model_gives_identical_outputs(tmp_path):
    ag.manual_seed(0)
    model = net()
    path = tmp_path / "model.pt"           # a torch-style name, no .npz suffix
    ag.save(model.state_dict(), str(path))
    assert os.listdir(tmp_path) == ["model.pt"]
    sd = ag.load(str(path))
    assert list(sd) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert sd[k].dtype == v.dtype and tuple(sd[k].shape) == tuple(v.shape)
        np.testing.assert_array_equal(np_(sd[k]), np_(v), err_msg=k)
    fresh = net()
    assert not np.array_equal(np_(fresh[0].weight), np_(model[0].weight))
    fresh.load_state_dict(sd)
    x = ag.randn(5, 4)
    np.testing.assert_array_equal(np_(fresh(x)), np_(model(x)))
    assert ag.load(path)["0.weight"].shape == (8, 4)          # a pathlib.Path works too


def test_nested_structures_round_trip(tmp_path):
    obj = {
        "epoch": 7, "lr": 0.125, "name": "run-α", "done": False, "none": None, "big": 2 ** 62,
        "inf": float("inf"), 3: "int key", (1, "a"): "tuple key",
        "list": [1, 2.5, "x", [ag.tensor([1, 2, 3]), (4, 5)]],
        "tuple": (ag.tensor(2.5, dtype=ag.float64), {"inner": [None, True]}),
        "dtypes": [ag.zeros(2, dtype=d) for d in (ag.float16, ag.float32, ag.float64, ag.int32,
                                                  ag.int64, ag.uint8, ag.bool_)],
        "empty": [[], {}, ()],
        "np_scalars": [np.float64(1.5), np.int64(3), np.bool_(True)],
    }
    ag.save(obj, tmp_path / "obj.bin")
    back = ag.load(tmp_path / "obj.bin")

    def same(a, b, where="obj"):
        assert type(a) is type(b) or (isinstance(b, np.generic) and a == b.item()), where
        if isinstance(b, ag.Tensor):
            assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape), where
            np.testing.assert_array_equal(np_(a), np_(b), err_msg=where)
        elif isinstance(b, dict):
            assert list(a) == list(b), where
            for k in b:
                same(a[k], b[k], f"{where}[{k!r}]")
        elif isinstance(b, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        elif not isinstance(b, np.generic):
            assert a == b, where
    same(back, obj)


def test_parameter_and_requires_grad_preserved(tmp_path):
    p = nn.Parameter(ag.tensor([1.0, 2.0]))
    frozen = nn.Parameter(ag.tensor([3.0]), requires_grad=False)
    leaf = ag.tensor([4.0], requires_grad=True)
    plain = ag.tensor([5.0])
    ag.save({"p": p, "frozen": frozen, "leaf": leaf, "plain": plain}, tmp_path / "p")
    back = ag.load(tmp_path / "p")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad
    assert not isinstance(back["leaf"], nn.Parameter) and back["leaf"].requires_grad
    assert back["leaf"].is_leaf
    assert not isinstance(back["plain"], nn.Parameter) and not back["plain"].requires_grad
    np.testing.assert_array_equal(np_(back["p"]), [1.0, 2.0])
    # loaded tensors don't share memory with what was saved
    with ag.no_grad():
        back["p"].fill_(0.0)
    np.testing.assert_array_equal(np_(p), [1.0, 2.0])


def test_file_objects_and_map_location():
    buf = io.BytesIO()
    ag.save({"w": ag.ones(2, 2)}, buf)
    buf.seek(0)
    back = ag.load(buf, map_location="cpu")
    np.testing.assert_array_equal(np_(back["w"]), np.ones((2, 2)))


def test_checkpoint_with_optimizer_resumes_exactly(tmp_path):
    def batch(t):
        r = np.random.default_rng(t)
        return ag.tensor(r.standard_normal((6, 4))), ag.tensor(r.standard_normal((6, 3)))

    def train(model, opt, steps):
        for t in steps:
            x, y = batch(t)
            opt.zero_grad()
            nn.MSELoss()(model(x), y).backward()
            opt.step()

    ag.manual_seed(3)
    a = net().double()
    opt_a = optim.Adam(a.parameters(), lr=0.01)
    train(a, opt_a, range(6))
    ag.manual_seed(3)
    b = net().double()
    opt_b = optim.Adam(b.parameters(), lr=0.01)
    train(b, opt_b, range(3))
    ag.save({"model": b.state_dict(), "optim": opt_b.state_dict(), "step": 3}, tmp_path / "ckpt")
    ck = ag.load(tmp_path / "ckpt")
    c = net().double()
    c.load_state_dict(ck["model"])
    opt_c = optim.Adam(c.parameters(), lr=0.5)
    opt_c.load_state_dict(ck["optim"])
    train(c, opt_c, range(ck["step"], 6))
    for (k, pa), pc in zip(a.named_parameters(), c.parameters()):
        np.testing.assert_array_equal(np_(pc), np_(pa), err_msg=k)


def test_save_refuses_unsupported_objects(tmp_path):
    with pytest.raises(TypeError):
        ag.save({"f": lambda: 1}, tmp_path / "x")
    with pytest.raises(TypeError):
        ag.save({1, 2}, tmp_path / "y")


# ---- refusing pickles, corrupt and foreign files ------------------------------------------------
MARKER = None


class Payload:
    """Unpickling this would create the marker file."""
    def __reduce__(self):
        return (open, (MARKER, "w"))


@pytest.fixture
def marker(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "PWNED")
    # the payload is real: unpickling it does create the marker
    pickle.loads(pickle.dumps(Payload())).close()
    assert os.path.exists(MARKER)
    os.remove(MARKER)
    yield MARKER
    assert not os.path.exists(MARKER), "loading ran code from the file"


def test_pickle_file_is_refused_without_running_it(tmp_path, marker):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weight": Payload()}))
    with pytest.raises(UnsafeOrCorruptFileError, match="pickle"):
        ag.load(path)
    with pytest.raises(UnsafeOrCorruptFileError, match="pickle"):
        ag.load(io.BytesIO(pickle.dumps(Payload())))


def test_npz_with_object_array_is_refused_without_running_it(tmp_path, marker):
    path = tmp_path / "evil.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    header = json.dumps({"magic": "autogradkit-save-v1", "data": {"__tensor__": "t0"}}).encode()
    np.savez(path, t0=evil, __autogradkit__=np.frombuffer(header, np.uint8))
    with pytest.raises(UnsafeOrCorruptFileError, match="pickle"):
        ag.load(path)
    # an object array hidden next to a valid save is refused too
    good = tmp_path / "good.npz"
    ag.save({"w": ag.ones(2)}, good)
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    sneaky = tmp_path / "sneaky.npz"
    with zipfile.ZipFile(sneaky, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
        buf = io.BytesIO()
        np.save(buf, evil, allow_pickle=True)
        z.writestr("extra.npy", buf.getvalue())
    with pytest.raises(UnsafeOrCorruptFileError, match="pickle"):
        ag.load(sneaky)


def _valid_bytes():
    buf = io.BytesIO()
    ag.save({"w": ag.ones(50, 50), "n": 3}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["truncated", "truncated_early", "flipped", "empty", "random",
                                  "text", "npy", "zip_without_header", "bad_header",
                                  "header_not_json", "header_missing_array", "header_missing_data"])
def test_corrupt_or_foreign_file_gives_clear_error(tmp_path, kind):
    data = _valid_bytes()
    if kind == "truncated":
        blob = data[: len(data) // 2]
    elif kind == "truncated_early":
        blob = data[:10]
    elif kind == "flipped":                    # damage the stored array's bytes (CRC must catch it)
        i = len(data) // 2
        blob = data[:i] + bytes(b ^ 0xFF for b in data[i:i + 64]) + data[i + 64:]
    elif kind == "empty":
        blob = b""
    elif kind == "random":
        blob = np.random.default_rng(0).bytes(4096)
    elif kind == "text":
        blob = b"weight,bias\n1,2\n"
    else:
        buf = io.BytesIO()
        if kind == "npy":
            np.save(buf, np.zeros(3))
        elif kind == "zip_without_header":
            np.savez(buf, a=np.zeros(3))
        else:
            header = {"bad_header": {"magic": "someone-else", "data": 1},
                      "header_missing_array": {"magic": "autogradkit-save-v1",
                                               "data": {"__tensor__": "t9"}},
                      "header_missing_data": {"magic": "autogradkit-save-v1"}}.get(kind)
            raw = b"{not json" if kind == "header_not_json" else json.dumps(header).encode()
            np.savez(buf, __autogradkit__=np.frombuffer(raw, np.uint8))
        blob = buf.getvalue()
    path = tmp_path / "f.pt"
    path.write_bytes(blob)
    with pytest.raises(UnsafeOrCorruptFileError) as info:
        ag.load(path)
    assert "f.pt" in str(info.value)           # names the file
    assert isinstance(info.value, ValueError)


def test_torch_checkpoint_is_refused_as_foreign(tmp_path, marker):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)      # a zip holding a pickle: must not be unpickled
    with pytest.raises(UnsafeOrCorruptFileError, match="autogradkit"):
        ag.load(path)


def test_missing_file_is_file_not_found_like_torch(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(FileNotFoundError):
        torch.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        ag.load(tmp_path / "nope.pt")


# ---- autogradkit.utils.data: PyTorch's import path, Subset, random_split -----------------------
def test_pytorch_import_path_gives_the_same_objects():
    from autogradkit.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split
    import autogradkit.data as data
    assert (DataLoader, Dataset, Subset, TensorDataset, random_split) == (
        data.DataLoader, data.Dataset, data.Subset, data.TensorDataset, data.random_split)
    import autogradkit as torch
    assert torch.utils.data.DataLoader is DataLoader and issubclass(TensorDataset, Dataset)


@pytest.mark.parametrize("lengths, sizes", [([7, 3], [7, 3]), ([0.7, 0.3], [7, 3]),
                                            ([0.5, 0.25, 0.25], [6, 2, 2]), ([1.0], [10])])
def test_random_split_sizes_like_torch_and_a_partition(lengths, sizes):
    import autogradkit as ag
    from autogradkit.utils.data import TensorDataset, random_split
    ds = TensorDataset(ag.arange(10), ag.arange(10) * 2)
    parts = random_split(ds, lengths, generator=0)
    assert [len(p) for p in parts] == sizes
    torch = pytest.importorskip("torch")
    tparts = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in tparts] == sizes                  # PyTorch's rule for the sizes
    picked = sorted(int(p[i][0]) for p in parts for i in range(len(p)))
    assert picked == list(range(10))                           # every sample once
    assert all(int(p[i][1]) == 2 * int(p[i][0]) for p in parts for i in range(len(p)))


def test_random_split_repeats_with_a_seed_and_feeds_a_dataloader():
    import autogradkit as ag
    from autogradkit.utils.data import DataLoader, TensorDataset, random_split
    ds = TensorDataset(ag.arange(12).float(), ag.arange(12))
    ag.manual_seed(3)
    a = [p.indices for p in random_split(ds, [8, 4])]
    ag.manual_seed(3)
    b = [p.indices for p in random_split(ds, [8, 4])]
    c = [p.indices for p in random_split(ds, [8, 4])]
    assert a == b and a != c
    train, _ = random_split(ds, [8, 4], generator=1)
    batches = list(DataLoader(train, batch_size=3))
    assert [len(xb) for xb, _ in batches] == [3, 3, 2]
    assert [int(v) for xb, yb in batches for v in yb] == train.indices


@pytest.mark.parametrize("lengths", [[5, 4], [0.5, 0.6], [-1, 11], [2.5, 7.5]])
def test_random_split_refuses_lengths_that_do_not_add_up(lengths):
    import autogradkit as ag
    from autogradkit.utils.data import TensorDataset, random_split
    with pytest.raises(ValueError, match="random_split"):
        random_split(TensorDataset(ag.arange(10)), lengths)


def test_a_dataset_without_getitem_says_what_to_define():
    from autogradkit.utils.data import Dataset

    class Empty(Dataset):
        def __len__(self):
            return 1

    with pytest.raises(NotImplementedError, match="Empty must define __getitem__"):
        Empty()[0]
