"""The two modes give the same numbers.

``autogradkit/fast.py`` replaces parts of the reference path with shortcuts; setting
``AUTOGRADKIT_REFERENCE=1`` before the import leaves them all out. The same program runs here in
two fresh processes, one per mode, and everything it computes — losses, parameters, gradients
through shared nodes, hooks, retained gradients, second derivatives — must be *bit-identical*: the
shortcuts skip bookkeeping, never change the arithmetic.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

PROGRAM = textwrap.dedent('''
    import sys, numpy as np
    import autogradkit as torch
    import autogradkit.nn as nn, autogradkit.optim as optim
    out = {"mode": np.array(torch.REFERENCE_MODE),
           "fast_loaded": np.array("autogradkit.fast" in sys.modules)}

    # the article's network and loop, both dtypes
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 1)).to(dtype)
        crit, opt = nn.MSELoss(), optim.SGD(net.parameters(), lr=0.01)
        x, y = torch.randn(100, 10, dtype=dtype), torch.randn(100, 1, dtype=dtype)
        losses = []
        for epoch in range(60):
            loss = crit(net(x), y)
            loss.backward()
            losses.append(loss.item())
            opt.step()
            opt.zero_grad()
        out[f"article_{dtype.name}_losses"] = np.array(losses)
        for name, p in net.named_parameters():
            out[f"article_{dtype.name}_{name}"] = p.detach().numpy().copy()

    # a chain of small ops with shared leaves (a tree), and a graph that is not one
    torch.manual_seed(1)
    x, w, b = (torch.randn(8, requires_grad=True) for _ in range(3))
    h = x
    for i in range(300):
        h = (h * w) if i % 3 == 0 else (h + b) if i % 3 == 1 else torch.tanh(h)
    h.sum().backward()
    out.update(chain_x=x.grad.numpy(), chain_w=w.grad.numpy(), chain_b=b.grad.numpy())

    a = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    seen = []
    h = (a * 2.0).tanh()
    h.retain_grad()
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    z = h + h + h * 3.0 + (h @ h.t()).sum() + h.exp().mean() - 2.0 / (h + 3.0)
    wt = a.t()
    z = z.sum() + (wt * wt).sum() + (wt * 0.5).sum() + torch.cat([a, a, a]).sum()
    z = z + a[torch.tensor([0, 0, 1, 4])].sum() + (a.relu() - a.sigmoid() * 0.25).pow(2).sum()
    z.backward()
    out.update(shared_a=a.grad.numpy(), shared_h=h.grad.numpy(), shared_hook=np.array(seen))
    z2 = (a * a * 3.0).sum()
    z2.backward()                                   # accumulates into a.grad
    out["shared_a_again"] = a.grad.numpy()

    # second derivatives (create_graph) and autograd.grad
    v = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64, requires_grad=True)
    f = (v.tanh() * v * v).sum()
    (g,) = torch.autograd.grad(f, v, create_graph=True)
    (gg,) = torch.autograd.grad((g * g).sum(), v)
    out.update(first=g.detach().numpy(), second=gg.numpy())

    # a batched Linear, momentum SGD and Adam
    torch.manual_seed(2)
    lin = nn.Linear(4, 3)
    opt1, xs = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9), torch.randn(2, 5, 4)
    for _ in range(5):
        (lin(xs) ** 2).mean().backward()
        opt1.step()
        opt1.zero_grad()
    opt2 = optim.Adam(lin.parameters(), lr=0.01)
    for _ in range(5):
        nn.functional.mse_loss(lin(xs[0]), torch.zeros(5, 3), reduction="sum").backward()
        opt2.step()
        opt2.zero_grad()
    out.update(lin_w=lin.weight.detach().numpy(), lin_b=lin.bias.detach().numpy())
    np.savez(sys.argv[1], **out)
''')


def _run(tmp_path, reference):
    env = dict(os.environ)
    env.pop("AUTOGRADKIT_REFERENCE", None)
    if reference:
        env["AUTOGRADKIT_REFERENCE"] = "1"
    path = tmp_path / ("reference.npz" if reference else "fast.npz")
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_reference_and_fast_mode_give_bit_identical_numbers(tmp_path):
    fast, ref = _run(tmp_path, False), _run(tmp_path, True)
    assert not fast["mode"] and fast["fast_loaded"]
    assert ref["mode"] and not ref["fast_loaded"], "AUTOGRADKIT_REFERENCE=1 left a shortcut in"
    assert fast.keys() == ref.keys()
    for key in sorted(set(fast) - {"mode", "fast_loaded"}):
        assert fast[key].dtype == ref[key].dtype, key
        np.testing.assert_array_equal(fast[key], ref[key], err_msg=key)
    assert len(fast["article_float32_losses"]) == 60 and fast["shared_hook"].shape == (1, 5, 3)


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_the_variable_is_read_once_at_import(value, expected):
    code = "import autogradkit, sys; print(autogradkit.REFERENCE_MODE, 'autogradkit.fast' in sys.modules)"
    env = dict(os.environ, AUTOGRADKIT_REFERENCE=value)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == [str(expected), str(not expected)]
