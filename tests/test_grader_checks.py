"""Checks that cannot be passed without doing the work, and progress that survives a restart
(issue 13): each test reproduces a defect first, then proves it fixed.

1. The right answer cannot be read from the checker's frames while the learner's code runs: a
   "snooping" answer (the solution, wrapped) looks into every checker frame each time it is
   called, and no number, array or tensor there may equal what the solution then produces; and a
   hostile answer that walks ``inspect.stack()`` / ``sys._getframe()`` / ``sys._current_frames()``
   and hands back what it finds passes no task of ex1–ex9 or of the course turns nb02–nb06.
2. An answer that *calls* a course turn's reference implementation (a wrapper, a subclass, the
   reference under another name) fails under ``check``/``use``/the grader, for every turn.
3. ``check``/``use`` save each task's latest status beside the notebook; ``progress()`` after a
   restart shows it; a broken file or folder never breaks a check.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import inspect
import io
import json
import math
import os
import re
import sys
import threading
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autogradkit as ag
from autogradkit import nn, optim
from autogradkit.exercises import EXERCISES, TURNS, core, guards, load

ROOT = Path(__file__).resolve().parents[1]
# each course turn module's solution source, found by its metadata
TURN_SOURCES = {nbformat.read(p, as_version=4).metadata["autogradkit"]["exercise"]: p.stem
                for p in sorted((ROOT / "notebooks" / "source").glob("[0-9][0-9]_*.ipynb"))}
ALL_TASKS = [(e, name) for e in EXERCISES + TURNS for name in load(e).tasks]


@pytest.fixture(autouse=True)
def _no_progress_file(monkeypatch):
    """No test here writes a progress file unless it asks for one."""
    monkeypatch.setenv(core.PROGRESS_ENV, "off")


_SOLUTIONS = {}


def solutions(exercise_id):
    """A fresh namespace with the solutions: an exercise's source notebook run cell by cell, or
    the cells of a course notebook's source that define its turns' answers."""
    ex = load(exercise_id)
    if exercise_id in EXERCISES:
        nb = nbformat.read(ROOT / "exercises" / "source" / f"{exercise_id}.ipynb", as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
    else:
        nb = nbformat.read(ROOT / "notebooks" / "source" / f"{TURN_SOURCES[exercise_id]}.ipynb",
                           as_version=4)
        pattern = re.compile(rf"^(?:def|class)\s+({'|'.join(ex.tasks)})\b", re.M)
        imports = re.compile(r"^\s*(?:#.*|import\s.*|from\s+\S+\s+import\s.*|)$")
        cells = [c.source for c in nb.cells if c.cell_type == "code" and (
            pattern.search(c.source) or all(imports.match(ln) for ln in c.source.splitlines()))]
    ns = {"__name__": "__notebook__", "math": math, "np": np, "ag": ag, "nn": nn, "optim": optim}
    saved = os.environ.get(core.PROGRESS_ENV)
    os.environ[core.PROGRESS_ENV] = "off"              # the notebook's own check cells save nothing
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for source in cells:
                exec(compile(source, f"<{exercise_id}>", "exec"), ns)
    finally:
        if saved is None:
            del os.environ[core.PROGRESS_ENV]
        else:
            os.environ[core.PROGRESS_ENV] = saved
    return ns


# ---- 1a. a snooping answer: nothing in a checker frame equals what the solution produces ---------
def _numbers(value):
    """``[(id of the object it came from, float64 array)]`` for every number, array and tensor
    (and tensor .grad) in ``value``: containers, modules, optimizers and Value-like objects are
    looked into (a few levels deep)."""
    out, seen, todo = [], set(), collections.deque([(value, 0)])
    while todo:                                     # breadth first: each object at its least depth
        v, depth = todo.popleft()
        if v is None or id(v) in seen or depth > 3 or isinstance(v, (bool, np.bool_, str, bytes)):
            continue
        seen.add(id(v))
        try:
            if isinstance(v, (int, float, np.integer, np.floating)):
                out.append((id(v), np.array(float(v))))
            elif isinstance(v, np.ndarray):
                if v.dtype.kind in "iuf":
                    out.append((id(v), v.astype(np.float64)))
            elif isinstance(v, ag.Tensor):
                data = v._data
                out.append((id(v), np.array(data if type(data) is np.ndarray else data.get(),
                                            dtype=np.float64)))
                todo.append((v.__dict__.get("_grad", v.__dict__.get("grad")), depth + 1))
            elif isinstance(v, nn.Module):
                todo += [(p, depth + 1) for p in v.__dict__.get("_parameters", {}).values()]
                todo += [(m, depth + 1) for m in v.__dict__.get("_modules", {}).values()]
            elif isinstance(v, (list, tuple)):
                if v and all(_plain(x) or (isinstance(x, (list, tuple)) and all(map(_plain, x)))
                             for x in v):
                    try:
                        out.append((id(v), np.asarray(v, dtype=np.float64)))
                    except ValueError:                  # ragged
                        pass
                todo += [(x, depth + 1) for x in list(v)[:50]]
            elif isinstance(v, dict):
                todo += [(x, depth + 1) for x in list(v.values())[:50]]
            elif not isinstance(v, (types.FunctionType, types.ModuleType, type,
                                    types.MethodType)):
                state = getattr(v, "__dict__", None)
                if isinstance(state, dict):
                    todo += [(x, depth + 1) for x in list(state.values())[:50]]
                for name in getattr(type(v), "__slots__", ()):   # a scalar engine's Value
                    todo.append((getattr(v, name, None), depth + 1))
        except Exception:                               # noqa: BLE001 - whatever can be read
            pass
    return out


def _plain(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _checker_frames(thread):
    """The frames of autogradkit.exercises' code on ``thread``'s stack."""
    frames, f = [], sys._current_frames().get(thread)
    while f is not None:
        if (f.f_globals.get("__name__") or "").startswith("autogradkit.exercises"):
            frames.append(f)
        f = f.f_back
    return frames


def _same(a, b):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def _telling(a):
    """Worth comparing: finite, not all whole numbers (no loop counter or count matches), and not
    all within ``_same``'s absolute tolerance of 0 (5e-200 would "equal" every zero held)."""
    return (a.size >= 1 and bool(np.all(np.isfinite(a))) and not np.all(a == np.round(a))
            and not np.all(np.abs(a) <= 1e-9))


# The snooping runs on a thread of its own, started now, before any check: the guards' profiler
# (which follows new threads) never sees it, so it is not taken for the learner's code.
_SNOOPER = concurrent.futures.ThreadPoolExecutor(max_workers=1)
_SNOOPER.submit(lambda: None).result()


class Snoop:
    """Wraps a solution; at each call, what the checker's frames held before it ran is compared
    with what it produced. A held value is a leak when it equals a product and is neither
    something the learner's code can see anyway (its inputs, objects it holds) nor one of its
    own earlier results."""

    def __init__(self):
        self.leaks, self.produced = [], []

    def _before(self, thread, given):
        visible = [a for _, a in _numbers(given)]
        held = [(f"{f.f_code.co_name}: {name}", i, a) for f in _checker_frames(thread)
                for name, v in list(f.f_locals.items()) for i, a in _numbers(v)]
        return visible, held

    def _after(self, given, value, visible, held):
        mine = _numbers([given, value])
        learner_ids = {i for i, _ in mine} | {id(x) for x in given}
        unchanged = {(i, a.tobytes()) for _, i, a in held}
        products = [a for i, a in mine if _telling(a)
                    and (i, a.tobytes()) not in unchanged
                    and not any(_same(a, b) for b in visible)]
        for where, i, a in held:
            if i in learner_ids or any(_same(a, b) for b in visible + self.produced):
                continue
            if any(_same(a, p) for p in products):
                self.leaks.append(where)
        self.produced += products

    def wrap(self, fn):
        def snooping(*args, **kwargs):
            given = list(args) + list(kwargs.values())
            thread = threading.get_ident()
            visible, held = _SNOOPER.submit(self._before, thread, given).result()
            value = fn(*args, **kwargs)
            _SNOOPER.submit(self._after, given, value, visible, held).result()
            return value
        return snooping

    @contextlib.contextmanager
    def into_class(self, cls):
        """Wrap every method of ``cls`` (and its bases from the notebook) in place."""
        saved = []
        for klass in cls.__mro__:
            if klass.__module__.startswith(("autogradkit", "builtins")):
                continue
            for name, v in list(vars(klass).items()):
                if isinstance(v, staticmethod):
                    saved.append((klass, name, v))
                    setattr(klass, name, staticmethod(self.wrap(v.__func__)))
                elif isinstance(v, types.FunctionType):
                    saved.append((klass, name, v))
                    setattr(klass, name, self.wrap(v))
        try:
            yield cls
        finally:
            for klass, name, v in saved:
                setattr(klass, name, v)


@pytest.mark.parametrize("exercise_id,task", ALL_TASKS)
def test_no_checker_frame_holds_the_right_answer_while_the_learner_s_code_runs(exercise_id, task):
    """Reproduced first: ex4/ex9's ``_case`` held ``expected`` (and the checks ``ga, gb``), ex3's
    rules ``right``, ex6 ``right``/``total``/``history``/``states``, ex7 ``want``/``ref_model``,
    ex8 ``want``, ex5 the reference optimizer, nb03 the forward's ``right`` — all while the
    learner's code ran. Now the right answers are worked out after it returns."""
    ex, ns, snoop = load(exercise_id), solutions(exercise_id), Snoop()
    answer = ns[task]
    if ex.tasks[task].kind == "class":
        with snoop.into_class(answer):
            result = ex.evaluate(answer, task)
    else:
        result = ex.evaluate(snoop.wrap(answer), task)
    assert result.passed, result.report()
    assert not snoop.leaks, f"the right answer was in {sorted(set(snoop.leaks))}"


# ---- 1b. a hostile answer that returns what it finds in the checker's frames ---------------------
SUSPECTS = ("expected", "right", "ref", "want", "e", "exact", "answer", "target", "total")


def _loot():
    """What a thief finds: every number, array, tensor, list or dict in a checker frame —
    through inspect.stack(), sys._getframe() and sys._current_frames() — suspicious names
    first."""
    frames = [info.frame for info in inspect.stack(0)]
    for start in [sys._getframe(0)] + list(sys._current_frames().values()):
        f = start
        while f is not None:
            frames.append(f)
            f = f.f_back
    first, rest, seen = [], [], set()
    for f in frames:
        if id(f) in seen or not (f.f_globals.get("__name__") or "").startswith(
                "autogradkit.exercises"):
            continue
        seen.add(id(f))
        for name, v in list(f.f_locals.items()):
            if callable(v) or isinstance(v, (str, bool, types.ModuleType)) or v is None:
                continue
            (first if name in SUSPECTS else rest).append(v)
    return first + rest


def _as_tensor_like(value, like):
    if isinstance(like, ag.Tensor) and not isinstance(value, ag.Tensor):
        try:
            return like * 0 + ag.tensor(np.asarray(value, dtype=np.float32))
        except Exception:                           # noqa: BLE001
            return value
    return value


def _thief(k, wrap):
    def steal(*args, **kwargs):
        loot = _loot()
        value = loot[k] if k < len(loot) else None
        return _as_tensor_like(value, args[0]) if wrap and args else value
    return steal


def _class_thief(k):
    class Thief(nn.Module):
        """A module, loss or optimizer that does nothing but hand back what it finds."""

        def __init__(self, *args, **kwargs):
            super().__init__()
            self.given = [a for a in args if isinstance(a, (list, tuple, types.GeneratorType))]
            self.params = list(self.given[0]) if self.given else []

        def forward(self, *args):
            loot = _loot()
            return _as_tensor_like(loot[k] if k < len(loot) else None, args[0])

        def step(self):
            loot = [a for v in _loot() for a in _numbers(v)]
            with ag.no_grad():
                for p in self.params:
                    same = [a for a in loot if a.shape == tuple(p.shape)]
                    if k < len(same):
                        p.copy_(ag.tensor(same[k].astype(np.float32)))

        def zero_grad(self):
            for p in self.params:
                p.grad = None
    return Thief


@pytest.mark.parametrize("exercise_id,task", ALL_TASKS)
def test_an_answer_that_reads_the_checker_s_frames_passes_nothing(exercise_id, task):
    ex = load(exercise_id)
    spec = ex.tasks[task]
    for k in range(12):
        if spec.kind == "class":
            answers = [_class_thief(k)]
        else:
            answers = [_thief(k, wrap=False), _thief(k, wrap=True)]
        for answer in answers:
            answer.__name__ = task
            result = ex.evaluate(answer, task, time_limit=20)
            assert not result.passed, (k, result.report())


# ---- 2. the reference implementation cannot be handed in -----------------------------------------
TURN_TASKS = [(e, name) for e in TURNS for name in load(e).tasks]


def _calling_reference(turn, name):
    """An answer that calls the task's reference: a subclass for a class, else a wrapper
    function (reaching it as ``turn.tasks[name].reference``)."""
    reference = turn.tasks[name].reference
    if isinstance(reference, type):
        return type(name, (reference,), {})
    ns = {"reference": turn.tasks[name].reference}
    exec(f"def {name}(*args, **kwargs):\n    return reference(*args, **kwargs)", ns)
    return ns[name]


@pytest.mark.parametrize("exercise_id,task", TURN_TASKS)
def test_an_answer_that_calls_the_reference_fails_check_and_use(exercise_id, task, capsys):
    """Reproduced first: a wrapper of nb02's/nb04–nb06's reference (or a subclass of a reference
    class) passed ``check`` — only the reference object itself was "not started"."""
    turn = load(exercise_id)
    answer = _calling_reference(turn, task)
    result = turn.evaluate(answer, task, reference_counts=False)
    assert result.status == "wrong", result.report()
    assert (f"your code called the reference {task} (the notebook's reference implementation) — "
            "the task is to write it") == result.message
    assert result.misconception == turn.reference_key
    assert result.hint and result.label
    went_on = turn.use(answer, task)
    out = capsys.readouterr().out
    assert went_on is turn.tasks[task].reference
    assert "your code called the reference" in out and "goes on with the reference" in out


def test_the_reference_under_another_name_or_module_attribute_is_caught():
    from autogradkit.exercises import nb04_tensors as nb04
    ns = {"np": np, "nb04": nb04}
    exec("mine = nb04._reference_matmul_vjp\n"
         "def matmul_vjp(Y_bar, X, W):\n    return mine(Y_bar, X, W)\n", ns)
    result = nb04.evaluate(ns["matmul_vjp"], reference_counts=False)
    assert "your code called the reference matmul_vjp" in result.message
    assert nb04.evaluate(ns["mine"], "matmul_vjp", reference_counts=False).status == "not_started"


def test_switching_the_watch_off_is_caught():
    from autogradkit.exercises import nb02_chain_rule as nb02
    ns = {"nb02": nb02, "sys": sys}
    exec("def dg_dx(x):\n    sys.setprofile(None)\n"
         "    return nb02._reference_dg_dx(x)\n", ns)
    result = nb02.evaluate(ns["dg_dx"], reference_counts=False)
    assert not result.passed and "sys.setprofile" in result.message, result.report()


@pytest.mark.parametrize("exercise_id", [e for e in TURNS if e != "nb03_backward"])
def test_evaluate_still_lets_the_reference_and_its_wrappers_pass(exercise_id):
    """``evaluate`` (reference_counts=True) keeps its meaning: the reference passes its own
    check, and so does a wrapper of it (the turn tests build answers that way)."""
    turn = load(exercise_id)
    for task, spec in turn.tasks.items():
        assert turn.evaluate(_calling_reference(turn, task), task).passed, task


def test_nb03_keeps_one_guard_the_shared_one():
    from autogradkit.exercises import nb03_backward as nb03
    assert nb03.exercise.reference_guard == "always"
    assert not hasattr(nb03, "_REFERENCE_CODES")
    for task in nb03.tasks:
        result = nb03.evaluate(nb03.tasks[task].reference, task)
        assert result.misconception == "used_library", result.report()
        assert f"your code called the reference {task}" in result.message


def test_the_solutions_still_pass_under_check(capsys):
    for exercise_id in TURNS:
        turn, ns = load(exercise_id), solutions(exercise_id)
        for task in turn.tasks:
            result = turn.evaluate(ns[task], task, reference_counts=False)
            assert result.passed, result.report()


def test_a_guard_inside_a_guard_sees_every_call():
    """The numpy-only guard nested in the reference guard: both see what runs inside."""
    hits = []

    def inner(x):
        return np.sum(ag.tensor([x]).numpy())

    watched = guards.watching_code(guards.watching(inner), guards.code_objects(inner), hits)
    value, used = watched(2.0)
    assert value == 2.0 and used and used.startswith("autogradkit.")
    assert hits and hits[0] is inner.__code__
    assert sys.getprofile() is None


def test_code_objects_of_a_class_cover_its_methods_and_nested_code():
    class Base:
        def a(self):
            return [i for i in range(2)]

        @staticmethod
        def b():
            return 1

        @property
        def c(self):
            return 2

    class Child(Base):
        def d(self):
            return 3

    codes = guards.code_objects(Child)
    for fn in (Base.a, Base.b, Base.c.fget, Child.d):
        assert id(fn.__code__) in codes
    assert any(c.co_name == "<listcomp>" for c in codes.values())


# ---- 3. progress survives a kernel restart -------------------------------------------------------
@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "notebooks" / core.PROGRESS_FILE
    path.parent.mkdir()
    monkeypatch.setenv(core.PROGRESS_ENV, str(path))
    return path


def _wrong_adjoints(x, y):
    return {"L": 1.0, "a": 0.0, "b": 0.0, "x": 0.0, "y": 0.0}


def test_progress_survives_a_restart(progress_file, capsys):
    ex = load("ex2_chain_rule")
    ns = solutions("ex2_chain_rule")
    ex.reset()
    ex.check(ns["grad_sin_square"])
    ex.check(_wrong_adjoints, "adjoints")
    turn = load("nb02_chain_rule")
    turn.reset()
    turn.use(turn.tasks["dg_dx"].reference)            # "not started": the reference itself
    saved = json.loads(progress_file.read_text(encoding="utf-8"))["exercises"]
    assert saved["ex2_chain_rule"] == {"grad_sin_square": "passed", "adjoints": "wrong"}
    assert saved["nb02_chain_rule"] == {"dg_dx": "not_started"}

    ex.reset()                                          # the kernel restarted
    text = ex.progress_text().splitlines()
    assert any("1. grad_sin_square" in line and line.endswith("done — in an earlier session")
               for line in text), text
    assert any("3. adjoints" in line and line.endswith("not yet — in an earlier session")
               for line in text), text
    assert any("2. neuron_grads" in line and line.endswith("not checked yet") for line in text)
    assert text[-1] == "1 of 4 tasks done"
    turn.reset()
    assert any("dg_dx" in line and line.endswith("not started — in an earlier session")
               for line in turn.progress_text().splitlines())

    ex.check(ns["adjoints"])                            # this session's result comes first
    text = ex.progress_text().splitlines()
    assert any("3. adjoints" in line and line.endswith("done") for line in text), text
    assert json.loads(progress_file.read_text(encoding="utf-8"))["exercises"][
        "ex2_chain_rule"]["adjoints"] == "passed"
    ex.reset()
    turn.reset()


def test_evaluate_does_not_save_and_a_session_that_checked_everything_shows_no_earlier_one(
        progress_file, capsys):
    ex = load("ex1_derivatives")
    ns = solutions("ex1_derivatives")
    ex.reset()
    for task in ex.tasks:
        ex.evaluate(ns[task], task)
    assert not progress_file.exists()
    for task in ex.tasks:
        ex.check(ns[task], task)
    assert "earlier session" not in ex.progress_text()
    ex.reset()


@pytest.mark.parametrize("broken", ["corrupt", "not a dict", "a folder", "no folder",
                                    "a file as its folder"])
def test_a_broken_progress_file_never_breaks_a_check(tmp_path, monkeypatch, capsys, broken):
    path = tmp_path / core.PROGRESS_FILE
    if broken == "corrupt":
        path.write_text("{ not json", encoding="utf-8")
    elif broken == "not a dict":
        path.write_text(json.dumps({"exercises": ["ex1_derivatives"]}), encoding="utf-8")
    elif broken == "a folder":
        path.mkdir()
    elif broken == "no folder":
        path = tmp_path / "missing" / core.PROGRESS_FILE
    else:
        (tmp_path / "file").write_text("x", encoding="utf-8")
        path = tmp_path / "file" / core.PROGRESS_FILE
    monkeypatch.setenv(core.PROGRESS_ENV, str(path))
    ex = load("ex1_derivatives")
    ex.reset()
    ex.check(solutions("ex1_derivatives")["dfdx"])
    assert capsys.readouterr().out.startswith("✅ Task 1 · dfdx: passed")
    ex.reset()
    assert "not checked yet" in ex.progress_text() or "done — in an earlier session" in \
        ex.progress_text()
    if broken in ("corrupt", "not a dict"):             # replaced by a good one
        assert json.loads(path.read_text(encoding="utf-8"))["exercises"] == {
            "ex1_derivatives": {"dfdx": "passed"}}
    assert not list(tmp_path.glob(".autogradkit-progress-*.tmp"))


def test_in_a_kernel_the_file_lies_in_the_working_directory_and_elsewhere_there_is_none(
        tmp_path, monkeypatch, capsys):
    """Only a Jupyter kernel saves by default (beside the notebook); scripts and test runs —
    where IPython may well be imported, by nbval for one — save nothing."""
    dfdx = solutions("ex1_derivatives")["dfdx"]
    monkeypatch.delenv(core.PROGRESS_ENV)
    monkeypatch.chdir(tmp_path)
    ex = load("ex1_derivatives")
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "IPython", fake)
    ex.check(dfdx)
    assert core.progress_path() is None and not (tmp_path / core.PROGRESS_FILE).exists()
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    ex.check(dfdx)
    assert core.progress_path() == str(tmp_path / core.PROGRESS_FILE)
    assert json.loads((tmp_path / core.PROGRESS_FILE).read_text(encoding="utf-8"))[
        "exercises"]["ex1_derivatives"] == {"dfdx": "passed"}
    monkeypatch.setenv(core.PROGRESS_ENV, "off")                    # e.g. for a grader's kernel
    assert core.progress_path() is None
    ex.reset()


def test_the_progress_file_is_ignored_by_git():
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert core.PROGRESS_FILE in lines


# ---- 1c. an answer whose own code runs when it is read, beside the right answer ------------------
SNEAKY = '''
import sys
import numpy as np

def _find(name):
    f = sys._getframe(1)
    while f is not None:
        if name in f.f_locals and (f.f_globals.get("__name__") or "").startswith(
                "autogradkit.exercises"):
            return f.f_locals[name]
        f = f.f_back

class Sneaky:
    """Numbers only when read: then it hands back the checker's `expected`."""
    def __array__(self, dtype=None, copy=None):
        return np.asarray(_find("expected"), dtype=dtype)

class SneakyDict(dict):
    """A dict whose entries are read from the checker's `right` when asked for."""
    def __getitem__(self, key):
        right = _find("right")
        return right[key] if right is not None and key in right else 0.0
'''


@pytest.mark.parametrize("exercise_id,task,code", [
    ("ex1_derivatives", "dfdx", "def dfdx(x):\n    return Sneaky()"),
    ("ex4_tensors", "var_vjp", "def var_vjp(g, x, dim):\n    return Sneaky()"),
    ("ex9_vjp_puzzles", "vjp_softmax", "def vjp_softmax(g, x, axis):\n    return Sneaky()"),
    ("ex2_chain_rule", "adjoints",
     "def adjoints(x, y):\n    return SneakyDict(L=0.0, a=0.0, b=0.0, x=0.0, y=0.0)"),
])
def test_an_answer_read_beside_the_right_one_cannot_read_it(exercise_id, task, code):
    """Reproduced first: compare() read an answer's ``__array__`` (and ex2's check a dict's
    ``__getitem__``) with the right answer a local of a frame below — the answer handed it back
    and passed. Now no learner code runs while an answer is read beside the right one."""
    ns = {}
    exec(compile(SNEAKY + code, "<sneaky>", "exec"), ns)
    result = load(exercise_id).evaluate(ns[task], task)
    assert not result.passed, result.report()
    if "Sneaky()" in code:
        assert "an object whose own code (Sneaky.__array__) runs when it is read" in \
            result.message, result.report()
    else:                       # read as a plain dict: its __getitem__ never runs
        assert result.message == "adjoint of node L: expected 1, got 0", result.report()


def test_reading_an_answer_still_works_for_library_types():
    """numpy scalars, arrays, tensors, OrderedDicts: no learner code, read as before."""
    import collections as c
    ex = load("ex2_chain_rule")
    right = solutions("ex2_chain_rule")["adjoints"]

    def adjoints(x, y):
        return c.OrderedDict((k, np.float64(v)) for k, v in right(x, y).items())
    assert ex.evaluate(adjoints).passed
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__
