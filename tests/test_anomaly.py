"""Anomaly detection: ``autograd.detect_anomaly`` / ``set_detect_anomaly`` name the backward
function that produced NaN (or ±inf) and the learner's line that created its forward op."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import autograd


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
        yield
    assert not autograd.is_anomaly_enabled()


def test_nan_names_the_node_and_the_learners_line():
    x = ag.tensor([-1.0, 4.0], requires_grad=True)
    with autograd.detect_anomaly():
        y = x.sqrt()                                    # the line the error must show
        loss = y.sum()
        with pytest.raises(RuntimeError) as err:
            loss.backward()
    msg = str(err.value)
    assert msg.startswith("Function 'SqrtBackward0' returned nan values in its 0th output.")
    assert f"{__file__}:" in msg and "y = x.sqrt()" in msg


def test_message_shape_matches_torch():
    torch = pytest.importorskip("torch")
    tx = torch.tensor([-1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            with pytest.raises(RuntimeError) as want:
                tx.sqrt().sum().backward()
    x = ag.tensor([-1.0], requires_grad=True)
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as got:
            x.sqrt().sum().backward()
    assert str(got.value).splitlines()[0] == str(want.value).splitlines()[0]


def test_inf_is_reported_too_and_the_right_input_is_named():
    x = ag.tensor([0.0, 1.0], requires_grad=True)
    w = ag.tensor([1.0, 1.0], requires_grad=True)
    with autograd.detect_anomaly():
        z = w * x.sqrt()
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned inf values in "
                                               "its 0th output"):
            z.sum().backward()
        a = ag.tensor([1.0], requires_grad=True)
        b = ag.tensor([float("nan")])
        with pytest.raises(RuntimeError, match="'DivBackward0' returned nan values in its 0th"):
            (a / b).sum().backward()


def test_without_anomaly_mode_nan_flows_silently():
    x = ag.tensor([-1.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isnan(x.grad._data).all()


def test_check_nan_false_and_set_detect_anomaly():
    x = ag.tensor([-1.0], requires_grad=True)
    with autograd.detect_anomaly(check_nan=False):
        assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
        x.sqrt().sum().backward()           # no check
    autograd.set_detect_anomaly(True)
    try:
        assert autograd.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="SqrtBackward0"):
            x.sqrt().sum().backward()
    finally:
        autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()
    with autograd.set_detect_anomaly(True):
        assert autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled()


def test_detect_anomaly_warns_and_works_as_a_decorator():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = autograd.detect_anomaly()

    @mode
    def step(x):
        assert autograd.is_anomaly_enabled()
        x.sqrt().sum().backward()
    with pytest.raises(RuntimeError, match="'SqrtBackward0' returned nan"):
        step(ag.tensor([-2.0], requires_grad=True))
    assert not autograd.is_anomaly_enabled()


def test_a_node_recorded_before_the_mode_says_so():
    x = ag.tensor([-1.0], requires_grad=True)
    y = x.sqrt()
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="recorded before anomaly detection was turned on"):
            y.sum().backward()


def test_custom_function_and_create_graph_are_checked():
    class Bad(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")
    x = ag.tensor([1.0], requires_grad=True)
    with autograd.detect_anomaly():
        y = Bad.apply(x)
        with pytest.raises(RuntimeError, match="(?s)Function 'BadBackward' returned nan.*y = Bad"):
            y.sum().backward()
        z = x.sqrt() * 0 - 1
        (g,) = autograd.grad(z.sum(), x, create_graph=True)
        w = (g - 1).sqrt()                              # sqrt(-1): nan
        with pytest.raises(RuntimeError, match="'SqrtBackward0' returned nan"):
            autograd.grad(w.sum(), x)


def test_gradients_are_unchanged_when_nothing_is_wrong():
    def program():
        ag.manual_seed(0)
        net = ag.nn.Sequential(ag.nn.Linear(3, 4), ag.nn.Tanh(), ag.nn.Linear(4, 1))
        x, y = ag.randn(5, 3), ag.randn(5, 1)
        ag.nn.functional.mse_loss(net(x), y).backward()
        return [p.grad._data.copy() for p in net.parameters()]
    want = program()
    with autograd.detect_anomaly():
        got = program()
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()
