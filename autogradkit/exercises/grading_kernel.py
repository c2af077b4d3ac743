"""The part of ``autogradkit grade`` that runs inside the learner's kernel, after their notebook.

The grader does not import this module: its cells read this file and run it in a fresh
namespace, so a notebook that replaced the grader's functions (or anything else in the package's
modules) cannot answer in the grader's place. Two steps:

``prepare(exercise_id)``
    1. looks for checker code the notebook replaced: a function defined in the notebook (not in a
       file of numpy, autogradkit or Python's library) standing where numpy, autogradkit,
       ``json`` or ``builtins`` keep theirs — ``np.isclose = lambda *a, **k: True``,
       ``Checker.compare = …`` — and, if there is one, voids the grade naming it;
    2. reloads the checking modules from their files, so the checks that run are the package's own.
``check_task(exercise_id, name, namespace, time_limit, extra)``
    checks one task against the object of that name in the notebook's namespace and prints one
    line, ``AUTOGRADKIT-GRADE {json}``, which the grader validates against the exercise's own task
    list. The line holds the number of cases the check ran and each one's description (from
    ``Checker.case``), for partial credit. ``extra`` is the text of an instructor's extra checks
    file (``grade --extra-checks``) and its name: when the built-in check passes, the file is
    run here in a fresh namespace and its ``check_<task>`` runs with the same Checker API; the
    task passes only if both do. Learner output during the checks is swallowed.

What this cannot stop: code that runs with the learner's rights can, with enough effort, reach
anything in its process (see exercises/README.md, "What the grader protects against").
"""
import builtins
import importlib
import io
import json
import os
import sys
import sysconfig
import types
from contextlib import contextmanager, redirect_stderr, redirect_stdout

MARKER = "AUTOGRADKIT-GRADE "
WATCHED = ("numpy", "autogradkit", "json")
CHECKER_MODULES = ("misconceptions", "compare", "sandbox", "guards", "core")


def _trusted_dirs():
    import numpy

    import autogradkit
    paths = sysconfig.get_paths()
    dirs = {paths["stdlib"], paths["purelib"], paths["platlib"],
            os.path.dirname(os.path.dirname(numpy.__file__)),
            os.path.dirname(os.path.dirname(autogradkit.__file__))}
    return tuple(os.path.realpath(d) + os.sep for d in dirs if d)


def _foreign(fn, trusted, cache):
    """True for a Python function whose code was not loaded from a trusted file."""
    if isinstance(fn, (staticmethod, classmethod)):
        fn = fn.__func__
    if isinstance(fn, property):
        return any(_foreign(f, trusted, cache) for f in (fn.fget, fn.fset) if f is not None)
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType):
        return False
    filename = fn.__code__.co_filename
    if filename == "<string>" and fn.__name__.startswith("__") and fn.__name__.endswith("__"):
        return False                   # made by dataclasses / namedtuple from a string
    hit = cache.get(filename)
    if hit is None:
        real = os.path.realpath(filename)
        hit = not (os.path.isfile(real) and real.startswith(trusted))
        cache[filename] = hit
    return hit


def replaced_objects():
    """``module.name`` of every watched function or method that notebook code replaced."""
    trusted, cache, found = _trusted_dirs(), {}, []
    for mod_name, module in list(sys.modules.items()):
        if module is None or not any(mod_name == w or mod_name.startswith(w + ".") for w in WATCHED):
            continue
        for attr, value in list(vars(module).items()):
            if _foreign(value, trusted, cache):
                found.append(f"{mod_name}.{attr}")
            elif isinstance(value, type) and getattr(value, "__module__", "") == mod_name:
                found += [f"{mod_name}.{value.__name__}.{k}" for k, v in list(vars(value).items())
                          if _foreign(v, trusted, cache)]
    found += [f"builtins.{k}" for k, v in list(vars(builtins).items())
              if _foreign(v, trusted, cache)]
    return sorted(set(found))


def prepare(exercise_id):
    """Void the grade if checker code was replaced; else reload the checkers from their files."""
    found = replaced_objects()
    if not found:
        package = "autogradkit.exercises"
        for name in CHECKER_MODULES + (exercise_id,):
            importlib.import_module(f"{package}.{name}")
            importlib.reload(sys.modules[f"{package}.{name}"])
        importlib.reload(sys.modules[package])
    print(MARKER + json.dumps({"prepare": exercise_id, "replaced": found}))


@contextmanager
def _recording_cases(log):
    """Record the description of every case a check starts (``Checker.case``), in order."""
    from autogradkit.exercises import core
    original = core.Checker.case

    def case(self, description, *args, **kwargs):
        log.append(str(description))
        return original(self, description, *args, **kwargs)

    core.Checker.case = case
    try:
        yield
    finally:
        core.Checker.case = original


def _evaluate(run, log):
    """``run()`` (which checks a task and returns its Result) with the learner's output swallowed
    and the cases it started recorded in ``log``."""
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), _recording_cases(log):
        return run()


def _extra_check(ex, spec, answer, time_limit, extra):
    """The instructor's ``check_<task>`` from ``extra`` = (text, filename), run on ``answer``:
    (Result or None, cases log, the reason it could not run or None)."""
    import copy
    text, filename = extra
    namespace = {"__name__": "autogradkit_extra_checks", "__file__": filename}
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            exec(compile(text, filename, "exec"), namespace)
        check_fn = namespace["check_" + spec.name]
    except Exception as exc:           # the grader validated the file; this is rare
        return None, [], f"{type(exc).__name__}: {exc}"
    log = []
    own = copy.copy(spec)
    own.check_fn = check_fn
    ex.tasks[spec.name] = own
    try:
        result = _evaluate(lambda: ex.evaluate(answer, spec.name, time_limit,
                                               reference_counts=False), log)
    finally:
        ex.tasks[spec.name] = spec
    return result, log, None


def check_task(exercise_id, name, namespace, time_limit=None, extra=None):
    """Check task ``name`` against ``namespace[name]`` (then the instructor's extra check, if
    ``extra`` has one); print its result as one marked line."""
    from autogradkit.exercises import load
    ex = load(exercise_id)
    spec = ex.tasks[name]
    answer = namespace.get(name)
    if answer is None:
        row = {"status": "missing", "passed": False, "misconception": None, "case": None,
               "message": f"no {name} is defined (did its cell run without errors?)",
               "cases_run": 0, "case_log": []}
    else:
        log = []
        r = _evaluate(lambda: ex.evaluate(answer, name, time_limit, reference_counts=False), log)
        row = {"status": r.status, "passed": r.passed, "misconception": r.misconception,
               "case": r.case, "message": r.summary(), "hint": r.hint, "cases_run": r.cases,
               "case_log": log}
        if r.passed and extra is not None:
            row.update(_extra_row(ex, spec, answer, time_limit, extra, r))
    row.update(exercise=ex.id, title=ex.title, number=spec.number, task=name)
    print(MARKER + json.dumps(row))


def _extra_row(ex, spec, answer, time_limit, extra, builtin):
    """What the instructor's extra check changes in a row whose built-in check passed."""
    result, log, broken = _extra_check(ex, spec, answer, time_limit, extra)
    if result is None:
        return {"status": "error", "passed": False, "misconception": None, "case": None,
                "hint": None, "extra": {"passed": False, "cases_run": 0, "case_log": []},
                "message": f"the instructor's extra checks could not be loaded ({broken})"}
    info = {"passed": result.passed, "cases_run": result.cases, "case_log": log}
    if result.passed:
        return {"extra": info, "message": f"passed ({builtin.cases} + {result.cases} extra "
                                          "cases)"}
    if result.internal_error:
        message = result.message.replace("the checker itself failed", "the instructor's extra "
                                         "check itself failed")
    else:
        message = f"extra check: {result.summary()}"
    return {"status": result.status if result.status != "passed" else "wrong", "passed": False,
            "misconception": result.misconception, "case": result.case, "hint": result.hint,
            "message": message, "extra": info}
