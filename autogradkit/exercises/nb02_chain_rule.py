"""Notebook 2's "your turn" tasks: the chain rule and computational graphs, by hand.

1. ``residual_by_hand(x, w)`` — a small graph with a skip connection (z = w·x, h = σ(z),
   r = h + z, L = r²): every local derivative, then every adjoint from L back to the inputs;
2. ``gate_backward(gate, a, b, y_bar)`` — the three gates: add distributes ȳ, multiply swaps the
   inputs, max routes ȳ to the larger input (a tie splits it in half, as autogradkit's
   ``maximum`` and PyTorch's ``torch.maximum`` do);
3. ``dg_dx(x)`` — g′(x) for g(x) = x·e^(2x): the product rule and the chain rule together;
4. ``dgrow_dx(x)`` — the derivative of a *program* with an ``if`` and a ``while`` loop, along the
   path it actually takes for this x (define-by-run).

Every task is done by hand in plain Python: an answer that calls autogradkit (or PyTorch) while
it runs fails with a message saying so. The right answers come from autogradkit's own backward
pass in float64, computed here at check time; the wrong answers the checks recognise (a forgotten
sum, adjoints pushed forward, a max that sends ȳ everywhere …) are built from the same numbers.
Each task has a reference implementation that the notebook goes on with while the learner's
answer does not pass yet.
"""
from __future__ import annotations

import math

import autogradkit as ag

from .core import Exercise
from .guards import NUMPY_ONLY, watching

exercise = Exercise("nb02_chain_rule", "Notebook 2: the chain rule and computational graphs",
                    chapter=2, heading="Your turn")

_BY_HAND = ("a library doing the work",
            "This turn is done by hand: plain Python arithmetic and the math module. Calling "
            "autogradkit (tensors, backward()) or PyTorch hands the work to the engine whose work "
            "you are rebuilding; compare with it after your check passes, not inside your answer.")


def _hints(**own):
    out = {"used_library": _BY_HAND}
    out.update(own)
    return out


def _by_hand(t, answer, *args):
    """Call the learner's ``answer(*args)``; stop if it called autogradkit or PyTorch."""
    value, used = t.call(watching(answer, NUMPY_ONLY), *args)
    if used:
        t.fail(f"your code called {used}", "used_library")
    return value


def _leaves(*values):
    return [ag.tensor(float(v), dtype=ag.float64, requires_grad=True) for v in values]


def _engine_grads(fn, *values, y_bar=1.0):
    """The gradient of ``fn`` at ``values`` (seeded with ȳ), by autogradkit's backward."""
    leaves = _leaves(*values)
    fn(*leaves).backward(ag.tensor(float(y_bar), dtype=ag.float64))
    return [leaf.grad.item() for leaf in leaves]


def _pair(t, got, names):
    """The learner's answer as two numbers; stops the check otherwise."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        what = f"a {type(got).__name__}" + (f" of length {len(got)}"
                                             if isinstance(got, (tuple, list)) else "")
        t.fail(f"expected two numbers ({', '.join(names)}) as a tuple, got {what}",
               hint=f"Return a tuple of two numbers: ({', '.join(names)}).")
    return list(got)


# ---- task 1: a small graph by hand ---------------------------------------------------------------
_LOCALS = (("z", "w"), ("z", "x"), ("h", "z"), ("r", "h"), ("r", "z"), ("L", "r"))
_REVERSE = ("L", "r", "h", "z", "w", "x")       # a reverse topological order of the graph
_USERS = {"r": ("L",), "h": ("r",), "z": ("h", "r"), "w": ("z",), "x": ("z",), "L": ()}


def _reference_residual_by_hand(x, w):
    """Locals and adjoints of z = w·x, h = σ(z), r = h + z, L = r² (the reference answer)."""
    z = w * x
    h = 1 / (1 + math.exp(-z))
    r = h + z
    local = {("z", "w"): x, ("z", "x"): w, ("h", "z"): h * (1 - h),
             ("r", "h"): 1.0, ("r", "z"): 1.0, ("L", "r"): 2 * r}
    adjoint = {"L": 1.0}
    adjoint["r"] = adjoint["L"] * local["L", "r"]
    adjoint["h"] = adjoint["r"] * local["r", "h"]
    adjoint["z"] = adjoint["h"] * local["h", "z"] + adjoint["r"] * local["r", "z"]
    adjoint["w"] = adjoint["z"] * local["z", "w"]
    adjoint["x"] = adjoint["z"] * local["z", "x"]
    return local, adjoint


_reference_residual_by_hand.__name__ = "residual_by_hand"


def _engine_residual(x, w):
    """(values, locals, adjoints) of the skip-connection graph, from autogradkit's backward."""
    xt, wt = _leaves(x, w)
    z = wt * xt
    h = z.sigmoid()
    r = h + z
    L = r ** 2
    for node in (z, h, r, L):
        node.retain_grad()
    L.backward()
    values = {"x": x, "w": w, "z": z.item(), "h": h.item(), "r": r.item(), "L": L.item()}
    adjoints = {"L": L.grad.item(), "r": r.grad.item(), "h": h.grad.item(), "z": z.grad.item(),
                "w": wt.grad.item(), "x": xt.grad.item()}
    ops = {("z", "w"): lambda v: v * xt.detach(), ("z", "x"): lambda v: wt.detach() * v,
           ("h", "z"): lambda v: v.sigmoid(), ("r", "h"): lambda v: v + z.detach(),
           ("r", "z"): lambda v: h.detach() + v, ("L", "r"): lambda v: v ** 2}
    locals_ = {(out, inp): _engine_grads(ops[out, inp], values[inp])[0] for out, inp in _LOCALS}
    return values, locals_, adjoints


def _tangents(locals_, start):
    """∂node/∂start for every node: derivatives pushed *forward* from one input."""
    d = {"x": 1.0 if start == "x" else 0.0, "w": 1.0 if start == "w" else 0.0}
    d["z"] = locals_["z", "w"] * d["w"] + locals_["z", "x"] * d["x"]
    d["h"] = locals_["h", "z"] * d["z"]
    d["r"] = d["h"] + d["z"]
    d["L"] = locals_["L", "r"] * d["r"]
    return d


def _one_path(locals_, keep):
    """Adjoints with only one of z's two uses counted (``keep`` = "h" or "r")."""
    adj = {"L": 1.0, "r": locals_["L", "r"]}
    adj["h"] = adj["r"]
    adj["z"] = adj["h"] * locals_["h", "z"] if keep == "h" else adj["r"]
    adj["w"] = adj["z"] * locals_["z", "w"]
    adj["x"] = adj["z"] * locals_["z", "x"]
    return adj


def _dict_of(t, got, keys, what, example):
    if not isinstance(got, dict):
        t.fail(f"{what}: expected a dict, got a {type(got).__name__}",
               hint=f"{what} is a dict, e.g. {example}.")
    missing = [k for k in keys if k not in got]
    if missing:
        key = missing[0]
        shown = f"[{key[0]!r}, {key[1]!r}]" if isinstance(key, tuple) else f"[{key!r}]"
        t.fail(f"{what} has no entry {what}{shown} (it needs one for each of: "
               f"{', '.join(_key_text(k) for k in keys)})",
               hint=f"Fill in every entry, e.g. {example}.")
    return got


def _key_text(k):
    return f"∂{k[0]}/∂{k[1]}" if isinstance(k, tuple) else k


@exercise.task(
    "residual_by_hand", reference=_reference_residual_by_hand,
    goal="every local derivative and every adjoint of z = w·x, h = σ(z), r = h + z, L = r²",
    hint="First the local derivatives, one per edge of the graph, each from its own operation "
         "alone. Then the adjoints: L̄ = 1, and each node's adjoint is the sum, over the nodes "
         "that use it, of (that node's adjoint × the local derivative of the edge between them).",
    hints=_hints(
        swapped_inputs=("the local derivatives of w and x swapped",
                        "For a product z = w·x, the local derivative with respect to one factor "
                        "is the *other* factor."),
        sigmoid_wrong_node=("σ′ evaluated on the wrong node",
                            "σ′(z) = σ(z)(1 − σ(z)) is written with the sigmoid's output "
                            "h = σ(z), not with its input z."),
        sigmoid_itself=("σ where its derivative belongs",
                        "∂h/∂z is the derivative of the sigmoid, σ(z)(1 − σ(z)) = h(1 − h), "
                        "not the sigmoid h itself."),
        square_rule=("the derivative of r² without its 2",
                     "d(r²)/dr = 2r."),
        missing_accumulation=("a forgotten sum: one of z's two uses left out",
                              "z is used twice, by the sigmoid (h) and by the skip connection "
                              "(r = h + z), so two paths lead from z to L. z̄ is the sum of what "
                              "each use sends back: h̄·∂h/∂z + r̄·∂r/∂z."),
        forward_order=("derivatives pushed forward from an input, not back from L",
                       "Multiplying local derivatives from an input towards L gives ∂node/∂x "
                       "(how a node moves when x moves: forward mode), not the adjoint ∂L/∂node. "
                       "Start at L̄ = 1 and work back: a node's adjoint is complete only after "
                       "every node that uses it has sent its share.")))
def _check_residual(t, answer):
    for x, w in ((1.5, -0.8), (-2.0, 0.3), (0.5, 2.0)):
        t.case(f"x = {x:g}, w = {w:g}   (z = w·x, h = σ(z), r = h + z, L = r²)")
        got = _by_hand(t, answer, x, w)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            t.fail(f"expected (local, adjoint), two dicts, got a {type(got).__name__}",
                   hint="Keep the last line of the cell: return local, adjoint.")
        local, adjoint = t.plain_dict(got[0], "local"), t.plain_dict(got[1], "adjoint")
        values, right_local, right_adj = _engine_residual(x, w)
        local = _dict_of(t, local, _LOCALS, "local", 'local["z", "w"] = …')
        z, h, r = values["z"], values["h"], values["r"]
        wrong = {("z", "w"): {"swapped_inputs": w}, ("z", "x"): {"swapped_inputs": x},
                 ("h", "z"): {"sigmoid_wrong_node": z * (1 - z), "sigmoid_itself": h},
                 ("L", "r"): {"square_rule": r}}
        for key in _LOCALS:
            t.compare(local[key], right_local[key], what=f"local derivative {_key_text(key)}",
                      rtol=1e-9, atol=1e-12, alternatives=wrong.get(key))
        adjoint = _dict_of(t, adjoint, _REVERSE, "adjoint", 'adjoint["L"] = 1.0')
        alternatives = [("missing_accumulation", [_one_path(right_local, k)[n] for n in _REVERSE])
                        for k in ("h", "r")]
        alternatives += [("forward_order", [_tangents(right_local, s)[n] for n in _REVERSE])
                         for s in ("x", "w")]
        t.compare([adjoint[n] for n in _REVERSE], [right_adj[n] for n in _REVERSE],
                  what="adjoint of node {}", names=_REVERSE, rtol=1e-9, atol=1e-12,
                  alternatives=alternatives)
        order = [k for k in adjoint if k in _USERS]
        for i, node in enumerate(order):
            late = [u for u in _USERS[node] if u not in order[:i]]
            if late:
                t.fail(f"your adjoint dict lists {node} before {late[0]}, which uses {node} "
                       f"(your order: {', '.join(order)}; from L back to the inputs is e.g. "
                       f"{', '.join(_REVERSE)})", "forward_order",
                       hint=f"A node's adjoint is complete only after every node that uses it "
                            f"has sent its share, so {late[0]}'s adjoint must come before "
                            f"{node}'s. Fill the dict in the order you compute it, from L back "
                            "to the inputs.")


# ---- task 2: the gates ---------------------------------------------------------------------------
def _reference_gate_backward(gate, a, b, y_bar):
    """(ā, b̄) for y = a + b, a · b or max(a, b), given ȳ (the reference answer)."""
    if gate == "add":
        return y_bar, y_bar                         # add distributes
    if gate == "mul":
        return y_bar * b, y_bar * a                 # multiply swaps
    if gate == "max":
        if a == b:
            return y_bar / 2, y_bar / 2             # a tie: half to each, as in PyTorch
        return (y_bar, 0.0) if a > b else (0.0, y_bar)   # max routes
    raise ValueError(f"gate must be 'add', 'mul' or 'max', not {gate!r}")


_reference_gate_backward.__name__ = "gate_backward"

_GATE_OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b,
             "max": lambda a, b: ag.maximum(a, b)}
_GATE_TEXT = {"add": "y = a + b", "mul": "y = a · b", "max": "y = max(a, b)"}
_GATE_CASES = (("add", 2.0, -3.0, 1.5), ("add", 0.5, 4.0, -2.0),
               ("mul", 2.0, -3.0, 1.5), ("mul", -0.5, 4.0, 2.0),
               ("max", 2.0, -3.0, 1.5), ("max", -1.0, 0.5, 2.0),
               ("max", 0.7, 0.7, 3.0))


def _gate_alternatives(gate, a, b, g):
    if gate == "add":
        return [("add_split", (g / 2, g / 2)), ("no_upstream", (1.0, 1.0)),
                ("add_values", (g * a, g * b))]
    if gate == "mul":
        return [("mul_not_swapped", (g * a, g * b)), ("no_upstream", (b, a)),
                ("mul_as_add", (g, g))]
    if a == b:
        return [("tie_to_both", (g, g)), ("tie_to_one", (g, 0.0)), ("tie_to_one", (0.0, g)),
                ("no_upstream", (0.5, 0.5))]
    bigger = (g, 0.0) if a > b else (0.0, g)
    return [("max_to_both", (g, g)), ("max_to_smaller", bigger[::-1]),
            ("no_upstream", (float(a > b), float(b > a))),
            ("max_value", (g * max(a, b), 0.0) if a > b else (0.0, g * max(a, b)))]


@exercise.task(
    "gate_backward", reference=_reference_gate_backward,
    goal="(ā, b̄) for the add, multiply and max gates, given the inputs a, b and ȳ",
    hint="Write down each gate's two local derivatives ∂y/∂a and ∂y/∂b, then multiply each by "
         "ȳ. Add: both are 1. Multiply: each is the other input. Max: 1 for the larger input, "
         "0 for the other.",
    hints=_hints(
        add_split=("ȳ split in half between the inputs of an add",
                   "An add gate does not share ȳ out: ∂(a + b)/∂a = ∂(a + b)/∂b = 1, so *each* "
                   "input receives the whole ȳ (add distributes)."),
        add_values=("the inputs' values where 1 belongs",
                    "The local derivatives of a + b do not depend on a or b: both are 1."),
        no_upstream=("local derivatives without ȳ",
                     "These are the gate's local derivatives. The adjoint an input receives is "
                     "ȳ × local derivative: multiply by ȳ."),
        mul_not_swapped=("each input's own value instead of the other's",
                         "∂(a·b)/∂a = b: the gradient of one factor is ȳ times the *other* "
                         "factor (multiply swaps)."),
        mul_as_add=("a multiply treated as an add",
                    "For y = a·b the local derivatives are the other input, not 1."),
        max_to_both=("ȳ sent to both inputs of a max",
                     "Only the larger input decides the output; nudging the smaller one does not "
                     "change y at all, so its local derivative is 0 (max routes)."),
        max_to_smaller=("ȳ routed to the smaller input",
                        "The larger input is the one that comes out of max; it is the one whose "
                        "nudge moves y."),
        max_value=("the max's value where 1 belongs",
                   "∂max(a, b)/∂a is 1 when a is the larger input: y moves exactly as much as "
                   "a does. ȳ passes through unchanged, not multiplied by the value."),
        tie_to_both=("ȳ sent whole to both inputs at a tie",
                     "At a tie max has no derivative; autogradkit and PyTorch pick the split that "
                     "treats both inputs alike and keeps the total ȳ: half to each. (Sending the "
                     "whole ȳ to both would count it twice.)"),
        tie_to_one=("the whole ȳ routed to one input at a tie",
                    "At a tie (a == b) neither input is larger. The check expects what "
                    "autogradkit's maximum and PyTorch's torch.maximum do: half of ȳ to each, "
                    "the choice that does not depend on which argument comes first.")))
def _check_gates(t, answer):
    for gate, a, b, g in _GATE_CASES:
        tie = "  (a tie)" if a == b else ""
        t.case(f"{gate} gate: {_GATE_TEXT[gate]} with a = {a:g}, b = {b:g}, ȳ = {g:g}{tie}")
        got = _pair(t, _by_hand(t, answer, gate, a, b, g), ("ā", "b̄"))
        right = _engine_grads(_GATE_OPS[gate], a, b, y_bar=g)
        t.compare(got, right, what="{}", names=("ā", "b̄"), rtol=1e-9, atol=1e-12,
                  alternatives=_gate_alternatives(gate, a, b, g))


# ---- task 3: a product and a chain ---------------------------------------------------------------
def _reference_dg_dx(x):
    """g′(x) for g(x) = x·e^(2x): both uses of x, added (the reference answer)."""
    q = math.exp(2 * x)               # q = e^p with p = 2x
    return q + x * q * 2              # through the factor x  +  through p = 2x


_reference_dg_dx.__name__ = "dg_dx"


@exercise.task(
    "dg_dx", reference=_reference_dg_dx, goal="g′(x) for g(x) = x·e^(2x), by hand",
    hint="Name the steps: p = 2x, q = e^p, g = x·q. x is used twice, as the factor and inside p; "
         "add what the two paths send back.",
    hints=_hints(
        missing_inner=("the inner derivative of e^(2x) left out",
                       "d/dx e^(2x) is not e^(2x): the exponent 2x has a local derivative of its "
                       "own (the chain rule's inner factor)."),
        missing_product=("one of the product's two terms",
                         "g = x·q uses x twice: as the factor x and inside q = e^(2x). Each use "
                         "sends its own contribution back (the product rule is this sum)."),
        product_of_derivatives=("the derivatives of the factors multiplied",
                                "The derivative of a product is not the product of the "
                                "derivatives: it is (first)′·second + first·(second)′.")))
def _check_dg_dx(t, answer):
    for x in (0.5, -1.0, 1.3, 0.0, -0.25):
        t.case(f"x = {x:g}")
        got = _by_hand(t, answer, x)
        q = math.exp(2 * x)
        right = _engine_grads(lambda v: v * (2 * v).exp(), x)[0]
        t.compare(got, right, what=f"g′({x:g})", rtol=1e-9, atol=1e-12,
                  alternatives=[("missing_inner", q + x * q), ("missing_product", 2 * x * q),
                                ("missing_product", q), ("product_of_derivatives", 2 * q)])


# ---- task 4: a program with an if and a loop (define-by-run) -------------------------------------
def _grow(x):
    """Reflect a negative x, then square and add 1 until the value reaches 4 (notebook 2)."""
    y = x
    if y < 0:
        y = -y
    while y < 4:
        y = y * y + 1
    return y


def _reference_dgrow_dx(x):
    """dgrow/dx along the path grow(x) takes: one local derivative per step (the reference)."""
    y, dy_dx = x, 1.0
    if y < 0:
        y, dy_dx = -y, -dy_dx                 # y = −x: local derivative −1
    while y < 4:
        y, dy_dx = y * y + 1, 2 * y * dy_dx   # y ← y² + 1: local derivative 2y (the old y)
    return dy_dx


_reference_dgrow_dx.__name__ = "dgrow_dx"


def _path(x):
    """How grow(x) runs: (reflected?, number of loop steps)."""
    y, steps = abs(x), 0
    while y < 4:
        y, steps = y * y + 1, steps + 1
    return x < 0, steps


def _dgrow_variants(x):
    """Wrong derivatives of grow at x: the new y in 2y, the branch ignored."""
    y, late = abs(x), 1.0
    while y < 4:
        y = y * y + 1
        late *= 2 * y
    sign = -1.0 if x < 0 else 1.0
    return {"tangent_after_update": sign * late,
            "branch_ignored": -_reference_dgrow_dx(x) if x < 0 else None}


@exercise.task(
    "dgrow_dx", reference=_reference_dgrow_dx,
    goal="the derivative of grow(x), a program with an if and a while loop",
    hint="Run the same if and the same loop as grow, and carry the derivative dy/dx along: each "
         "step y ← (new value) multiplies it by that step's local derivative, evaluated at the y "
         "the step starts from.",
    hints=_hints(
        tangent_after_update=("2y evaluated at the new y",
                              "The local derivative of y ← y² + 1 is 2y with the y that goes "
                              "*into* the step. Update the derivative before (or together with) "
                              "y."),
        branch_ignored=("the if branch left out",
                        "For a negative x, grow runs y = −y first. That step is part of the path: "
                        "its local derivative is −1."),
        one_step=("the derivative of one step only",
                  "grow runs the step y ← y² + 1 as many times as the loop goes round for this x "
                  "(zero to three times); the chain rule has one factor per step actually taken."),
        loop_ignored=("the loop left out",
                      "Your answer has no factor for the loop, yet every round of the loop is one "
                      "more operation on the path, with its own local derivative.")))
def _check_dgrow(t, answer):
    for x in (2.5, 1.5, 5.0, -3.0, -0.5, 0.3):
        reflected, steps = _path(x)
        t.case(f"x = {x:g}   (grow takes {'the if branch, then ' if reflected else ''}"
               f"{steps} loop step{'s' if steps != 1 else ''})")
        got = _by_hand(t, answer, x)
        right = _engine_grads(_grow, x)[0]
        variants = _dgrow_variants(x)
        t.compare(got, right, what=f"dgrow/dx at x = {x:g}", rtol=1e-9, atol=1e-12,
                  alternatives=[("tangent_after_update", variants["tangent_after_update"]),
                                ("branch_ignored", variants["branch_ignored"]),
                                ("one_step", 2 * x),
                                ("loop_ignored", -1.0 if x < 0 else 1.0)])


check = exercise.check
use = exercise.use
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
