"""Exercise 3 (chapter 3): rebuilding the backward pass of a tiny scalar engine.

The checks build graphs from :class:`autogradkit.exercises.scalar.Value` (whose own rules are
right) and run the learner's rule, ordering or backward pass on them.
"""
from __future__ import annotations

from .core import Exercise
from .scalar import Value, backward as _reference_backward, topological_order as _reference_order

exercise = Exercise("ex3_backward", "Exercise 3: rebuilding the backward pass", chapter=3)

_UPSTREAM = ("forgot_upstream", ("the local derivative alone, without the upstream gradient",
                                 "The chain rule has two factors: the op's local derivative and "
                                 "ȳ, the gradient that arrives from above (on the output node). "
                                 "Your rule passes on only the first."))
_NO_UPDATE = ("no_update", ("the inputs' gradients left unchanged",
                            "A rule returns nothing: it stores its result by adding it into the "
                            "inputs' .grad."))


def _rule_cases(op):
    """(description, make) pairs; make() -> (inputs, out) with the gradients already set."""
    def build(values, grads, upstream, same=False):
        def make():
            a = Value(values[0], label="a")
            if op == "tanh":
                out, inputs = a.tanh(), (a,)
            else:
                b = a if same else Value(values[1], label="b")
                out, inputs = (a + b if op == "+" else a * b), (a, b)
            for v, g in zip(inputs, grads):
                v.grad = g
            out.grad = upstream
            return inputs, out
        return make

    if op == "tanh":
        return [("out = tanh(a) with a = 0.5, out.grad = 1.5, a.grad = 0",
                 build((0.5,), (0.0,), 1.5)),
                ("out = tanh(a) with a = −1.2, out.grad = −2; a.grad = 0.25 already holds a "
                 "gradient from another use of a", build((-1.2,), (0.25,), -2.0))]
    expr = "a + b" if op == "+" else "a · b"
    twice = "a + a" if op == "+" else "a · a"
    return [(f"out = {expr} with a = 2, b = −3, out.grad = 1.5, a.grad = b.grad = 0",
             build((2.0, -3.0), (0.0, 0.0), 1.5)),
            (f"out = {expr} with a = 0.5, b = 4, out.grad = −2; a.grad = 0.25 and b.grad = −1 "
             "already hold gradients from other uses", build((0.5, 4.0), (0.25, -1.0), -2.0)),
            (f"out = {twice} (one node used twice) with a = −1.5, out.grad = 2, a.grad = 0",
             build((-1.5,), (0.0,), 2.0, same=True))]


def _rule_check(t, answer, op):
    for description, make in _rule_cases(op):
        t.case(description)
        inputs, out = make()
        before = [v.grad for v in inputs]
        out_before = (out.data, out.grad)
        # the right answer, from the reference rule on an identical copy
        ref_inputs, ref_out = make()
        ref_out._backward()
        right = [v.grad for v in ref_inputs]
        wrong = {}
        for key in ("missing_accumulation", "forgot_upstream", "swapped", "tanh_of_wrong_node"):
            wrong[key] = _wrong_rule(make, op, key)
        t.call(answer, *inputs, out)
        if (out.data, out.grad) != out_before:
            t.fail("your rule changed out.data or out.grad: a rule only reads the output node and "
                   "adds into its inputs' gradients")
        got = [v.grad for v in inputs]
        names = [v.label for v in inputs]
        if len(inputs) == 2 and inputs[0] is inputs[1]:
            got, right, names = got[:1], right[:1], names[:1]
            wrong = {k: (w[:1] if w else w) for k, w in wrong.items()}
            before = before[:1]
        if got == before and got != right:
            t.fail(f"{names[0]}.grad is still {before[0]:g} after your rule ran", _NO_UPDATE[0])
        t.compare(got, right, what="{}.grad", names=names, rtol=1e-9, atol=1e-12,
                  alternatives=list(wrong.items()))


def _wrong_rule(make, op, mistake):
    """The gradients a rule with a given mistake leaves behind (None where it does not apply)."""
    inputs, out = make()
    a = inputs[0]
    b = inputs[1] if len(inputs) > 1 else None
    g = 1.0 if mistake == "forgot_upstream" else out.grad
    if op == "+":
        if mistake == "swapped" or mistake == "tanh_of_wrong_node":
            return None
        local = [(a, 1.0), (b, 1.0)]
    elif op == "*":
        if mistake == "tanh_of_wrong_node":
            return None
        local = [(a, a.data), (b, b.data)] if mistake == "swapped" else [(a, b.data), (b, a.data)]
    else:
        if mistake == "swapped":
            return None
        local = [(a, 1 - (a.data ** 2 if mistake == "tanh_of_wrong_node" else out.data ** 2))]
    for node, d in local:
        if mistake == "missing_accumulation":
            node.grad = d * g
        else:
            node.grad += d * g
    return [v.grad for v in inputs]


_RULE_HINTS = dict([_UPSTREAM, _NO_UPDATE])


@exercise.task(
    "add_backward", goal="the backward rule of out = a + b",
    hint="Write down ∂out/∂a and ∂out/∂b, then apply the chain rule: each input's gradient grows "
         "by its local derivative times ȳ = out.grad.",
    hints=_RULE_HINTS)
def _check_add(t, answer):
    _rule_check(t, answer, "+")


@exercise.task(
    "mul_backward", goal="the backward rule of out = a · b",
    hint="Write down ∂out/∂a and ∂out/∂b, then apply the chain rule: each input's gradient grows "
         "by its local derivative times ȳ = out.grad.",
    hints=dict(_RULE_HINTS,
               swapped=("the two local derivatives swapped",
                        "For a product, the local derivative with respect to one factor is built "
                        "from the *other* factor.")))
def _check_mul(t, answer):
    _rule_check(t, answer, "*")


@exercise.task(
    "tanh_backward", goal="the backward rule of out = tanh(a)",
    hint="d tanh(a)/da can be written with the output tanh(a) itself, which the output node "
         "already holds. Then apply the chain rule with ȳ = out.grad.",
    hints=dict(_RULE_HINTS,
               tanh_of_wrong_node=("tanh′ evaluated with the input instead of the output",
                                   "The derivative 1 − tanh²(a) needs tanh(a): that is the "
                                   "output's value, not the input's.")))
def _check_tanh(t, answer):
    _rule_check(t, answer, "tanh")


# ---- graphs for the last two tasks -----------------------------------------------------------
def _named(node, label):
    node.label = label
    return node


def _neuron():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    x2, w2 = Value(0.0, label="x2"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    s = _named(_named(x1 * w1, "x1·w1") + _named(x2 * w2, "x2·w2"), "x1·w1 + x2·w2")
    return _named(_named(s + b, "n").tanh(), "L")


def _reuse():
    a = Value(-2.0, label="a")
    return _named(_named(a * a, "a·a") + _named(a * Value(3.0, label="3"), "3a"), "L")


def _diamond():
    a, b = Value(0.5, label="a"), Value(-1.5, label="b")
    c = _named(a + b, "c")
    e = _named(_named(c * c, "d") + c, "e")
    return _named(e.tanh(), "L")


def _chain(n):
    node = Value(0.5, label="x0")
    for i in range(1, n):
        node = _named(node + 1.0, f"x{i}")
    return node


def _all_nodes(root):
    return _reference_order(root)


# ---- task 4 -----------------------------------------------------------------------------------
@exercise.task(
    "topological_order", goal="every node of a graph, each one after all of its inputs",
    hint="A node may be placed once all of its inputs (node._prev) have been placed. Visit the "
         "graph depth-first from the root, and remember which nodes you have already placed.",
    hints={"duplicates": ("a node listed more than once",
                          "A node that feeds several others is reached along several paths. "
                          "Keep track of the nodes you have already placed."),
           "reversed": ("the right order, reversed",
                        "Your list puts each node before its inputs — the order backward walks "
                        "in. This function should return the forward order (inputs first); "
                        "backward can reverse it.")},
    time_limit=10.0)
def _check_topological_order(t, answer):
    cases = [("a single node", lambda: Value(1.0, label="x")),
             ("a neuron, tanh(x1·w1 + x2·w2 + b)", _neuron),
             ("a node used twice, L = a·a + 3a", _reuse),
             ("a diamond, c = a + b, d = c·c, e = d + c, L = tanh(e)", _diamond),
             ("a chain of 5,000 nodes, x(i+1) = x(i) + 1", lambda: _chain(5000))]
    for description, make in cases:
        t.case(description)
        root = make()
        got = t.call(answer, root)
        _validate_order(t, got, root)


def _validate_order(t, got, root):
    if not isinstance(got, (list, tuple)):
        t.fail(f"expected a list of nodes, got a {type(got).__name__}")
    nodes = _all_nodes(root)
    known = {id(n) for n in nodes}
    counts = {}
    for item in got:
        if not isinstance(item, Value):
            t.fail(f"your list holds a {type(item).__name__}; it should hold the graph's Value "
                   "nodes themselves")
        if id(item) not in known:
            t.fail(f"your list holds a node that is not in the graph: {item!r}")
        counts[id(item)] = counts.get(id(item), 0) + 1
    for n in nodes:
        c = counts.get(id(n), 0)
        if c > 1:
            t.fail(f"node {n.label!r} appears {c} times in your order", "duplicates")
    for n in nodes:
        if id(n) not in counts:
            t.fail(f"node {n.label!r} is missing from your order ({len(got)} of {len(nodes)} "
                   "nodes listed)")
    if _respects_inputs(got):
        return
    if _respects_inputs(list(reversed(got))):
        t.fail(f"node {got[0].label!r} comes first, before the nodes it was made from",
               "reversed")
    position = {id(n): i for i, n in enumerate(got)}
    for n in got:
        for child in n._prev:
            if position[id(child)] > position[id(n)]:
                t.fail(f"node {n.label!r} comes before its input {child.label!r}")


def _respects_inputs(order):
    position = {id(n): i for i, n in enumerate(order)}
    return all(position[id(c)] < position[id(n)] for n in order for c in n._prev)


# ---- task 5 -----------------------------------------------------------------------------------
def _forward_order_backward(root):
    root.grad = 1.0
    for node in _reference_order(root):
        node._backward()


@exercise.task(
    "backward", goal="the whole backward pass: fill in ∂L/∂v for every node v",
    hint="Two things must happen: the output's own gradient has to be set to its starting "
         "value, and every node's _backward must run only after all the nodes that use it.",
    hints={"zeros": ("no gradient ever started flowing",
                     "Every gradient is still zero. The chain rule multiplies upstream "
                     "gradients; what is the very first upstream gradient, ∂L/∂L?"),
           "wrong_order": ("the rules run in the wrong order",
                           "Some rules ran before their node's gradient was complete. A node "
                           "must pass its gradient on only after every node that uses it has "
                           "run.")})
def _check_backward(t, answer):
    cases = [("a neuron, L = tanh(x1·w1 + x2·w2 + b)", _neuron),
             ("a node used twice, L = a·a + 3a", _reuse),
             ("a diamond, c = a + b, d = c·c, e = d + c, L = tanh(e)", _diamond)]
    for description, make in cases:
        t.case(description)
        root = make()
        t.call(answer, root)
        ref = make()
        _reference_backward(ref)
        wrong = make()
        _forward_order_backward(wrong)
        nodes, ref_nodes, wrong_nodes = (list(reversed(_all_nodes(r))) for r in (root, ref, wrong))
        t.compare([n.grad for n in nodes], [n.grad for n in ref_nodes], what="grad of node {!r}",
                  names=[n.label for n in nodes], rtol=1e-9, atol=1e-12,
                  alternatives=[("wrong_order", [n.grad for n in wrong_nodes])])


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
