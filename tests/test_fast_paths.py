"""The contract of the speed shortcuts in ``autogradkit/fast.py``.

``fast.install()`` replaces a few functions of the reference path (the code a learner reads) with
faster ones; ``fast.REPLACED`` maps each replaced name to ``(reference, replacement)``. A shortcut
may skip work, never change an answer. Every test here runs a shortcut and the reference it stands
in for on the same inputs, and checks that they agree on

* values, bit for bit: both run the same numpy calls, and the engine adds the gradients that meet
  at a node in the same order (``_assert_same`` compares arrays byte for byte, dtype and shape
  included);
* the graph: ``grad_fn`` names, ``next_functions`` order, ``None`` entries and which nodes are
  shared (``_graph``);
* errors (type and message), in-place checks (version counters), hooks, ``retain_grad``, and
  which arrays a leaf's ``.grad`` may own;
* the cases a shortcut hands over to the reference (it must then give the reference's answer, and
  the test checks that it did hand them over).

``reference_path()`` puts every reference back for the length of a ``with`` block, so a scenario
can be run once on each path. ``COVERED`` lists, for each entry of ``REPLACED``, the tests that
compare it with its reference: a new shortcut that is not listed there (and so not tested) makes
``test_every_shortcut_is_covered`` fail.

Two former mismatches have tests of their own: the order of the sums around a Linear layer's
``TBackward0`` (``test_transpose_pass_through_keeps_the_order_of_the_sums``) and the module mirror on
rare routes (``test_module_mirror_on_rare_routes``). Hooks are compared per
tensor (how often, with which values, in which order); across tensors the order may differ, since
on a tree ``plain_backward`` runs the leaves' hooks at the end.

With ``AUTOGRADKIT_REFERENCE=1`` the package runs on the reference path alone: ``install()`` is
never called, nothing is replaced, and this whole module is skipped.
"""
from __future__ import annotations

import contextlib
import itertools
import operator

import numpy as np
import pytest

import autogradkit as agk
from autogradkit import fast
from autogradkit import nn
from autogradkit.autograd import engine
from autogradkit.autograd.math import NUMPY_MATH
from autogradkit.autograd.node import (AccumulateGrad, BackwardTwiceError, InplaceModifiedError,
                                       Node, Op)
from autogradkit.nn import functional as F
from autogradkit.nn.module import Module
from autogradkit.ops import elementwise as E, layers as L, shape as S
from autogradkit.optim.sgd import SGD
from autogradkit.tensor import Tensor

pytestmark = pytest.mark.skipif(
    agk.REFERENCE_MODE, reason="AUTOGRADKIT_REFERENCE=1: the package runs on the reference path "
    "alone (fast.install() was not called), so there are no shortcuts to compare")

UNARY_NAMES = ("Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Abs", "Sign", "Sin", "Cos", "Tanh",
               "Sigmoid", "Relu")
BINARY_NAMES = ("Add", "Sub", "Mul", "Div")
MODULE_METHODS = ("__init__",)

# Every entry of fast.REPLACED, and the tests that compare it with the reference it replaces.
COVERED = {
    "Op.apply": ("test_recording_with_tree_flags_equals_the_reference_apply",
                 "test_tree_flag_follows_how_many_times_each_node_was_consumed",
                 "test_tree_flag_is_sound_on_random_graphs",
                 "test_a_dual_level_puts_the_reference_recording_back_until_it_ends"),
    **{f"{name}.apply": ("test_unary_apply_equals_the_reference_apply",
                         "test_unary_apply_errors_and_integer_inputs_equal_the_reference",
                         "test_unary_apply_catches_in_place_changes_like_the_reference",
                         "test_a_dual_level_puts_the_reference_recording_back_until_it_ends")
       for name in UNARY_NAMES},
    **{f"{name}.apply": ("test_binary_apply_equals_the_reference_apply",
                         "test_binary_apply_catches_in_place_changes_like_the_reference",
                         "test_a_dual_level_puts_the_reference_recording_back_until_it_ends")
       for name in BINARY_NAMES},
    "Op._run_backward": ("test_run_backward_equals_the_reference",
                         "test_run_backward_with_create_graph_goes_to_the_reference",
                         "test_run_backward_keeps_the_errors"),
    **{f"Tensor.{name}": ("test_operator_equals_the_reference_operator",
                          "test_operator_hands_other_operands_to_the_reference",
                          "test_operator_catches_in_place_changes_like_the_reference",
                          "test_a_dual_level_puts_the_reference_recording_back_until_it_ends")
       for name in ("__add__", "__sub__", "__mul__")},
    "autogradkit.nn.functional.linear": (
        "test_linear_equals_the_reference",
        "test_linear_hands_other_cases_to_the_reference",
        "test_linear_catches_an_in_place_change_of_each_saved_tensor",
        "test_linear_of_an_empty_batch_equals_the_reference",
        "test_a_dual_level_puts_the_reference_recording_back_until_it_ends"),
    "Addmm._run_backward": ("test_addmm_run_backward_equals_the_reference",
                            "test_addmm_run_backward_hands_over_and_keeps_the_errors"),
    "MSELoss._run_backward": ("test_relu_and_mse_run_backward_equal_the_reference",),
    "Relu._run_backward": ("test_relu_and_mse_run_backward_equal_the_reference",),
    "MSELoss.apply": ("test_mse_equals_the_reference", "test_mse_hands_other_cases_to_the_reference",
                      "test_mse_catches_an_in_place_change_like_the_reference",
                      "test_a_dual_level_puts_the_reference_recording_back_until_it_ends"),
    "Tensor.backward": ("test_backward_equals_the_reference_engine",
                        "test_backward_hands_other_calls_to_the_reference",
                        "test_backward_errors_equal_the_reference",
                        "test_leaf_grad_never_shares_an_array_another_tensor_holds",
                        "test_transpose_pass_through_equals_the_reference"),
    "SGD.step": ("test_plain_sgd_step_equals_the_reference",
                 "test_sgd_hands_other_settings_to_the_reference",
                 "test_plain_sgd_bumps_the_version_so_a_stale_graph_is_refused"),
    **{f"Module.{name}": ("test_module_attributes_mirror_the_registries_through_every_route",)
       for name in MODULE_METHODS},
}


# ==== helpers ====================================================================================
def _flags_set(node):
    """Whether a recording set the node's tree flags (slots of Op: unset ones raise)."""
    try:
        Op.__dict__["_tree"].__get__(node, type(node))
        Op.__dict__["_consumed"].__get__(node, type(node))
    except AttributeError:
        return False
    return True


@contextlib.contextmanager
def reference_path():
    """Every function ``fast.install()`` replaced, put back for the ``with`` block (as if
    ``AUTOGRADKIT_REFERENCE=1``; ``test_reference_path_puts_every_reference_back`` checks it)."""
    replaced = fast.REPLACED
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Op, "apply", classmethod(fast._reference_apply))
        for name in UNARY_NAMES + BINARY_NAMES:
            mp.delattr(getattr(E, name), "apply")       # inherit Op.apply, as before install()
        mp.delattr(L.MSELoss, "apply")
        mp.setattr(Op, "_run_backward", fast._reference_run_backward)
        mp.delattr(L.Addmm, "_run_backward")
        mp.delattr(L.MSELoss, "_run_backward")
        mp.delattr(E.Relu, "_run_backward")
        for name in ("__add__", "__sub__", "__mul__"):
            mp.setattr(Tensor, name, replaced[f"Tensor.{name}"][0])
        mp.setattr(F, "linear", fast._reference_linear)
        mp.setattr(Tensor, "backward", fast._reference_backward)
        mp.setattr(SGD, "step", fast._reference_sgd_step)
        for name in MODULE_METHODS:
            mp.setattr(Module, name, replaced[f"Module.{name}"][0])
        yield


def _both(scenario, *args):
    """``scenario(*args)`` on the shortcuts, then on the reference path: (fast, reference)."""
    got = scenario(*args)
    with reference_path():
        want = scenario(*args)
    return got, want


def _owner(label):
    owners = {c.__name__: c for c in (Op, Tensor, SGD, Module, L.Addmm, L.MSELoss)}
    owners.update((name, getattr(E, name)) for name in UNARY_NAMES + BINARY_NAMES)
    owners[F.__name__] = F
    owner, name = label.rsplit(".", 1)
    return owners[owner], name


def _func(f):
    return getattr(f, "__func__", f)


def _live(label):
    """The function that runs now under ``label``."""
    owner, name = _owner(label)
    return _func(getattr(owner, name))


def _leaf(a, requires_grad=True):
    return agk.tensor(a, requires_grad=requires_grad)


class Leaf:
    """A tensor input, made afresh for every run: a shape, a dtype, whether it requires grad."""

    def __init__(self, shape, dtype=np.float64, requires_grad=True, positive=False):
        self.shape, self.dtype, self.positive = shape, dtype, positive
        self.requires_grad = requires_grad and np.dtype(dtype).kind == "f"

    def make(self, seed, requires_grad=None):
        rng = np.random.default_rng(seed)
        kind = np.dtype(self.dtype).kind
        if kind == "b":
            data = rng.random(self.shape) > 0.5
        elif kind in "iu":
            data = rng.integers(1, 5, self.shape)
        else:
            data = rng.standard_normal(self.shape)
            if self.positive:
                data = np.abs(data) + 0.5
        need = self.requires_grad if requires_grad is None else requires_grad and self.requires_grad
        return _leaf(np.asarray(data).astype(self.dtype), need)


def _make_inputs(operands, needs=None):
    """Tensors for the ``Leaf`` operands (seeded by position; ``needs`` overrides their
    requires_grad, in order), a new one from each function (e.g. a Parameter), anything else
    as it is."""
    inputs, k = [], 0
    for i, x in enumerate(operands):
        if isinstance(x, Leaf):
            inputs.append(x.make(i, None if needs is None else needs[k]))
            k += 1
        else:
            inputs.append(x() if callable(x) else x)
    return inputs


def _error(exc):
    return (type(exc).__name__, str(exc))


def _grad_of(t):
    return None if t._grad is None else t._grad._data.copy()


def _graph(root, leaves):
    """The graph below ``root``, comparable between two recordings: one row per node in the order
    first reached, ``(name, (row of each input, or None))``; a leaf's AccumulateGrad is
    ``("AccumulateGrad", its position in leaves)`` (-1: none of them)."""
    rows, index = [], {}

    def visit(node):
        if node is None:
            return None
        if node not in index:
            index[node] = len(rows)
            rows.append(None)
            if node.__class__ is AccumulateGrad:
                var = node.variable
                row = ("AccumulateGrad", next((i for i, t in enumerate(leaves) if t is var), -1))
            else:
                assert all(k == 0 for _, k in node.next_functions)
                row = (node.name(), tuple(visit(n) for n, _ in node.next_functions))
            rows[index[node]] = row
        return index[node]

    visit(root)
    return rows


def _outcome(fn, inputs, inspect=None, seed=1):
    """Everything observable about ``out = fn(*inputs)`` and ``out.backward(ḡ)`` (ḡ fixed): its
    value, dtype, graph, the inputs' gradients, or the error raised (type and message)."""
    leaves = [x for x in inputs if isinstance(x, Tensor)]
    try:
        with np.errstate(divide="ignore", invalid="ignore"):    # (bool / bool has 0 / 0)
            out = fn(*inputs)
    except Exception as exc:            # noqa: BLE001  (compared with the reference's)
        return {"error": _error(exc)}
    result = {"value": np.asarray(out._data).copy(), "requires_grad": out.requires_grad,
              "is_leaf": out.is_leaf, "graph": _graph(out.grad_fn, leaves)}
    if inspect is not None:
        result["inspect"] = inspect(out)
    if out.requires_grad:
        g = np.asarray(np.random.default_rng(seed).standard_normal(out.shape), out._data.dtype)
        try:
            out.backward(agk.tensor(g))
        except Exception as exc:        # noqa: BLE001
            result["backward error"] = _error(exc)
    result["grads"] = [_grad_of(t) for t in leaves]
    return result


def _assert_same(got, want, where="result"):
    """Equal, arrays byte for byte (so of one dtype and shape too)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), f"{where}: {got!r} != {want!r}"
        for k in want:
            _assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, (np.ndarray, np.generic)):
        assert isinstance(got, (np.ndarray, np.generic)), f"{where}: {got!r} is not an array"
        np.testing.assert_array_equal(got, want, err_msg=where, strict=True)
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), f"{where}: bits differ"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _node_made_by_a_shortcut(t):
    """Nodes recorded by a shortcut keep no input metadata (``Op.apply`` always does)."""
    return t.grad_fn is not None and t.grad_fn._in_meta is None


@pytest.fixture
def plain_calls(monkeypatch):
    """A list that gets one entry per call of ``fast.plain_backward``."""
    calls = []
    real = fast.plain_backward

    def spy(root, seed, retain_graph):
        calls.append(root)
        return real(root, seed, retain_graph)

    monkeypatch.setattr(fast, "plain_backward", spy)
    return calls


def _spy_on(monkeypatch, owner, name):
    """Count the calls of ``owner.name`` (a function of the fast module, or a method)."""
    calls = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


# ==== the contract itself =========================================================================
def test_every_shortcut_is_covered():
    """A shortcut lands with a test that compares it with its reference, and is listed here."""
    assert fast.REPLACED, "install() ran, so something is replaced"
    new = sorted(set(fast.REPLACED) - set(COVERED))
    assert not new, f"shortcuts without a test comparing them with the reference: {new}"
    gone = sorted(set(COVERED) - set(fast.REPLACED))
    assert not gone, f"listed in COVERED but no longer replaced: {gone}"
    for label, tests in COVERED.items():
        for name in tests:
            assert name.startswith("test_") and callable(globals().get(name)), (label, name)


def test_reference_path_puts_every_reference_back():
    replacements = {label: _func(new) for label, (_, new) in fast.REPLACED.items()}
    for label, new in replacements.items():
        assert _live(label) is new, f"{label} is not the installed replacement"
    with reference_path():
        for label, new in replacements.items():
            assert _live(label) is not new, f"{label} still runs the shortcut"
        assert _live("Op.apply") is fast._reference_apply
        assert E.Mul.apply.__func__ is fast._reference_apply
        assert Tensor.backward is fast._reference_backward
        x = _leaf(np.ones(2))
        assert (x * 2.0).grad_fn._in_meta is not None        # recorded by the reference Op.apply
    for label, new in replacements.items():
        assert _live(label) is new, f"{label} was not put back"


def test_a_dual_level_puts_the_reference_recording_back_until_it_ends():
    """Forward mode pushes tangents in ``Op.apply``, which the recording shortcuts skip: while a
    dual level is active each entry of ``fast.RECORDING`` runs its reference (the tangents flow),
    the replay shortcuts stay, and leaving the level (even by an exception) puts every recording
    shortcut back, the very object ``install()`` put there."""
    from autogradkit.autograd import forward_ad
    replacements = {label: _func(new) for label, (_, new) in fast.REPLACED.items()}
    recording = set(fast.RECORDING)
    assert recording <= set(fast.REPLACED)
    assert {label for label in fast.REPLACED if label.endswith(".apply")} | {
        "Tensor.__add__", "Tensor.__sub__", "Tensor.__mul__",
        "autogradkit.nn.functional.linear"} == recording       # every shortcut that records
    for _ in range(2):
        try:
            with forward_ad.dual_level():
                for label, new in replacements.items():
                    if label in recording:
                        assert _live(label) is _func(fast.REPLACED[label][0]), label
                    else:
                        assert _live(label) is new, label
                assert E.Mul.apply.__func__ is fast._reference_apply
                x = forward_ad.make_dual(_leaf(np.ones(2)), agk.tensor([1.0, 2.0]).double())
                assert forward_ad.unpack_dual(x * 3.0).tangent.tolist() == [3.0, 6.0]
                raise KeyError("leave the level by an exception")
        except KeyError:
            pass
        for label, new in replacements.items():
            assert _live(label) is new, f"{label} was not put back"


# ==== recording: Op.apply with tree flags =========================================================
_GENERAL_OPS = {
    "pow (a number)": lambda x, y: x ** 2,
    "pow (saves both)": lambda x, y: x.abs() ** y,
    "matmul": lambda x, y: x @ y.t(),
    "sum": lambda x, y: x.sum(1),
    "maximum": lambda x, y: agk.maximum(x, y),
    "getitem": lambda x, y: x[:, 1:],
    "reshape (a view)": lambda x, y: x.reshape(3, 2),
    "t (a view)": lambda x, y: x.t(),
    "cat": lambda x, y: agk.cat([x, y], 0),
    "where": lambda x, y: agk.where(x > 0, x, y),
    "log_softmax": lambda x, y: x.log_softmax(1),
}


@pytest.mark.parametrize("case", list(_GENERAL_OPS))
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, False)])
def test_recording_with_tree_flags_equals_the_reference_apply(case, needs):
    """``Op.apply`` (with the tree flags) records what the reference ``Op.apply`` records."""
    operands = (Leaf((2, 3)), Leaf((2, 3)))

    def views(out):                     # a view shares its base's numbers and version counter
        return {"base is input 0": out._base is not None and out._base is inputs[0],
                "shares the counter": out._vcs is not None and out._vcs is inputs[0]._vcs}

    inputs = _make_inputs(operands, needs)
    out = _GENERAL_OPS[case](*inputs)
    assert out.grad_fn is None or _flags_set(out.grad_fn)     # recorded with the tree flags
    inputs = _make_inputs(operands, needs)
    got = _outcome(_GENERAL_OPS[case], inputs, views)
    with reference_path():
        inputs = _make_inputs(operands, needs)
        want = _outcome(_GENERAL_OPS[case], inputs, views)
    _assert_same(got, want)


# ==== recording: the elementwise X.apply shortcuts ================================================
def _apply_pair(cls):
    """The shortcut ``cls.apply`` and the references it stands in for (both spellings)."""
    reference, replacement = fast.REPLACED[f"{cls.__name__}.apply"]
    assert _func(replacement) in (fast.apply_unary, fast.apply_binary)
    return (lambda *a: replacement(*a),
            [lambda *a: fast._reference_apply(cls, *a), lambda *a: reference(*a)])


@pytest.mark.parametrize("name", UNARY_NAMES)
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_unary_apply_equals_the_reference_apply(name, shape, dtype, requires_grad):
    cls = getattr(E, name)
    operand = Leaf(shape, dtype, positive=name in ("Log", "Sqrt", "Reciprocal"))
    shortcut, references = _apply_pair(cls)
    saved = lambda out: [(t._data.copy(), t._version) for t in out.grad_fn.saved_tensors] \
        if out.grad_fn is not None else None
    inputs = [operand.make(0, requires_grad)]
    got = _outcome(shortcut, inputs, saved)
    out = shortcut(*inputs)
    assert _node_made_by_a_shortcut(out) == requires_grad        # the shortcut did record it
    assert got["value"].dtype == dtype and got["value"].shape == shape
    for reference in references:
        _assert_same(got, _outcome(reference, [operand.make(0, requires_grad)], saved))


def test_unary_apply_errors_and_integer_inputs_equal_the_reference():
    cases = [(E.Neg, 2.0), (E.Exp, np.ones(2)), (E.Neg, agk.tensor([True, False])),
             (E.Abs, agk.tensor([-1, 2])), (E.Exp, agk.tensor([1, 2])),
             (E.Sign, agk.tensor([-1.0, 0.0, np.nan])), (E.Relu, agk.tensor([np.nan, -1.0]))]
    for cls, x in cases:
        shortcut, references = _apply_pair(cls)
        got = _outcome(shortcut, [x])
        for reference in references:
            _assert_same(got, _outcome(reference, [x]), f"{cls.__name__}({x!r})")
    assert _outcome(_apply_pair(E.Neg)[0], [2.0])["error"][1].startswith("neg: expected a Tensor")
    with agk.no_grad():
        assert E.Exp.apply(_leaf([1.0])).grad_fn is None


@pytest.mark.parametrize("name", ["Log", "Abs", "Sin", "Cos",                 # save their input
                                  "Exp", "Sqrt", "Reciprocal", "Tanh", "Sigmoid", "Relu"])  # output
@pytest.mark.parametrize("counter_before", [False, True])
def test_unary_apply_catches_in_place_changes_like_the_reference(name, counter_before):
    cls = getattr(E, name)

    def scenario(apply):
        x = _leaf(np.array([0.5, 2.0]))
        h = x * 1.0                             # not a leaf: can be changed in place
        if counter_before:
            h.mul_(1.0)
        y = apply(h)
        loss = (y + 1.0).sum()                  # AddBackward0 saves nothing: y's own node checks
        (h if cls.save == "inputs" else y).add_(1.0)
        with pytest.raises(InplaceModifiedError) as info:
            loss.backward()
        return str(info.value)

    shortcut, references = _apply_pair(cls)
    got = scenario(shortcut)
    which = "input 0" if cls.save == "inputs" else "the output"
    assert f"{which} of {cls._name}" in got
    for reference in references:
        assert got == scenario(reference)


_BINARY_CASES = {
    "same shape": (Leaf((2, 3)), Leaf((2, 3))),
    "0-d tensors": (Leaf(()), Leaf(())),
    "broadcast a row": (Leaf((2, 3)), Leaf((3,))),
    "broadcast both": (Leaf((3, 1)), Leaf((1, 4))),
    "0-d and a matrix": (Leaf(()), Leaf((2, 3))),
    "float32 and float64": (Leaf((2, 3), np.float32), Leaf((2, 3))),
    "float32 and 0-d float64": (Leaf((2, 3), np.float32), Leaf((), np.float64)),
    "int tensor and float32": (Leaf((2, 3), np.int64), Leaf((2, 3), np.float32)),
    "int tensors (integer result)": (Leaf((2, 3), np.int64), Leaf((2, 3), np.int64)),
    "bool tensors": (Leaf((2, 3), np.bool_), Leaf((2, 3), np.bool_)),
    "float32 and a float": (Leaf((2, 3), np.float32), 2.5),
    "an int and float64": (3, Leaf((2, 3))),
    "float32 and a bool": (Leaf((3,), np.float32), True),
    "int tensor and a float": (Leaf((3,), np.int64), 1.5),
    "float32 and a numpy scalar": (Leaf((3,), np.float32), np.float64(2.0)),
    "a 0-d float32 and a float": (Leaf((), np.float32), -0.5),
    "an array constant on the right": (Leaf((1, 3)), np.arange(1.0, 7.0).reshape(2, 3)),
    "an array constant on the left": (np.ones((2, 1)), Leaf((3,))),
    "shapes that don't broadcast": (Leaf((3,)), Leaf((4,))),
    "no tensor at all": (2.0, 3.0),
}


def _needs_for(operands):
    """Which tensor operands require grad, in each combination worth running."""
    if sum(isinstance(x, Leaf) for x in operands) < 2:
        return [(True, True)]           # (one tensor operand: the second flag is unused)
    return [(True, True), (True, False), (False, True)]


@pytest.mark.parametrize("name", BINARY_NAMES)
@pytest.mark.parametrize("case, needs", [(case, needs) for case, operands in _BINARY_CASES.items()
                                         for needs in _needs_for(operands)])
def test_binary_apply_equals_the_reference_apply(name, case, needs):
    cls = getattr(E, name)
    operands = _BINARY_CASES[case]
    shortcut, references = _apply_pair(cls)
    saved = lambda out: [(t._data.copy(), t._version) for t in out.grad_fn.saved_tensors] \
        if out.grad_fn is not None else None
    got = _outcome(shortcut, _make_inputs(operands, needs), saved)
    for reference in references:
        _assert_same(got, _outcome(reference, _make_inputs(operands, needs), saved))
    if case in ("same shape", "float32 and a float") and "error" not in got:
        assert _node_made_by_a_shortcut(shortcut(*_make_inputs(operands, needs)))


@pytest.mark.parametrize("name", ["Mul", "Div"])
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("counter_before", [False, True])
def test_binary_apply_catches_in_place_changes_like_the_reference(name, which, counter_before):
    cls = getattr(E, name)

    def scenario(apply):
        a, b = _leaf(np.array([0.5, 2.0])) * 1.0, _leaf(np.array([1.5, -1.0])) * 1.0
        if counter_before:
            a.mul_(1.0)
            b.mul_(1.0)
        loss = apply(a, b).sum()
        (a, b)[which].add_(1.0)
        with pytest.raises(InplaceModifiedError) as info:
            loss.backward()
        return str(info.value)

    shortcut, references = _apply_pair(cls)
    got = scenario(shortcut)
    assert f"input {which} of {cls._name}" in got
    for reference in references:
        assert got == scenario(reference)


# ==== recording: the Tensor operators + - * ======================================================
_OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}


@pytest.mark.parametrize("op", list(_OPERATORS))
@pytest.mark.parametrize("other", ["tensor", "float", "int", "float on the left"])
def test_operator_equals_the_reference_operator(op, other):
    """Same-shape tensors, or a float tensor and a Python number: recorded by the shortcut."""
    fn = _OPERATORS[op]
    for shape, dtype, needs in itertools.product([(), (3,), (2, 3)], [np.float32, np.float64],
                                                 [(True, True), (True, False), (False, True),
                                                  (False, False)]):
        if other != "tensor" and needs[1]:
            continue
        operands = {"tensor": (Leaf(shape, dtype), Leaf(shape, dtype)),
                    "float": (Leaf(shape, dtype), 2.5), "int": (Leaf(shape, dtype), 3),
                    "float on the left": (1.5, Leaf(shape, dtype))}[other]
        where = f"{op} {other} {shape} {dtype.__name__} {needs}"
        got, want = _both(lambda: _outcome(fn, _make_inputs(operands, needs)))
        _assert_same(got, want, where)
        assert got["value"].dtype == dtype, where          # float32 stays float32
        out = fn(*_make_inputs(operands, needs))
        assert _node_made_by_a_shortcut(out) == any(needs), where
    with reference_path():
        assert getattr(Tensor, f"__{op}__") is fast.REPLACED[f"Tensor.__{op}__"][0]


_OPERATOR_HANDOVERS = {
    # same shape and dtype, but not float: recorded by the shortcut too (integer results)
    "int tensors": (Leaf((3,), np.int64), Leaf((3,), np.int64)),
    "bool tensors": (Leaf((3,), np.bool_), Leaf((3,), np.bool_)),
    # handed over
    "broadcasting": (Leaf((2, 3)), Leaf((3,))),
    "two dtypes": (Leaf((3,), np.float32), Leaf((3,))),
    "a 0-d float64 tensor": (Leaf((3,), np.float32), Leaf(())),
    "an int tensor and a float": (Leaf((3,), np.int64), 2.5),
    "a bool": (Leaf((3,)), True),
    "a numpy scalar": (Leaf((3,), np.float32), np.float64(2.0)),
    "an array": (Leaf((3,)), np.array([1.0, 2.0, 3.0])),
    "a Parameter": (Leaf((3,)), lambda: nn.Parameter(agk.tensor([1.0, 2.0, 3.0],
                                                                dtype=agk.float64))),
    "shapes that don't broadcast": (Leaf((3,)), Leaf((4,))),
    "a string": (Leaf((3,)), "x"),
}


@pytest.mark.parametrize("op", list(_OPERATORS))
@pytest.mark.parametrize("case", list(_OPERATOR_HANDOVERS))
def test_operator_hands_other_operands_to_the_reference(op, case, monkeypatch):
    fn = _OPERATORS[op]
    operands = _OPERATOR_HANDOVERS[case]
    got, want = _both(lambda: _outcome(fn, _make_inputs(operands)))
    _assert_same(got, want)
    # and whether it was handed over: the reference operator records through the op's apply
    cls = {"add": E.Add, "sub": E.Sub, "mul": E.Mul}[op]
    calls = _spy_on(monkeypatch, cls, "apply")
    _outcome(fn, _make_inputs(operands))
    handed = case not in ("int tensors", "bool tensors", "a string")
    assert len(calls) == (1 if handed else 0)
    if case == "bool tensors" and op == "sub":
        assert got["error"][0] == "TypeError" and got["error"][1].startswith("sub: ")


def test_operator_shortcut_records_the_easy_cases_itself(monkeypatch):
    calls = _spy_on(monkeypatch, E.Mul, "apply")
    x = _leaf(np.ones(3))
    for y in (x * x, x * 2.0, x * 2, agk.ones(3, dtype=agk.float64) * x):
        assert y.grad_fn.name() == "MulBackward0" and y.grad_fn._in_meta is None
    assert calls == []


@pytest.mark.parametrize("counter_before", [False, True])
@pytest.mark.parametrize("other, which", [("a tensor", 0), ("a tensor", 1), ("the same tensor", 0),
                                          ("a number", 0)])
def test_operator_catches_in_place_changes_like_the_reference(counter_before, other, which):
    """``*`` saves its operands (``+`` and ``-`` save nothing): each one's version is checked."""
    def scenario():
        a, b = _leaf(np.array([1.0, 2.0])), _leaf(np.array([3.0, 4.0]))
        if counter_before:              # saved at a version above 0
            with agk.no_grad():
                a.mul_(1.0)
                b.mul_(1.0)
        right = {"a tensor": b, "the same tensor": a, "a number": 2.0}[other]
        loss = (a * right).sum()
        with agk.no_grad():
            (a, right)[which].mul_(2.0)
        with pytest.raises(InplaceModifiedError) as info:
            loss.backward()
        return str(info.value)

    got, want = _both(scenario)
    assert got == want and "of MulBackward0" in got
    with agk.no_grad():
        assert (_leaf(np.ones(2)) * 2.0).grad_fn is None


@pytest.mark.parametrize("cls", [E.Exp, E.Tanh, E.Relu, E.PowTensor, S.Reshape, S.T, S.Expand])
def test_operator_shortcut_refuses_ops_saving_their_output_or_views(cls):
    with pytest.raises(TypeError, match=rf"^_operator: {cls.__name__} "):
        fast._operator(cls, Tensor.__dict__["__add__"], operator.add)


def test_operator_shortcut_accepts_ops_saving_their_inputs_or_nothing():
    for cls in (E.Add, E.Sub, E.Mul, E.Div):
        general = fast.REPLACED["Tensor.__mul__"][0]
        op = fast._operator(cls, general, operator.mul)
        assert op.__name__ == general.__name__ and op.__doc__ == general.__doc__


# ==== nn.functional.linear and Addmm._run_backward =============================================
def _linear_operands(dtype=np.float64, x_shape=(5, 3), w_shape=(4, 3), b_shape=(4,), dtypes=None):
    dtypes = dtypes or (dtype,) * 3
    return [Leaf(x_shape, dtypes[0]), Leaf(w_shape, dtypes[1]),
            None if b_shape is None else Leaf(b_shape, dtypes[2])]


def _saved(out):
    if out.grad_fn is None or out.grad_fn.name() != "AddmmBackward0":
        return None
    return [(t._data.copy(), t._version) for t in out.grad_fn.saved_tensors]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("needs", list(itertools.product([True, False], repeat=3)))
def test_linear_equals_the_reference(dtype, needs):
    operands = _linear_operands(dtype)
    got, want = _both(lambda: _outcome(lambda *a: F.linear(*a), _make_inputs(operands, needs),
                                       _saved))
    _assert_same(got, want)
    assert got["value"].dtype == dtype
    out = F.linear(*_make_inputs(operands, needs))
    assert _node_made_by_a_shortcut(out) == any(needs)
    if all(needs):      # PyTorch's graph: addmm(bias, x, weight.t()); leaves in order x, w, b
        assert got["graph"] == [("AddmmBackward0", (1, 2, 3)), ("AccumulateGrad", 2),
                                ("AccumulateGrad", 0), ("TBackward0", (4,)), ("AccumulateGrad", 1)]


_LINEAR_HANDOVERS = {
    "no bias": _linear_operands(b_shape=None),
    "batched 3-D input": _linear_operands(x_shape=(2, 5, 3)),
    "batched 3-D input, no bias": _linear_operands(x_shape=(2, 5, 3), b_shape=None),
    "1-D input": _linear_operands(x_shape=(3,)),
    "1-D input, no bias": _linear_operands(x_shape=(3,), b_shape=None),
    "float32 input, float64 weight": _linear_operands(dtypes=(np.float32, np.float64, np.float64)),
    "float32 bias": _linear_operands(dtypes=(np.float64, np.float64, np.float32)),
    "float32 input and weight, float64 bias": _linear_operands(
        dtypes=(np.float32, np.float32, np.float64)),
    "bias of shape (1,)": _linear_operands(b_shape=(1,)),
    "0-d bias": _linear_operands(b_shape=()),
    "bias of shape (1, 4)": _linear_operands(b_shape=(1, 4)),
    "bias of shape (5, 4)": _linear_operands(b_shape=(5, 4)),
    "in_features mismatch": _linear_operands(x_shape=(5, 2)),
    "1-D weight": _linear_operands(w_shape=(3,)),
    "0-d input": _linear_operands(x_shape=()),
    "input not a tensor": [np.ones((5, 3)), Leaf((4, 3)), Leaf((4,))],
    "weight not a tensor": [Leaf((5, 3)), np.ones((4, 3)), Leaf((4,))],
    "bias an array": [Leaf((5, 3)), Leaf((4, 3)), np.ones(4)],
    "bias a number": [Leaf((5, 3)), Leaf((4, 3)), 0.5],
}


@pytest.mark.parametrize("case", list(_LINEAR_HANDOVERS))
def test_linear_hands_other_cases_to_the_reference(case):
    operands = _LINEAR_HANDOVERS[case]
    got, want = _both(lambda: _outcome(lambda *a: F.linear(*a), _make_inputs(operands), _saved))
    _assert_same(got, want)
    if "error" not in got:
        out = F.linear(*_make_inputs(operands))
        assert not _node_made_by_a_shortcut(out), "recorded by the reference, not the shortcut"
    if case.endswith("not a tensor"):
        assert got["error"][0] == "TypeError" and got["error"][1].startswith("linear: expected")
    if case == "in_features mismatch":
        assert "linear: the input's last dimension must equal in_features" in got["error"][1]


@pytest.mark.parametrize("which, index", [("x", 1), ("weight", 2), ("bias", 0)])
@pytest.mark.parametrize("counter_before", [False, True])
def test_linear_catches_an_in_place_change_of_each_saved_tensor(which, index, counter_before):
    def scenario():
        rng = np.random.default_rng(0)
        t = {"x": _leaf(rng.standard_normal((5, 3))), "weight": _leaf(rng.standard_normal((4, 3))),
             "bias": _leaf(rng.standard_normal(4))}
        if counter_before:              # saved at a version above 0 (e.g. after an optimizer step)
            with agk.no_grad():
                for v in t.values():
                    v.mul_(1.0)
        out = F.linear(t["x"], t["weight"], t["bias"])
        shortcut = _node_made_by_a_shortcut(out)
        with agk.no_grad():
            t[which].add_(1.0)
        with pytest.raises(InplaceModifiedError) as info:
            out.sum().backward()
        return shortcut, str(info.value)

    (shortcut, got), (by_shortcut_there, want) = _both(scenario)
    assert shortcut and not by_shortcut_there
    assert got == want and f"input {index} of AddmmBackward0" in got


def test_linear_of_an_empty_batch_equals_the_reference():
    operands = _linear_operands(x_shape=(0, 3))
    got, want = _both(lambda: _outcome(lambda *a: F.linear(*a), _make_inputs(operands)))
    _assert_same(got, want)
    assert got["grads"][2].tolist() == [0.0] * 4
    w, b = _leaf(np.ones((4, 3))), _leaf(np.ones(4))       # the bias gradient is never shared
    F.linear(agk.zeros(0, 3, dtype=agk.float64), w, b).sum().backward()
    first = b.grad
    b.grad = None
    F.linear(agk.ones(2, 3, dtype=agk.float64), w, b).sum().backward()
    assert b.grad.tolist() == [2.0] * 4 and first.tolist() == [0.0] * 4


def _addmm_node(needs, seed=0):
    x, w, b = _make_inputs(_linear_operands(), needs)
    out = F.linear(x, w, b)
    g = np.random.default_rng(seed + 7).standard_normal(out.shape)
    return out, g, (x, w, b)


def _same_grads(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert (a is None) == (b is None)
        if a is not None:
            _assert_same(a._data if isinstance(a, Tensor) else a,
                         b._data if isinstance(b, Tensor) else b)


@pytest.mark.parametrize("needs", [n for n in itertools.product([True, False], repeat=3) if any(n)])
def test_addmm_run_backward_equals_the_reference(needs):
    reference, replacement = fast.REPLACED["Addmm._run_backward"]
    out, g, _ = _addmm_node(needs)
    node = out.grad_fn
    assert node._in_meta is None and L.Addmm._run_backward is replacement
    got = replacement(node, NUMPY_MATH, g, False)
    for ref in (fast._reference_run_backward, reference):
        _same_grads(got, ref(node, NUMPY_MATH, g, False))   # (neither frees what was saved)
    assert [x is None for x in got] == [not n for n in (needs[2], needs[0], needs[1])]


def test_addmm_run_backward_hands_over_and_keeps_the_errors(monkeypatch):
    _, replacement = fast.REPLACED["Addmm._run_backward"]
    reference = fast._reference_run_backward
    handed = _spy_on(monkeypatch, fast, "_reference_run_backward")
    # create_graph: tensors in, tensors with a graph out
    out, g, _ = _addmm_node((True,) * 3)
    gt = agk.tensor(g, requires_grad=True)
    got = replacement(out.grad_fn, gt._math, gt, True)
    assert len(handed) == 1 and all(x.grad_fn is not None for x in got)
    _same_grads(got, reference(out.grad_fn, gt._math, gt, True))
    # recorded by the reference Op.apply (input metadata kept): the reference replays it
    x, w, b = _make_inputs(_linear_operands(b_shape=(1,)))
    out = F.linear(x, w, b)
    assert out.grad_fn._in_meta is not None
    _same_grads(replacement(out.grad_fn, NUMPY_MATH, g, False),
                reference(out.grad_fn, NUMPY_MATH, g, False))
    assert len(handed) == 2
    # an in-place change of a saved tensor, then what was saved freed: the same errors
    out, g, (x, w, b) = _addmm_node((True,) * 3)
    with agk.no_grad():
        w.add_(1.0)
    errors = []
    for run in (replacement, reference):
        with pytest.raises(InplaceModifiedError) as info:
            run(out.grad_fn, NUMPY_MATH, g, False)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "input 2 of AddmmBackward0" in errors[0]
    out.grad_fn._release()
    errors = []
    for run in (replacement, reference):
        with pytest.raises(BackwardTwiceError) as info:
            run(out.grad_fn, NUMPY_MATH, g, False)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


# ==== MSELoss.apply ==============================================================================
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_equals_the_reference(reduction, needs, dtype):
    operands = (Leaf((6, 2), dtype), Leaf((6, 2), dtype))
    got, want = _both(lambda: _outcome(lambda a, b: F.mse_loss(a, b, reduction),
                                       _make_inputs(operands, needs)))
    _assert_same(got, want)
    assert got["value"].dtype == dtype
    a, b = _make_inputs(operands, needs)
    assert _node_made_by_a_shortcut(F.mse_loss(a, b, reduction)) == (any(needs)
                                                                      and reduction != "none")
    d = (a._data - b._data).astype(np.float64)
    expected = {"mean": (d * d).mean(), "sum": (d * d).sum(), "none": d * d}[reduction]
    np.testing.assert_allclose(got["value"], expected, rtol=1e-6 if dtype == np.float32 else 1e-13)
    # and the reference apply itself, called on the same inputs
    _assert_same(got, _outcome(lambda a, b: fast._reference_apply(L.MSELoss, a, b,
                                                                  reduction=reduction),
                               _make_inputs(operands, needs)))


_MSE_HANDOVERS = {
    "shapes differ": (Leaf((6, 1)), Leaf((6,)), "mean"),
    "dtypes differ": (Leaf((6, 2), np.float32), Leaf((6, 2)), "mean"),
    "int target": (Leaf((3,)), Leaf((3,), np.int64), "sum"),
    "int tensors": (Leaf((3,), np.int64), Leaf((3,), np.int64), "mean"),
    "a bad reduction": (Leaf((3,)), Leaf((3,)), "avg"),
    "a Parameter target": (Leaf((3,)), lambda: nn.Parameter(agk.tensor([1.0, 2.0, 3.0],
                                                                       dtype=agk.float64)), "mean"),
    "a number target": (Leaf((3,)), 1.0, "mean"),
}


@pytest.mark.parametrize("case", list(_MSE_HANDOVERS))
def test_mse_hands_other_cases_to_the_reference(case):
    *operands, reduction = _MSE_HANDOVERS[case]
    got, want = _both(lambda: _outcome(lambda a, b: F.mse_loss(a, b, reduction),
                                       _make_inputs(operands)))
    _assert_same(got, want)
    if case == "a bad reduction":
        assert got["error"] == ("ValueError", "mse_loss: reduction must be 'mean', 'sum' or "
                                              "'none', got 'avg'")


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("counter_before", [False, True])
def test_mse_catches_an_in_place_change_like_the_reference(which, counter_before):
    def scenario():
        a, b = _leaf(np.ones((3, 1))), _leaf(np.zeros((3, 1)))
        if counter_before:
            with agk.no_grad():
                a.mul_(1.0)
                b.mul_(1.0)
        loss = F.mse_loss(a, b)
        shortcut = _node_made_by_a_shortcut(loss)
        with agk.no_grad():
            (a, b)[which].add_(1.0)
        with pytest.raises(InplaceModifiedError) as info:
            loss.backward()
        return shortcut, str(info.value)

    (shortcut, got), (_, want) = _both(scenario)
    assert shortcut and got == want and f"input {which} of MseLossBackward0" in got


# ==== Op._run_backward ===========================================================================
_RUN_BACKWARD_CASES = {
    # ops saving their output
    "exp": lambda x, y: x.exp(), "tanh": lambda x, y: x.tanh(),
    "sigmoid": lambda x, y: x.sigmoid(), "relu": lambda x, y: x.relu(),
    "sqrt": lambda x, y: x.sqrt(), "reciprocal": lambda x, y: x.reciprocal(),
    # two saved inputs
    "mul": lambda x, y: x * y, "div": lambda x, y: x / y, "mul by a number": lambda x, y: x * 3.0,
    "a number divided": lambda x, y: 2.0 / y, "mse": lambda x, y: F.mse_loss(x, y, "sum"),
    "maximum": lambda x, y: agk.maximum(x, y), "matmul": lambda x, y: x @ y.t(),
    "broadcast mul (recorded with metadata)": lambda x, y: x * y[:1],
    "float32 times float64": lambda x, y: x.float() * y,
    # nothing saved
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "a number minus": lambda x, y: 2.0 - y,
    "neg": lambda x, y: -x, "sign": lambda x, y: x.sign(), "sum": lambda x, y: x.sum(0),
    # handed to the reference: one saved input, or input and output
    "log": lambda x, y: x.log(), "pow": lambda x, y: x ** 3, "pow tensor": lambda x, y: x ** y,
}


_ONE_INPUT = {"exp", "tanh", "sigmoid", "relu", "sqrt", "reciprocal", "mul by a number", "neg",
              "sign", "sum", "log", "pow"}


@pytest.mark.parametrize("case, needs", [
    (case, needs) for case in _RUN_BACKWARD_CASES
    for needs in ([(True, False)] if case in _ONE_INPUT else
                  [(True, True), (True, False), (False, True)])
    if not (case in ("a number divided", "a number minus") and not needs[1])])
def test_run_backward_equals_the_reference(case, needs):
    reference, replacement = fast.REPLACED["Op._run_backward"]
    assert reference is fast._reference_run_backward and Op._run_backward is replacement
    x, y = _make_inputs((Leaf((2, 3), positive=True), Leaf((2, 3), positive=True)), needs)
    out = _RUN_BACKWARD_CASES[case](x, y)
    node = out.grad_fn
    assert node is not None
    g = np.asarray(np.random.default_rng(5).standard_normal(out.shape), out._data.dtype)
    got = replacement(node, NUMPY_MATH, g, False)
    assert isinstance(got, (tuple, list)) and len(got) == len(node._next)
    _same_grads(got, reference(node, NUMPY_MATH, g, False))     # (neither frees what was saved)


def test_run_backward_with_create_graph_goes_to_the_reference(monkeypatch):
    reference, replacement = fast.REPLACED["Op._run_backward"]
    handed = _spy_on(monkeypatch, fast, "_reference_run_backward")
    for make in (lambda x, y: x.tanh(), lambda x, y: x * y, lambda x, y: x + y):
        x, y = _make_inputs((Leaf((2, 3)), Leaf((2, 3))))
        node = make(x, y).grad_fn
        g = agk.tensor(np.random.default_rng(2).standard_normal((2, 3)), requires_grad=True)
        got = replacement(node, g._math, g, True)
        assert all(t.requires_grad for t in got if t is not None)
        _same_grads(got, reference(node, g._math, g, True))
    assert len(handed) == 3
    # and through the engine: a second derivative, as on the reference path
    def second():
        x = _leaf(np.array([0.3, -1.2]))
        (gx,) = agk.autograd.grad((x * x * x).tanh().sum(), x, create_graph=True)
        gx.sum().backward()
        return [x.grad._data.copy(), gx._data.copy()]
    _assert_same(*_both(second))


def test_run_backward_keeps_the_errors():
    _, replacement = fast.REPLACED["Op._run_backward"]
    reference = fast._reference_run_backward

    def both_raise(node, g, kind):
        messages = []
        for run in (replacement, reference):
            with pytest.raises(kind) as info:
                run(node, NUMPY_MATH, g, False)
            messages.append(str(info.value))
        assert messages[0] == messages[1]
        return messages[0]

    g = np.ones(2)
    x, y = _leaf(np.array([0.5, 1.0])), _leaf(np.array([2.0, 3.0]))
    for make, which in ((lambda h: h.exp(), "the output of ExpBackward0"),
                        (lambda h: h * y, "input 0 of MulBackward0"),
                        (lambda h: y / h, "input 1 of DivBackward0")):
        h = x * 1.0
        out = make(h)
        node = out.grad_fn
        (out if which.startswith("the output") else h).add_(1.0)
        assert which in both_raise(node, g, InplaceModifiedError)
    for out in (x.exp(), x * y, F.mse_loss(x, y, "sum")):
        node = out.grad_fn
        node._release()
        both_raise(node, np.ones(out.shape), BackwardTwiceError)


# ==== Tensor.backward and plain_backward: the engine =============================================
def _hooked(log, name, t, replace=None):
    """A hook on ``t`` that logs (name, the array it was shown, a copy of it)."""
    def hook(g):
        log.append((name, g._data, g._data.copy()))
        return None if replace is None else replace(g)
    return t.register_hook(hook)


def _scenario_tanh_ladder(log):
    """A tree (leaves shared freely); a leaf hook that changes the gradient."""
    rng = np.random.default_rng(1)
    x, w, b = (_leaf(rng.standard_normal(s)) for s in ((4, 3), (3,), (4, 3)))
    _hooked(log, "w", w, lambda g: g * 2.0)
    h = x
    for _ in range(6):
        h = (h * w + b).tanh() * 0.5 + x
    return [x, w, b], (h * 3.0).sum(), []


def _scenario_paths_meet(log):
    """Four paths into y (the first two the same array), three into the leaf x."""
    x = _leaf(np.array([1.0, 2.0, 3.0]))
    y = x * 2.0
    y.retain_grad()
    _hooked(log, "y", y)
    _hooked(log, "x", x)
    z = y + y + y + y * 3.0
    w = x + x + x
    return [x], z.sum() + (w * 5.0).sum(), [y]


def _scenario_float32_chain(log):
    """Repeated contributions into two float32 leaves, summed in one order."""
    rng = np.random.default_rng(3)
    w = _leaf(rng.standard_normal(5).astype(np.float32))
    h0 = _leaf(rng.standard_normal(5).astype(np.float32))
    h = h0
    for _ in range(50):
        h = (h * w + w).tanh()
    return [w, h0], h.sum(), []


def _scenario_mlp(log):
    """Linear → relu → Linear → MSE: the TBackward0 pass-through, fresh gradients."""
    rng = np.random.default_rng(4)
    x = agk.tensor(rng.standard_normal((8, 3)))
    w1, b1, w2, b2 = (_leaf(rng.standard_normal(s)) for s in ((5, 3), (5,), (2, 5), (2,)))
    _hooked(log, "b2", b2)
    h = F.linear(x, w1, b1).relu()
    h.retain_grad()
    _hooked(log, "h", h)
    y = F.linear(h, w2, b2)
    return [w1, b1, w2, b2], F.mse_loss(y, agk.tensor(rng.standard_normal((8, 2)))), [h]


def _scenario_two_losses(log):
    """Two Linear layers sharing a weight, two losses added: not a tree."""
    rng = np.random.default_rng(5)
    x1, x2 = agk.tensor(rng.standard_normal((6, 3))), _leaf(rng.standard_normal((2, 3)))
    w, b = _leaf(rng.standard_normal((4, 3))), _leaf(rng.standard_normal(4))
    y1, y2 = F.linear(x1, w, b), F.linear(x2, w, b).tanh()
    return [x2, w, b], F.mse_loss(y1, y1 * 0.5, "sum") + (y2 * y2).sum(), []


def _scenario_shared_transpose(log):
    """One ``w.t()`` used by two ops (its TBackward0 has two consumers), next to Linear's own."""
    rng = np.random.default_rng(6)
    w, x, b = _leaf(rng.standard_normal((4, 3))), _leaf(rng.standard_normal((5, 3))), \
        _leaf(rng.standard_normal(4))
    wt = w.t()
    y = (x @ wt).sum() + (x.tanh() @ wt).sum()
    return [w, x, b], y + (F.linear(x, w, b) ** 2).sum(), []


def _scenario_hooked_transpose(log):
    """A ``w.t()`` with a hook and another with retain_grad: their TBackward0 nodes must run."""
    rng = np.random.default_rng(7)
    w1, w2, x, b = (_leaf(rng.standard_normal(s)) for s in ((4, 3), (2, 4), (5, 3), (4,)))
    wt1 = w1.t()
    _hooked(log, "wt1", wt1, lambda g: g * 0.5)
    wt2 = w2.t()
    wt2.retain_grad()
    h = L.Addmm.apply(b, x, wt1).relu()
    return [w1, w2, x, b], (h @ wt2).sum(), [wt2]


def _scenario_transpose_of_an_op(log):
    """The weight made by an op: TBackward0 passes the gradient on to it."""
    rng = np.random.default_rng(8)
    w, x, b = _leaf(rng.standard_normal((4, 3))), _leaf(rng.standard_normal((5, 3))), \
        _leaf(rng.standard_normal(4))
    return [w, x, b], F.linear(x, w * 2.0, b).sigmoid().sum(), []


def _scenario_fresh_ops(log):
    """Ops whose gradients are fresh arrays (relu, reciprocal, mul) meeting in-place, 0-d too."""
    rng = np.random.default_rng(9)
    x = _leaf(rng.standard_normal((3, 2)))
    s = _leaf(np.array(1.5))
    _hooked(log, "s", s)
    r = (x * s).relu()
    q = (x * x + 2.0).reciprocal()
    _hooked(log, "q", q)
    loss = (r * q).sum() + (r * 2.0).sum() + (q * s).sum() + (s * s * s)
    return [x, s], loss, []


def _scenario_custom_function(log):
    """A custom Function node reads as "not a tree"."""
    class Double(agk.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = _leaf(np.array([1.0, 2.0]))
    y = Double.apply(x * 1.0)
    _hooked(log, "y", y)
    return [x], (y * 3.0).sum(), []


def _scenario_rebased(log):
    """A node consumed, then its tensor changed in place (a new node on the old one)."""
    x = _leaf(np.array([1.0, -1.0]))
    h = x * 2.0
    k = h + 5.0
    h.add_(1.0)
    return [x], h.sum() + k.sum(), []


ENGINE_SCENARIOS = {f.__name__[len("_scenario_"):]: f for f in (
    _scenario_tanh_ladder, _scenario_paths_meet, _scenario_float32_chain, _scenario_mlp,
    _scenario_two_losses, _scenario_shared_transpose, _scenario_hooked_transpose,
    _scenario_transpose_of_an_op, _scenario_fresh_ops, _scenario_custom_function,
    _scenario_rebased)}


def _backward_with(how, loss, retain):
    if how in ("backward", "counted"):
        loss.backward(retain_graph=retain)              # Tensor.backward: the shortcut
    elif how == "plain_backward":
        fast.plain_backward(loss.grad_fn, np.ones(loss.shape, loss._data.dtype), retain)
    elif how == "autograd.backward":
        agk.autograd.backward(loss, retain_graph=retain)
    elif how == "run_backward":
        engine.run_backward([loss.grad_fn], [np.ones(loss.shape, loss._data.dtype)], retain)
    else:
        raise AssertionError(how)


ENGINES = ("backward", "counted", "plain_backward", "autograd.backward", "run_backward")


def _engine_outcome(scenario, how, calls=3):
    """Backward ``calls`` times (keeping the graph but for the last two): the leaves' and retained
    gradients after each call, errors, and the hook log."""
    log = []
    leaves, loss, retained = scenario(log)
    if how == "counted":
        loss.grad_fn._tree = False          # what a graph that is not a tree goes through
    steps = []
    for k in range(calls):
        try:
            _backward_with(how, loss, retain=k < calls - 2)
            error = None
        except Exception as exc:            # noqa: BLE001
            error = _error(exc)
        steps.append({"error": error, "grads": [_grad_of(t) for t in leaves],
                      "retained": [_grad_of(t) for t in retained]})
    _assert_owns_its_gradients(leaves, retained, log)
    # Each tensor's hooks: as often, with the same values, in the same order. (Across tensors the
    # order may differ: on a tree, plain_backward runs the leaves' hooks at the end.)
    hooks = {}
    for name, _, copy in log:
        hooks.setdefault(name, []).append(copy)
    return {"steps": steps, "hooks": hooks}


def _assert_owns_its_gradients(leaves, retained, log):
    """No leaf's .grad shares numbers with another leaf's, a retained .grad, or an array a hook
    was shown; and no array a hook was shown was changed afterwards."""
    grads = [t._grad._data for t in leaves if t._grad is not None]
    others = [t._grad._data for t in retained if t._grad is not None] + [a for _, a, _ in log]
    for i, g in enumerate(grads):
        for other in grads[i + 1:] + others:
            assert not np.shares_memory(g, other)
    for name, shown, copy in log:
        np.testing.assert_array_equal(shown, copy, err_msg=f"hook {name}'s array was changed")


@pytest.mark.parametrize("scenario", list(ENGINE_SCENARIOS))
def test_backward_equals_the_reference_engine(scenario, plain_calls):
    """Tensor.backward and plain_backward, on a tree or counting, against the reference engine:
    the same gradients bit for bit, hooks called as often with the same values, retain_grad,
    accumulation across calls, and the same error on a graph already freed."""
    build = ENGINE_SCENARIOS[scenario]
    outcomes = {how: _engine_outcome(build, how) for how in ENGINES}
    assert len(plain_calls) > 0                     # the shortcut ran (then the error, if any)
    with reference_path():                          # the graph recorded on the reference path too
        outcomes["reference path"] = _engine_outcome(build, "backward")
    want = outcomes["run_backward"]
    for how, got in outcomes.items():
        _assert_same(got, want, how)
    if scenario in ("tanh_ladder", "mlp", "float32_chain", "transpose_of_an_op"):
        _, loss, _ = build([])
        assert loss.grad_fn._tree


def test_repeated_contributions_summed_in_float32_like_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    grads = []
    for lib in (agk, torch):
        w = lib.tensor(a, requires_grad=True)
        h = lib.tensor(b, requires_grad=True)
        for _ in range(50):
            h = lib.tanh(h * w + w)
        h.sum().backward()
        grads.append(np.asarray(w.grad.detach().numpy()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_backward_hands_other_calls_to_the_reference(plain_calls):
    def scenario(call):
        x = _leaf(np.array([[0.5, -1.0], [2.0, 0.25]]))
        y = (x * x).tanh()
        call(x, y)
        return _grad_of(x)

    calls = {
        "a gradient given": lambda x, y: y.backward(agk.ones(2, 2, dtype=agk.float64) * 0.5),
        "a one-element output, gradient given": lambda x, y: y.sum().backward(agk.tensor(2.0,
                                                                          dtype=agk.float64)),
        "inputs=": lambda x, y: y.sum().backward(inputs=[x]),
        "create_graph": lambda x, y: y.sum().backward(create_graph=True),
        "a trace running": lambda x, y: _traced(y.sum()),
        "a leaf": lambda x, y: x[0, 0].detach().requires_grad_().backward(),
    }
    for name, call in calls.items():
        got, want = _both(scenario, call)
        _assert_same(got, want, name)
    assert plain_calls == []


def _traced(loss):
    with agk.autograd.trace_backward():
        loss.backward()


def test_backward_errors_equal_the_reference(plain_calls):
    def non_scalar():
        (_leaf(np.ones(3)) * 2).backward()

    def no_grad_at_all():
        agk.ones(1).backward()

    def twice():
        x = _leaf(np.array([1.0, 2.0]))
        loss = (x * x).sum()
        loss.backward()
        loss.backward()

    def twice_after_retain():
        x = _leaf(np.array([1.0, 2.0]))
        loss = x.exp().sum()
        loss.backward(retain_graph=True)
        loss.backward()
        loss.backward()

    for scenario, kind in ((non_scalar, RuntimeError), (no_grad_at_all, RuntimeError),
                           (twice, BackwardTwiceError), (twice_after_retain, BackwardTwiceError)):
        messages = []
        for path in (contextlib.nullcontext, reference_path):
            with path(), pytest.raises(kind) as info:
                scenario()
            messages.append(str(info.value))
        assert messages[0] == messages[1], scenario.__name__
    assert "one-element outputs" in _message(non_scalar)
    assert "does not require grad" in _message(no_grad_at_all)
    assert len(plain_calls) == 5        # each backward() of twice() and twice_after_retain()
    x = _leaf(np.array(2.0))
    x.backward()                        # a leaf: its own gradient is 1
    assert x.grad.item() == 1.0


def _message(scenario):
    with pytest.raises(Exception) as info:
        scenario()
    return str(info.value)


@pytest.mark.parametrize("make", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: (a - b) * 1.0 + b * 0.0,
    lambda a, b: a * 1.0 + b * 1.0, lambda a, b: F.mse_loss(a, b, "none"),
    lambda a, b: (a * b).relu() + a.relu(), lambda a, b: F.linear(a.reshape(1, 2), b.reshape(1, 2),
                                                                  a.sum().reshape(1))],
    ids=["add", "sub", "mixed", "two muls", "mse", "relu", "linear"])
def test_leaf_grad_never_shares_an_array_another_tensor_holds(make, plain_calls):
    """AddBackward0 sends one array to both inputs; each leaf gets its own."""
    def scenario():
        a, b = _leaf(np.array([1.0, 2.0])), _leaf(np.array([3.0, 4.0]))
        make(a, b).sum().backward()
        before = [_grad_of(a), _grad_of(b)]
        a.grad.add_(10.0)
        assert np.array_equal(b.grad._data, before[1])
        assert not np.shares_memory(a.grad._data, b.grad._data)
        return before
    _assert_same(*_both(scenario))
    assert plain_calls


@pytest.mark.parametrize("scenario, rules_run", [
    ("mlp", 0), ("two_losses", 0), ("transpose_of_an_op", 0),
    ("shared_transpose", 1), ("hooked_transpose", 2)])
def test_transpose_pass_through_equals_the_reference(scenario, rules_run, monkeypatch):
    """plain_backward skips a TBackward0 with one consumer, no hook and no retain_grad, passing ḡᵀ
    straight on; the others run their rule. Either way: the reference engine's gradients."""
    build = ENGINE_SCENARIOS[scenario]
    want = _engine_outcome(build, "run_backward", calls=1)
    with reference_path():
        _assert_same(_engine_outcome(build, "backward", calls=1), want)
    ran = _spy_on(monkeypatch, S.T, "_run_backward")
    for how in ("backward", "counted"):
        ran.clear()
        _assert_same(_engine_outcome(build, how, calls=1), want)
        assert len(ran) == rules_run, how


# ==== tree flags =================================================================================
def _op_edge_counts(root):
    return {n: c for n, c in engine.count_edges([root]).items() if n.__class__ is not AccumulateGrad}


def _assert_flag_is_sound(t):
    """If the graph below t says "tree", every op node in it really has one consumer there."""
    fn = t.grad_fn
    if fn is not None and fn._tree:
        assert set(_op_edge_counts(fn).values()) <= {1}


def test_tree_flag_follows_how_many_times_each_node_was_consumed():
    x = _leaf(np.array([1.0, 2.0]))
    w = _leaf(np.array([3.0, 4.0]))
    h = x * w
    a = (h * w + w).tanh()                   # leaves shared freely: still a tree
    assert a.grad_fn._tree
    b = h * 2.0                              # h's second consumer
    assert a.grad_fn._tree and not b.grad_fn._tree
    assert not (a + b).grad_fn._tree
    c = a.exp()
    assert not (c * c).grad_fn._tree         # one node used twice by one op
    p = x ** 2                               # recorded by Op.apply (with the tree flags)
    assert p.grad_fn._tree and (p.sum() * 2.0).grad_fn._tree and not (p + p).grad_fn._tree
    for t in (a, b, a + b, c * c, p):
        _assert_flag_is_sound(t)


def test_a_node_consumed_twice_is_summed_whichever_root_backward_starts_from():
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal(3))
    h = (x * 2.0).tanh()
    first = (h * 3.0).sum()              # recorded while h had one consumer: a tree
    second = h.sum()                     # h consumed again after `first` was recorded
    assert first.grad_fn._tree and not second.grad_fn._tree
    first.backward(retain_graph=True)
    expected = 3.0 * 2.0 * (1 - np.tanh(2.0 * x.detach().numpy()) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    x.grad = None
    (first + second).backward()          # through both consumers of h: summed
    np.testing.assert_allclose(x.grad.numpy(), expected * (4.0 / 3.0), rtol=1e-12)


def test_custom_function_nodes_make_the_graph_count_its_edges():
    assert Node._consumed is True and Node._tree is False       # the safe defaults
    _, loss, _ = _scenario_custom_function([])
    assert not loss.grad_fn._tree


def test_in_place_change_of_a_consumed_node_is_not_a_tree():
    x = _leaf(np.array([1.0, -1.0]))
    h = x * 2.0
    k = h + 5.0                              # h's first consumer
    h.add_(1.0)                              # records AddBackward0 on h's old node: a second use
    assert not h.grad_fn._tree
    (h.sum() + k.sum()).backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_tree_and_counted_backward_give_identical_gradients_and_leaf_hooks():
    tree = _engine_outcome(_scenario_tanh_ladder, "backward")
    counted = _engine_outcome(_scenario_tanh_ladder, "counted")
    _assert_same(tree, counted)
    assert len(tree["hooks"]["w"]) == 2     # once per backward that got through


_GRAPH_KINDS = (
    lambda a, b, bias: a * b,
    lambda a, b, bias: a + b,
    lambda a, b, bias: a.tanh(),
    lambda a, b, bias: a * 2.0,
    lambda a, b, bias: a - b,
    lambda a, b, bias: a.relu(),
    lambda a, b, bias: a.t(),
    lambda a, b, bias: F.linear(a, b, bias),
    lambda a, b, bias: 0.5 - a.sigmoid(),
    lambda a, b, bias: F.mse_loss(a, b, "none"),
)


def _random_graph(program):
    pool = [_leaf(np.array([[0.5, -0.25], [0.125, 0.75]])),
            _leaf(np.array([[0.75, -0.5], [0.375, 0.25]]))]
    bias = _leaf(np.array([0.1, -0.2]))
    for kind, i, j in program:
        pool.append(_GRAPH_KINDS[kind](pool[i % len(pool)], pool[j % len(pool)], bias))
    return pool, bias


def test_tree_flag_is_sound_on_random_graphs():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    def grads(program, how):
        pool, bias = _random_graph(program)
        root = pool[-1].sum()
        if how != "reference path":
            for t in pool[2:] + [root]:
                _assert_flag_is_sound(t)
        if root.grad_fn is None:
            return None
        if how == "counted":
            root.grad_fn._tree = False
        if how == "run_backward":
            engine.run_backward([root.grad_fn], [np.ones((), root._data.dtype)])
        else:
            root.backward()
        return [_grad_of(t) for t in pool[:2] + [bias]]

    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(_GRAPH_KINDS) - 1),
                                         st.integers(0, 30), st.integers(0, 30)),
                               min_size=1, max_size=25))
    @hypothesis.settings(max_examples=200, deadline=None)
    def check(program):
        with np.errstate(all="ignore"):
            want = grads(program, "run_backward")
            pool, _ = _random_graph(program)
            reorders = _transpose_pass_through_may_reorder(pool[-1].sum())
            for how in ("backward", "counted"):
                got = grads(program, how)
                if reorders:
                    hypothesis.event("TBackward0 input with 3+ gradients")
                _assert_same(got, want, how)
            with reference_path():
                _assert_same(grads(program, "reference path"), want, "reference path")

    check()


def _transpose_pass_through_may_reorder(root):
    """plain_backward passes ḡᵀ through a TBackward0 straight to its input, earlier than the
    reference engine would run the TBackward0: where that input receives 3 or more gradients they
    are then summed in another order (last-bit differences)."""
    if root.grad_fn is None:
        return False
    counts = engine.count_edges([root.grad_fn])
    return any(n.__class__ is S.T and counts.get(n._next[0], 0) >= 3 for n in counts)


def test_transpose_pass_through_keeps_the_order_of_the_sums():
    def scenario():
        b = _leaf(np.array([[0.75, -0.5], [0.375, 0.25]]))
        bias = _leaf(np.array([0.1, -0.2]))
        return b, (b * F.linear(b * b, b, bias)).sum()   # b: 4 gradients, one through b.t()

    b, loss = scenario()
    loss.backward()
    b_ref, loss_ref = scenario()
    engine.run_backward([loss_ref.grad_fn], [np.ones(())])
    assert _transpose_pass_through_may_reorder(loss)
    _assert_same(_grad_of(b), _grad_of(b_ref))


def test_linear_and_mse_keep_the_tree_flags():
    rng = np.random.default_rng(2)
    x, w, b = (_leaf(rng.standard_normal(s)) for s in ((4, 3), (2, 3), (2,)))
    target = agk.zeros(4, 2, dtype=agk.float64)
    h = (x * 1.5).tanh()
    y1 = F.linear(h, w, b)                           # h's first consumer
    assert y1.grad_fn._tree and F.mse_loss(y1, target).grad_fn._tree
    y2 = F.linear(h, w * 2.0, b)                     # h again, and a weight made by an op
    assert not y2.grad_fn._tree
    y3 = F.linear(x, w * 2.0, b)                     # a weight made by an op, consumed once
    assert y3.grad_fn._tree
    assert not F.mse_loss(y1, y1 * 0.5).grad_fn._tree   # y1 consumed twice
    for t in (y1, y2, y3, y1 + y2):
        _assert_flag_is_sound(t)
    loss = F.mse_loss(y1 + y2, target, "sum")
    assert not loss.grad_fn._tree
    loss.backward()
    got = [_grad_of(t) for t in (x, w, b)]
    # the same computation written with plain ops, differentiated by the reference path
    with reference_path():
        xs, ws, bs = (_leaf(t.detach().numpy()) for t in (x, w, b))
        hs = (xs * 1.5).tanh()
        ys = (hs @ ws.T + bs) + (hs @ (ws * 2.0).T + bs)
        (ys * ys).sum().backward()
    for g, t in zip(got, (xs, ws, bs)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_an_op_node_made_by_hand_without_tree_flags_can_be_consumed():
    """Regression: a node made by hand (as a learner, or a library, may do) has no tree flags of
    its own; the defaults on Node make it read as "consumed, not a tree" instead of failing with
    AttributeError: '_consumed'."""
    def by_hand(x, w, in_meta):
        node = object.__new__(E.Mul)
        node._next = (x._accumulator(), w._accumulator())
        node._saved, node._versions = (x, w), (x._version, w._version)
        node._in_meta, node._make = in_meta, Tensor._make
        return Tensor._make(x._data * w._data, node, True)

    rng = np.random.default_rng(3)
    data = [rng.standard_normal(3), rng.standard_normal(3)]
    for in_meta in (None, (((3,), np.dtype(np.float64)),) * 2):
        x, w = (_leaf(d) for d in data)
        y = by_hand(x, w, in_meta)
        assert "_consumed" not in vars(y.grad_fn) and "_tree" not in vars(y.grad_fn)
        z = (y.tanh() * 3.0).sum() + (y * y).sum()      # consumed by ops, twice
        assert not z.grad_fn._tree
        z.backward()
        xr, wr = (_leaf(d) for d in data)
        with reference_path():
            yr = xr * wr
            ((yr.tanh() * 3.0).sum() + (yr * yr).sum()).backward()
        _assert_same([_grad_of(x), _grad_of(w)], [_grad_of(xr), _grad_of(wr)])


# ==== SGD.step ===================================================================================
def _sgd_scenario(steps=3, closure=False, **groups_settings):
    """A few steps of SGD on two parameter groups (one parameter without a gradient)."""
    rng = np.random.default_rng(11)
    p1 = nn.Parameter(agk.tensor(rng.standard_normal((3, 2)).astype(np.float32)))
    p2 = nn.Parameter(agk.tensor(rng.standard_normal(4)))
    idle = nn.Parameter(agk.ones(2))
    second = {"params": [p2, idle], "lr": 0.05, **groups_settings.pop("second", {})}
    opt = SGD([{"params": [p1]}, second], lr=0.1, **groups_settings)

    def loss_fn():
        return (p1 * p1).sum() * 0.5 + (p2.tanh() * 3.0).sum()

    returned = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn().backward()
        returned.append(opt.step(loss_fn) if closure else opt.step())
    return {"params": [p._data.copy() for p in (p1, p2, idle)],
            "versions": [p._version for p in (p1, p2, idle)],
            "returned": [None if r is None else r._data.copy() for r in returned]}


def test_plain_sgd_step_equals_the_reference(monkeypatch):
    reference, replacement = fast.REPLACED["SGD.step"]
    assert SGD.step is replacement and reference is fast._reference_sgd_step
    handed = _spy_on(monkeypatch, fast, "_reference_sgd_step")
    got = _sgd_scenario()
    assert handed == []                     # the plain loop ran
    with reference_path():
        want = _sgd_scenario()
    _assert_same(got, want)
    assert got["versions"] == [3, 3, 0] and got["params"][0].dtype == np.float32


@pytest.mark.parametrize("settings", [
    dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(momentum=0.5, dampening=0.3),
    dict(weight_decay=0.1), dict(maximize=True), dict(closure=True),
    dict(second=dict(momentum=0.9)), dict(dampening=0.3)],
    ids=["momentum", "nesterov", "dampening", "weight_decay", "maximize", "closure",
         "momentum in one group", "dampening alone"])
def test_sgd_hands_other_settings_to_the_reference(settings, monkeypatch):
    handed = _spy_on(monkeypatch, fast, "_reference_sgd_step")
    scenario = lambda: _sgd_scenario(**{k: (dict(v) if isinstance(v, dict) else v)
                                        for k, v in settings.items()})
    got = scenario()
    plain = set(settings) == {"dampening"}      # dampening matters only with momentum
    assert (handed == []) == plain
    with reference_path():
        want = scenario()
    _assert_same(got, want)


def test_plain_sgd_bumps_the_version_so_a_stale_graph_is_refused():
    def scenario():
        w = nn.Parameter(agk.ones(3))
        assert w._vcs is None               # no counter yet: the step must create it
        loss = (w * w).sum()
        (w * 2).sum().backward()
        SGD([w], lr=0.5).step()
        assert w._version == 1 and w.tolist() == [0.0, 0.0, 0.0]
        with pytest.raises(InplaceModifiedError) as info:
            loss.backward()
        return str(info.value)

    got, want = _both(scenario)
    assert got == want and "MulBackward0" in got


# ==== nn.Module: attributes mirrored in the instance dict ========================================
def _module_routes():
    """Every route that changes a module's attributes; a transcript of everything readable."""
    m = nn.Module()
    p, q = nn.Parameter(agk.ones(2)), nn.Parameter(agk.zeros(2))
    known = {"p": p, "q": q}
    transcript = []

    def describe(v):
        for name, obj in known.items():
            if v is obj:
                return name
        return None if v is None else f"<{type(v).__name__}>"

    def look(step):
        reads = {}
        for name in ("w", "v", "child", "running", "plain"):
            try:
                reads[name] = describe(getattr(m, name))
            except AttributeError as exc:
                reads[name] = _error(exc)
        transcript.append((step, reads, [n for n, _ in m.named_parameters()],
                           [n for n, _ in m.named_buffers()], [n for n, _ in m.named_children()],
                           [n for n in ("w", "v", "child", "running", "plain") if n in dir(m)]))

    m.w = p
    assert m.w is p and m._parameters["w"] is p
    look("assign a parameter")
    m.w = None                              # unregisters the value, keeps the name
    assert m.w is None and m._parameters["w"] is None
    look("assign None")
    m.w = q
    assert m.w is q
    look("assign another")
    m.register_parameter("v", p)
    m.register_buffer("running", agk.zeros(3))
    known["child"] = nn.Linear(2, 2)
    m.add_module("child", known["child"])
    assert m.v is p and m.running is m._buffers["running"] and m.child is m._modules["child"]
    look("register each kind")
    known["running"] = agk.ones(3)
    m.running = known["running"]            # a buffer stays a buffer
    assert m.running is m._buffers["running"] and m.running.tolist() == [1.0] * 3
    look("reassign a buffer")
    with pytest.raises(TypeError, match="cannot assign Linear as parameter 'w'") as info:
        m.w = nn.Linear(1, 1)               # refused, as PyTorch does; nothing changes
    transcript.append(str(info.value))
    assert m.w is q and m._parameters["w"] is q
    look("refused assignment")
    del m.w
    look("delete a parameter")
    known["w module"] = nn.Linear(1, 1)
    m.w = known["w module"]                 # the name freed, then reused for a module
    assert "w" not in m._parameters and m.w is m._modules["w"]
    look("reuse the name for a module")
    m.plain = 5
    m.register_buffer("none buffer", None)
    look("a plain attribute, a None buffer")
    m.running = None
    look("buffer set to None")
    m.running = 7                           # not a tensor: a plain attribute instead
    look("buffer replaced by a plain value")
    del m.v, m.child, m.running, m.plain
    for name in ("v", "child", "running", "plain"):
        assert not hasattr(m, name)
    look("delete every kind")
    with pytest.raises(AttributeError) as info:
        del m.nothing
    transcript.append(_error(info.value))
    with pytest.raises(TypeError) as info:
        m.register_parameter("bad", agk.ones(1))
    transcript.append(_error(info.value))
    look("refused registration")
    assert [n for n, _ in m.named_parameters()] == ["w.weight", "w.bias"]
    assert "w" in dir(m) and len(dir(m)) == len(set(dir(m)))
    return transcript


def test_module_attributes_mirror_the_registries_through_every_route():
    got, want = _both(_module_routes)
    _assert_same(got, want)
    m, p = nn.Module(), nn.Parameter(agk.ones(1))
    m.w = p
    assert m.__dict__["w"] is p             # mirrored: read without __getattr__
    with reference_path():
        m2 = nn.Module()
        m2.w = p
        assert "w" not in m2.__dict__       # the reference keeps it in the registry only


def _register_over_a_plain_attribute():
    m = nn.Module()
    m.x = 5
    with pytest.raises(KeyError, match="attribute 'x' already exists") as info:
        m.register_parameter("x", nn.Parameter(agk.ones(1)))     # as PyTorch
    return type(m.x).__name__, str(info.value)


def _buffer_over_a_parameter():
    m = nn.Module()
    m.w = nn.Parameter(agk.ones(1))
    with pytest.raises(KeyError, match="attribute 'w' already exists") as info:
        m.register_buffer("w", agk.zeros(1))
    return type(m.w).__name__, str(info.value)


def _write_into_the_registry():
    m = nn.Module()
    m.w = nn.Parameter(agk.ones(1))
    m._parameters["w"] = nn.Parameter(agk.zeros(1))
    return m.w.tolist()


@pytest.mark.parametrize("route", [_register_over_a_plain_attribute, _buffer_over_a_parameter,
                                   _write_into_the_registry],
                         ids=["register over a plain attribute", "buffer over a parameter",
                              "write into the registry"])
def test_module_mirror_on_rare_routes(route):
    got, want = _both(route)
    assert got == want


@pytest.mark.parametrize("which", ["Relu", "MSELoss-mean", "MSELoss-sum", "MSELoss-target-grad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_mse_run_backward_equal_the_reference(which, dtype):
    """The two inline replays give the reference's gradients bit for bit, hand create_graph and
    nodes recorded by the reference to it, and raise the same errors."""
    rng = np.random.default_rng(5)
    owner = "Relu" if which == "Relu" else "MSELoss"
    _, replacement = fast.REPLACED[f"{owner}._run_backward"]
    reference = fast._reference_run_backward

    def node_and_inputs():
        a = agk.tensor(rng.standard_normal((6, 2)).astype(dtype), requires_grad=True)
        if which == "Relu":
            return a.relu(), (a,)
        b = agk.tensor(rng.standard_normal((6, 2)).astype(dtype),
                       requires_grad=which.endswith("target-grad"))
        return nn.functional.mse_loss(a, b, reduction="sum" if which.endswith("sum") else "mean"), (a, b)

    out, inputs = node_and_inputs()
    g = np.asarray(rng.standard_normal(out.shape)).astype(dtype)
    got = replacement(out.grad_fn, NUMPY_MATH, g, False)
    _same_grads(got, reference(out.grad_fn, NUMPY_MATH, g, False))
    gt = agk.tensor(g, requires_grad=True)                      # create_graph: the reference's
    _same_grads(replacement(out.grad_fn, gt._math, gt, True), reference(out.grad_fn, gt._math, gt, True))
    out, inputs = node_and_inputs()                             # an in-place change: one error
    with agk.no_grad():
        (out if which == "Relu" else inputs[-1]).add_(1.0)
    errors = []
    for run in (replacement, reference):
        with pytest.raises(InplaceModifiedError) as info:
            run(out.grad_fn, NUMPY_MATH, g, False)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    out, _ = node_and_inputs()                                  # freed: one error
    out.grad_fn._release()
    errors = []
    for run in (replacement, reference):
        with pytest.raises(Exception) as info:
            run(out.grad_fn, NUMPY_MATH, g, False)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]



# ==== saved-tensor hooks and anomaly mode: the recording shortcuts step aside ====================
def _recording_is_reference():
    replacements = {label: _func(new) for label, (_, new) in fast.REPLACED.items()}
    for label, new in replacements.items():
        want = _func(fast.REPLACED[label][0]) if label in fast.RECORDING else new
        if _live(label) is not want:
            return False
    return True


def _all_shortcuts_in_place():
    return all(_live(label) is _func(new) for label, (_, new) in fast.REPLACED.items())


def test_hooks_anomaly_and_dual_levels_nest_in_any_order():
    """Each is a reason for the reference recording (``graph.need_reference`` counts them): the
    shortcuts come back only when the last one ends, whatever the order, exceptions included."""
    import warnings
    from autogradkit.autograd import forward_ad
    from autogradkit.autograd.graph import saved_tensors_hooks
    hooks = saved_tensors_hooks(lambda t: t, lambda t: t)
    assert _all_shortcuts_in_place()
    forward_ad.enter_dual_level()
    hooks.__enter__()
    forward_ad.exit_dual_level()            # the level ends first: the hooks still need it
    assert _recording_is_reference()
    hooks.__exit__(None, None, None)
    assert _all_shortcuts_in_place()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with agk.autograd.detect_anomaly():
                with forward_ad.dual_level():
                    with hooks:
                        assert _recording_is_reference()
                    assert _recording_is_reference()
                assert _recording_is_reference()
                raise KeyError("leave by an exception")
        except KeyError:
            pass
    assert _all_shortcuts_in_place()
    agk.autograd.set_detect_anomaly(True)
    assert _recording_is_reference()
    agk.autograd.set_detect_anomaly(True)   # (already on: still one reason)
    agk.autograd.set_detect_anomaly(False)
    assert _all_shortcuts_in_place()


@pytest.mark.parametrize("case", ["exp (saves its output)", "mul (saves two inputs)",
                                  "relu", "linear + mse", "pow (saves both)"])
def test_nodes_saved_under_hooks_replay_like_the_reference(case):
    """A node saved under hooks holds ``Packed`` values: the replay shortcuts hand it to the
    reference, which unpacks it; the gradients and the unpack calls are the same on both paths."""
    from autogradkit.autograd.graph import saved_tensors_hooks
    programs = {
        "exp (saves its output)": lambda x, w: (x.exp() * 1.0).sum(),
        "mul (saves two inputs)": lambda x, w: (x * x).sum(),
        "relu": lambda x, w: x.relu().sum(),
        "linear + mse": lambda x, w: F.mse_loss(F.linear(x, w, w[:, 0] * 1), agk.zeros(4, 2)),
        "pow (saves both)": lambda x, w: (x.abs() ** w[:, :3]).sum(),
    }

    def run():
        unpacked = []
        x = agk.tensor(np.linspace(-1, 1, 12).reshape(4, 3), requires_grad=True)
        w = agk.tensor(np.linspace(0.5, 2, 6).reshape(2, 3), requires_grad=True)
        if case == "pow (saves both)":
            w = agk.tensor(np.linspace(0.5, 2, 12).reshape(4, 3), requires_grad=True)
        with saved_tensors_hooks(lambda t: t.detach().numpy().copy(),
                                 lambda a: unpacked.append(1) or agk.from_numpy(a)):
            loss = programs[case](x, w)
        loss.backward()
        return [t.grad._data for t in (x, w) if t.grad is not None], len(unpacked)
    got, n_got = run()
    with reference_path():
        want, n_want = run()
    assert n_got == n_want > 0
    _assert_same(got, want)


def test_backward_under_anomaly_mode_runs_on_the_reference_engine(monkeypatch):
    import warnings
    calls = []
    monkeypatch.setattr(fast, "plain_backward", lambda *a: calls.append(a))
    x = _leaf(np.array([-1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with agk.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="SqrtBackward0"):
                x.sqrt().sum().backward()
    assert calls == []
    (x * 2.0).sum().backward()
    assert len(calls) == 1
