"""Exercise 2 (chapter 2): the chain rule on computational graphs."""
from __future__ import annotations

import math

from .core import Exercise

exercise = Exercise("ex2_chain_rule", "Exercise 2: the chain rule and computational graphs", chapter=2)


def _dict_answer(t, got, keys, what):
    """The learner's dict of gradients (a plain copy), with every key present; stops the check
    otherwise."""
    got = t.plain_dict(got)
    if not isinstance(got, dict):
        t.fail(f"expected a dict with keys {', '.join(map(repr, keys))}, got a {type(got).__name__}",
               hint=f"Return a dict that maps each {what} name to its number.")
    missing = [k for k in keys if k not in got]
    if missing:
        t.fail(f"your dict has no entry for {missing[0]!r} (it needs {', '.join(map(repr, keys))})")
    return got


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "grad_sin_square", goal="dL/dx for L = sin(u), u = x², by the chain rule",
    hint="Split L into its two steps, u = x² and L = sin(u). Take each step's local derivative, "
         "then combine them as the chain rule says.",
    hints={"missing_inner": ("only the outer derivative",
                             "You differentiated sin but not what is inside it: the inner step "
                             "u = x² has a local derivative of its own."),
           "missing_outer": ("only the inner derivative",
                             "You differentiated x² but not the sin wrapped around it."),
           "outer_not_differentiated": ("sin where its derivative belongs",
                                        "The outer step appears as sin itself, not as its "
                                        "derivative.")})
def _check_sin_square(t, answer):
    for x in (0.7, -1.2, 2.0, 0.0):
        t.case(f"x = {x:g}")
        got = t.call(answer, x)
        u = x * x
        t.compare(got, 2 * x * math.cos(u), what=f"dL/dx at x = {x:g}", rtol=1e-9, atol=1e-12,
                  alternatives={"missing_inner": math.cos(u), "missing_outer": 2 * x,
                                "outer_not_differentiated": 2 * x * math.sin(u)})


# ---- task 2 -----------------------------------------------------------------------------------
@exercise.task(
    "neuron_grads", goal="∂L/∂w, ∂L/∂x and ∂L/∂b for one neuron, L = tanh(w·x + b)",
    hint="Name the middle node z = w·x + b. Find ∂L/∂z first; then each of w, x and b is one "
         "more local derivative away.",
    hints={"tanh_of_wrong_node": ("tanh′ evaluated on the wrong node",
                                  "The derivative of tanh at z is written with tanh(z) itself. "
                                  "Check which node's value you used in it."),
           "swapped_inputs": ("the local derivatives of w and x swapped",
                              "For a product, the local derivative with respect to one factor "
                              "is built from the *other* factor.")})
def _check_neuron(t, answer):
    for w, x, b in ((0.5, -1.5, 0.2), (-2.0, 0.3, 1.0), (1.5, 2.0, -0.5)):
        t.case(f"w = {w:g}, x = {x:g}, b = {b:g}")
        got = _dict_answer(t, t.call(answer, w, x, b), ("w", "x", "b"), "input")
        z = w * x + b
        dz = 1 - math.tanh(z) ** 2
        wrong_dz = 1 - z ** 2
        for name, right, bad, swapped in (("w", dz * x, wrong_dz * x, dz * w),
                                          ("x", dz * w, wrong_dz * w, dz * x),
                                          ("b", dz, wrong_dz, None)):
            t.compare(got[name], right, what=f"∂L/∂{name}", rtol=1e-9, atol=1e-12,
                      alternatives={"tanh_of_wrong_node": bad, "swapped_inputs": swapped})


# ---- task 3 -----------------------------------------------------------------------------------
_NODES = ("L", "a", "b", "x", "y")


@exercise.task(
    "adjoints", goal="the adjoint ∂L/∂v of every node v of a graph where x and y are used twice",
    hint="Work from L back to the inputs: L̄ = 1, then the adjoints of a and b, then x and y. "
         "Each step multiplies an adjoint by a local derivative.",
    hints={"missing_accumulation": ("a missing accumulation: one path to L left out",
                                    "x (and y) reach L along two paths, through a and through b. "
                                    "The multivariate chain rule adds the contributions of all "
                                    "paths.")})
def _check_adjoints(t, answer):
    for x, y in ((2.0, -1.0), (0.5, 3.0), (-1.5, -0.25)):
        t.case(f"x = {x:g}, y = {y:g}   (a = x·y, b = x + y, L = a·b)")
        got = _dict_answer(t, t.call(answer, x, y), _NODES, "node")
        a, b = x * y, x + y
        abar, bbar = b, a
        right = {"L": 1.0, "a": abar, "b": bbar, "x": abar * y + bbar, "y": abar * x + bbar}
        for node in _NODES:
            alternatives = []
            if node in ("x", "y"):
                other = y if node == "x" else x
                alternatives = [("missing_accumulation", abar * other),
                                ("missing_accumulation", bbar)]
            t.compare(got[node], right[node], what=f"adjoint of node {node}", rtol=1e-9,
                      atol=1e-12, alternatives=alternatives)


# ---- task 4 -----------------------------------------------------------------------------------
def _tape_adjoints(tape, reverse=True, accumulate=True):
    adj = {tape[-1][0]: 1.0}
    for out, inputs in (reversed(tape) if reverse else tape):
        for name, local in inputs:
            share = adj.get(out, 0.0) * local
            adj[name] = adj.get(name, 0.0) + share if accumulate else share
    return adj


def _tapes():
    x, y = 0.5, -2.0
    u, v = x * y, math.sin(x)
    w = u + v
    return [
        ("a chain: u = 2x, L = −3u", [("u", [("x", 2.0)]), ("L", [("u", -3.0)])]),
        ("a diamond: p = 3x, q = x², L = p·q at x = 1.5",
         [("p", [("x", 3.0)]), ("q", [("x", 3.0)]), ("L", [("p", 2.25), ("q", 4.5)])]),
        ("u = x·y, v = sin(x), w = u + v, L = w² at x = 0.5, y = −2",
         [("u", [("x", y), ("y", x)]), ("v", [("x", math.cos(x))]),
          ("w", [("u", 1.0), ("v", 1.0)]), ("L", [("w", 2 * w)])]),
    ]


@exercise.task(
    "tape_backward", goal="reverse-mode on a recorded tape: the adjoint of every node",
    hint="The tape lists the nodes in the order they were computed, each with its inputs and "
         "local derivatives. Start from the last node (the loss) and hand each node's adjoint on "
         "to its inputs.",
    hints={"wrong_order": ("the tape walked in the wrong direction",
                           "A node's adjoint is complete only when every node that uses it has "
                           "handed on its share. In which direction must the tape be walked for "
                           "that to hold?")},
    time_limit=5.0)
def _check_tape(t, answer):
    for description, tape in _tapes():
        t.case(description)
        names = [tape[-1][0]] + [n for out, ins in reversed(tape) for n, _ in ins]
        order = list(dict.fromkeys(names))
        got = _dict_answer(t, t.call(answer, [(o, list(i)) for o, i in tape]), order, "node")
        right = _tape_adjoints(tape)
        wrong_order = _tape_adjoints(tape, reverse=False)
        overwrite = _tape_adjoints(tape, accumulate=False)
        t.compare([got[n] for n in order], [right[n] for n in order], what="adjoint of node {}",
                  names=order, rtol=1e-9, atol=1e-12,
                  alternatives=[("wrong_order", [wrong_order.get(n, 0.0) for n in order]),
                                ("missing_accumulation", [overwrite[n] for n in order])])


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
