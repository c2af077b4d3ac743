import subprocess
import sys

import pytest

import autogradkit as ag
from autogradkit.cli import main


def test_square_sum_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_tour_runs_and_passes_its_gradcheck(capsys):
    assert main(["tour"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck against central differences (float64): passed" in out


def test_demo_trains_and_writes_curve_and_graph(tmp_path, capsys):
    assert main(["demo", "--epochs", "50", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch    50" in out and "loss" in out
    png = (tmp_path / "loss_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    graph = next(tmp_path.glob("graph_one_iteration.*"))
    text = graph.read_text()
    assert "fc1.weight" in text and "MseLossBackward0" in text


@pytest.mark.parametrize("argv", [["demo", "--epochs", "0"], ["demo", "--bogus"], ["nope"], []])
def test_bad_arguments_exit_non_zero_with_a_reason(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autogradkit", *argv], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "error" in proc.stderr or "usage" in (proc.stdout + proc.stderr)


def test_help_everywhere():
    for argv in (["--help"], ["demo", "--help"], ["tour", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "autogradkit", *argv], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage" in proc.stdout


def test_import_pulls_in_nothing_heavy():
    code = ("import sys, autogradkit, autogradkit.nn, autogradkit.optim; "
            "print(sorted(m for m in ('matplotlib', 'ipywidgets', 'graphviz', 'cupy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
