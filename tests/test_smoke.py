import autogradkit as ag
from autogradkit.cli import main


def test_square_sum_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_demo_runs_and_passes_its_gradcheck(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck against central differences (float64): passed" in out
