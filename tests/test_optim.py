"""``autogradkit.optim`` against PyTorch: SGD / Adam / AdamW trajectories on the same parameters and
gradients (float64), parameter groups, ``zero_grad``, state-dict round trips, ``StepLR``, in-place
updates that record no graph, and argument errors.

Every expected trajectory comes from running ``torch.optim`` on the same numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autogradkit as ag  # noqa: E402
import autogradkit.optim  # noqa: E402,F401  (not imported by ``import autogradkit``)
from autogradkit import nn, optim  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-13)
LIBS = {"ag": ag, "torch": torch}


def np_(t):
    return t.detach().numpy()


def initial_values(seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal((3, 4)), r.standard_normal(4), r.standard_normal(2)]


def grad_of(values, step):
    """A gradient that depends on the current parameters (so any divergence in the trajectory
    shows up in later steps) and on the step (so it isn't a fixed point). Its size jumps up and
    down, so that AMSGrad's running maximum differs from Adam's second moment."""
    scale = (1.0, 4.0, 0.1, 0.05, 1.0, 0.02)[step % 6]
    return scale * (2 * (values - 0.3) + 0.5 * np.cos(values * (step + 1)) + 0.1 * step)


def run(lib, opt_name, kwargs, steps=5, groups=None, no_grad_index=2, values=None):
    """Parameters after each of ``steps`` steps; parameter ``no_grad_index`` never gets a grad."""
    values = initial_values() if values is None else values
    params = [lib.tensor(v.copy(), requires_grad=True) for v in values]
    if groups is None:
        spec = params
    else:
        spec = [dict(g, params=[params[i] for i in g["params"]]) for g in groups]
    opt = getattr(lib.optim, opt_name)(spec, **kwargs)
    traj = []
    for t in range(steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            if i != no_grad_index:
                p.grad = lib.tensor(grad_of(p.detach().numpy(), t))
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, params, opt


def assert_same_trajectory(got, want):
    for t, (g_step, w_step) in enumerate(zip(got, want)):
        for i, (g, w) in enumerate(zip(g_step, w_step)):
            np.testing.assert_allclose(g, w, err_msg=f"step {t + 1}, parameter {i}", **TOL)


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True),
    dict(lr=0.1, maximize=True),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.05, maximize=True),
]
ADAM_CASES = [
    dict(),
    dict(lr=0.1),
    dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=True),
]
ADAMW_CASES = [
    dict(),                                  # default weight_decay = 0.01
    dict(lr=0.05, weight_decay=0.0),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, weight_decay=0.1, amsgrad=True),
    dict(lr=0.05, betas=(0.5, 0.6), weight_decay=0.3, maximize=True),
]
CASES = ([("SGD", k) for k in SGD_CASES] + [("Adam", k) for k in ADAM_CASES]
         + [("AdamW", k) for k in ADAMW_CASES])


@pytest.mark.parametrize("opt_name,kwargs", CASES,
                         ids=[f"{n}-{','.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
                              for n, kw in CASES])
def test_trajectory_equals_torch(opt_name, kwargs):
    got, params, _ = run(ag, opt_name, kwargs)
    want, _, _ = run(torch, opt_name, kwargs)
    assert_same_trajectory(got, want)
    np.testing.assert_array_equal(got[-1][2], initial_values()[2])   # no grad: untouched
    assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params)


def test_adam_and_adamw_differ_only_by_decoupling():
    # sanity that the weight-decay cases above test something: Adam(wd) != AdamW(wd)
    a, _, _ = run(ag, "Adam", dict(lr=0.05, weight_decay=0.1))
    w, _, _ = run(ag, "AdamW", dict(lr=0.05, weight_decay=0.1))
    assert not np.allclose(a[-1][0], w[-1][0], rtol=1e-6)
    w0, _, _ = run(ag, "AdamW", dict(lr=0.05, weight_decay=0.0))
    a0, _, _ = run(ag, "Adam", dict(lr=0.05))
    assert_same_trajectory(w0, a0)


@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                             ("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01))])
def test_param_groups_with_different_settings_equal_torch(opt_name, kwargs):
    groups = [dict(params=[0]), dict(params=[1, 2], lr=0.3, weight_decay=0.05)]
    got, _, opt = run(ag, opt_name, kwargs, groups=groups, no_grad_index=None)
    want, _, topt = run(torch, opt_name, kwargs, groups=groups, no_grad_index=None)
    assert_same_trajectory(got, want)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    assert [len(g["params"]) for g in opt.param_groups] == [1, 2]
    # the defaults fill what a group doesn't say
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for k in g:
            if k != "params" and k in tg:
                assert g[k] == tg[k], k


def test_add_param_group_equals_torch():
    def go(lib):
        vals = initial_values()
        a = lib.tensor(vals[0], requires_grad=True)
        b = lib.tensor(vals[1], requires_grad=True)
        opt = lib.optim.SGD([a], lr=0.1, momentum=0.5)
        opt.add_param_group({"params": b, "lr": 0.01})
        for t in range(3):
            a.grad = lib.tensor(grad_of(a.detach().numpy(), t))
            b.grad = lib.tensor(grad_of(b.detach().numpy(), t))
            opt.step()
        return [a.detach().numpy(), b.detach().numpy()]
    assert_same_trajectory([go(ag)], [go(torch)])


# ---- zero_grad ---------------------------------------------------------------------------------
def test_zero_grad_set_to_none_true_and_false():
    p = ag.tensor([1.0, 2.0], dtype=ag.float64, requires_grad=True)
    q = ag.tensor([3.0], dtype=ag.float64, requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    (p * p).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.all(np_(p.grad) == 0)     # zeroed in place, same tensor
    assert q.grad is None                                # never had one: stays None
    (p * 3).sum().backward()
    np.testing.assert_array_equal(np_(p.grad), [3.0, 3.0])   # accumulates onto the zeros
    opt.zero_grad()                                      # default: set_to_none=True (torch 2.x)
    assert p.grad is None
    opt.zero_grad(set_to_none=True)
    assert p.grad is None


# ---- state dicts ------------------------------------------------------------------------------
@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                             ("Adam", dict(lr=0.05, amsgrad=True)),
                                             ("AdamW", dict(lr=0.05, weight_decay=0.1))])
def test_state_dict_round_trip_continues_like_uninterrupted_training(opt_name, kwargs):
    full, _, _ = run(ag, opt_name, kwargs, steps=6)
    _, params, opt = run(ag, opt_name, kwargs, steps=3)
    sd = opt.state_dict()
    # a fresh model and optimizer, restored from the checkpoint
    fresh = [ag.tensor(np_(p).copy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, opt_name)(fresh, lr=123.0)     # a different lr: the checkpoint's wins
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for t in range(3, 6):
        opt2.zero_grad()
        for p in fresh[:2]:
            p.grad = ag.tensor(grad_of(np_(p), t))
        opt2.step()
    for i in range(3):
        np.testing.assert_array_equal(np_(fresh[i]), full[-1][i], err_msg=f"parameter {i}")


@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                             ("Adam", dict(lr=0.1)), ("Adam", dict(amsgrad=True))])
def test_state_dict_layout_like_torch(opt_name, kwargs):
    _, _, opt = run(ag, opt_name, kwargs, steps=2)
    _, _, topt = run(torch, opt_name, kwargs, steps=2)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd) == set(tsd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1]     # parameter 2 had no grad
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for k, v in sd["state"][i].items():
            tv = tsd["state"][i][k]
            if k == "step":
                assert float(v) == float(tv)
            else:
                np.testing.assert_allclose(np_(v), tv.numpy(), **TOL)
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]


def test_state_dict_is_a_snapshot_and_loading_copies():
    _, params, opt = run(ag, "Adam", dict(lr=0.1), steps=2)
    sd = opt.state_dict()
    saved = np_(sd["state"][0]["exp_avg"]).copy()
    params[0].grad = ag.tensor(np.ones((3, 4)))
    opt.step()                                 # later steps don't change the snapshot
    np.testing.assert_array_equal(np_(sd["state"][0]["exp_avg"]), saved)
    opt2 = optim.Adam([ag.tensor(np_(p).copy(), requires_grad=True) for p in params], lr=0.1)
    opt2.load_state_dict(sd)
    with ag.no_grad():
        sd["state"][0]["exp_avg"].fill_(99.0)  # nor does changing the dict after loading
    assert not np.any(np_(next(iter(opt2.state.values()))["exp_avg"]) == 99.0)


def test_load_state_dict_mismatched_groups_raise():
    _, params, opt = run(ag, "SGD", dict(lr=0.1, momentum=0.9), steps=1)
    sd = opt.state_dict()
    other = optim.SGD([params[0]], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError):
        other.load_state_dict(sd)
    two = optim.SGD([{"params": [params[0]]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(ValueError):
        two.load_state_dict(sd)


# ---- StepLR ------------------------------------------------------------------------------------
@pytest.mark.parametrize("step_size,gamma", [(3, 0.5), (1, 0.9), (4, 0.1)])
def test_steplr_sequence_equals_torch(step_size, gamma):
    def lrs(lib):
        a = lib.zeros(2, requires_grad=True)
        b = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.03}], lr=0.2)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
        seq = [sched.get_last_lr()]
        used = []
        for _ in range(12):
            opt.step()
            sched.step()
            seq.append(sched.get_last_lr())
            used.append([g["lr"] for g in opt.param_groups])
        return seq, used
    (seq, used), (tseq, tused) = lrs(ag), lrs(torch)
    np.testing.assert_allclose(np.array(seq), np.array(tseq), rtol=1e-12)
    np.testing.assert_allclose(np.array(used), np.array(tused), rtol=1e-12)
    assert seq[0] == [0.2, 0.03]


def test_steplr_changes_the_step_actually_taken():
    p = ag.zeros(1, dtype=ag.float64, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(4):
        p.grad = ag.ones(1, dtype=ag.float64)
        opt.step()
        sched.step()
    assert p.item() == pytest.approx(-(1 + 1 + 0.5 + 0.5))


def test_steplr_bad_step_size():
    opt = optim.SGD([ag.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError):
        optim.lr_scheduler.StepLR(opt, step_size=0)


# ---- updates are in place and record nothing -------------------------------------------------------
@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW"])
def test_step_records_no_graph_and_bumps_version(opt_name):
    lin = nn.Linear(3, 2, dtype=ag.float64)
    w = lin.weight
    data_before = w._data
    opt = getattr(optim, opt_name)(lin.parameters(), lr=0.1, **({"momentum": 0.9} if opt_name == "SGD" else {}))
    x = ag.randn(4, 3, dtype=ag.float64)
    lin(x).sum().backward()
    v0 = w._version
    with ag.enable_grad():
        opt.step()
    assert w._version > v0
    assert lin.weight is w and w._data is data_before          # the same tensor, updated in place
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    for s in opt.state.values():                                # the state records nothing either
        for v in s.values():
            if isinstance(v, ag.Tensor):
                assert v.grad_fn is None and not v.requires_grad
    # a graph saved before the update notices it (as in torch)
    y = (w * w).sum()
    w.grad = ag.ones(2, 3, dtype=ag.float64)
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()
    # the torch behaviour this mirrors
    tw = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, opt_name)([tw], lr=0.1)
    ty = (tw * tw).sum()
    tw.grad = torch.ones(2, 3, dtype=torch.float64)
    tv0 = tw._version
    topt.step()
    assert tw._version > tv0
    with pytest.raises(RuntimeError):
        ty.backward()


def test_training_loop_reduces_loss_with_every_optimizer():
    r = np.random.default_rng(0)
    xv = r.standard_normal((64, 10))
    yv = xv @ r.standard_normal((10, 1)) + 0.1
    for opt_name, kw in (("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.01)),
                         ("AdamW", dict(lr=0.01))):
        ag.manual_seed(0)
        net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 1)).double()
        opt = getattr(optim, opt_name)(net.parameters(), **kw)
        x, y = ag.tensor(xv), ag.tensor(yv)
        losses = []
        for _ in range(60):
            opt.zero_grad()
            loss = nn.MSELoss()(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.2 * losses[0], opt_name


def test_closure_is_called_and_its_loss_returned():
    p = ag.tensor([2.0], dtype=ag.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ag.no_grad():            # step enables grad for the closure, as torch does
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.item() == pytest.approx(1.0)


# ---- errors ---------------------------------------------------------------------------------------
BAD_ARGS = [
    ("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-1)), ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)),
    ("AdamW", dict(lr=-1)), ("AdamW", dict(weight_decay=-1)),
]


@pytest.mark.parametrize("opt_name,kwargs", BAD_ARGS)
def test_bad_hyperparameters_raise_value_error_like_torch(opt_name, kwargs):
    with pytest.raises(ValueError):
        getattr(torch.optim, opt_name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError):
        getattr(optim, opt_name)([ag.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("case", ["empty", "non_leaf", "duplicate", "not_tensor", "single_tensor"])
def test_bad_params_raise_like_torch(case):
    def make(lib):
        a = lib.ones(2, 3, requires_grad=True)
        return {"empty": [], "non_leaf": [a * 2],
                "duplicate": [{"params": [a]}, {"params": [a]}],
                "not_tensor": [1.0], "single_tensor": a}[case]
    with pytest.raises(Exception) as tinfo:
        torch.optim.SGD(make(torch), lr=0.1)
    with pytest.raises(tinfo.type):
        optim.SGD(make(ag), lr=0.1)
