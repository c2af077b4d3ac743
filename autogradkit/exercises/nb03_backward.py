"""Notebook 3's "your turn" tasks: your own scalar engine, then a network trained on it.

The learner writes

1. ``Value``: ``+``, ``*``, ``tanh`` and ``relu`` on single numbers, and ``_backward``, the local
   rules, which *add* (``+=``) each input's share ȳ · ∂y/∂x into the input's ``.grad``;
2. ``topo_order(root)``: every node, each after all of its inputs, found with a stack the code
   keeps itself (no recursion: a chain 10,000 deep must work);
3. ``backward(root)``: ∂L/∂L = 1, then every node's rule, outputs before inputs;
4. ``train_step(model, xs, ys, lr)``: one step of gradient descent on the mean squared error.

Every check builds its own graphs and models; the right answers come from the reference engine
below, which is also what the notebook goes on with while an answer is not right yet.
"""
from __future__ import annotations

import math
import operator
import os
import sys

from . import guards
from .core import Exercise

exercise = Exercise("nb03_backward", "Notebook 3: rebuilding the backward pass", chapter=3,
                    heading="Your turn", reference_guard="always", reference_key="used_library")


# ---- the reference engine (what the notebook goes on with) -----------------------------------
class _ReferenceValue:
    """One number in a computation: its value, ∂L/∂(it) once backward has run, and what it was
    computed from. The rules live together in ``_backward``: x̄ += ȳ · ∂y/∂x for each input x."""

    def __init__(self, data, _prev=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._op = _op
        self.label = label

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.4g}, grad={self.grad:.4g})"

    def _wrap(self, other):
        return other if isinstance(other, _ReferenceValue) else type(self)(other)

    def __add__(self, other):
        other = self._wrap(other)
        return type(self)(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        other = self._wrap(other)
        return type(self)(self.data * other.data, (self, other), "*")

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def tanh(self):
        return type(self)(math.tanh(self.data), (self,), "tanh")

    def relu(self):
        return type(self)(self.data if self.data > 0 else 0.0, (self,), "relu")

    def _backward(self):
        g = self.grad
        if self._op == "+":                 # ∂y/∂a = 1, ∂y/∂b = 1
            a, b = self._prev
            a.grad += g
            b.grad += g
        elif self._op == "*":               # ∂y/∂a = b, ∂y/∂b = a
            a, b = self._prev
            a.grad += g * b.data
            b.grad += g * a.data
        elif self._op == "tanh":            # ∂y/∂a = 1 − y²
            (a,) = self._prev
            a.grad += g * (1.0 - self.data ** 2)
        elif self._op == "relu":            # ∂y/∂a = 1 if a > 0 else 0
            (a,) = self._prev
            a.grad += g * (1.0 if a.data > 0 else 0.0)


def _reference_topo_order(root):
    """Every node ``root`` depends on (root included), each one after all of its inputs.

    A depth-first search with a stack kept by hand: each entry is a node and an iterator over the
    inputs it has not visited yet. A node is listed when its iterator runs out."""
    order, visited = [], {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, inputs = stack[-1]
        child = next(inputs, None)
        if child is None:
            stack.pop()
            order.append(node)
        elif child not in visited:
            visited.add(child)
            stack.append((child, iter(child._prev)))
    return order


def _reference_backward(root):
    """∂root/∂(every node): seed ∂L/∂L = 1, then each node's rule, outputs before inputs."""
    root.grad = 1.0
    for v in reversed(_reference_topo_order(root)):
        v._backward()


def _reference_train_step(model, xs, ys, lr):
    """One step of gradient descent on L = mean((model(x) − y)²); returns L before the step."""
    params = model.parameters()
    for p in params:
        p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    loss = loss * (1.0 / len(xs))
    _reference_backward(loss)
    for p in params:
        p.data -= lr * p.grad
    return loss.data


V = _ReferenceValue                      # the checks build their graphs from it


# ---- guards: work done by hand, no recursion --------------------------------------------------
# Calling this task's reference (``_reference_*``, or ``_ReferenceValue``'s methods) is caught by
# core's reference guard, for every course turn alike: ``reference_guard="always"`` above makes it
# apply to ``evaluate`` too, and ``reference_key`` reports it as "used_library".
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARIES = tuple({os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
_GIVEN_ENGINE = "autogradkit.exercises.scalar"


def _learner_code(code):
    path = os.path.abspath(code.co_filename)
    return not (path.startswith(_PACKAGE + os.sep) or path.startswith(_LIBRARIES))


def _watched(fn):
    """``fn`` wrapped to return ``(value, problem)``: problem is None, ``("library", name)`` for
    the first call into autogradkit itself or the exercises' scalar engine, or
    ``("recursion", name)`` for a learner's function that called itself."""
    def run(*args):
        seen = []

        def callback(frame):
            if seen:
                return
            code = frame.f_code
            module = frame.f_globals.get("__name__", "") or ""
            if module == _GIVEN_ENGINE or (
                    (module == "autogradkit" or module.startswith("autogradkit."))
                    and not module.startswith("autogradkit.exercises")):
                seen.append(("library", f"{module}.{code.co_qualname}"))
            elif (frame.f_back is not None and frame.f_back.f_code is code
                  and _learner_code(code)):
                seen.append(("recursion", code.co_name))

        with guards.watch(callback) as w:
            value = fn(*args)
        if w.switched_off and not seen:
            seen.append(("library", guards.SWITCHED_OFF))
        return value, (seen[0] if seen else None)
    return run


_BY_HAND = ("the library doing the work",
            "This turn is to be written by hand, in plain Python: no autogradkit tensors, no "
            "backward() of the library, and not the exercises' engine or the notebook's "
            "reference. Work with .data and .grad of the Values yourself.")


def _call(t, task, fn, *args):
    """``t.call`` with the by-hand guard; stops the check on library use."""
    value, problem = t.call(_watched(fn), *args)
    if problem is not None and problem[0] == "library":
        t.fail(f"your code called {problem[1]}", "used_library")
    return value, problem


# ---- naming the nodes of a graph ---------------------------------------------------------------
def _names(pairs):
    """{id(node): name} from (name, node) pairs."""
    return {id(node): name for name, node in pairs}


def _name(names, node):
    return names.get(id(node), repr(node))


def _graph_order(root):
    """The graph's nodes, the output first (the order backward may run them in)."""
    return list(reversed(_reference_topo_order(root)))


# ---- task 1: Value -------------------------------------------------------------------------------
_ACCUMULATE = ("an input's gradient assigned (=) instead of added to (+=)",
               "A rule must add its share to the input's .grad: the input may already hold a "
               "share from another use (in b = a + a it gets one from each slot). Assigning "
               "keeps only the last share.")
_VALUE_HINTS = {
    "missing_accumulation": _ACCUMULATE,
    "forgot_upstream": ("the local derivative alone, without the upstream gradient ȳ",
                        "The chain rule has two factors: the local derivative ∂y/∂x and ȳ, the "
                        "node's own .grad that arrived from above. Your rule passes on only the "
                        "first."),
    "swapped": ("the two local derivatives of a product swapped",
                "For y = a · b, the local derivative with respect to one factor is the *other* "
                "factor."),
    "tanh_of_input": ("tanh′ computed as 1 − x² of the input x",
                      "tanh′ is 1 − tanh²(x): the square of the *output* y = tanh(x), which the "
                      "node already holds as its own .data, not the square of the input."),
    "tanh_no_square": ("tanh′ computed as 1 − y, without the square",
                       "The derivative of tanh is 1 − tanh²(x): square the output."),
    "relu_at_zero": ("relu′(0) taken as 1",
                     "At exactly 0, relu has a kink. This course, like PyTorch and autogradkit, "
                     "takes the derivative to be 1 only where the input is strictly positive, "
                     "and 0 at 0 and below."),
    "relu_value": ("relu′ taken as the output value instead of 1 or 0",
                   "relu′(x) is a step: 1 where x > 0 and 0 elsewhere. It is not relu(x) "
                   "itself."),
    "no_update": ("the inputs' gradients left unchanged",
                  "_backward returns nothing: it must change the inputs' .grad, adding each "
                  "input's share."),
    "used_library": _BY_HAND,
}

_FORWARD = {"+": operator.add, "*": operator.mul,
            "tanh": lambda a: a.tanh(), "relu": lambda a: a.relu()}


def _expect_value(t, V_, out, what):
    if not isinstance(out, V_):
        kind = "None" if out is None else f"a {type(out).__name__}"
        t.fail(f"{what} returned {kind}, not a new Value",
               hint="Each operation returns a new Value: its data, the Values it was computed "
                    "from, and the name of the operation.")


_NUMBERS = {"+": operator.add, "*": operator.mul, "tanh": math.tanh,
            "relu": lambda a: a if a > 0 else 0.0}


def _forward_case(t, V_, op, values, expr):
    t.case(f"forward: {expr}")
    inputs = []
    for x in values:
        v, _ = _call(t, "Value", V_, x)
        inputs.append(v)
    if expr.endswith("1.5"):                      # a number on the right
        args = (inputs[0], 1.5)
    elif expr.startswith("1.5"):                  # a number on the left: __radd__ / __rmul__
        args = (1.5, inputs[0])
    else:
        args = tuple(inputs)
    out, _ = _call(t, "Value", _FORWARD[op], *args)
    _expect_value(t, V_, out, expr)
    _check_data(t, out, op, values, args, expr)
    prev = getattr(out, "_prev", None)
    if not isinstance(prev, (tuple, list)):
        t.fail(f"({expr})._prev is {'missing' if prev is None else 'a ' + type(prev).__name__}; "
               "it should be a tuple of the Values it was computed from",
               hint="Give the new Value its inputs as a tuple: (self, other), or (self,).")
    t.require(len(prev) == len(args),
              f"({expr})._prev holds {len(prev)} item(s); it should hold the {len(args)} "
              f"input(s)")
    for arg in args:
        if isinstance(arg, V_):
            t.require(any(p is arg for p in prev), f"({expr})._prev does not hold the input a "
                      "itself", hint="Keep the input Values themselves in _prev, so that "
                      "backward can reach them.")
        else:
            t.require(any(isinstance(p, V_) and p.data == arg for p in prev),
                      f"({expr})._prev should hold a new Value for the number {arg:g}",
                      hint="Wrap a plain number in a Value first, so that every input is a "
                           "Value.")
    t.require(getattr(out, "_op", None) == op,
              f"({expr})._op is {getattr(out, '_op', None)!r}, expected {op!r}",
              hint='Name each operation: "+", "*", "tanh" or "relu".')
    t.require(out.grad == 0, f"({expr}).grad is {out.grad!r} right after the forward pass; it "
              "should start at 0")
    for v, x in zip(inputs, values):
        t.require(v.data == x and v.grad == 0, f"{expr} changed its input's data or grad")


def _check_data(t, out, op, values, args, expr):
    """The output's number against the op on plain numbers, worked out only now (after the
    learner's code returned, in a frame of its own)."""
    given = iter(values)                      # the inputs' numbers, in order; 1.5 stays 1.5
    numbers = [a if type(a) in (int, float) else next(given) for a in args]
    t.compare(out.data, _NUMBERS[op](*numbers), what=f"({expr}).data", rtol=1e-12, atol=1e-12)


def _rule_grads(op, data, grads, g, mistake=None, same=False):
    """The inputs' gradients after the rule of ``op`` (with ``mistake``, if given) ran."""
    a = data[0]
    b = a if same else (data[1] if len(data) > 1 else None)
    y = {"+": lambda: a + b, "*": lambda: a * b, "tanh": lambda: math.tanh(a),
         "relu": lambda: max(a, 0.0)}[op]()
    up = 1.0 if mistake == "forgot_upstream" else g
    if op == "+":
        local = [1.0, 1.0]
    elif op == "*":
        local = [a, b] if mistake == "swapped" else [b, a]
    elif op == "tanh":
        local = [1 - a * a if mistake == "tanh_of_input"
                 else 1 - y if mistake == "tanh_no_square" else 1 - y * y]
    else:
        local = [(1.0 if a >= 0 else 0.0) if mistake == "relu_at_zero"
                 else y if mistake == "relu_value" else (1.0 if a > 0 else 0.0)]
    out = list(grads[:1] if same else grads)
    slots = [0, 0] if same else list(range(len(local)))
    for slot, d in zip(slots, local):
        out[slot] = up * d if mistake == "missing_accumulation" else out[slot] + up * d
    return out


_RULE_CASES = [
    # op, data, grads already there, ȳ, same input twice
    ("+", (2.0, -3.0), (0.0, 0.0), 1.5, False),
    ("+", (-1.5,), (0.0,), 2.0, True),
    ("+", (0.5, 4.0), (0.25, -1.0), -2.0, False),
    ("*", (2.0, -3.0), (0.0, 0.0), 1.5, False),
    ("*", (-1.5,), (0.0,), 2.0, True),
    ("*", (0.5, 4.0), (0.25, -1.0), -2.0, False),
    ("tanh", (0.5,), (0.0,), 1.5, False),
    ("tanh", (-1.2,), (0.25,), -2.0, False),
    ("relu", (0.7,), (0.0,), 1.5, False),
    ("relu", (-1.2,), (0.25,), 1.5, False),
    ("relu", (0.0,), (0.0,), 1.5, False),
    ("relu", (2.0,), (0.25,), -2.0, False),
]
_MISTAKES = ("missing_accumulation", "forgot_upstream", "swapped", "tanh_of_input",
             "tanh_no_square", "relu_at_zero", "relu_value")


def _describe_rule_case(op, data, grads, g, same):
    if same:
        expr = "a + a" if op == "+" else "a · a"
        return f"rule of b = {expr} (a used twice by one node), a = {data[0]:g}, b.grad = {g:g}"
    expr = {"+": "a + b", "*": "a · b", "tanh": "tanh(a)", "relu": "relu(a)"}[op]
    values = ", ".join(f"{n} = {x:g}" for n, x in zip("ab", data))
    text = f"rule of y = {expr}, {values}, y.grad = {g:g}"
    if any(grads):
        held = " and ".join(f"{n}.grad = {x:g}" for n, x in zip("ab", grads))
        text += f"; {held} already (shares from other uses)"
    return text


def _rule_case(t, V_, op, data, grads, g, same):
    t.case(_describe_rule_case(op, data, grads, g, same))
    inputs = []
    for x in data:
        v, _ = _call(t, "Value", V_, x)
        inputs.append(v)
    args = (inputs[0], inputs[0]) if same else tuple(inputs)
    out, _ = _call(t, "Value", _FORWARD[op], *args)
    _expect_value(t, V_, out, "the operation")
    for v, x in zip(inputs, grads):
        v.grad = x
    out.grad = g
    before = (out.data, out.grad)
    _call(t, "Value", out._backward)
    if (out.data, out.grad) != before:
        t.fail("the rule changed the output's own .data or .grad; a rule only reads them and "
               "adds into its inputs' .grad")
    got = [v.grad for v in inputs]
    right = _rule_grads(op, data, grads, g, same=same)
    names = ["a", "b"][:len(inputs)]
    if got == list(grads) and got != right:
        t.fail(f"a.grad is still {grads[0]:g} after y._backward() ran", "no_update")
    wrong = [(m, _rule_grads(op, data, grads, g, m, same)) for m in _MISTAKES
             if not (m == "swapped" and op != "*")]
    t.compare(got, right, what="{}.grad", names=names, rtol=1e-9, atol=1e-12,
              alternatives=wrong)


def _value_graph(V_):
    """A small graph with every operation and a shared node: (name, node) pairs, output last."""
    x1, w1, x2, w2, b = (V_(v) for v in (1.5, 0.8, -0.5, -1.2, 0.1))
    s = x1 * w1
    z = s + b
    h = z.relu()
    n = h * w2 + x2 * s
    o = n.tanh()
    loss = o * o + h
    pairs = [("x1", x1), ("w1", w1), ("x2", x2), ("w2", w2), ("b", b), ("s = x1·w1", s),
             ("z = s + b", z), ("h = relu(z)", h), ("n = h·w2 + x2·s", n), ("o = tanh(n)", o),
             ("L = o·o + h", loss)]
    return loss, pairs


@exercise.task(
    "Value", kind="class",
    goal="a Value class: +, *, tanh and relu, and their local rules, which add into .grad",
    hint="For each operation, write down ∂y/∂x for every input x. The rule adds ȳ · ∂y/∂x to "
         "x.grad, where ȳ is the output's own .grad.",
    hints=_VALUE_HINTS,
    reference=_ReferenceValue)
def _check_value(t, V_):
    for op, values, expr in (("+", (2.0, -3.0), "a + b"), ("+", (2.0,), "a + 1.5"),
                             ("+", (2.0,), "1.5 + a"), ("*", (2.0, -3.0), "a * b"),
                             ("*", (2.0,), "a * 1.5"), ("*", (2.0,), "1.5 * a"),
                             ("tanh", (0.5,), "a.tanh()"), ("relu", (0.7,), "a.relu()"),
                             ("relu", (-1.2,), "a.relu()")):
        _forward_case(t, V_, op, values, expr)
    t.case("a leaf's rule: Value(2.0)._backward() (a leaf has no inputs: nothing to do)")
    leaf, _ = _call(t, "Value", V_, 2.0)
    leaf.grad = 0.5
    _call(t, "Value", leaf._backward)
    t.require(leaf.data == 2.0 and leaf.grad == 0.5, "a leaf's _backward changed the leaf")
    for case in _RULE_CASES:
        _rule_case(t, V_, *case)
    t.case("every rule in one graph: s = x1·w1, z = s + b, h = relu(z), n = h·w2 + x2·s, "
           "o = tanh(n), L = o·o + h; the reference backward runs your rules")
    loss, pairs = t.call(_value_graph, V_)
    t.call(_reference_backward, loss)
    ref_loss, ref_pairs = _value_graph(V)
    _reference_backward(ref_loss)
    order = [name for name, _ in reversed(pairs)]
    got = {name: node.grad for name, node in pairs}
    right = {name: node.grad for name, node in ref_pairs}
    t.compare([got[n] for n in order], [right[n] for n in order], what="grad of {}",
              names=order, rtol=1e-9, atol=1e-12)


# ---- graphs for tasks 2 and 3 ------------------------------------------------------------------
def _leaf():
    x = V(1.0)
    return x, [("x", x)]


def _twice():
    a = V(3.0)
    loss = a + a
    return loss, [("a", a), ("L = a + a", loss)]


def _shared():
    x = V(1.5)
    two, one = V(2.0), V(1.0)
    u = x * two
    m = u + one
    loss = u * m
    return loss, [("x", x), ("the constant 2", two), ("u = 2x", u), ("the constant 1", one),
                  ("m = u + 1", m), ("L = u·m", loss)]


def _neuron():
    x1, w1, x2, w2, b = (V(v) for v in (1.5, 0.8, -0.5, -1.2, 0.1))
    p1, p2 = x1 * w1, x2 * w2
    s = p1 + p2
    n = s + b
    h = n.relu()
    o = h.tanh()
    half = V(-0.5)
    d = o + half
    loss = d * d
    return loss, [("x1", x1), ("w1", w1), ("x2", x2), ("w2", w2), ("b", b),
                  ("x1·w1", p1), ("x2·w2", p2), ("x1·w1 + x2·w2", s), ("n = … + b", n),
                  ("h = relu(n)", h), ("o = tanh(h)", o), ("the constant −0.5", half),
                  ("d = o − 0.5", d), ("L = d·d", loss)]


def _diamond():
    a, b = V(0.5), V(-1.5)
    c = a + b
    d = c * c
    e = d + c
    loss = e.tanh()
    return loss, [("a", a), ("b", b), ("c = a + b", c), ("d = c·c", d), ("e = d + c", e),
                  ("L = tanh(e)", loss)]


def _chain(depth=10_000):
    x = V(1.0)
    v, pairs = x, [("x", x)]
    for i in range(depth):
        step = V(0.5)
        v = v + step
        pairs += [(f"the constant 0.5 of step {i + 1}", step), (f"v{i + 1}", v)]
    return v, pairs


_GRAPHS = [
    ("a single leaf x", _leaf),
    ("L = a + a (one node uses a twice)", _twice),
    ("u = 2x, m = u + 1, L = u·m (u is used by two nodes)", _shared),
    ("a neuron: n = x1·w1 + x2·w2 + b, h = relu(n), o = tanh(h), d = o − 0.5, L = d·d", _neuron),
    ("a diamond: c = a + b, d = c·c, e = d + c, L = tanh(e)", _diamond),
]
_DEEP = ("a chain 10,000 additions deep: v(i+1) = v(i) + 0.5", _chain)


def _breadth_first(root):
    """The nodes in the order a breadth-first walk from the output meets them."""
    order, seen, k = [root], {root}, 0
    while k < len(order):
        for child in order[k]._prev:
            if child not in seen:
                seen.add(child)
                order.append(child)
        k += 1
    return order


def _same_nodes(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _inputs_first(order):
    position = {id(n): i for i, n in enumerate(order)}
    return all(position[id(c)] < position[id(n)] for n in order for c in n._prev)


# ---- task 2: topo_order ----------------------------------------------------------------------
@exercise.task(
    "topo_order",
    goal="every node of the graph, each one after all of its inputs, without recursion",
    hint="Visit the graph depth-first from the root, keeping the nodes still to be finished on a "
         "stack of your own. A node is listed once all of its inputs are listed, and a node "
         "already visited is not visited again.",
    hints={"recursion": ("a function that calls itself (recursion)",
                         "Python allows only about a thousand nested calls, and a graph can be "
                         "much deeper. Keep the nodes still to be finished on a list you manage "
                         "yourself (a stack), and loop until it is empty."),
           "duplicates": ("a node listed more than once",
                          "A node can be reached along several paths (or twice from the same "
                          "node, as a in a + a). Remember which nodes you have visited and list "
                          "each one once."),
           "reversed": ("the right order, reversed: the output first",
                        "List each node *after* its inputs, so the output comes last; backward "
                        "walks the list in reverse."),
           "breadth_first": ("a breadth-first order",
                             "A breadth-first walk lists a node as soon as it meets it, possibly "
                             "before every node that uses it has been met: in u = 2x, "
                             "m = u + 1, L = u·m it places u wrongly relative to m. A node must "
                             "wait for all of its inputs: search depth-first, and list a node "
                             "when its inputs are done."),
           "used_library": _BY_HAND},
    time_limit=15.0,
    reference=_reference_topo_order)
def _check_topo_order(t, answer):
    for description, make in _GRAPHS + [_DEEP]:
        t.case(description)
        root, pairs = make()
        got, problem = _call(t, "topo_order", answer, root)
        if problem is not None:
            t.fail(f"your code calls itself: {problem[1]} calls {problem[1]}", "recursion")
        _validate_order(t, got, root, _names(pairs))


def _validate_order(t, got, root, names):
    if not isinstance(got, (list, tuple)):
        t.fail(f"topo_order returned {'None' if got is None else 'a ' + type(got).__name__}; it "
               "should return a list of the graph's nodes",
               hint="Collect the nodes in a list and return it.")
    nodes = _reference_topo_order(root)
    known = {id(n) for n in nodes}
    counts = {}
    for item in got:
        if id(item) not in known:
            t.fail(f"your list holds {item!r}, which is not a node of this graph",
                   hint="List the Value nodes themselves: the root and everything in the _prev "
                        "of the nodes you meet.")
        counts[id(item)] = counts.get(id(item), 0) + 1
    for n in nodes:
        if counts.get(id(n), 0) > 1:
            t.fail(f"{_name(names, n)} is listed {counts[id(n)]} times", "duplicates")
    for n in nodes:
        if id(n) not in counts:
            t.fail(f"{_name(names, n)} is missing ({len(got)} of the graph's {len(nodes)} nodes "
                   "are listed)")
    got = list(got)
    if _inputs_first(got):
        return
    if _inputs_first(got[::-1]):
        t.fail(f"the list starts with {_name(names, got[0])}, the output, before the nodes it "
               "was computed from", "reversed")
    position = {id(n): i for i, n in enumerate(got)}
    for i, n in enumerate(got):
        late = [c for c in n._prev if position[id(c)] > i]
        if late:
            c = late[0]
            bfs = _breadth_first(root)
            key = ("breadth_first" if _same_nodes(got, bfs) or _same_nodes(got, bfs[::-1])
                   else None)
            t.fail(f"{_name(names, n)} is listed at position {i}, before its input "
                   f"{_name(names, c)} (position {position[id(c)]})", key)


# ---- task 3: backward --------------------------------------------------------------------------
def _run_in(order_fn, root):
    root.grad = 1.0
    for v in order_fn(root):
        v._backward()


def _with_leaf_grads(make, grads):
    def build():
        root, pairs = make()
        for name, node in pairs:
            if name in grads:
                node.grad = grads[name]
        return root, pairs
    return build


@exercise.task(
    "backward", goal="the backward pass: seed ∂L/∂L = 1, then every node's rule, outputs first",
    hint="Two things: the output's own gradient starts as ∂L/∂L, and each node's _backward runs "
         "only after every node that uses it has run: your topo_order, walked from its end.",
    hints={"zeros": ("no gradient ever started flowing",
                     "Every gradient is still zero. The rules multiply by the node's own .grad; "
                     "what is the very first one, ∂L/∂L?"),
           "not_reversed": ("the rules run inputs first",
                            "topo_order lists every node after its inputs. Backward needs the "
                            "opposite: a node's rule may run only when its gradient is "
                            "complete, after every node that uses it. Walk the list from its "
                            "end."),
           "breadth_first": ("the rules run breadth-first from the output",
                             "A breadth-first walk runs a shared node as soon as it meets it, "
                             "before every node that uses it has added its share. Use the "
                             "topological order."),
           "reset_grads": ("the gradients cleared inside backward",
                           "backward adds into .grad and never clears it (a leaf may hold a "
                           "gradient from another loss on purpose). Clearing is the training "
                           "loop's job: zero_grad."),
           "used_library": _BY_HAND},
    time_limit=15.0,
    reference=_reference_backward)
def _check_backward(t, answer):
    cases = list(_GRAPHS[1:]) + [
        ("the neuron again, but w1.grad = 0.5 and b.grad = −1 already hold gradients from an "
         "earlier loss", _with_leaf_grads(_neuron, {"w1": 0.5, "b": -1.0})),
        _DEEP]
    for description, make in cases:
        t.case(description)
        root, pairs = make()
        _call(t, "backward", answer, root)
        ref_root, ref_pairs = make()
        _reference_backward(ref_root)
        alternatives = []
        for key, order_fn in (("not_reversed", _reference_topo_order),
                              ("breadth_first", _breadth_first)):
            alt_root, alt_pairs = make()
            _run_in(order_fn, alt_root)
            alternatives.append((key, alt_pairs))
        zeroed_root, zeroed_pairs = _with_leaf_grads(make, {n: 0.0 for n, _ in pairs})()
        _reference_backward(zeroed_root)
        alternatives.append(("reset_grads", zeroed_pairs))
        ref_names = _names(ref_pairs)
        order = [_name(ref_names, n) for n in _graph_order(ref_root)     # the output first,
                 if not _name(ref_names, n).startswith("the constant")]  # constants left out

        def grads(ps):
            by_name = dict(ps)
            return [by_name[n].grad for n in order]
        t.compare(grads(pairs), grads(ref_pairs), what="grad of {}", names=order,
                  rtol=1e-9, atol=1e-12, alternatives=[(k, grads(ps)) for k, ps in alternatives])


# ---- task 4: train_step -------------------------------------------------------------------------
class _Neuron:
    """tanh(w · x + b) for x of two numbers."""

    def __init__(self, w, b):
        self.w, self.b = [V(v) for v in w], V(b)

    def __call__(self, x):
        return (self.w[0] * x[0] + self.w[1] * x[1] + self.b).tanh()

    def parameters(self):
        return [*self.w, self.b]

    names = ["w[0]", "w[1]", "b"]


class _TinyMLP:
    """relu(W1 x + b1) → w2 · h + b2 for x of two numbers, three hidden units, no tanh."""

    def __init__(self, W1, b1, w2, b2):
        self.W1 = [[V(v) for v in row] for row in W1]
        self.b1, self.w2, self.b2 = [V(v) for v in b1], [V(v) for v in w2], V(b2)

    def __call__(self, x):
        h = [(row[0] * x[0] + row[1] * x[1] + b).relu() for row, b in zip(self.W1, self.b1)]
        return self.w2[0] * h[0] + self.w2[1] * h[1] + self.w2[2] * h[2] + self.b2

    def parameters(self):
        return [*self.W1[0], *self.W1[1], *self.W1[2], *self.b1, *self.w2, self.b2]

    names = ["W1[0][0]", "W1[0][1]", "W1[1][0]", "W1[1][1]", "W1[2][0]", "W1[2][1]",
             "b1[0]", "b1[1]", "b1[2]", "w2[0]", "w2[1]", "w2[2]", "b2"]


_MODELS = [
    ("a single neuron tanh(w·x + b), 3 samples, lr = 0.5",
     lambda: _Neuron([0.3, -0.6], 0.1),
     [(0.5, -1.0), (1.5, 0.2), (-0.7, 0.4)], [1.0, -1.0, 0.5], 0.5),
    ("a 2 → 3 (relu) → 1 network, 4 samples, lr = 0.1",
     lambda: _TinyMLP([[0.5, -0.4], [-0.3, 0.8], [0.9, 0.2]], [0.1, -0.2, 0.05],
                      [0.7, -0.5, 0.4], -0.1),
     [(1.0, 0.5), (-0.5, 1.5), (0.3, -1.2), (-1.1, -0.4)], [0.8, -0.3, 0.5, 1.2], 0.1),
]


def _variant_step(model, xs, ys, lr, zero=True, mean=True, sign=-1.0):
    params = model.parameters()
    if zero:
        for p in params:
            p.grad = 0.0
    loss = 0.0
    for x, y in zip(xs, ys):
        d = model(x) - y
        loss = loss + d * d
    if mean:
        loss = loss * (1.0 / len(xs))
    _reference_backward(loss)
    for p in params:
        p.data += sign * lr * p.grad
    return loss.data


_VARIANTS = (("forgot_zero_grad", dict(zero=False)), ("sum_not_mean", dict(mean=False)),
             ("ascent", dict(sign=1.0)))
_STALE = 0.3          # every parameter starts with this .grad, left over from an earlier step


def _fresh(make):
    model = make()
    for p in model.parameters():
        p.grad = _STALE
    return model


@exercise.task(
    "train_step", goal="one step of gradient descent on the mean squared error, on your engine",
    hint="In order: clear every parameter's .grad, build the loss as the mean of (model(x) − y)² "
         "over the samples, run backward on it, then move every parameter's .data against its "
         "gradient, scaled by lr. Return the loss's number.",
    hints={"forgot_zero_grad": ("a forgotten zero_grad: old gradients are still added in",
                                "backward adds into .grad. Before this step's backward, every "
                                "parameter still holds the gradient of an earlier step; set each "
                                "one back to 0 first (bug 3)."),
           "sum_not_mean": ("the loss summed over the samples instead of averaged",
                            "The mean squared error divides the sum by the number of samples; "
                            "without it the loss, and every gradient, is that many times too "
                            "large."),
           "ascent": ("a step up the loss instead of down",
                      "The gradient points where the loss grows. Gradient descent moves each "
                      "parameter the opposite way."),
           "not_updated": ("the parameters left where they were",
                           "Change each parameter's .data in place; the model keeps the same "
                           "Value objects, so new Values would not be seen by it."),
           "used_library": _BY_HAND},
    time_limit=15.0,
    reference=_reference_train_step)
def _check_train_step(t, answer):
    for description, make, xs, ys, lr in _MODELS:
        mine, right = _fresh(make), _fresh(make)
        wrong = [(key, _fresh(make), options) for key, options in _VARIANTS]
        start = [p.data for p in right.parameters()]
        for step in range(1, 4):
            t.case(f"{description}: step {step} (every .grad holds {_STALE:g} from an earlier step "
                   "before step 1)")
            params = mine.parameters()
            loss, _ = _call(t, "train_step", answer, mine, xs, ys, lr)
            expected = _reference_train_step(right, xs, ys, lr)
            alt_losses = [(key, _variant_step(m, xs, ys, lr, **options))
                          for key, m, options in wrong]
            t.compare(loss, expected, what="the returned loss", rtol=1e-9, atol=1e-12,
                      alternatives=alt_losses)
            t.require(all(p is q for p, q in zip(params, mine.parameters())),
                      "train_step replaced the model's parameters with other objects",
                      "not_updated")
            got = [p.data for p in mine.parameters()]
            alternatives = [(key, [p.data for p in m.parameters()]) for key, m, _ in wrong]
            alternatives.append(("not_updated", start if step == 1 else None))
            t.compare(got, [p.data for p in right.parameters()], what="parameter {} after the step",
                      names=mine.names, rtol=1e-9, atol=1e-12, alternatives=alternatives)


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
