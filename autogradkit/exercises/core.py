"""Exercises, tasks and checks: the part of the runtime a notebook talks to.

An exercise module (``ex1_derivatives.py`` …) makes one :class:`Exercise` and registers its tasks
with ``@exercise.task(...)``. A task's check is a function ``check(t, answer)`` that builds its own
inputs, calls the learner's code through ``t.call`` (time limit, errors caught) and compares with
``t.compare`` (the first diverging element, known mistakes). The first failing case stops the
check; its report says what went wrong, what the answer looks like, and a hint.

Reports contain no timings, addresses or random numbers, so a stored notebook output repeats.

A course turn's task has a ``reference`` (what ``use`` goes on with). For ``check``, ``use`` and
the grader the reference is no answer: handed in itself it is "not started", and an answer that
*calls* it (a wrapper, a subclass, the reference under another name) fails, seen by
:func:`guards.watching_code` on the reference's code objects while the learner's code runs.

``check`` and ``use`` also save each task's latest status to a small JSON file in the kernel's
working directory (beside the notebook), so that ``progress()`` after a kernel restart still
knows what was done (:data:`PROGRESS_FILE`, :data:`PROGRESS_ENV`).
"""
from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
import weakref
from dataclasses import dataclass

from . import guards, misconceptions, sandbox
from .compare import NotNumbers, compare, to_array

REGISTRY = {}          # exercise id -> Exercise

PASS, FAIL, NOT_STARTED = "✅", "❌", "⬜"
REFERENCE_MARK = "_autogradkit_reference_for"      # (exercise id, task) on a task's reference

# what a turn's task says when the learner's code called its reference (a task may replace it)
USED_REFERENCE = "used_reference"
_USED_REFERENCE_HINT = (
    "the reference implementation doing the work",
    "The notebook keeps a reference implementation so that it can go on while your answer is "
    "not right yet. Calling it — directly, through a function of your own, or as the base class "
    "of yours — hands the work back to it. Write the code yourself: the goal and the hint of "
    "this turn say what it needs.")


def vars_get(obj, name):
    """``obj``'s own attribute ``name`` (not one inherited by a subclass), or None."""
    try:
        return vars(obj).get(name)
    except TypeError:
        return None


def as_numbers(value):
    """``value`` (an answer) as a float64 array, as :func:`compare.to_array` reads it — with no
    learner code running meanwhile: an object whose own code would run to be read is
    :class:`NotNumbers` (a check may hold the right answer in the frame that reads it)."""
    try:
        with guards.no_learner_code():
            return to_array(value)
    except guards.LearnerCode:
        raise NotNumbers(type(value).__name__) from None


class _Stop(Exception):
    """Raised inside a check at its first failing case."""

    def __init__(self, message, misconception=None, kind="wrong", hint=None):
        super().__init__(message)
        self.message, self.misconception, self.kind, self.hint = message, misconception, kind, hint


@dataclass
class Result:
    """The outcome of checking one task."""
    exercise: str
    task: str
    number: int
    status: str        # "passed" | "wrong" | "error" | "timeout" | "not_started" | "usage"
    cases: int = 0                     # cases run (all of them when passed)
    case: str | None = None            # the failing case, in words
    message: str | None = None         # what differs, or the error
    misconception: str | None = None   # key in misconceptions.CATALOGUE (or a task's own)
    label: str | None = None           # what the answer looks like, in words
    hint: str | None = None
    internal_error: bool = False       # the check itself failed (a bug in the checker)
    heading: str = "Task"              # "Task" in an exercise, "Your turn" in a course notebook
    stub_at: str | None = None         # a class task: where a stub still raised ("in forward, line 5")

    @property
    def passed(self):
        return self.status == "passed"

    def summary(self):
        """One line: what the grade table shows."""
        if self.passed:
            return f"passed ({self.cases} case{'s' if self.cases != 1 else ''})"
        if self.status == "not_started":
            return "not started (the stub still raises NotImplementedError)"
        return self.message or self.status

    def report(self):
        head = f"{self.heading} {self.number} · {self.task}"
        if self.passed:
            return f"{PASS} {head}: passed ({self.cases} case{'s' if self.cases != 1 else ''})"
        if self.status == "not_started":
            where = f" (one still stands {self.stub_at})" if self.stub_at else ""
            return (f"{NOT_STARTED} {head}: not started yet — replace each "
                    f"`raise NotImplementedError(...)` line with your code{where}, then run this "
                    "check again.")
        lines = [f"{FAIL} {head}: not yet"]
        if self.case:
            lines.append(f"   case: {self.case}")
        lines.append(f"   {self.message}")
        if self.label:
            lines.append(f"   looks like: {self.label}")
        if self.hint:
            lines.append(f"   hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self):
        return self.report()


@dataclass
class Task:
    name: str
    number: int
    goal: str                          # one line: what the learner writes
    check_fn: object
    hint: str                          # the general hint, for a wrong answer with no known mistake
    hints: dict                        # misconception key -> (label, hint): this task's own words
    kind: str = "function"             # "function" or "class"
    time_limit: float = 10.0
    reference: object = None           # what ``use`` goes on with when the answer fails


class Checker:
    """What a task's check function uses: cases, calls into learner code, comparisons.

    ``reference_codes`` (``{id(code): code}``, or None) are the code objects of the task's
    reference: learner code that runs one of them while ``call`` runs it fails the check with
    ``reference_key`` as its misconception."""

    def __init__(self, task, clock, limit, reference_codes=None, reference_key=USED_REFERENCE):
        self.task, self.clock, self.limit = task, clock, limit
        self.cases, self.current = 0, None
        self.progressed = False            # some comparison has passed already
        self.reference_codes, self.reference_key = reference_codes, reference_key

    def case(self, description):
        """Start the next case; ``description`` is shown if it fails."""
        self.cases += 1
        self.current = description

    def call(self, fn, *args, **kwargs):
        """Run learner code; on an error or time-out the check stops with that as its report."""
        hits = []
        if self.reference_codes:
            fn = guards.watching_code(fn, self.reference_codes, hits)
        out = sandbox.call(fn, args, kwargs, seconds=self.clock.left(), limit=self.limit)
        if hits:                           # said first, even when the code then failed
            self._called_reference(hits[0])
        if out.ok:
            return out.value
        if out.kind == "not_started" and (self.task.name in out.error
                                          or out.error == "NotImplementedError"):
            if self.progressed:
                raise _Stop(f"your code raised {out.error}", kind="error",
                            hint="Part of your answer works; another part is still the stub. "
                            "Replace that `raise NotImplementedError(...)` line too.")
            stop = _Stop(out.error, kind="not_started")
            stop.stub_at = out.where      # e.g. "in forward, line 5": which method is still a stub
            raise stop
        if out.kind == "timeout":
            raise _Stop(f"your code {out.error}", "timeout", kind="timeout")
        where = f" ({out.where})" if out.where else ""
        key = "recursion" if out.error.startswith("RecursionError") else None
        raise _Stop(f"your code raised {out.error}{where}", key, kind="error")

    def _called_reference(self, hit):
        name = self.task.name
        if hit == guards.SWITCHED_OFF:
            raise _Stop(f"your code called {guards.SWITCHED_OFF}, which switches off the check "
                        f"that {name} does not call its reference implementation — the task is "
                        "to write it", self.reference_key)
        raise _Stop(f"your code called the reference {name} (the notebook's reference "
                    "implementation) — the task is to write it", self.reference_key)

    def compare(self, got, expected, what="result", rtol=1e-5, atol=1e-8, alternatives=None,
                generic=True, names=None):
        """Stop with the first differing element unless ``got`` matches ``expected``."""
        mismatch = self._compared(got, expected, what, rtol, atol, alternatives, generic, names)
        if mismatch is not None:
            raise _Stop(mismatch.message, mismatch.misconception)
        self.progressed = True

    @staticmethod
    def _compared(got, expected, what, *options):
        """``compare``, with no learner code running while the right answer is at hand: an
        answer whose own code would run to be read as numbers (``__array__``, ``__float__``, a
        ``__class__`` property …) is not numbers."""
        try:
            with guards.no_learner_code():
                return compare(got, expected, what, *options)
        except guards.LearnerCode as code:
            raise _Stop(f"{what}: expected numbers, got {type(got).__name__!r}, an object whose "
                        f"own code ({code}) runs when it is read", "not_numbers") from None

    def plain_dict(self, value, what="your answer"):
        """A plain ``dict`` copy of a mapping the learner's code returned (anything else as it
        is), made with no learner code running: a dict subclass whose own methods would run
        when it is read could look into the checker's frames, so it is refused."""
        try:
            with guards.no_learner_code():
                return dict(value) if isinstance(value, dict) else value
        except guards.LearnerCode as code:
            raise _Stop(f"{what}: expected a plain dict, got {type(value).__name__!r}, a mapping "
                        f"whose own code ({code}) runs when it is read",
                        hint="Return a plain dict: {name: number, …}.") from None

    def require(self, condition, message, misconception=None, hint=None):
        if not condition:
            raise _Stop(message, misconception, hint=hint)

    def fail(self, message, misconception=None, hint=None):
        raise _Stop(message, misconception, hint=hint)

    def call_watching(self, fn, forbidden, key, *args, **kwargs):
        """``call``, failing with misconception ``key`` when ``fn`` calls a function of a
        ``forbidden`` module (prefixes, as :func:`guards.watching`) — said first, even when that
        call then failed. ``key`` may be a function of the name of what was called."""
        (value, error), used = self.call(guards.watching(_returning_error(fn), forbidden),
                                         *args, **kwargs)
        if used:
            self.fail(f"your code called {used}", key(used) if callable(key) else key)
        if error is not None:
            self.call(_raise, error)       # reported as the learner's error (or "not started")
        return value


def _returning_error(fn):
    """``fn`` returning (value, None), or (None, the exception it raised)."""
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:            # noqa: BLE001 — re-raised by _raise
            return None, exc
    return run


def _raise(exc):
    raise exc


class Exercise:
    """One exercise notebook's tasks, their checks, and the learner's progress.

    ``reference_guard`` says when an answer that calls its task's reference fails: ``"check"``
    (``check``, ``use`` and the grader; ``evaluate`` lets a wrapper of the reference pass, as the
    reference itself does) or ``"always"``; ``reference_key`` is the misconception it is
    reported as."""

    def __init__(self, id, title, chapter, heading="Task", reference_guard="check",
                 reference_key=USED_REFERENCE):
        if reference_guard not in ("check", "always"):
            raise ValueError("reference_guard must be 'check' or 'always', not "
                             f"{reference_guard!r}")
        self.id, self.title, self.chapter, self.heading = id, title, chapter, heading
        self.reference_guard, self.reference_key = reference_guard, reference_key
        self.tasks = {}
        self.results = {}
        REGISTRY[id] = self

    # ---- defining tasks ---------------------------------------------------------------------
    def task(self, name, goal, hint, hints=None, kind="function", time_limit=10.0,
             reference=None):
        """Register ``check(t, answer)`` as the check of task ``name``.

        ``reference`` (a course notebook's "your turn" tasks) is the implementation that ``use``
        hands back while the learner's answer does not pass yet, so the notebook can go on."""
        if reference is not None:          # known as the reference even after a module reload
            setattr(reference, REFERENCE_MARK, (self.id, name))

        def register(check_fn):
            self.tasks[name] = Task(name, len(self.tasks) + 1, goal, check_fn, hint, hints or {},
                                    kind, time_limit, reference)
            return check_fn
        return register

    # ---- checking ---------------------------------------------------------------------------
    def _resolve(self, answer, task):
        name = task if task is not None else getattr(answer, "__name__", None)
        if name not in self.tasks:
            known = ", ".join(self.tasks)
            if task is None and (name is None or name.startswith("<")):
                return None, (f"check: can't tell which task this answers; name it, e.g. "
                              f"check(answer, {next(iter(self.tasks))!r}). Tasks: {known}.")
            return None, f"check: {self.title} has no task called {name!r}. Its tasks are: {known}."
        return self.tasks[name], None

    def evaluate(self, answer, task=None, time_limit=None, reference_counts=True):
        """Check ``answer`` silently and return the :class:`Result` (also kept for ``progress``).

        ``task`` defaults to the answer's ``__name__``; ``time_limit`` (seconds) replaces the
        task's own limit. With ``reference_counts=False`` (``check``, ``use`` and the grader) the
        task's own reference — what a notebook went on with — is "not started", not an answer.
        """
        spec, problem = self._resolve(answer, task)
        if spec is None:
            raise LookupError(problem)
        result = self._run(spec, answer, time_limit, reference_counts)
        self.results[spec.name] = result
        return result

    def check(self, answer, task=None, time_limit=None):
        """Check ``answer`` and print a short report: passed, or the first failing case with a
        hint. ``task`` defaults to the answer's name (``check(central_difference)``)."""
        spec, problem = self._resolve(answer, task)
        if spec is None:
            print(problem)
            return
        result = self.evaluate(answer, spec.name, time_limit, reference_counts=False)
        save_progress(self.id, spec.name, result.status)
        print(result.report())

    def use(self, answer, task=None, time_limit=None):
        """Check ``answer``, print the report, and return what the notebook goes on with: the
        learner's own answer when it passed, else the task's reference implementation (saying
        so), so a learner who is stuck can still run the rest of the notebook::

            Value = turn.use(Value)     # ✅ yours from here on — or ❌ … and the reference
        """
        spec, problem = self._resolve(answer, task)
        if spec is None:
            print(problem)
            return answer
        result = self.evaluate(answer, spec.name, time_limit, reference_counts=False)
        save_progress(self.id, spec.name, result.status)
        print(result.report())
        if result.passed or spec.reference is None:
            return answer
        print(f"   ↪ the rest of this notebook goes on with the reference {spec.name}; yours is "
              "still in the cell above — fix it and run both cells again.")
        return spec.reference

    def _run(self, spec, answer, time_limit=None, reference_counts=True):
        result = Result(self.id, spec.name, spec.number, "passed", heading=self.heading)
        if not reference_counts and vars_get(answer, REFERENCE_MARK) == (self.id, spec.name):
            # the notebook went on with the reference: the learner's own is still to be written
            return self._failed(result, spec, _Stop("this is the reference the notebook went on "
                                                    "with", kind="not_started"), None)
        problem = self._wrong_kind(spec, answer)
        if problem:
            return self._failed(result, spec, _Stop(problem, kind="usage"), None)
        limit = spec.time_limit if time_limit is None else float(time_limit)
        guarded = spec.reference is not None and (not reference_counts
                                                  or self.reference_guard == "always")
        t = Checker(spec, sandbox.Clock(limit), limit,
                    reference_codes=_reference_codes(spec.reference) if guarded else None,
                    reference_key=self.reference_key)
        with sandbox.preserved_state():
            try:
                spec.check_fn(t, answer)
            except _Stop as stop:
                return self._failed(result, spec, stop, t)
            except (KeyboardInterrupt, sandbox.TimeLimitExceeded):
                raise
            except Exception as exc:       # a bug in a check must not look like the learner's
                result.status, result.internal_error = "error", True
                result.message = (f"the checker itself failed ({type(exc).__name__}: {exc}); "
                                  "please tell your instructor")
                return result
        result.cases = t.cases
        return result

    @staticmethod
    def _wrong_kind(spec, answer):
        if spec.kind == "class" and not inspect.isclass(answer):
            return (f"check expects the class {spec.name} itself (not an instance or a function): "
                    f"check({spec.name})")
        if spec.kind == "function" and (inspect.isclass(answer) or not callable(answer)):
            return f"check expects the function {spec.name} itself: check({spec.name})"
        return None

    def _failed(self, result, spec, stop, t):
        result.status = stop.kind
        result.message = stop.message
        result.cases = t.cases if t else 0
        result.case = t.current if t else None
        if stop.kind in ("not_started", "usage"):
            if spec.kind == "class":
                result.stub_at = getattr(stop, "stub_at", None)
            return result
        key = stop.misconception
        result.misconception = key
        own = spec.hints.get(key) if key else None
        if own is None and key == USED_REFERENCE:
            own = _USED_REFERENCE_HINT
        if own is not None:
            result.label, text = own
            result.hint = stop.hint or text
        else:
            result.label = misconceptions.label(key) if key else None
            result.hint = stop.hint or (misconceptions.hint(key) if key else None) or spec.hint
        return result

    # ---- progress ---------------------------------------------------------------------------
    def progress(self):
        """Print which tasks are done and which are not yet: this session's checks, and for a
        task not checked in this session, its last ``check``/``use`` in an earlier one (the
        progress file beside the notebook)."""
        print(self.progress_text())

    def progress_text(self):
        earlier = {}
        if any(name not in self.results for name in self.tasks):
            earlier = saved_progress(self.id)
        done = 0
        width = max(len(n) for n in self.tasks)
        lines = [f"Progress: {self.title}"]
        for spec in self.tasks.values():
            r = self.results.get(spec.name)
            status, when = (r.status, "") if r is not None else (earlier.get(spec.name), "")
            if r is None and status is not None:
                when = " — in an earlier session"
            if status is None:
                mark, state = NOT_STARTED, "not checked yet"
            elif status == "passed":
                mark, state = PASS, "done"
                done += 1
            elif status == "not_started":
                mark, state = NOT_STARTED, "not started"
            else:
                mark, state = FAIL, "not yet"
            lines.append(f"  {mark} {spec.number}. {spec.name:<{width}}  {state}{when}")
        lines.append(f"{done} of {len(self.tasks)} tasks done"
                     + (" — all done, well done!" if done == len(self.tasks) else ""))
        return "\n".join(lines)

    def reset(self):
        """Forget this session's results (as a kernel restart does; ``progress`` then shows what
        the progress file remembers)."""
        self.results.clear()

    def __repr__(self):
        return f"<Exercise {self.id}: {len(self.tasks)} tasks>"


# ---- the reference's code objects ------------------------------------------------------------
_CODES = weakref.WeakKeyDictionary()     # reference -> {id(code): code}


def _reference_codes(reference):
    try:
        codes = _CODES.get(reference)
    except TypeError:                      # not weak-referenceable: no cache
        return guards.code_objects(reference)
    if codes is None:
        codes = _CODES[reference] = guards.code_objects(reference)
    return codes


# ---- progress that survives a kernel restart -------------------------------------------------
PROGRESS_FILE = ".autogradkit-progress.json"     # in the kernel's working directory
PROGRESS_ENV = "AUTOGRADKIT_PROGRESS_FILE"       # a path to use instead; "" or "off": none


def progress_path():
    """Where ``check``/``use`` keep each task's latest status, or None for nowhere.

    ``$AUTOGRADKIT_PROGRESS_FILE`` names the file (``""`` or ``off`` turns saving off);
    without it, in a Jupyter kernel the file is :data:`PROGRESS_FILE` in the working directory
    (beside the notebook), and elsewhere (scripts, tests) there is none."""
    setting = os.environ.get(PROGRESS_ENV)
    if setting is not None:
        return None if setting.strip().lower() in ("", "off", "0", "no", "false") else setting
    if not _in_kernel():
        return None
    try:
        return os.path.join(os.getcwd(), PROGRESS_FILE)
    except OSError:                        # the working directory was removed
        return None


def _in_kernel():
    """True inside a Jupyter kernel (an IPython shell with a kernel), not merely where IPython
    or ipykernel was imported (pytest's nbval plugin does that)."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:                      # noqa: BLE001 - no shell
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _read_progress(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except Exception:                      # missing, unreadable, not JSON: nothing saved
        return {}
    exercises = data.get("exercises") if isinstance(data, dict) else None
    if not isinstance(exercises, dict):
        return {}
    return {k: {t: s for t, s in v.items() if isinstance(t, str) and isinstance(s, str)}
            for k, v in exercises.items() if isinstance(k, str) and isinstance(v, dict)}


def saved_progress(exercise_id):
    """``{task: status}`` saved by ``check``/``use`` for ``exercise_id`` ({} when none)."""
    path = progress_path()
    return _read_progress(path).get(exercise_id, {}) if path else {}


def save_progress(exercise_id, task, status):
    """Remember ``task``'s latest status. Never raises: a folder that cannot be written, a
    corrupt file — the check goes on as if there were no file."""
    try:
        path = progress_path()
        if not path:
            return
        exercises = _read_progress(path)
        exercises.setdefault(exercise_id, {})[task] = status
        text = json.dumps({"autogradkit_progress": 1, "exercises": exercises}, indent=1,
                          sort_keys=True, ensure_ascii=False)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".autogradkit-progress-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, path)          # whole, or not at all
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except Exception:                      # noqa: BLE001 - progress must never break a check
        pass
