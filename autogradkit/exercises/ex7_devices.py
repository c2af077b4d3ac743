"""Exercise 7 (chapter 7, on the GPU): device-agnostic code that runs on a CPU-only machine too.

The checks never need a GPU. ``pick_device`` is checked with ``autogradkit.cuda.is_available``
made to answer True and then False. ``to_device`` and ``train_steps`` are checked on "cpu"
against a reference; where the repository's strict CuPy stand-in (``tests/strict_cupy.py``) can
be imported, it is installed as the "cuda" backend for one case, so that moving to "cuda" is
checked too and a numpy conversion behind the learner's back fails, as it would with CuPy. The
stand-in is removed afterwards and any real CuPy already loaded is put back.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os

import numpy as np

import autogradkit as ag
from autogradkit import backend, nn, optim

from .core import Exercise

exercise = Exercise("ex7_devices", "Exercise 7: device-agnostic code", chapter=7)

_F32 = dict(rtol=1e-5, atol=1e-6)


# ---- the strict CuPy stand-in, when this is a checkout of the repository ------------------------
_STAND_IN = []


def _strict_cupy():
    """The test suite's strict CuPy stand-in module, or None where it cannot be found."""
    if not _STAND_IN:
        module = None
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "tests", "strict_cupy.py")
        if os.path.exists(path):
            try:
                spec = importlib.util.spec_from_file_location("_autogradkit_strict_cupy", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception:          # noqa: BLE001 - no stand-in: that part is skipped
                module = None
        _STAND_IN.append(module)
    return _STAND_IN[0]


@contextlib.contextmanager
def _fake_gpu():
    """Yield True with the stand-in installed as "cuda" (False if there is none); restore after."""
    module = _strict_cupy()
    saved = backend._cupy, backend._cupy_error
    if module is None:
        yield False
        return
    backend._use_cupy_module(module)
    try:
        yield True
    finally:
        backend._cupy, backend._cupy_error = saved


@contextlib.contextmanager
def _cuda_says(answer):
    """``autogradkit.cuda.is_available()`` (and the backend's check under it) answer ``answer``."""
    saved = ag.cuda.is_available, backend.cuda_available
    ag.cuda.is_available = lambda: answer
    backend.cuda_available = lambda: answer
    try:
        yield
    finally:
        ag.cuda.is_available, backend.cuda_available = saved


def _on(t, device):
    return isinstance(t, ag.Tensor) and t.device == backend.Device(device)


def _host(t):
    data = t._data
    return data if type(data) is np.ndarray else data.get()


# ---- task 1 -----------------------------------------------------------------------------------
@exercise.task(
    "pick_device", goal='"cuda" when autogradkit.cuda.is_available(), else "cpu"',
    hint="Ask autogradkit whether a GPU can be used each time the function runs, and answer with "
         "the device name that fits.",
    hints={"hard_coded_cpu": ("always the CPU",
                              "Your function answers \"cpu\" even when a GPU is available; ask "
                              "autogradkit.cuda.is_available() and use its answer."),
           "hard_coded_cuda": ("always the GPU",
                               "Your function answers \"cuda\" on a machine without a usable GPU, "
                               "where every .to(\"cuda\") would fail. Fall back to the CPU when "
                               "autogradkit.cuda.is_available() says no."),
           "swapped": ("the two devices swapped",
                       "You answer \"cuda\" exactly when no GPU is available."),
           "not_a_device": ("not a device name",
                            "Return the device's name as a string (or an autogradkit.device), "
                            "not True/False or None.")})
def _check_pick_device(t, answer):
    got, raw = {}, {}
    for available in (True, False):
        t.case(f"autogradkit.cuda.is_available() returns {available}")
        with _cuda_says(available):
            value = t.call(answer)
        if not isinstance(value, (str, backend.Device)):
            t.fail(f"pick_device() returned {value!r}, expected a device name", "not_a_device")
        try:
            got[available] = str(backend.Device(value)).split(":")[0]
        except (ValueError, TypeError):
            t.fail(f"pick_device() returned {value!r}, which is not a device name", "not_a_device")
        raw[available] = value
    if got == {True: "cpu", False: "cuda"}:
        t.fail(f"expected \"cuda\" then \"cpu\", got {raw[True]!r} then {raw[False]!r}", "swapped")
    for available, want, key in ((True, "cuda", "hard_coded_cpu"), (False, "cpu", "hard_coded_cuda")):
        if got[available] != want:
            t.current = f"autogradkit.cuda.is_available() returns {available}"
            t.fail(f"expected \"{want}\", got {raw[available]!r}", key)
    t.progressed = True


# ---- task 2 -----------------------------------------------------------------------------------
def _batch(rng):
    x = ag.tensor(np.round(rng.normal(size=(4, 3)), 2).astype(np.float32))
    y = ag.tensor(np.arange(4))
    mask = ag.tensor(np.array([True, False, True, True]))
    return {"inputs": (x, [mask, "a label", 7]), "target": y, "meta": {"ids": [1, 2], "w": x * 2}}


def _same_structure(t, got, want, where="batch"):
    """Same containers and keys, tensors in the places of tensors, other values unchanged."""
    if isinstance(want, ag.Tensor):
        if not isinstance(got, ag.Tensor):
            t.fail(f"{where} is {type(got).__name__}, expected a tensor", "structure")
        return [(got, want, where)]
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            t.fail(f"{where} is {type(got).__name__} "
                   f"{sorted(got) if isinstance(got, dict) else ''}, expected a dict with keys "
                   f"{sorted(want)}", "structure")
        return [p for k in want for p in _same_structure(t, got[k], want[k], f"{where}[{k!r}]")]
    if isinstance(want, (list, tuple)):
        if type(got) is not type(want) or len(got) != len(want):
            t.fail(f"{where} is a {type(got).__name__} of length "
                   f"{len(got) if hasattr(got, '__len__') else '?'}, expected a "
                   f"{type(want).__name__} of length {len(want)}", "structure")
        return [p for i, (g, w) in enumerate(zip(got, want))
                for p in _same_structure(t, g, w, f"{where}[{i}]")]
    if got is not want and got != want:
        t.fail(f"{where} is {got!r}, expected it unchanged: {want!r}", "changed_other")
    return []


@exercise.task(
    "to_device", goal="move every tensor in a nested tuple/list/dict to a device, keep the rest",
    hint="Walk the structure: for a dict, a list or a tuple build a new one of the same kind from "
         "its moved items; move a tensor with .to(device); give back anything else as it is.",
    hints={"structure": ("a different structure",
                         "Give back the same kind of container with the same keys and lengths: a "
                         "tuple stays a tuple, a list a list, a dict keeps its keys, and the "
                         "containers inside are walked too."),
           "changed_other": ("a value that is not a tensor changed",
                             "Only tensors move. Labels, numbers and other values come back as "
                             "they were."),
           "not_moved": ("a tensor left on its old device",
                         "Every tensor, however deep in the structure, must end up on the "
                         "device you were given — and the given device, not one you pick."),
           "in_place": ("the caller's structure was changed",
                        "Build new containers; don't write the moved tensors into the batch "
                        "you were given."),
           "via_numpy": ("a detour through numpy",
                         "Tensor.to(device) copies between devices directly. Going through "
                         "numpy (.numpy(), np.asarray, ag.tensor(...)) is a copy to the host "
                         "that CuPy refuses to do behind your back, and it loses dtypes and the "
                         "graph.")})
def _check_to_device(t, answer):
    rng = np.random.default_rng(70)
    for device in ("cpu", ag.device("cpu")):
        t.case(f"a nested dict/tuple/list batch, device={device!r}")
        batch = _batch(rng)
        snapshot = repr(batch)
        got = t.call(answer, batch, device)
        if repr(batch) != snapshot:
            t.fail("your function changed the batch it was given", "in_place")
        if got is batch:
            t.fail("your function returned the very same dict it was given", "in_place")
        _check_on_cpu(t, got, batch)
    t.case('the batch moved to "cuda" and back (a strict CuPy stand-in plays the GPU)')
    with _fake_gpu() as fake:
        if not fake:
            return
        batch = _batch(rng)
        got = t.call(answer, batch, "cuda")
        for g, w, where in _same_structure(t, got, batch):
            if not _on(g, "cuda"):
                t.fail(f"{where} is on {g.device}, expected cuda:0", "not_moved")
        _check_on_cpu(t, t.call(answer, got, "cpu"), batch, " after moving back")


def _check_on_cpu(t, got, batch, when=""):
    """Every tensor of ``got`` on the CPU, with its dtype and values from ``batch``."""
    for g, w, where in _same_structure(t, got, batch):
        if not _on(g, "cpu"):
            t.fail(f"{where} is on {g.device}{when}, expected cpu", "not_moved")
        if g.dtype != w.dtype:
            t.fail(f"{where} has dtype {g.dtype}, expected {w.dtype}", "via_numpy")
        t.compare(_host(g).astype(np.float64), _host(w).astype(np.float64), what=where)


# ---- task 3 -----------------------------------------------------------------------------------
def _model(seed):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))


def _data(seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(8, 3)), 2).astype(np.float32)
    y = np.round(x @ np.array([[0.5], [-1.0], [2.0]], dtype=np.float32) + 0.3, 3).astype(np.float32)
    return ag.tensor(x), ag.tensor(y)


def _reference(seed, steps, lr, zero_grad=True):
    model = _model(seed)
    x, y = _data(seed)
    opt = optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


@exercise.task(
    "train_steps", goal="a device-agnostic training loop: move model and data with .to(device)",
    hint="Move the model and both data tensors to `device` with .to(device) before the loop, "
         "then do the usual SGD steps with MSELoss, keeping each step's loss as a Python float.",
    hints={"moved_to_cuda": ("a hard-coded .cuda()",
                             "The function must use the device it is given. With \"cpu\" the "
                             "model and data must stay on the CPU, even where a GPU exists."),
           "not_moved": ("the model or the data left where it was",
                         "Move the model *and* the data with .to(device); a hard-coded .cpu() "
                         "(or no move at all) ignores the device you were given."),
           "not_float": ("losses kept as tensors",
                         "Keep each loss as a plain Python float (loss.item()): a tensor in the "
                         "list keeps its whole graph alive and, on a GPU, stays on the device."),
           "forgot_zero_grad": ("a forgotten zero_grad: old gradients are still added in",
                                "backward() adds into .grad. Clear the gradients once per step, "
                                "before backward.")})
def _check_train_steps(t, answer):
    for seed, steps, lr, device in ((0, 5, 0.1, "cpu"), (1, 8, 0.05, ag.device("cpu"))):
        t.case(f"{steps} steps, lr={lr}, device={device!r}")
        model = _model(seed)
        x, y = _data(seed)
        with _fake_gpu():                   # a GPU "exists": .cuda() would move to it
            losses = t.call(answer, model, x, y, device, steps, lr)
            where = {str(p.device) for p in model.parameters()}
        if where != {"cpu"}:
            t.fail(f"after training on {device!r} the model's parameters are on "
                   f"{', '.join(sorted(where))}", "moved_to_cuda")
        _check_losses(t, losses, steps, seed, lr, model)
    t.case('3 steps, lr=0.1, device="cuda" (a strict CuPy stand-in plays the GPU)')
    with _fake_gpu() as fake:
        if not fake:
            return
        model = _model(2)
        x, y = _data(2)
        losses = t.call(answer, model, x, y, "cuda", 3, 0.1)
        where = {str(p.device) for p in model.parameters()}
        if where != {"cuda:0"}:
            t.fail(f'after training on "cuda" the model\'s parameters are on '
                   f"{', '.join(sorted(where))}", "not_moved")
    _check_losses(t, losses, 3, 2, 0.1)


def _check_losses(t, losses, steps, seed, lr, model=None):
    """The losses (and, given ``model``, its parameters) against the reference's, which is run
    only now — after the learner's code returned, in a frame of its own."""
    if not isinstance(losses, list) or len(losses) != steps:
        what = type(losses).__name__ + (f" of length {len(losses)}" if hasattr(losses, "__len__")
                                        else "")
        t.fail(f"expected a list of {steps} losses, got a {what}",
               hint="Append each step's loss to a list and return the list.")
    if not all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in losses):
        kinds = sorted({type(v).__name__ for v in losses})
        t.fail(f"the losses are {', '.join(kinds)}, expected Python floats", "not_float")
    want, ref_model = _reference(seed, steps, lr)
    no_zero = _reference(seed, steps, lr, zero_grad=False)[0]
    t.compare(np.array(losses), np.array(want), what="losses", **_F32,
              alternatives={"forgot_zero_grad": np.array(no_zero)})
    if model is not None:
        for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
            t.compare(_host(p), _host(q), what=f"{name} after training", **_F32)


check = exercise.check
evaluate = exercise.evaluate
progress = exercise.progress
tasks = exercise.tasks
