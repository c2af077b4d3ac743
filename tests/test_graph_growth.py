"""The graph that grows by mistake (``autograd/growth.py``), in both modes.

* ``total = total + loss`` and ``total += loss`` across iterations: one ``GrowingGraphWarning``
  pointing at the learner's line, naming the fix (``loss.item()`` / ``.detach()``); also through
  an op on the loss (``total += loss.mean()``) and with an RNN's loss;
* silent on correct loops: ``total += loss.item()``, ``loss.detach()``, gradient accumulation
  (several losses, one ``backward()``), logging ``(loss / n).item()`` after backward, a list of
  ``loss.item()``, ``retain_graph=True`` on one graph, a recurrent state detached each batch;
* a recurrent state carried into the next batch without ``.detach()``: the error says so and
  recommends ``h = h.detach()``; the same graph backward twice keeps the classic
  ``retain_graph=True`` advice;
* a stale node is checked on every later use, whichever recording path made it.
"""
import warnings

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import nn
from autogradkit.autograd.growth import GrowingGraphWarning
from autogradkit.autograd.node import BackwardTwiceError


def _setup():
    ag.manual_seed(0)
    model = nn.Linear(3, 1)
    return model, ag.optim.SGD(model.parameters(), lr=0.1), ag.randn(8, 3), ag.randn(8, 1)


def _loop(update, iterations=4):
    """A training loop whose last line is ``update(total, loss)``; the warnings it raised."""
    model, opt, X, Y = _setup()
    total = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(iterations):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(X), Y)
            loss.backward()
            opt.step()
            total = update(total, loss)
    return [w for w in caught if issubclass(w.category, GrowingGraphWarning)], total


def _plus(total, loss):
    total = total + loss
    return total


def _iadd(total, loss):
    total += loss
    return total


def _iadd_mean(total, loss):
    total += loss.mean() * 1.0
    return total


@pytest.mark.parametrize("update", [_plus, _iadd, _iadd_mean], ids=lambda f: f.__name__)
def test_a_running_total_of_losses_warns_at_the_learner_s_line(update):
    caught, total = _loop(update)
    assert caught, "no GrowingGraphWarning"
    w = caught[0]
    assert w.filename == __file__
    assert w.lineno == update.__code__.co_firstlineno + 1      # the `total ... loss` line
    text = str(w.message)
    assert "loss.item()" in text and "detach()" in text and "grows" in text
    assert isinstance(total, ag.Tensor) and total.requires_grad


def test_the_warning_is_said_once_per_line_under_the_default_filter():
    model, opt, X, Y = _setup()
    total = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        globals().pop("__warningregistry__", None)
        for _ in range(6):
            loss = nn.functional.mse_loss(model(X), Y)
            loss.backward()
            total = total + loss
    assert sum(issubclass(w.category, GrowingGraphWarning) for w in caught) == 1


def _item(total, loss):
    return total + loss.item()


def _detach(total, loss):
    return total + loss.detach()


def _log(total, loss):
    (loss / 8).item()                # logging after backward: one op, nothing kept
    return total


@pytest.mark.parametrize("update", [_item, _detach, _log], ids=lambda f: f.__name__)
def test_correct_loops_are_silent(update):
    caught, total = _loop(update)
    assert not caught, [str(w.message) for w in caught]


def test_gradient_accumulation_and_retain_graph_are_silent():
    model, opt, X, Y = _setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GrowingGraphWarning)
        for _ in range(3):
            opt.zero_grad()
            total = 0
            for k in range(4):                              # four micro-batches, one backward
                total = total + nn.functional.mse_loss(model(X[2 * k:2 * k + 2]), Y[2 * k:2 * k + 2])
            total.backward()
            opt.step()
        out = model(X).sum()                                # one graph, two backward passes
        out.backward(retain_graph=True)
        out.backward()
        losses = []
        for _ in range(3):
            loss = nn.functional.mse_loss(model(X), Y)
            loss.backward()
            losses.append(loss.item())


def _rnn(detach):
    ag.manual_seed(1)
    cell = nn.Linear(4, 4)
    h = ag.zeros(1, 4)
    for _ in range(3):
        if detach:
            h = h.detach()
        h = ag.tanh(cell(h) + ag.randn(1, 4))
        h.sum().backward()
    return cell


def test_a_recurrent_state_carried_across_batches_is_named_with_its_fix():
    with pytest.raises(BackwardTwiceError) as info:
        _rnn(detach=False)
    text = str(info.value)
    assert "h = h.detach()" in text and "earlier iteration" in text
    assert "retain_graph=True would" in text            # and why it is the wrong fix
    cell = _rnn(detach=True)                            # the fix: silent, and it trains
    assert cell.weight.grad is not None


def test_the_same_graph_backward_twice_keeps_the_retain_graph_advice():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward()
    with pytest.raises(BackwardTwiceError, match="Pass retain_graph=True to the first backward"):
        y.backward()


def test_gradients_are_unchanged_by_the_stamps():
    """The stamps change no number: the growing loop's parameters equal the correct loop's."""
    a = _setup()
    b = _setup()
    for (model, opt, X, Y), grow in ((a, True), (b, False)):
        total = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GrowingGraphWarning)
            for _ in range(5):
                opt.zero_grad()
                loss = nn.functional.mse_loss(model(X), Y)
                loss.backward()
                opt.step()
                total = total + (loss if grow else loss.item())
    for p, q in zip(a[0].parameters(), b[0].parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
