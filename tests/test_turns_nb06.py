"""Notebook 6's "your turn" checks (``autogradkit.exercises.nb06_article``) can say "wrong".

The article's network by hand in numpy: ``forward_by_hand``, ``backward_by_hand``,
``sgd_step_by_hand``, ``train_by_hand``.

* the reference implementations and the source notebook's solutions pass; the stubs are "not
  started";
* for every task, deliberately wrong answers are caught with the intended misconception and its
  hint (the forgotten 2, N instead of N·out, no relu mask, H̄1·H1 for the mask, relu'(0) = 1, an
  averaged bias gradient, a transposed weight gradient, a step up the loss, parameters never
  replaced, losses recorded after the step …);
* an answer that hands the work to autogradkit (or PyTorch) fails with the "by hand" message;
* the mask read off the relu's output (H1 > 0) passes, as the notebook says;
* a report names the first wrong element of the first wrong gradient, in backward's order;
* the gradients and losses the checks expect are autogradkit's, and PyTorch's where installed;
* the notebook's own results: the stored outputs say the hand-written run equals autogradkit's
  to 1e-6 every epoch and ends at the article's 0.6116; the "check yourself" answers live in the
  module, not in the notebook.
"""
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autogradkit.exercises import misconceptions, notebooks
from autogradkit.exercises import nb06_article as turn

ROOT = Path(__file__).resolve().parents[1]
NAME = "06_article_training_example.ipynb"
SOURCE = ROOT / "notebooks" / "source" / NAME
SHIPPED = ROOT / "notebooks" / NAME
TASKS = ("forward_by_hand", "backward_by_hand", "sgd_step_by_hand", "train_by_hand")


def _namespace():
    """What a learner's notebook has when the turns run: numpy, and the earlier turns' answers
    (here the references)."""
    return {"np": np, **{t: turn.tasks[t].reference for t in TASKS}}


def _defined(nb, name):
    """``name`` as the notebook's cell defines it (run in a namespace of its own)."""
    ns = _namespace()
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(rf"^def {name}\b", cell.source, re.M):
            exec(compile(cell.source, f"<{name}>", "exec"), ns)
    return ns[name]


def _answer(task, code):
    ns = _namespace()
    exec(compile(code.strip("\n"), f"<wrong {task}>", "exec"), ns)
    return ns[task]


@pytest.fixture(scope="module")
def source_nb():
    return nbformat.read(SOURCE, as_version=4)


def test_the_module_has_the_four_turns_each_with_a_reference():
    assert tuple(turn.tasks) == TASKS
    assert all(spec.reference is not None for spec in turn.tasks.values())
    assert turn.exercise.heading == "Your turn"


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_and_the_source_solution_pass(task, source_nb):
    assert turn.evaluate(turn.tasks[task].reference, task).passed
    result = turn.evaluate(_defined(source_nb, task), task)
    assert result.passed, result.report()


@pytest.mark.parametrize("task", TASKS)
def test_the_shipped_stub_is_not_started(task, source_nb):
    learner, _ = notebooks.make_learner(source_nb, SOURCE.name)
    result = turn.evaluate(_defined(learner, task), task)
    assert result.status == "not_started", result.report()


# ---- deliberately wrong answers ----------------------------------------------------------------
FORWARD = '''
def forward_by_hand(params, X, y):
    Z1 = X @ params["W1"].T + params["b1"]
    H1 = np.maximum(Z1, 0.0)
    y_hat = H1 @ params["W2"].T + params["b2"]
    loss = LOSS
    cache = {"X": X, "y": y, "Z1": Z1, "H1": H1, "y_hat": y_hat}
    return y_hat, loss, cache
'''

BACKWARD = '''
def backward_by_hand(params, cache):
    X, Z1, H1 = cache["X"], cache["Z1"], cache["H1"]
    y_hat, y = cache["y_hat"], cache["y"]
    y_bar = YBAR
    H1_bar = y_bar @ params["W2"]
    Z1_bar = ZBAR
    return {"W1": W1BAR, "b1": B1BAR, "W2": y_bar.T @ H1, "b2": B2BAR}
'''
_RIGHT = {"YBAR": "2 * (y_hat - y) / y_hat.size", "ZBAR": "H1_bar * (Z1 > 0)",
          "W1BAR": "Z1_bar.T @ X", "B1BAR": "Z1_bar.sum(axis=0)", "B2BAR": "y_bar.sum(axis=0)"}


def backward(**changes):
    code = BACKWARD
    for key, value in {**_RIGHT, **changes}.items():
        code = code.replace(key, value)
    return code


SGD = '''
def sgd_step_by_hand(params, grads, lr):
    return {k: STEP for k in params}
'''

TRAIN = '''
def train_by_hand(params, X, y, epochs, lr):
    losses = []
    for _ in range(epochs):
        _, loss, cache = forward_by_hand(params, X, y)
        grads = backward_by_hand(params, cache)
        BODY
    return losses, params
'''


WRONG = [
    # forward_by_hand
    ("forward_by_hand", "summed", FORWARD.replace("LOSS", "float(((y_hat - y) ** 2).sum())")),
    ("forward_by_hand", "rows_only",
     FORWARD.replace("LOSS", "float(((y_hat - y) ** 2).sum() / len(y))")),
    ("forward_by_hand", "no_relu", FORWARD.replace("LOSS", "float(((y_hat - y) ** 2).mean())")
     .replace('y_hat = H1 @', 'y_hat = Z1 @')),
    ("forward_by_hand", "not_transposed", '''
def forward_by_hand(params, X, y):
    W1 = params["W1"] if params["W1"].shape[0] == params["W1"].shape[1] else params["W1"].T
    Z1 = X @ W1 + params["b1"]
    H1 = np.maximum(Z1, 0.0)
    y_hat = H1 @ params["W2"].T + params["b2"]
    cache = {"X": X, "y": y, "Z1": Z1, "H1": H1, "y_hat": y_hat}
    return y_hat, float(((y_hat - y) ** 2).mean()), cache
'''),
    ("forward_by_hand", "cached_post_relu", '''
def forward_by_hand(params, X, y):
    Z1 = X @ params["W1"].T + params["b1"]
    np.maximum(Z1, 0.0, out=Z1)
    y_hat = Z1 @ params["W2"].T + params["b2"]
    cache = {"X": X, "y": y, "Z1": Z1, "H1": Z1, "y_hat": y_hat}
    return y_hat, float(((y_hat - y) ** 2).mean()), cache
'''),
    ("forward_by_hand", "float32", '''
def forward_by_hand(params, X, y):
    p = {k: v.astype(np.float32) for k, v in params.items()}
    Z1 = X.astype(np.float32) @ p["W1"].T + p["b1"]
    H1 = np.maximum(Z1, 0)
    y_hat = H1 @ p["W2"].T + p["b2"]
    cache = {"X": X, "y": y, "Z1": Z1, "H1": H1, "y_hat": y_hat}
    return y_hat, float(((y_hat - y) ** 2).mean()), cache
'''),
    ("forward_by_hand", "input_changed", '''
def forward_by_hand(params, X, y):
    X -= X.mean(axis=0)                                # "centres" the data, in place
    Z1 = X @ params["W1"].T + params["b1"]
    H1 = np.maximum(Z1, 0.0)
    y_hat = H1 @ params["W2"].T + params["b2"]
    cache = {"X": X, "y": y, "Z1": Z1, "H1": H1, "y_hat": y_hat}
    return y_hat, float(((y_hat - y) ** 2).mean()), cache
'''),
    ("forward_by_hand", "used_engine", '''
import autogradkit as ag
def forward_by_hand(params, X, y):
    P = {k: ag.tensor(v, dtype=ag.float64) for k, v in params.items()}
    Z1 = ag.tensor(X, dtype=ag.float64) @ P["W1"].T + P["b1"]
    H1 = ag.relu(Z1)
    y_hat = H1 @ P["W2"].T + P["b2"]
    loss = ((y_hat - ag.tensor(y, dtype=ag.float64)) ** 2).mean().item()
    cache = {"X": X, "y": y, "Z1": Z1.numpy(), "H1": H1.numpy(), "y_hat": y_hat.numpy()}
    return y_hat.numpy(), loss, cache
'''),
    # backward_by_hand
    ("backward_by_hand", "forgot_two", backward(YBAR="(y_hat - y) / y_hat.size")),
    ("backward_by_hand", "rows_only", backward(YBAR="2 * (y_hat - y) / len(y_hat)")),
    ("backward_by_hand", "no_mask", backward(ZBAR="H1_bar")),
    ("backward_by_hand", "no_mask", backward(ZBAR="H1_bar * (H1 >= 0)")),   # true everywhere
    ("backward_by_hand", "mask_values", backward(ZBAR="H1_bar * H1")),
    ("backward_by_hand", "relu_at_zero", backward(ZBAR="H1_bar * (Z1 >= 0)")),
    ("backward_by_hand", "bias_averaged",
     backward(B1BAR="Z1_bar.mean(axis=0)", B2BAR="y_bar.mean(axis=0)")),
    ("backward_by_hand", "transposed", backward(W1BAR="X.T @ Z1_bar")),
    ("backward_by_hand", "transposed", BACKWARD.replace("y_bar.T @ H1", "H1.T @ y_bar")
     .replace("YBAR", _RIGHT["YBAR"]).replace("ZBAR", _RIGHT["ZBAR"])
     .replace("W1BAR", _RIGHT["W1BAR"]).replace("B1BAR", _RIGHT["B1BAR"])
     .replace("B2BAR", _RIGHT["B2BAR"])),
    ("backward_by_hand", "negated", backward(YBAR="2 * (y - y_hat) / y_hat.size")),
    ("backward_by_hand", "unsummed_broadcast", backward(B2BAR="y_bar")),
    ("backward_by_hand", "input_changed", '''
def backward_by_hand(params, cache):
    X, Z1, H1 = cache["X"], cache["Z1"], cache["H1"]
    y_bar = 2 * (cache["y_hat"] - cache["y"]) / cache["y_hat"].size
    Z1_bar = y_bar @ params["W2"]
    Z1_bar[Z1 <= 0] = 0.0
    Z1[Z1 < 0] = 0.0                                   # "cleans up" the cache in place
    return {"W1": Z1_bar.T @ X, "b1": Z1_bar.sum(axis=0), "W2": y_bar.T @ H1,
            "b2": y_bar.sum(axis=0)}
'''),
    ("backward_by_hand", "used_engine", '''
import autogradkit as ag
def backward_by_hand(params, cache):
    P = {k: ag.tensor(v, dtype=ag.float64, requires_grad=True) for k, v in params.items()}
    X, y = ag.tensor(cache["X"], dtype=ag.float64), ag.tensor(cache["y"], dtype=ag.float64)
    y_hat = ag.relu(X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
    ((y_hat - y) ** 2).mean().backward()
    return {k: p.grad.numpy() for k, p in P.items()}
'''),
    # sgd_step_by_hand
    ("sgd_step_by_hand", "ascent", SGD.replace("STEP", "params[k] + lr * grads[k]")),
    ("sgd_step_by_hand", "forgot_lr", SGD.replace("STEP", "params[k] - grads[k]")),
    ("sgd_step_by_hand", "step_only", SGD.replace("STEP", "-lr * grads[k]")),
    ("sgd_step_by_hand", "input_changed", '''
def sgd_step_by_hand(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]
    return params
'''),
    ("sgd_step_by_hand", "used_engine", '''
import autogradkit as ag
def sgd_step_by_hand(params, grads, lr):
    out = {}
    for k in params:
        p = ag.tensor(params[k], dtype=ag.float64, requires_grad=True)
        p.grad = ag.tensor(grads[k], dtype=ag.float64)
        ag.optim.SGD([p], lr=lr).step()
        out[k] = p.detach().numpy()
    return out
'''),
    # train_by_hand
    ("train_by_hand", "not_updated", TRAIN.replace("BODY", '''sgd_step_by_hand(params, grads, lr)
        losses.append(loss)''')),
    ("train_by_hand", "recorded_after_step", TRAIN.replace("BODY", """\
params = sgd_step_by_hand(params, grads, lr)
        losses.append(forward_by_hand(params, X, y)[1])""")),
    ("train_by_hand", "ascent", TRAIN.replace("BODY", """\
params = sgd_step_by_hand(params, grads, -lr)
        losses.append(loss)""")),
    ("train_by_hand", "input_changed", TRAIN.replace("BODY", '''for k in params:
            params[k] -= lr * grads[k]
        losses.append(loss)''')),
    ("train_by_hand", "used_engine", '''
import autogradkit as ag
def train_by_hand(params, X, y, epochs, lr):
    names = ("W1", "b1", "W2", "b2")
    P = [ag.tensor(params[k], dtype=ag.float64, requires_grad=True) for k in names]
    Xt, yt = ag.tensor(X, dtype=ag.float64), ag.tensor(y, dtype=ag.float64)
    opt = ag.optim.SGD(P, lr=lr)
    losses = []
    for _ in range(epochs):
        loss = ag.nn.MSELoss()(ag.relu(Xt @ P[0].T + P[1]) @ P[2].T + P[3], yt)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses, {k: p.detach().numpy() for k, p in zip(names, P)}
'''),
]


@pytest.mark.parametrize("task,mistake,code", WRONG, ids=[f"{t}-{m}-{i}" for i, (t, m, _) in
                                                          enumerate(WRONG)])
def test_a_wrong_answer_is_caught_with_the_intended_hint(task, mistake, code):
    result = turn.evaluate(_answer(task, code), task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    own = turn.tasks[task].hints.get(mistake)
    intended = own[1] if own else misconceptions.hint(mistake)
    assert intended and result.hint == intended, result.report()
    report = result.report()
    assert report.startswith("❌") and f"hint: {intended}" in report and "looks like:" in report


def test_every_task_has_wrong_answers_and_an_engine_answer():
    for task in TASKS:
        mistakes = {m for t, m, _ in WRONG if t == task}
        assert "used_engine" in mistakes and len(mistakes) >= 4, (task, mistakes)


def test_every_named_mistake_of_a_task_is_exercised():
    generic = {"used_engine", "input_changed", "float32"}
    seen = {(t, m) for t, m, _ in WRONG}
    for task in TASKS:
        own = set(turn.tasks[task].hints) - generic
        assert {(task, m) for m in own} <= seen, (task, own)


def test_the_by_hand_message_names_the_library_call():
    code = next(c for t, m, c in WRONG if (t, m) == ("backward_by_hand", "used_engine"))
    result = turn.evaluate(_answer("backward_by_hand", code), "backward_by_hand")
    assert result.message.startswith("your code called autogradkit."), result.report()
    assert "by hand with numpy" in result.hint


def test_an_answer_by_pytorch_s_autograd_fails():
    pytest.importorskip("torch")
    wrong = _answer("backward_by_hand", '''
import torch
def backward_by_hand(params, cache):
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    X, y = torch.tensor(cache["X"]), torch.tensor(cache["y"])
    y_hat = torch.relu(X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
    torch.nn.functional.mse_loss(y_hat, y).backward()
    return {k: p.grad.numpy() for k, p in P.items()}
''')
    result = turn.evaluate(wrong, "backward_by_hand")
    assert result.misconception == "used_engine" and "torch" in result.message, result.report()


# ---- what the checks accept, and how precisely they report ---------------------------------------
def test_the_mask_read_off_the_relu_output_passes():
    """H1 > 0 exactly where Z1 > 0 (also where Z1 is exactly 0), as the notebook says."""
    result = turn.evaluate(_answer("backward_by_hand", backward(ZBAR="H1_bar * (H1 > 0)")),
                           "backward_by_hand")
    assert result.passed, result.report()


def test_a_cache_with_extra_entries_and_a_loss_as_a_0d_array_pass():
    code = FORWARD.replace("LOSS", "np.mean((y_hat - y) ** 2)").replace(
        '"y_hat": y_hat}', '"y_hat": y_hat, "mask": Z1 > 0}')
    assert turn.evaluate(_answer("forward_by_hand", code), "forward_by_hand").passed


def test_the_report_names_the_first_wrong_element_of_the_first_wrong_gradient():
    """Right everywhere but one element of b1: W2, b2 and W1 pass, b1[3] is named."""
    wrong = _answer("backward_by_hand", '''
def backward_by_hand(params, cache):
    grads = {k: v.copy() for k, v in _right(params, cache).items()}
    grads["b1"][3] += 0.5
    return grads
''')
    wrong.__globals__["_right"] = turn.tasks["backward_by_hand"].reference
    result = turn.evaluate(wrong, "backward_by_hand")
    assert result.status == "wrong" and result.misconception is None, result.report()
    assert re.match(r"grad of b1\[3\]: expected \S+, got \S+$", result.message), result.message
    assert result.case.startswith("the article's shapes")
    assert result.hint == turn.tasks["backward_by_hand"].hint


def test_backward_gradients_are_compared_in_backward_order():
    """A forgotten 2 shows in every gradient; the report names W2 first."""
    result = turn.evaluate(_answer("backward_by_hand", backward(YBAR="(y_hat - y) / y_hat.size")),
                           "backward_by_hand")
    assert result.message.startswith("grad of W2[0, "), result.report()


def test_a_wrong_return_form_is_told_what_to_return():
    tuple_answer = _answer("backward_by_hand", '''
def backward_by_hand(params, cache):
    g = _right(params, cache)
    return g["W1"], g["b1"], g["W2"], g["b2"]
''')
    tuple_answer.__globals__["_right"] = turn.tasks["backward_by_hand"].reference
    result = turn.evaluate(tuple_answer, "backward_by_hand")
    assert not result.passed and "expected a dict" in result.message
    assert "Return a dict" in result.hint

    two = _answer("forward_by_hand", '''
def forward_by_hand(params, X, y):
    y_hat, loss, cache = _right(params, X, y)
    return y_hat, loss
''')
    two.__globals__["_right"] = turn.tasks["forward_by_hand"].reference
    result = turn.evaluate(two, "forward_by_hand")
    assert not result.passed and "expected (y_hat, loss, cache)" in result.message

    missing = _answer("forward_by_hand", '''
def forward_by_hand(params, X, y):
    y_hat, loss, cache = _right(params, X, y)
    return y_hat, loss, {k: v for k, v in cache.items() if k != "Z1"}
''')
    missing.__globals__["_right"] = turn.tasks["forward_by_hand"].reference
    result = turn.evaluate(missing, "forward_by_hand")
    assert not result.passed and "no 'Z1'" in result.message


def test_the_expected_values_are_autogradkit_s_and_pytorch_s():
    """What the checks expect: autogradkit's float64 engine, equal to PyTorch's where installed."""
    params, X, y = turn._network(61, 100, 10, 20, 1)
    engine = turn._engine(params, X, y)
    _, loss, cache = turn._reference_forward_by_hand(params, X, y)
    hand = turn._reference_backward_by_hand(params, cache)
    assert abs(engine["loss"] - loss) < 1e-12
    for k in turn.NAMES:
        np.testing.assert_allclose(engine["grads"][k], hand[k], rtol=1e-10, atol=1e-14)
    losses, final = turn._engine_training(params, X, y, 20, 0.01)
    hand_losses, hand_final = turn._reference_train_by_hand(params, X, y, 20, 0.01)
    np.testing.assert_allclose(losses[:20], hand_losses, rtol=1e-12)
    torch = pytest.importorskip("torch")
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.relu(torch.tensor(X) @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
    torch.nn.functional.mse_loss(out, torch.tensor(y)).backward()
    for k in turn.NAMES:
        np.testing.assert_allclose(P[k].grad.numpy(), engine["grads"][k], rtol=1e-10, atol=1e-14)


def test_the_kink_case_has_pre_activations_exactly_zero():
    params, X, y = turn._network(64, 4, 3, 6, 2, kink=True)
    Z1 = X @ params["W1"].T + params["b1"]
    assert (Z1 == 0).any()


# ---- the notebook ------------------------------------------------------------------------------
def _outputs(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs if o.output_type == "stream")


@pytest.mark.parametrize("path", [SOURCE, SHIPPED], ids=["source", "shipped"])
def test_the_notebook_trains_by_hand_to_autogradkit_s_losses(path):
    text = _outputs(path)
    assert "every epoch's loss within 1e-6 of autogradkit's: True" in text
    assert "the weights after training within 1e-6 of autogradkit's: True" in text
    assert "the last loss, by hand: 0.6116; the program's, in float32: 0.6116" in text
    assert "epoch 1000: loss 0.6116" in text
    assert text.count("central differences: True,  autogradkit: True") == 4


def test_the_check_yourself_answers_live_in_the_module(capsys):
    nb = nbformat.read(SHIPPED, as_version=4)
    cell = next(c.source for c in nb.cells if "turn.answer(" in c.source)
    assert "expected" not in cell and "= 4" not in cell and '"yes"' not in cell
    turn.answer("parameter tensors in Net", 4)
    turn.answer("parameter tensors in Net", 5)
    turn.answer("zero_grad at the start instead of the end", "Yes")
    turn.answer("zero_grad at the start instead of the end", ...)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✅") and out[1].startswith("❌") and out[2].startswith("✅")
    assert "not answered yet" in out[3]


def test_the_notebook_imports_no_selfcheck():
    for path in (SOURCE, SHIPPED):
        nb = nbformat.read(path, as_version=4)
        assert not any("selfcheck" in c.source for c in nb.cells if c.cell_type == "code")
