"""The source article's training example runs exactly as written and matches PyTorch epoch by epoch."""
import runpy
from pathlib import Path

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.nn as nn
from autogradkit.examples import article

SEED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_c209ef94036793c3.txt"
IMPORTS_TORCH = "import torch\nimport torch.nn as nn\nimport torch.optim as optim"
IMPORTS_OURS = "import autogradkit as torch\nimport autogradkit.nn as nn\nimport autogradkit.optim as optim"


def program_text():
    return article.PROGRAM.read_text(encoding="utf-8")


def test_program_is_the_articles_text_with_only_the_imports_changed():
    if not SEED_TEXT.exists():
        pytest.skip(f"the source article is not beside the repository ({SEED_TEXT})")
    ours = program_text()
    body = ours[ours.index(IMPORTS_OURS):]
    source = SEED_TEXT.read_text(encoding="utf-8")
    start = source.index(IMPORTS_TORCH)
    original = source[start:start + len(body) - len(IMPORTS_OURS) + len(IMPORTS_TORCH)]
    assert body.replace(IMPORTS_OURS, IMPORTS_TORCH, 1) == original
    assert ours.count("import ") == 3


def test_the_program_runs_unchanged_and_trains():
    ag.manual_seed(0)
    result = runpy.run_path(str(article.PROGRAM))
    ag.manual_seed(0)                      # the same draws, in the program's order
    net, x, y = article.Net(), ag.randn(100, 10), ag.randn(100, 1)
    with ag.no_grad():
        initial = nn.MSELoss()(net(x), y).item()
    final = result["loss"].item()
    assert np.isfinite(final) and final < 0.8 * initial


def _torch_run(torch, net_ours, x, y, dtype, epochs):
    tnet = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 1)).to(dtype)
    with torch.no_grad():
        for tl, ol in ((tnet[0], net_ours.fc1), (tnet[2], net_ours.fc2)):
            tl.weight.copy_(torch.from_numpy(ol.weight.detach().numpy().copy()))
            tl.bias.copy_(torch.from_numpy(ol.bias.detach().numpy().copy()))
    tx, ty = torch.from_numpy(x.numpy().copy()), torch.from_numpy(y.numpy().copy())
    crit, opt = torch.nn.MSELoss(), torch.optim.SGD(tnet.parameters(), lr=0.01)
    losses = []
    for _ in range(epochs):
        loss = crit(tnet(tx), ty)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("dtype_name, rtol", [("float64", 1e-6), ("float32", 1e-4)])
def test_every_epoch_loss_equals_pytorch(dtype_name, rtol):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    dtype = getattr(ag, dtype_name)
    ag.manual_seed(0)
    net = article.Net().to(dtype=dtype)
    x, y = article.make_data(1, dtype=dtype)
    init = [p.detach().clone() for p in net.parameters()]
    run = article.train(epochs=1000, net=net, data=(x, y))
    net_again = article.Net().to(dtype=dtype)
    with ag.no_grad():
        for p, p0 in zip(net_again.parameters(), init):
            p.copy_(p0)
    theirs = _torch_run(torch, net_again, x, y, getattr(torch, dtype_name), 1000)
    ours = np.array(run.losses)
    assert ours.shape == theirs.shape == (1000,)
    np.testing.assert_allclose(ours, theirs, rtol=rtol)
    assert ours[-1] < ours[0]
