"""``optim.RMSprop`` and ``optim.Adagrad`` against PyTorch (issue 15): trajectories over 20 steps on
the same initial weights with every option, float64 and float32, parameter groups, state dicts,
the signatures' defaults, and the argument errors with PyTorch's messages.

Every expected trajectory comes from running ``torch.optim`` on the same numbers.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autogradkit as ag  # noqa: E402
import autogradkit.optim  # noqa: E402,F401
from autogradkit import nn, optim  # noqa: E402

TOL = {"float64": dict(rtol=1e-10, atol=1e-13), "float32": dict(rtol=2e-5, atol=2e-6)}
STEPS = 20


def initial_values(seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal((3, 4)), r.standard_normal(4), r.standard_normal(2)]


def grad_of(values, step):
    """A gradient that depends on the parameters (a divergence shows in later steps) and on the
    step; its size jumps so that running averages, momentum and sums all matter."""
    scale = (1.0, 4.0, 0.1, 0.05, 1.0, 0.02)[step % 6]
    return scale * (2 * (values - 0.3) + 0.5 * np.cos(values * (step + 1)) + 0.1 * step)


def run(lib, opt_name, kwargs, steps=STEPS, groups=None, no_grad_index=2, dtype="float64"):
    """Parameters after each step; parameter ``no_grad_index`` never gets a gradient."""
    dt = getattr(lib, dtype)
    params = [lib.tensor(v.copy(), dtype=dt, requires_grad=True) for v in initial_values()]
    spec = params if groups is None else [dict(g, params=[params[i] for i in g["params"]])
                                          for g in groups]
    opt = getattr(lib.optim, opt_name)(spec, **kwargs)
    traj = []
    for t in range(steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            if i != no_grad_index:
                p.grad = lib.tensor(grad_of(p.detach().numpy().astype(np.float64), t), dtype=dt)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, params, opt


def assert_same_trajectory(got, want, dtype="float64"):
    for t, (g_step, w_step) in enumerate(zip(got, want)):
        for i, (g, w) in enumerate(zip(g_step, w_step)):
            assert g.dtype == w.dtype, f"step {t + 1}, parameter {i}: {g.dtype} vs {w.dtype}"
            np.testing.assert_allclose(g, w, err_msg=f"step {t + 1}, parameter {i}", **TOL[dtype])


RMSPROP_CASES = [
    dict(),
    dict(lr=0.05),
    dict(lr=0.01, alpha=0.9),
    dict(lr=0.01, eps=1e-3),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.5, centered=True),
    dict(lr=0.01, maximize=True),
    dict(lr=0.02, alpha=0.8, eps=1e-6, weight_decay=0.05, momentum=0.7, centered=True, maximize=True),
]
ADAGRAD_CASES = [
    dict(),
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, initial_accumulator_value=0.5),
    dict(lr=0.1, eps=1e-3),
    dict(lr=0.1, maximize=True),
    dict(lr=0.2, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6,
         maximize=True),
]
CASES = [("RMSprop", k) for k in RMSPROP_CASES] + [("Adagrad", k) for k in ADAGRAD_CASES]
IDS = [f"{n}-{','.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for n, kw in CASES]


@pytest.mark.parametrize("opt_name,kwargs", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trajectory_equals_torch(opt_name, kwargs, dtype):
    got, params, _ = run(ag, opt_name, kwargs, dtype=dtype)
    want, _, _ = run(torch, opt_name, kwargs, dtype=dtype)
    assert_same_trajectory(got, want, dtype)
    assert not np.allclose(got[-1][0], initial_values()[0].astype(dtype))   # it did move
    np.testing.assert_array_equal(got[-1][2], initial_values()[2].astype(dtype))  # no grad: untouched
    assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params)


def test_options_change_the_trajectory():
    # each option is tested above only if it changes something: check that it does
    for name, base, options in (("RMSprop", dict(lr=0.01), RMSPROP_CASES[2:9]),
                                ("Adagrad", dict(lr=0.1), ADAGRAD_CASES[2:7])):
        ref, _, _ = run(ag, name, base)
        for kw in options:
            other, _, _ = run(ag, name, dict(base, **kw))
            assert not np.allclose(ref[-1][0], other[-1][0], rtol=1e-6), (name, kw)


@pytest.mark.parametrize("opt_name,kwargs", [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
                                             ("Adagrad", dict(lr=0.1, lr_decay=0.01))])
def test_param_groups_with_different_settings_equal_torch(opt_name, kwargs):
    groups = [dict(params=[0]), dict(params=[1, 2], lr=0.3, weight_decay=0.05)]
    got, _, opt = run(ag, opt_name, kwargs, groups=groups, no_grad_index=None)
    want, _, topt = run(torch, opt_name, kwargs, groups=groups, no_grad_index=None)
    assert_same_trajectory(got, want)
    assert [len(g["params"]) for g in opt.param_groups] == [1, 2]
    for g, tg in zip(opt.param_groups, topt.param_groups):     # the defaults fill the rest
        assert set(g) <= set(tg)
        for k in g:
            if k != "params":
                assert g[k] == tg[k], k


@pytest.mark.parametrize("opt_name", ["RMSprop", "Adagrad"])
def test_add_param_group_equals_torch(opt_name):
    def go(lib):
        vals = initial_values()
        a = lib.tensor(vals[0], requires_grad=True)
        b = lib.tensor(vals[1], requires_grad=True)
        opt = getattr(lib.optim, opt_name)([a], lr=0.1)
        opt.add_param_group({"params": b, "lr": 0.01})
        if opt_name == "Adagrad" and lib is torch:     # torch's Adagrad makes its state only in
            opt.state[b] = {"step": torch.tensor(0.0),  # __init__ (a later group would fail)
                            "sum": torch.zeros_like(b)}
        for t in range(5):
            a.grad = lib.tensor(grad_of(a.detach().numpy(), t))
            b.grad = lib.tensor(grad_of(b.detach().numpy(), t))
            opt.step()
        return [a.detach().numpy(), b.detach().numpy()]
    assert_same_trajectory([go(ag)], [go(torch)])


# ---- state dicts ------------------------------------------------------------------------------
@pytest.mark.parametrize("opt_name,kwargs", [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
                                             ("RMSprop", dict()),
                                             ("Adagrad", dict(lr=0.1, lr_decay=0.1,
                                                              initial_accumulator_value=0.2))])
def test_state_dict_layout_like_torch(opt_name, kwargs):
    _, _, opt = run(ag, opt_name, kwargs, steps=3)
    _, _, topt = run(torch, opt_name, kwargs, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd) == set(tsd) == {"state", "param_groups"}
    # RMSprop: parameters 0 and 1 (2 never had a gradient); Adagrad: all three, from the start
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i]), i
        for k, v in sd["state"][i].items():
            tv = tsd["state"][i][k]
            if k == "step":
                assert float(v) == float(tv)
            else:
                np.testing.assert_allclose(v.detach().numpy(), tv.numpy(), **TOL["float64"])
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]


@pytest.mark.parametrize("opt_name,kwargs", [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
                                             ("Adagrad", dict(lr=0.1, lr_decay=0.1))])
def test_state_dict_round_trip_continues_like_uninterrupted_training(opt_name, kwargs):
    full, _, _ = run(ag, opt_name, kwargs, steps=6)
    _, params, opt = run(ag, opt_name, kwargs, steps=3)
    sd = opt.state_dict()
    fresh = [ag.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, opt_name)(fresh, lr=123.0)       # the checkpoint's lr wins
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for t in range(3, 6):
        opt2.zero_grad()
        for p in fresh[:2]:
            p.grad = ag.tensor(grad_of(p.detach().numpy(), t))
        opt2.step()
    for i in range(3):
        np.testing.assert_array_equal(fresh[i].detach().numpy(), full[-1][i], err_msg=f"parameter {i}")


def test_adagrad_state_exists_before_the_first_step_like_torch():
    a = ag.tensor(initial_values()[0], requires_grad=True)
    ta = torch.tensor(initial_values()[0], requires_grad=True)
    sd = optim.Adagrad([a], initial_accumulator_value=0.25).state_dict()
    tsd = torch.optim.Adagrad([ta], initial_accumulator_value=0.25).state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0]
    assert float(sd["state"][0]["step"]) == float(tsd["state"][0]["step"]) == 0.0
    np.testing.assert_array_equal(sd["state"][0]["sum"].numpy(), tsd["state"][0]["sum"].numpy())


# ---- signatures and errors --------------------------------------------------------------------
TORCH_ONLY = {"capturable", "foreach", "differentiable", "fused"}   # implementation switches


@pytest.mark.parametrize("opt_name", ["RMSprop", "Adagrad"])
def test_signature_names_defaults_and_group_keys_equal_torchs(opt_name):
    ours = inspect.signature(getattr(optim, opt_name)).parameters
    theirs = inspect.signature(getattr(torch.optim, opt_name)).parameters
    assert [n for n in theirs if n not in TORCH_ONLY] == list(ours)
    for name, p in ours.items():
        assert p.default == theirs[name].default, name
        assert p.kind == theirs[name].kind, name      # (Adagrad's maximize: keyword-only)
    a, ta = ag.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    group, tgroup = (getattr(lib.optim, opt_name)([x]).param_groups[0] for lib, x in ((ag, a), (torch, ta)))
    assert set(group) == set(tgroup) - TORCH_ONLY
    assert {k: v for k, v in group.items() if k != "params"} == \
        {k: v for k, v in tgroup.items() if k in group and k != "params"}


def test_positional_arguments_mean_what_they_mean_in_torch():
    # RMSprop(params, lr, alpha, eps, weight_decay, momentum, centered)
    args = (0.02, 0.9, 1e-4, 0.01, 0.5, True)
    g = optim.RMSprop([ag.zeros(1, requires_grad=True)], *args).param_groups[0]
    t = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], *args).param_groups[0]
    for k in ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"):
        assert g[k] == t[k], k
    args = (0.02, 0.1, 0.01, 0.3, 1e-4)       # Adagrad(params, lr, lr_decay, weight_decay, iav, eps)
    g = optim.Adagrad([ag.zeros(1, requires_grad=True)], *args).param_groups[0]
    t = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)], *args).param_groups[0]
    for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        assert g[k] == t[k], k


BAD_ARGS = [("RMSprop", dict(lr=-1)), ("RMSprop", dict(alpha=-0.5)), ("RMSprop", dict(eps=-1e-8)),
            ("RMSprop", dict(weight_decay=-1)), ("RMSprop", dict(momentum=-0.9)),
            ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-0.1)),
            ("Adagrad", dict(weight_decay=-1)), ("Adagrad", dict(initial_accumulator_value=-1)),
            ("Adagrad", dict(eps=-1e-10))]


@pytest.mark.parametrize("opt_name,kwargs", BAD_ARGS)
def test_bad_hyperparameters_raise_torchs_value_error(opt_name, kwargs):
    with pytest.raises(ValueError) as tinfo:
        getattr(torch.optim, opt_name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as info:
        getattr(optim, opt_name)([ag.zeros(1, requires_grad=True)], **kwargs)
    assert str(info.value) == str(tinfo.value)          # e.g. "Invalid learning rate: -1"


@pytest.mark.parametrize("opt_name", ["RMSprop", "Adagrad"])
def test_bad_params_raise_like_the_other_optimizers(opt_name):
    with pytest.raises(ValueError):
        getattr(optim, opt_name)([])
    with pytest.raises(TypeError):
        getattr(optim, opt_name)(ag.zeros(2, requires_grad=True))


# ---- updates are in place, record nothing; training works ------------------------------------
@pytest.mark.parametrize("opt_name,kwargs", [("RMSprop", dict(momentum=0.9, centered=True)),
                                             ("Adagrad", dict())])
def test_step_is_in_place_records_no_graph_and_bumps_version(opt_name, kwargs):
    lin = nn.Linear(3, 2, dtype=ag.float64)
    w = lin.weight
    data_before = w._data
    opt = getattr(optim, opt_name)(lin.parameters(), lr=0.1, **kwargs)
    lin(ag.randn(4, 3, dtype=ag.float64)).sum().backward()
    v0 = w._version
    with ag.enable_grad():
        opt.step()
    assert w._version > v0 and w._data is data_before
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    for s in opt.state.values():
        for v in s.values():
            if isinstance(v, ag.Tensor):
                assert v.grad_fn is None and not v.requires_grad
    y = (w * w).sum()                 # a graph saved before an update notices it, as in torch
    w.grad = ag.ones(2, 3, dtype=ag.float64)
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()


@pytest.mark.parametrize("opt_name,kwargs", [("RMSprop", dict(lr=0.01)), ("Adagrad", dict(lr=0.1))])
def test_training_loop_reduces_loss_and_closure_returns_loss(opt_name, kwargs):
    r = np.random.default_rng(0)
    xv = r.standard_normal((64, 10)).astype(np.float32)
    x, y = ag.tensor(xv), ag.tensor(xv @ r.standard_normal((10, 1)).astype(np.float32) + 0.1)
    ag.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 1))
    opt = getattr(optim, opt_name)(net.parameters(), **kwargs)

    def closure():
        opt.zero_grad()
        loss = nn.MSELoss()(net(x), y)
        loss.backward()
        return loss
    losses = []
    with ag.no_grad():                   # step enables grad for the closure, as torch does
        for _ in range(100):
            losses.append(opt.step(closure).item())
    assert losses[-1] < 0.2 * losses[0]
    assert all(p.dtype == ag.float32 for p in net.parameters())


def test_repr_lists_the_settings():
    text = repr(optim.RMSprop([ag.zeros(1, requires_grad=True)], lr=0.5))
    assert text.startswith("RMSprop (") and "lr: 0.5" in text and "centered: False" in text
