"""Exercise 3 (chapter 3): more backward rules, and Kahn's order for the backward pass.

Notebook 3 has the learner write the rules of ``+ · tanh relu``, a depth-first topological sort
and a backward pass on their own ``Value``. This exercise asks for transfer to a second engine,
:class:`autogradkit.exercises.scalar.Value` (micrograd's design: each op leaves a ``_backward``
closure behind):

* the rules of ``a − b``, ``a / b`` and ``exp(a)``;
* Kahn's dependency counting — the way autogradkit's own engine orders its backward pass
  (``autograd/engine.py``): count every node's consumers, then run a node once all of them have
  run — and a backward pass built on it.

The right answers come from the prewritten engine (its rules and its ``backward``) on an identical
copy of each graph; an answer that calls that engine's rules or its ``backward`` fails with a
message saying the task is to write it by hand.
"""
from __future__ import annotations

import math

from . import guards, scalar
from .compare import fmt
from .core import Exercise
from .scalar import Value

exercise = Exercise("ex3_backward", "Exercise 3: more rules, and Kahn's order for backward",
                    chapter=3)


# ---- the prewritten engine must not do the work -----------------------------------------------
def _closures(code):
    """Every ``_backward`` closure's code object defined inside ``code``."""
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            if const.co_name == "_backward":
                yield const
            yield from _closures(const)


_RULE_CODES = {id(c): c for name, fn in vars(Value).items() if hasattr(fn, "__code__")
               for c in _closures(fn.__code__)}
_PASS_CODES = {id(f.__code__): f.__code__ for f in (scalar.backward, scalar.topological_order)}


def _watched(fn, forbidden):
    """``fn`` wrapped to return ``(value, the first forbidden code object it ran, or None)``."""
    def run(*args):
        hits = []
        value = guards.watching_code(fn, forbidden, hits)(*args)
        return value, (hits[0] if hits else None)
    return run


def _engine_name(code):
    name = code.co_qualname.replace(".<locals>.", "'s ")
    return f"scalar.{name}"


def _by_hand(t, used, what):
    if used == guards.SWITCHED_OFF:
        t.fail(f"your {what} called {used}, which switches off the check that it does not call "
               "the prewritten engine: the task is to write it by hand", "used_engine")
    if used is not None:
        t.fail(f"your {what} called the prewritten engine's {_engine_name(used)}: the task is to "
               "write it by hand", "used_engine")


# ---- tasks 1-3: backward rules -----------------------------------------------------------------
_USED_ENGINE_RULE = ("the engine's own rule doing the work",
                     "The Values were built by the prewritten engine, and out._backward() would "
                     "apply its rule for you — the task is to write the rule yourself. Work out "
                     "the local derivatives, then add local derivative × out.grad into each "
                     "input's .grad.")
_UPSTREAM = ("the local derivative alone, without the upstream gradient",
             "The chain rule has two factors: the op's local derivative and ȳ = out.grad, the "
             "gradient that arrived from above. Your rule passes on only the first.")
_NO_UPDATE = ("the inputs' gradients left unchanged",
              "A rule returns nothing: it stores its result by adding it into the inputs' .grad.")
_ACCUMULATE = ("a missing accumulation (= where += is needed)",
               "An input's .grad may already hold gradient from its other uses — and in a − a or "
               "a / a both inputs are the same node. Assigning keeps only the last contribution; "
               "the chain rule adds them all.")
_RULE_HINTS = {"used_engine": _USED_ENGINE_RULE, "forgot_upstream": _UPSTREAM,
               "no_update": _NO_UPDATE, "missing_accumulation": _ACCUMULATE}

# op -> (how the output is made, the right local derivatives, {mistake: wrong local derivatives}).
# Local derivatives are functions of (the inputs' data …, out.data); they describe what a rule
# with that mistake would add (times out.grad) into each input's grad.
_OPS = {
    "-": (lambda a, b: a - b,
          lambda a, b, out: (1.0, -1.0),
          {"sub_sign": lambda a, b, out: (1.0, 1.0)}),
    "/": (lambda a, b: a / b,
          lambda a, b, out: (1 / b, -a / b ** 2),
          {"quotient_sign": lambda a, b, out: (1 / b, a / b ** 2),
           "missing_square": lambda a, b, out: (1 / b, -a / b),
           "as_product": lambda a, b, out: (b, a),
           "swapped": lambda a, b, out: (-a / b ** 2, 1 / b)}),
    "exp": (lambda a: a.exp(),
            lambda a, out: (out,),
            {"input_value": lambda a, out: (a,),
             "power_rule": lambda a, out: (a * math.exp(a - 1),),
             "exp_of_output": lambda a, out: (math.exp(out),)}),
}


def _rule_cases(op):
    """(description, make) pairs; make() -> (inputs, out) with the gradients already set."""
    build = _OPS[op][0]

    def case(values, grads, upstream, same=False):
        def make():
            a = Value(values[0], label="a")
            if op == "exp":
                inputs = (a,)
            else:
                inputs = (a, a) if same else (a, Value(values[1], label="b"))
            out = build(*inputs)
            out.label = "out"
            for v, g in zip(inputs, grads):
                v.grad = g
            out.grad = upstream
            return inputs, out
        return make

    if op == "exp":
        return [("out = exp(a) with a = 0.5, out.grad = 1.5, a.grad = 0",
                 case((0.5,), (0.0,), 1.5)),
                ("out = exp(a) with a = −1.2, out.grad = −2; a.grad = 0.25 already holds a "
                 "gradient from another use of a", case((-1.2,), (0.25,), -2.0))]
    sym = "−" if op == "-" else "/"
    first = (3.0, -2.0) if op == "/" else (2.0, -3.0)
    return [(f"out = a {sym} b with a = {first[0]:g}, b = {first[1]:g}, out.grad = 1.5, "
             "a.grad = b.grad = 0".replace("-", "−"), case(first, (0.0, 0.0), 1.5)),
            (f"out = a {sym} b with a = 0.5, b = 4, out.grad = −2; a.grad = 0.25 and b.grad = −1 "
             "already hold gradients from other uses", case((0.5, 4.0), (0.25, -1.0), -2.0)),
            (f"out = a {sym} a (one node used twice) with a = −1.5, out.grad = 2; a.grad = 0.75 "
             "already holds a gradient from another use", case((-1.5,), (0.75,), 2.0, same=True))]


def _simulate(make, local, assign=False, upstream=True):
    """The gradients a rule adding ``local`` derivatives (× out.grad) would leave behind."""
    inputs, out = make()
    g = out.grad if upstream else 1.0
    derivatives = local(*(v.data for v in inputs), out.data)
    for node, d in zip(inputs, derivatives):
        node.grad = d * g if assign else node.grad + d * g
    return [v.grad for v in inputs]


def _rule_check(t, answer, op):
    watched = _watched(answer, _RULE_CODES)
    for description, make in _rule_cases(op):
        t.case(description)
        inputs, out = make()
        data_before = [v.data for v in inputs]
        before = [v.grad for v in inputs]
        out_before = (out.data, out.grad)
        _, used = t.call(watched, *inputs, out)
        _judge_rule(t, op, make, used, inputs, out, data_before, before, out_before)


def _judge_rule(t, op, make, used, inputs, out, data_before, before, out_before):
    """After the learner's rule ran: the right gradients (the engine's rule on an identical copy
    of the graph) and the known wrong ones, computed only now, in a frame of their own — so no
    frame the learner's code could look into held them."""
    _, right_local, mistakes = _OPS[op]
    _by_hand(t, used, "rule")
    if (out.data, out.grad) != out_before or [v.data for v in inputs] != data_before:
        t.fail("your rule changed a value's .data or out.grad: a rule only reads them and "
               "adds into the inputs' .grad")
    ref_inputs, ref_out = make()
    ref_out._backward()
    right = [v.grad for v in ref_inputs]
    wrong = [(key, _simulate(make, fn)) for key, fn in mistakes.items()]
    wrong += [("missing_accumulation", _simulate(make, right_local, assign=True)),
              ("forgot_upstream", _simulate(make, right_local, upstream=False))]
    got = [v.grad for v in inputs]
    names = [v.label for v in inputs]
    if len(inputs) == 2 and inputs[0] is inputs[1]:
        got, right, names, before = got[:1], right[:1], names[:1], before[:1]
        wrong = [(k, w[:1]) for k, w in wrong]
    numbers = all(type(g) in (int, float) for g in got)   # no learner __eq__ runs beside right
    if numbers and got == before and got != right:
        t.fail(f"{names[0]}.grad is still {fmt(before[0])} after your rule ran", "no_update")
    t.compare(got, right, what="{}.grad", names=names, rtol=1e-9, atol=1e-12,
              alternatives=wrong)


@exercise.task(
    "sub_backward", goal="the backward rule of out = a − b (add into a.grad and b.grad)",
    hint="Write down ∂out/∂a and ∂out/∂b for a difference, then apply the chain rule: each "
         "input's gradient grows by its local derivative times ȳ = out.grad.",
    hints=dict(_RULE_HINTS,
               sub_sign=("the rule of a + b: the minus sign lost",
                         "Both inputs received the same gradient. Nudge b up by a little: does "
                         "out = a − b go up or down? The local derivative with respect to b has "
                         "that sign.")))
def _check_sub(t, answer):
    _rule_check(t, answer, "-")


@exercise.task(
    "div_backward", goal="the backward rule of out = a / b",
    hint="Write a / b as a · b⁻¹. ∂out/∂a is then read off directly; for ∂out/∂b use the power "
         "rule on b⁻¹. Each input's gradient grows by its local derivative times ȳ = out.grad.",
    hints=dict(_RULE_HINTS,
               quotient_sign=("∂(a/b)/∂b with the wrong sign",
                              "b.grad has the right size but the wrong sign. Making the "
                              "denominator larger makes a positive quotient smaller: the "
                              "derivative of b⁻¹ is negative."),
               missing_square=("∂(a/b)/∂b without the square",
                               "Differentiate b⁻¹ with the power rule: the exponent drops by "
                               "one, from −1 to −2."),
               as_product=("the rule of a · b",
                           "These are the local derivatives of a product, where each factor's "
                           "derivative is the other factor. Dividing by b is multiplying by "
                           "b⁻¹, not by b."),
               swapped=("the two local derivatives swapped",
                        "a.grad got the local derivative that belongs to b, and the other way "
                        "round. Which of the two does the numerator appear in linearly?")))
def _check_div(t, answer):
    _rule_check(t, answer, "/")


@exercise.task(
    "exp_backward", goal="the backward rule of out = exp(a)",
    hint="d eᵃ/da is a function you already have a number for: the output node holds it. Then "
         "apply the chain rule with ȳ = out.grad.",
    hints=dict(_RULE_HINTS,
               input_value=("the input's value used as the local derivative",
                            "The local derivative of eᵃ is not a: look at what the exponential "
                            "function's derivative is, and which node already holds that number."),
               power_rule=("the power rule applied to eᵃ",
                           "The power rule d/dx xⁿ = n xⁿ⁻¹ is for a variable base and a "
                           "constant exponent. In eᵃ the exponent is the variable."),
               exp_of_output=("exp applied twice",
                              "out.data is already eᵃ; taking exp of it once more gives e^(eᵃ).")))
def _check_exp(t, answer):
    _rule_check(t, answer, "exp")


# ---- graphs for tasks 4 and 5 ------------------------------------------------------------------
def _named(node, label):
    node.label = label
    return node


def _shared():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = _named(a + b, "c")
    return _named(c + _named(c * c, "c·c"), "L")


def _neuron():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    x2, w2 = Value(0.5, label="x2"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    s = _named(_named(x1 * w1, "x1·w1") + _named(x2 * w2, "x2·w2"), "x1·w1 + x2·w2")
    return _named(_named(s + b, "n").tanh(), "L")


def _reuse():
    a = Value(-2.0, label="a")
    return _named(_named(a * a, "a·a") + _named(a * Value(3.0, label="3"), "3a"), "L")


def _softish():
    a, b = Value(0.5, label="a"), Value(-1.0, label="b")
    u = _named(_named(a - b, "a − b").exp(), "u")
    return _named(_named(u + b, "u + b") / u, "L")      # L's inputs: u's consumer, then u


def _leaf_with_grad():
    w = Value(1.5, label="w")
    w.grad = 0.5                                   # left over from an earlier backward
    return _named(_named(w * w, "w·w") - w, "L")


def _chain(n):
    node = Value(0.5, label="x0")
    for i in range(1, n):
        node = _named(node + Value(1.0, label=f"c{i}"), f"x{i}")
    return node


_SHARED = ("c = a + b, L = c + c·c (c used three times)", _shared)
_GRAPHS = [_SHARED,
           ("a neuron, L = tanh(x1·w1 + x2·w2 + b)", _neuron),
           ("a node used twice by one op, L = a·a + 3a", _reuse),
           ("u = exp(a − b), L = (u + b) / u", _softish)]
_DEEP = ("a chain of 5,000 additions, x(i) = x(i−1) + c(i)", lambda: _chain(5000))


def _nodes(root):
    """Every node, root first, each before its inputs (the checks' own order, for reports)."""
    return list(reversed(scalar.topological_order(root)))


def _edge_counts(nodes):
    counts = {id(n): 0 for n in nodes}
    for n in nodes:
        for child in n._prev:
            counts[id(child)] += 1
    return counts


# ---- task 4 -----------------------------------------------------------------------------------
_USED_ENGINE_PASS = ("the engine's own graph walk doing the work",
                     "The task is to walk the graph yourself. Keep a list of nodes still to "
                     "visit (a stack) and a record of the nodes you have already seen.")


@exercise.task(
    "consumer_counts",
    goal="for every node of a graph, how many times other nodes use it as an input",
    hint="Walk the graph from the root with a stack you manage yourself. Each time you look at "
         "a node's inputs, every input slot is one use: count it, and put an input on the stack "
         "only the first time you meet it.",
    hints={"used_engine": _USED_ENGINE_PASS,
           "counted_once": ("every count 1: = where += is needed",
                            "Every node you counted has the count 1, even a node used several "
                            "times. A count must grow by one with each use you find."),
           "per_consumer": ("one count per consumer, not per use",
                            "In a·a the node a fills both input slots of one op: that op will "
                            "send it two gradients, so it counts twice. Count input slots, not "
                            "distinct consumers."),
           "walked_twice": ("a node's inputs counted again each time the node is reached",
                            "A node reached along several paths was expanded once per path, so "
                            "the uses below it were counted several times. Expand each node once: "
                            "remember which nodes are already on your stack or done."),
           "root_missing": ("the root left out",
                            "Every node reachable from the root needs an entry — the root too, "
                            "with 0: nothing in the graph uses it.")},
    time_limit=10.0)
def _check_consumer_counts(t, answer):
    watched = _watched(answer, _PASS_CODES)
    for description, make in _GRAPHS + [_DEEP]:
        t.case(description)
        root = make()
        got, used = t.call(watched, root)
        _by_hand(t, used, "function")
        nodes = _nodes(root)
        if not isinstance(got, dict):
            t.fail(f"expected a dict {{node: count}}, got a {type(got).__name__}",
                   hint="Return a dict whose keys are the graph's Value nodes and whose values "
                        "are their counts.")
        known = {id(n) for n in nodes}
        for key in got:
            if not isinstance(key, Value):
                t.fail(f"your dict has the key {key!r}; its keys should be the graph's Value "
                       "nodes themselves")
            if id(key) not in known:
                t.fail(f"your dict holds a node that is not in the graph: {key!r}")
        if root not in got:
            t.fail(f"the root {root.label!r} is missing from your counts", "root_missing")
        for n in nodes:
            if n not in got:
                t.fail(f"node {n.label!r} is missing from your counts ({len(got)} of "
                       f"{len(nodes)} nodes there)")
        right = _edge_counts(nodes)
        distinct = {id(n): 0 for n in nodes}
        paths = {id(n): 0 for n in nodes}
        walked = {id(n): 0 for n in nodes}
        paths[id(root)] = 1
        for n in nodes:                            # root first: a node's paths are complete
            for child in set(n._prev):
                distinct[id(child)] += 1
            for child in n._prev:
                paths[id(child)] += paths[id(n)]
                walked[id(child)] += paths[id(n)]
        once = [0 if n is root else 1 for n in nodes]
        t.compare([got[n] for n in nodes], [right[id(n)] for n in nodes],
                  what="count of node {!r}", names=[n.label for n in nodes], rtol=0, atol=0,
                  alternatives=[("counted_once", once),
                                ("per_consumer", [distinct[id(n)] for n in nodes]),
                                ("walked_twice", [walked[id(n)] for n in nodes])])


# ---- task 5 -----------------------------------------------------------------------------------
@exercise.task(
    "backward",
    goal="the backward pass in Kahn's order: run a node once all its consumers have run",
    hint="Start from ∂L/∂L = 1 at the root. Keep a list of nodes that are ready — every consumer "
         "has run. Run one (its _backward), then tell each of its inputs that one more use is "
         "done; an input whose count of outstanding uses reaches 0 becomes ready.",
    hints={"used_engine": ("the prewritten engine's backward doing the work",
                           "This task is to write the backward pass by hand, in Kahn's order, "
                           "using your consumer_counts: call each node's own _backward, but not "
                           "the engine's backward or topological_order."),
           "zeros": ("no gradient ever started flowing",
                     "Every gradient is still zero. The chain rule multiplies upstream "
                     "gradients; what is the very first upstream gradient, ∂L/∂L?"),
           "before_consumers": ("a node ran before all its consumers",
                                "A node passed its gradient on before every node that uses it "
                                "had added its share, so the gradient it passed on was "
                                "incomplete. A node is ready only when its count of uses still "
                                "to come has reached 0 — not when it is first reached."),
           "forward_order": ("the nodes run inputs first (the forward order)",
                             "Your nodes ran in the order the forward pass computed them. "
                             "Backward starts at the root and runs each node after the nodes "
                             "that use it."),
           "ran_twice": ("a node run more than once",
                         "Each run adds the node's gradient into its inputs again. A node "
                         "reached along several paths must still run once: when its last use "
                         "is done."),
           "never_ran": ("a node that never ran",
                         "Some node's count of outstanding uses never reached 0, so it never "
                         "became ready. Take one off its count for every input slot it fills — "
                         "in a·a that is twice."),
           "cleared_grads": ("gradients cleared by backward",
                             "A leaf's .grad held 0.5 from an earlier backward, and backward "
                             "must add to it, as autograd does. Clearing old gradients is "
                             "zero_grad's job, not backward's.")},
    time_limit=10.0)
def _check_backward(t, answer):
    watched = _watched(answer, _PASS_CODES)
    cases = _GRAPHS + [("a leaf that already holds a gradient: w.grad = 0.5, L = w·w − w",
                        _leaf_with_grad), _DEEP]
    for description, make in cases:
        t.case(description)
        root = make()
        nodes = _nodes(root)
        held = [n.grad for n in nodes]             # gradients held before backward ran
        runs = _record_runs(nodes)
        _, used = t.call(watched, root)
        _by_hand(t, used, "backward")
        ref = make()
        scalar.backward(ref)
        ref_nodes = _nodes(ref)
        right = {id(n): r.grad for n, r in zip(nodes, ref_nodes)}
        _check_runs(t, runs, nodes, right)
        cleared = [r.grad - h for r, h in zip(ref_nodes, held)]
        t.compare([n.grad for n in nodes], [r.grad for r in ref_nodes], what="grad of node {!r}",
                  names=[n.label for n in nodes], rtol=1e-9, atol=1e-12,
                  alternatives=[("cleared_grads", cleared)])


def _record_runs(nodes):
    """Replace every node's _backward by one that also records (node, node.grad) when it runs."""
    runs = []
    for n in nodes:
        def recorded(n=n, rule=n._backward):
            runs.append((n, n.grad))
            rule()
        n._backward = recorded
    return runs


def _check_runs(t, runs, nodes, right):
    """Each op node must run once, after every node that uses it (leaves' runs do nothing)."""
    if not runs:
        return                                     # rules applied some other way: grads decide
    consumers = {id(n): [] for n in nodes}
    for n in nodes:
        for child in dict.fromkeys(n._prev):
            consumers[id(child)].append(n)
    ops = [(n, g) for n, g in runs if n._prev]
    ran = set()
    for node, grad_then in ops:
        if id(node) in ran:
            t.fail(f"node {node.label!r} ran twice", "ran_twice")
        waiting = [m for m in consumers[id(node)] if id(m) not in ran]
        if waiting:
            position = {id(n): i for i, (n, _) in enumerate(ops)}
            forward = all(position.get(id(c), -1) < position[id(n)]
                          for n, _ in ops for c in n._prev if c._prev)
            t.fail(f"node {node.label!r} ran before its consumer {waiting[0].label!r}: "
                   f"{node.label}.grad was {fmt(grad_then, right[id(node)])} when it passed it on, "
                   f"but ∂L/∂{node.label} = {fmt(right[id(node)], grad_then)}",
                   "forward_order" if forward and len(ops) > 1 else "before_consumers")
        ran.add(id(node))
    for n in nodes:
        if n._prev and id(n) not in ran:
            t.fail(f"node {n.label!r} never ran, so its inputs got nothing from it", "never_ran")


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
