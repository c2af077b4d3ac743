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
``check_task(exercise_id, name, namespace, time_limit)``
    checks one task against the object of that name in the notebook's namespace and prints one
    line, ``AUTOGRADKIT-GRADE {json}``, which the grader validates against the exercise's own task
    list. Learner output during the check is swallowed.

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
from contextlib import redirect_stderr, redirect_stdout

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


def check_task(exercise_id, name, namespace, time_limit=None):
    """Check task ``name`` against ``namespace[name]``; print its result as one marked line."""
    from autogradkit.exercises import load
    ex = load(exercise_id)
    spec = ex.tasks[name]
    answer = namespace.get(name)
    if answer is None:
        row = {"status": "missing", "passed": False, "misconception": None, "case": None,
               "message": f"no {name} is defined (did its cell run without errors?)"}
    else:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            r = ex.evaluate(answer, name, time_limit, reference_counts=False)
        row = {"status": r.status, "passed": r.passed, "misconception": r.misconception,
               "case": r.case, "message": r.summary(), "hint": r.hint}
    row.update(exercise=ex.id, title=ex.title, number=spec.number, task=name)
    print(MARKER + json.dumps(row))
