"""Notebook 3's "your turn" checks can say "wrong", and say why.

For every task: deliberately wrong answers, each caught with the intended misconception and its
hint (the pattern of the WRONG table in test_exercises.py); an answer that hands the work to the
library, the exercises' engine or the notebook's reference fails with the "by hand" message; and
the checks accept right answers written in another style (micrograd's closures, Kahn's order).
"""
from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import nbformat
import pytest

from autogradkit.exercises import misconceptions, nb03_backward as turn, notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "source" / "03_rebuilding_backward.ipynb"


def _task_cells():
    nb = nbformat.read(SOURCE, as_version=4)
    pattern = re.compile(rf"^(?:def|class)\s+({'|'.join(turn.tasks)})\b", re.M)
    return [c.source for c in nb.cells if c.cell_type == "code" and pattern.search(c.source)]


def _namespace():
    """The source notebook's solutions, defined in one namespace (as the notebook runs them)."""
    ns = {"__name__": "__notebook__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec("import math", ns)
        for code in _task_cells():
            exec(compile(code, "<03 source>", "exec"), ns)
    return ns


SOLUTIONS = _namespace()
SOLUTIONS["turn"] = turn                 # so that a wrong answer can reach the references


def _with(code):
    """The solutions' namespace with ``code`` run on top of it (one task replaced)."""
    ns = dict(SOLUTIONS)
    exec(compile(code.strip("\n"), "<wrong answer>", "exec"), ns)
    return ns


# ---- wrong Value rules --------------------------------------------------------------------------
def _value_with_rule(body):
    """A Value whose _backward is ``body`` (the right forward operations kept)."""
    return f'''
_Right = Value
class Value(_Right):
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), "+")
    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), "*")
    __radd__ = __add__
    __rmul__ = __mul__
    def tanh(self):
        return Value(math.tanh(self.data), (self,), "tanh")
    def relu(self):
        return Value(max(self.data, 0.0), (self,), "relu")
    def _backward(self):
        g = self.grad
{body}
'''


RIGHT_RULES = {
    "+": "a, b = self._prev\n            a.grad += g\n            b.grad += g",
    "*": "a, b = self._prev\n            a.grad += g * b.data\n            b.grad += g * a.data",
    "tanh": "(a,) = self._prev\n            a.grad += g * (1 - self.data ** 2)",
    "relu": "(a,) = self._prev\n            a.grad += g * (1.0 if a.data > 0 else 0.0)",
}


def _rules(**changed):
    rules = dict(RIGHT_RULES)
    rules.update({k.replace("add", "+").replace("mul", "*"): v for k, v in changed.items()})
    out = []
    for op, code in rules.items():
        out.append(f"        if self._op == {op!r}:\n            {code}")
    return _value_with_rule("\n".join(out))


WRONG = [
    ("Value", "missing_accumulation",
     _rules(add="a, b = self._prev\n            a.grad = g\n            b.grad = g")),
    ("Value", "missing_accumulation",
     _rules(mul="a, b = self._prev\n            a.grad = g * b.data\n"
                "            b.grad = g * a.data")),
    ("Value", "swapped",
     _rules(mul="a, b = self._prev\n            a.grad += g * a.data\n"
                "            b.grad += g * b.data")),
    ("Value", "forgot_upstream",
     _rules(mul="a, b = self._prev\n            a.grad += b.data\n            b.grad += a.data")),
    ("Value", "tanh_of_input",
     _rules(tanh="(a,) = self._prev\n            a.grad += g * (1 - a.data ** 2)")),
    ("Value", "tanh_no_square",
     _rules(tanh="(a,) = self._prev\n            a.grad += g * (1 - self.data)")),
    ("Value", "relu_at_zero",
     _rules(relu="(a,) = self._prev\n            a.grad += g * (1.0 if a.data >= 0 else 0.0)")),
    ("Value", "relu_value",
     _rules(relu="(a,) = self._prev\n            a.grad += g * self.data")),
    ("Value", "no_update", _value_with_rule("        pass")),
    ("Value", "used_library", """
from autogradkit.exercises import scalar
class Value(scalar.Value):
    def relu(self):
        out = Value(max(self.data, 0.0), (self,), "relu")
        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out
"""),
    ("Value", "used_library", "Value = turn._ReferenceValue"),
    # ---- topo_order
    ("topo_order", "recursion", """
def topo_order(root):
    order, seen = [], set()
    def visit(v):
        if v not in seen:
            seen.add(v)
            for child in v._prev:
                visit(child)
            order.append(v)
    visit(root)
    return order
"""),
    ("topo_order", "duplicates", """
def topo_order(root):
    order, stack = [], [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
        else:
            stack.append((v, True))
            stack.extend((c, False) for c in v._prev)
    return order
"""),
    ("topo_order", "reversed", """
def topo_order(root):
    seen, post = {root}, []
    it = [(root, iter(root._prev))]
    while it:
        node, inputs = it[-1]
        child = next(inputs, None)
        if child is None:
            it.pop()
            post.append(node)
        elif child not in seen:
            seen.add(child)
            it.append((child, iter(child._prev)))
    return post[::-1]
"""),
    ("topo_order", "breadth_first", """
def topo_order(root):
    order, seen = [root], {root}
    k = 0
    while k < len(order):
        for child in order[k]._prev:
            if child not in seen:
                seen.add(child)
                order.append(child)
        k += 1
    return order[::-1]
"""),
    ("topo_order", "used_library", """
from autogradkit.exercises.scalar import topological_order
def topo_order(root):
    return topological_order(root)
"""),
    ("topo_order", "used_library", """
def topo_order(root):
    return turn._reference_topo_order(root)
"""),
    # ---- backward
    ("backward", "zeros", """
def backward(root):
    for v in reversed(topo_order(root)):
        v._backward()
"""),
    ("backward", "not_reversed", """
def backward(root):
    root.grad = 1.0
    for v in topo_order(root):
        v._backward()
"""),
    ("backward", "breadth_first", """
def backward(root):
    root.grad = 1.0
    queue, seen = [root], {root}
    while queue:
        v = queue.pop(0)
        v._backward()
        for child in v._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)
"""),
    ("backward", "reset_grads", """
def backward(root):
    order = topo_order(root)
    for v in order:
        v.grad = 0.0
    root.grad = 1.0
    for v in reversed(order):
        v._backward()
"""),
    ("backward", "used_library", """
def backward(root):
    turn._reference_backward(root)
"""),
    ("backward", "used_library", """
from autogradkit.exercises import scalar
def backward(root):
    scalar.backward(root)
"""),
    # ---- train_step
    ("train_step", "forgot_zero_grad", """
def train_step(model, xs, ys, lr):
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    loss = loss * (1.0 / len(xs))
    backward(loss)
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss.data
"""),
    ("train_step", "sum_not_mean", """
def train_step(model, xs, ys, lr):
    for p in model.parameters():
        p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    backward(loss)
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss.data
"""),
    ("train_step", "ascent", """
def train_step(model, xs, ys, lr):
    for p in model.parameters():
        p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    loss = loss * (1.0 / len(xs))
    backward(loss)
    for p in model.parameters():
        p.data += lr * p.grad
    return loss.data
"""),
    ("train_step", "not_updated", """
def train_step(model, xs, ys, lr):
    for p in model.parameters():
        p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    loss = loss * (1.0 / len(xs))
    backward(loss)
    new = [Value(p.data - lr * p.grad) for p in model.parameters()]   # new Values: not seen
    return loss.data
"""),
    ("train_step", "used_library", """
def train_step(model, xs, ys, lr):
    return turn._reference_train_step(model, xs, ys, lr)
"""),
    ("train_step", "used_library", """
import autogradkit as ag
def train_step(model, xs, ys, lr):
    params = model.parameters()
    for p in params:
        p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    loss = loss * (1.0 / len(xs))
    backward(loss)
    grads = ag.tensor([p.grad for p in params], dtype=ag.float64)
    for p, g in zip(params, (grads * lr).tolist()):
        p.data -= g
    return loss.data
"""),
]


def _ids():
    seen = {}
    out = []
    for task, mistake, _ in WRONG:
        key = f"{task}-{mistake}"
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}-{seen[key]}")
    return out


@pytest.mark.parametrize("task,mistake,code", WRONG, ids=_ids())
def test_a_wrong_answer_is_caught_with_the_intended_hint(task, mistake, code):
    ns = _with(code)
    result = turn.evaluate(ns[task], task)
    assert not result.passed and not result.internal_error, result.report()
    assert result.misconception == mistake, result.report()
    own = turn.tasks[task].hints.get(mistake)
    intended = own[1] if own else misconceptions.hint(mistake)
    assert intended and result.hint == intended, result.report()
    report = result.report()
    assert report.startswith("❌") and f"hint: {intended}" in report and "looks like:" in report


def test_every_task_has_a_wrong_answer_and_one_that_uses_the_library():
    for task in turn.tasks:
        mistakes = {m for t, m, _ in WRONG if t == task}
        assert "used_library" in mistakes and len(mistakes) >= 2, task


def test_the_by_hand_message_says_the_task_is_to_write_it_by_hand():
    ns = _with("def topo_order(root):\n    return turn._reference_topo_order(root)")
    report = turn.evaluate(ns["topo_order"], "topo_order").report()
    assert "your code called the reference topo_order" in report
    assert "written by hand" in report


# ---- the messages are precise ----------------------------------------------------------------
def test_overwriting_is_caught_on_b_equals_a_plus_a_with_expected_and_got():
    ns = _with(WRONG[0][2])
    result = turn.evaluate(ns["Value"], "Value")
    assert "b = a + a" in result.case
    assert result.message == "a.grad: expected 4, got 2"


def test_the_rules_in_one_graph_name_the_first_wrong_node():
    """A rule wrong only for an input the one-rule cases do not try (z = 1.3 in the graph): the
    graph case names the first node, from the output back, whose gradient is wrong."""
    ns = _with(_rules(relu="(a,) = self._prev\n"
                           "            a.grad += g * (1.0 if 0 < a.data and "
                           "abs(a.data - 1.3) > 1e-9 else 0.0)"))
    result = turn.evaluate(ns["Value"], "Value")
    assert result.status == "wrong" and "every rule in one graph" in result.case, result.report()
    assert result.message.startswith("grad of z = s + b: expected"), result.message


def test_a_breadth_first_order_names_the_node_that_comes_too_early():
    ns = _with(next(code for t, m, code in WRONG if (t, m) == ("topo_order", "breadth_first")))
    result = turn.evaluate(ns["topo_order"], "topo_order")
    assert "u = 2x, m = u + 1" in result.case
    assert re.fullmatch(r"m = u \+ 1 is listed at position \d, before its input u = 2x "
                        r"\(position \d\)", result.message), result.message


def test_a_recursive_order_is_caught_even_with_a_raised_recursion_limit():
    ns = _with("""
import sys
def topo_order(root):
    sys.setrecursionlimit(100_000)
    order, seen = [], set()
    def visit(v):
        if v not in seen:
            seen.add(v)
            for child in v._prev:
                visit(child)
            order.append(v)
    visit(root)
    return order
""")
    limit = sys.getrecursionlimit()
    result = turn.evaluate(ns["topo_order"], "topo_order")
    assert result.misconception == "recursion", result.report()
    assert result.message == "your code calls itself: visit calls visit"
    assert sys.getrecursionlimit() == limit


def test_a_recursion_error_on_the_deep_chain_is_named_too():
    """An order whose recursion the profiler cannot see as a direct call (two functions
    calling each other) still fails on the chain 10,000 deep, as recursion."""
    ns = _with("""
def topo_order(root):
    order, seen = [], set()
    def visit(v):
        if v not in seen:
            seen.add(v)
            for child in v._prev:
                again(child)
            order.append(v)
    def again(v):
        visit(v)
    visit(root)
    return order
""")
    result = turn.evaluate(ns["topo_order"], "topo_order")
    assert result.misconception == "recursion" and "10,000" in result.case, result.report()


def test_the_guard_leaves_no_profiler_behind():
    ns = _with("def topo_order(root):\n    raise ValueError('boom')")
    assert turn.evaluate(ns["topo_order"], "topo_order").status == "error"
    assert sys.getprofile() is None


# ---- right answers in other styles pass ------------------------------------------------------
def test_the_source_solutions_pass_and_the_references_are_not_taken_for_the_learner_s_work():
    for task in turn.tasks:
        assert turn.evaluate(SOLUTIONS[task], task).passed, task
        result = turn.evaluate(turn.tasks[task].reference, task)
        assert result.misconception == "used_library", result.report()


def test_a_micrograd_style_value_with_closures_passes():
    ns = _with("""
class Value:
    def __init__(self, data, _prev=(), _op="", label=""):
        self.data, self.grad, self._prev = float(data), 0.0, tuple(_prev)
        self._op, self.label = _op, label
        self._backward = lambda: None
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out
    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
    __radd__, __rmul__ = __add__, __mul__
    def __neg__(self):
        return self * -1.0
    def __sub__(self, other):
        return self + (-other)
    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")
        def _backward():
            self.grad += (1 - out.data ** 2) * out.grad
        out._backward = _backward
        return out
    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")
        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out
""")
    result = turn.evaluate(ns["Value"], "Value")
    assert result.passed, result.report()


def test_kahns_order_in_backward_passes():
    ns = _with("""
def backward(root):
    counts, stack, seen = {}, [root], {root}
    while stack:
        for child in stack.pop()._prev:
            counts[child] = counts.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    root.grad = 1.0
    ready = [root]
    while ready:
        v = ready.pop()
        v._backward()
        for child in v._prev:
            counts[child] -= 1
            if counts[child] == 0:
                ready.append(child)
""")
    result = turn.evaluate(ns["backward"], "backward")
    assert result.passed, result.report()


def test_a_network_trained_on_the_reference_engine_follows_autogradkit():
    """What the notebook asserts, here in process: 40 steps, losses equal to 1e-9."""
    np = pytest.importorskip("numpy")
    import autogradkit as ag
    V = turn._ReferenceValue
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(12, 2)).round(2)
    Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    W1 = rng.normal(0, 1, size=(4, 2)).round(2)
    b1 = np.full(4, 0.1)
    w2 = rng.normal(0, 0.5, size=4).round(2)

    class Model:
        def __init__(self):
            self.W1 = [[V(w) for w in row] for row in W1]
            self.b1, self.w2, self.b2 = [V(b) for b in b1], [V(w) for w in w2], V(0.0)

        def __call__(self, x):
            h = [sum((w * xi for w, xi in zip(row, x)), b).relu()
                 for row, b in zip(self.W1, self.b1)]
            return sum((w * hj for w, hj in zip(self.w2, h)), self.b2).tanh()

        def parameters(self):
            return [w for row in self.W1 for w in row] + self.b1 + self.w2 + [self.b2]

    model = Model()
    mine = [turn._reference_train_step(model, X.tolist(), Y.tolist(), 0.2) for _ in range(40)]
    params = [ag.tensor(a, dtype=ag.float64, requires_grad=True)
              for a in (W1, b1, w2, np.array(0.0))]
    opt = ag.optim.SGD(params, lr=0.2)
    Xt, Yt = ag.tensor(X, dtype=ag.float64), ag.tensor(Y, dtype=ag.float64)
    theirs = []
    for _ in range(40):
        opt.zero_grad()
        W1_t, b1_t, w2_t, b2_t = params
        pred = ((Xt @ W1_t.T + b1_t).relu() @ w2_t + b2_t).tanh()
        loss = ((pred - Yt) ** 2).mean()
        loss.backward()
        opt.step()
        theirs.append(loss.item())
    assert max(abs(a - b) for a, b in zip(mine, theirs)) < 1e-9
    assert theirs[-1] < 0.5 * theirs[0]


def test_hints_never_contain_the_solution_code():
    lines = set()
    for code in _task_cells():
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", code, re.S):
            lines |= {re.sub(r"\s+", "", ln.split("#")[0]) for ln in region.splitlines()
                      if len(ln.split("#")[0].strip()) >= 8}
    texts = [spec.hint for spec in turn.tasks.values()]
    texts += [h for spec in turn.tasks.values() for _, h in spec.hints.values()]
    for text in texts:
        squashed = re.sub(r"\s+", "", text)
        assert not [ln for ln in lines if ln in squashed], text


def test_reports_are_deterministic():
    ns = _with(WRONG[0][2])
    first = turn.evaluate(ns["Value"], "Value").report()
    assert first == turn.evaluate(ns["Value"], "Value").report()
    assert not re.search(r"0x[0-9a-f]{6,}|\d+\.\d+ ?s\b", first)


def test_the_shipped_notebook_stubs_every_task():
    nb = nbformat.read(SOURCE, as_version=4)
    learner, stubs = notebooks.make_learner(nb, SOURCE.name)
    assert set(stubs) == set(turn.tasks)
    assert stubs.count("Value") == 5          # + * tanh relu and the rules
