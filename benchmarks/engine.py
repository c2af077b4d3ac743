"""Engine overhead benchmark: autogradkit vs PyTorch (CPU) vs hand-written numpy backprop.

One command, run from the repository root:

    .venv/bin/python benchmarks/engine.py [--quick] [--only WORKLOAD[,WORKLOAD]] [--json PATH]
                                          [--rounds N] [--profile]

Three workloads, all on tensors of 8 numbers, so that what is measured is the cost of
*recording and replaying the graph*, not arithmetic:

1. ``chain``  — per-op overhead. Forward + backward through a chain of 2000 elementwise ops
   that cycle ``h = h * w``, ``h = h + b``, ``h = tanh(h)`` (667 mul, 667 add, 666 tanh; leaves
   x, w, b of 8 float32 each, all requiring grad), then ``h.sum().backward()``. Reported in
   microseconds per op (total time / 2000). Target: autogradkit <= 0.60 x PyTorch.
2. ``deep``   — a 100,000-op chain cycling ``h = h * 1.0001``, ``h = h + 1e-6``, ``h = tanh(h)``
   on a leaf x (8 float32, requires grad). The graph is built untimed; only
   ``h.sum().backward()`` is timed, in milliseconds. Runs at Python's default recursion limit
   (checked: no implementation may change it). Target: autogradkit <= 0.5 x PyTorch.
   (+1e-6 rather than +1e-4: with +1e-4 the product of 33,333 tanh derivatives is ~1e-67 and
   x.grad underflows to 0 in float32, which would make the agreement check vacuous.)
3. ``numbers`` — tensor-with-Python-number ops in float64: ``x = x * 1.0001 + 0.0001`` repeated
   50,000 times (100,000 ops) from a leaf x of 8 float64 numbers that requires grad. Only the
   forward (the graph building) is timed, in microseconds per op (time / 100,000). After the
   timed repetitions one backward runs untimed, and x.grad must equal the closed form
   1.0001**50000 per element (relative 1e-9) in every implementation. Target: autogradkit
   <= 1.0 x PyTorch.

The driver loop (``for i in range(n): k = i % 3 ...``, or ``for _ in range(n): x = x * m + a``)
is the same Python code for every implementation.
"Numpy by hand" keeps a tape in the forward (what each backward step needs) and walks it
backwards, accumulating into gw and gb in place; in ``deep`` its backward skips the
add-a-constant steps (the gradient passes through unchanged), which is what a person writing
it by hand would do. In ``numbers`` the only thing a backward needs is the number of steps, so
numpy by hand's forward is the bare loop (its untimed backward multiplies by 1.0001 that many
times).

A fourth implementation, ``autogradkit-ref`` ("autogradkit (reference)" in the table), is the
same code as ``autogradkit`` run in a child whose environment has AUTOGRADKIT_REFERENCE=1, which
makes the package run without any of its speed shortcuts (the fast children have the variable
removed). It has no target; the table shows its ratio to PyTorch and how many times the fast
mode's time it takes. Each autogradkit child reports ``autogradkit.REFERENCE_MODE`` (None while
the package does not have that attribute), and the parent warns if a reference child says False
or a fast child says True.

Every (workload, implementation) measurement runs in a fresh subprocess of its own (torch and
numpy in one process fight over the two cores), with OMP_NUM_THREADS=1, OMP_WAIT_POLICY=PASSIVE
and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the child's environment (this machine
sets them for older OpenBLAS builds; they slow a current numpy — tests and CI keep them; none of
these workloads calls BLAS anyway). PyTorch runs with one intra-op thread. Subprocesses are
interleaved over several rounds (A B C D A B C D ...); each child reports the median of its inner
repetitions, and the table shows the median over rounds. Each child also reports the gradients
it computed (loss and every leaf's gradient); the parent checks that autogradkit (both modes)
and PyTorch agree with numpy by hand (float32 tolerances; 1e-9 in the float64 ``numbers``; no
reference gradient may be 0) before it prints the table.

Python's garbage collector stays enabled (that is what a user's script sees); ``gc.collect()``
runs before each timed repetition so one repetition's garbage is not charged to the next.
``--only chain,numbers`` runs a subset of the workloads. ``--profile`` runs the autogradkit side
of the workloads (all, or those given with ``--only``) under cProfile instead and prints the top
functions.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIZE = 8
CHAIN_OPS = 2000
DEEP_OPS = 100_000
DEEP_MUL, DEEP_ADD = 1.0001, 1e-6
NUMBERS_STEPS = 50_000          # x = x * NUMBERS_MUL + NUMBERS_ADD, two ops a step
NUMBERS_OPS = 2 * NUMBERS_STEPS
NUMBERS_MUL, NUMBERS_ADD = 1.0001, 0.0001
NUMBERS_GRAD = NUMBERS_MUL ** NUMBERS_STEPS     # closed form of every element of x.grad
IMPLS = ("autogradkit", "autogradkit-ref", "torch", "numpy")
AGK_IMPLS = ("autogradkit", "autogradkit-ref")
LABEL = {"autogradkit": "autogradkit", "autogradkit-ref": "autogradkit (reference)",
         "torch": "PyTorch", "numpy": "numpy by hand"}
# The reference child's extra environment: the package runs without its speed shortcuts. It is
# read when autogradkit is imported; the fast children have it removed (see _child_env).
REFERENCE_ENV = {"AUTOGRADKIT_REFERENCE": "1"}
WORKLOADS = ("chain", "deep", "numbers")
OPS = {"chain": CHAIN_OPS, "numbers": NUMBERS_OPS}     # reported per op; deep in ms
TARGET_CHAIN_RATIO = 0.60       # autogradkit / PyTorch forward + backward time
TARGET_DEEP_RATIO = 0.5         # autogradkit / PyTorch backward time
TARGET_NUMBERS_RATIO = 1.0      # autogradkit / PyTorch forward time
# Agreement tolerances (relative, per element). The 2000-op chain is well conditioned. The
# 100,000-op chain contracts slowly towards tanh's fixed point, so float32 rounding accumulates:
# numpy in float32 differs from the same chain in float64 by up to ~3.5e-3 in x.grad. So 1e-2
# there: still far below what a different computation would give.
# The float64 ``numbers`` chain makes the same correctly rounded operations everywhere, and its
# gradient is a product of 50,000 equal factors (rounding error ~1e-11 at most): 1e-9.
RTOL = {"chain": 1e-3, "deep": 1e-2, "numbers": 1e-9}


# ------------------------------------------------------------------------------------------
# Inputs (identical numbers for every implementation)
# ------------------------------------------------------------------------------------------
def _inputs():
    import numpy as np
    x = np.linspace(-1.0, 1.0, SIZE).astype(np.float32)
    w = (1.0 + np.linspace(-0.01, 0.01, SIZE)).astype(np.float32)
    b = np.linspace(-1e-3, 1e-3, SIZE).astype(np.float32)
    # Chosen so that no gradient underflows in float32 (w < 0.99 or b ~ 0.1 drive x.grad to 0
    # after 667 tanh layers, which would make the agreement check vacuous).
    return x, w, b


def _numbers_input():
    """The ``numbers`` leaf: 8 float64 numbers."""
    import numpy as np
    return np.linspace(-1.0, 1.0, SIZE)


def _dtype_name(dt):
    """'float64' from np.float64, torch.float64 or autogradkit.float64."""
    return str(dt).rsplit(".", 1)[-1]


def _timed(fn, reps, warmup):
    """Run ``fn`` warmup + reps times; return the reps' results.

    Each call returns ``(timed, forward, backward)`` in seconds: ``timed`` is what the table
    reports (forward + backward for ``chain``, backward only for ``deep``); for ``deep``,
    ``forward`` is the untimed graph build, reported for information only."""
    for _ in range(warmup):
        gc.collect()
        fn()
    out = []
    for _ in range(reps):
        gc.collect()
        out.append(fn())
    return out


# ------------------------------------------------------------------------------------------
# autogradkit and PyTorch: the same code, since autogradkit speaks PyTorch's API
# ------------------------------------------------------------------------------------------
def _agk_setup():
    sys.path.insert(0, ROOT)
    import autogradkit as ag
    return ag


def _torch_setup():
    import torch
    torch.set_num_threads(1)
    return torch


def _lib_chain(lib, n):
    x0, w0, b0 = _inputs()
    x = lib.tensor(x0, requires_grad=True)
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    tanh = lib.tanh
    perf = time.perf_counter
    last = {}

    def once():
        x.grad = w.grad = b.grad = None
        t0 = perf()
        h = x
        for i in range(n):
            k = i % 3
            if k == 0:
                h = h * w
            elif k == 1:
                h = h + b
            else:
                h = tanh(h)
        loss = h.sum()
        tf = perf()
        loss.backward()
        t1 = perf()
        last["loss"] = float(loss.item())
        return t1 - t0, tf - t0, t1 - tf

    def result():
        return {"loss": last["loss"], "x.grad": x.grad.tolist(), "w.grad": w.grad.tolist(),
                "b.grad": b.grad.tolist()}
    return once, result


def _lib_deep(lib, n):
    x0, _, _ = _inputs()
    x = lib.tensor(x0, requires_grad=True)
    tanh = lib.tanh
    perf = time.perf_counter
    last = {}

    def once():
        x.grad = None
        tb = perf()
        h = x
        for i in range(n):
            k = i % 3
            if k == 0:
                h = h * DEEP_MUL
            elif k == 1:
                h = h + DEEP_ADD
            else:
                h = tanh(h)
        loss = h.sum()
        tf = perf()
        gc.collect()
        t0 = perf()
        loss.backward()
        t1 = perf()
        last["loss"] = float(loss.item())
        del h, loss                     # free the graph outside the timed region
        return t1 - t0, tf - tb, t1 - t0

    def result():
        return {"loss": last["loss"], "x.grad": x.grad.tolist()}
    return once, result


def _lib_numbers(lib, n):
    x = lib.tensor(_numbers_input(), requires_grad=True)
    mul, add = NUMBERS_MUL, NUMBERS_ADD          # Python floats
    perf = time.perf_counter

    def once():
        t0 = perf()
        h = x
        for _ in range(n):
            h = h * mul + add
        t1 = perf()
        return t1 - t0, t1 - t0, 0.0            # the graph is freed on return, untimed

    def result():                               # after the timed runs: one backward, untimed
        x.grad = None
        h = x
        for _ in range(n):
            h = h * mul + add
        loss = h.sum()
        gc.collect()
        t0 = perf()
        loss.backward()
        t1 = perf()
        return {"loss": float(loss.item()), "x (final)": h.tolist(), "x.grad": x.grad.tolist(),
                "dtypes": [_dtype_name(t.dtype) for t in (h, x.grad)],
                "_untimed_backward_s": t1 - t0}
    return once, result


def agk_chain(n=CHAIN_OPS):
    return _lib_chain(_agk_setup(), n)


def agk_deep(n=DEEP_OPS):
    return _lib_deep(_agk_setup(), n)


def agk_numbers(n=NUMBERS_STEPS):
    return _lib_numbers(_agk_setup(), n)


def torch_chain(n=CHAIN_OPS):
    return _lib_chain(_torch_setup(), n)


def torch_deep(n=DEEP_OPS):
    return _lib_deep(_torch_setup(), n)


def torch_numbers(n=NUMBERS_STEPS):
    return _lib_numbers(_torch_setup(), n)


# ------------------------------------------------------------------------------------------
# numpy, backprop by hand: the forward keeps what the backward needs on a tape
# ------------------------------------------------------------------------------------------
def numpy_chain(n=CHAIN_OPS):
    import numpy as np
    x, w, b = _inputs()
    tanh = np.tanh
    perf = time.perf_counter
    last = {}

    def once():
        t0 = perf()
        tape = []
        push = tape.append
        h = x
        for i in range(n):
            k = i % 3
            if k == 0:
                push((0, h))            # d(h*w)/dw needs h
                h = h * w
            elif k == 1:
                push((1, None))
                h = h + b
            else:
                h = tanh(h)
                push((2, h))            # d tanh needs its output
        loss = h.sum()
        tf = perf()
        g = np.ones_like(h)
        gw = np.zeros_like(w)
        gb = np.zeros_like(b)
        for k, s in reversed(tape):
            if k == 0:
                gw += g * s
                g = g * w
            elif k == 1:
                gb += g
            else:
                g = g * (1 - s * s)
        t1 = perf()
        last.update(loss=float(loss), gx=g, gw=gw, gb=gb)
        return t1 - t0, tf - t0, t1 - tf

    def result():
        return {"loss": last["loss"], "x.grad": last["gx"].tolist(), "w.grad": last["gw"].tolist(),
                "b.grad": last["gb"].tolist()}
    return once, result


def numpy_deep(n=DEEP_OPS):
    import numpy as np
    x, _, _ = _inputs()
    tanh = np.tanh
    # DEEP_MUL / DEEP_ADD are Python floats: 'weak' scalars, so float32 stays float32
    perf = time.perf_counter
    last = {}

    def once():
        tb = perf()
        tape = []
        push = tape.append
        h = x
        for i in range(n):
            k = i % 3
            if k == 0:
                push((0, None))
                h = h * DEEP_MUL
            elif k == 1:
                push((1, None))
                h = h + DEEP_ADD
            else:
                h = tanh(h)
                push((2, h))
        loss = h.sum()
        tf = perf()
        gc.collect()
        t0 = perf()
        g = np.ones_like(h)
        for k, s in reversed(tape):
            if k == 0:
                g = g * DEEP_MUL
            elif k == 2:
                g = g * (1 - s * s)
            # k == 1 (add a constant): the gradient passes through unchanged
        t1 = perf()
        last.update(loss=float(loss), gx=g)
        del tape
        return t1 - t0, tf - tb, t1 - t0

    def result():
        return {"loss": last["loss"], "x.grad": last["gx"].tolist()}
    return once, result


def numpy_numbers(n=NUMBERS_STEPS):
    """The bare loop: all a backward needs to know is how many steps there were (``n``)."""
    import numpy as np
    x = _numbers_input()
    mul, add = NUMBERS_MUL, NUMBERS_ADD          # Python floats
    perf = time.perf_counter

    def once():
        t0 = perf()
        h = x
        for _ in range(n):
            h = h * mul + add
        t1 = perf()
        return t1 - t0, t1 - t0, 0.0

    def result():                               # untimed, as for the others: forward, backward
        h = x
        for _ in range(n):
            h = h * mul + add
        loss = h.sum()
        t0 = perf()
        g = np.ones_like(h)
        for _ in range(n):
            g = g * mul                         # the add passes the gradient through unchanged
        t1 = perf()
        return {"loss": float(loss), "x (final)": h.tolist(), "x.grad": g.tolist(),
                "dtypes": [_dtype_name(t.dtype) for t in (h, g)], "_untimed_backward_s": t1 - t0}
    return once, result


RUNNERS = {
    ("autogradkit", "chain"): agk_chain, ("autogradkit", "deep"): agk_deep,
    ("autogradkit", "numbers"): agk_numbers,
    ("torch", "chain"): torch_chain, ("torch", "deep"): torch_deep,
    ("torch", "numbers"): torch_numbers,
    ("numpy", "chain"): numpy_chain, ("numpy", "deep"): numpy_deep,
    ("numpy", "numbers"): numpy_numbers,
}
# The reference mode runs the very same code; only its child's environment differs.
RUNNERS.update({("autogradkit-ref", w): RUNNERS["autogradkit", w] for w in WORKLOADS})


# ------------------------------------------------------------------------------------------
# child process
# ------------------------------------------------------------------------------------------
def _blas_info():
    info = {}
    try:
        import numpy as np
        info["numpy_blas"] = np.__config__.CONFIG["Build Dependencies"]["blas"].get("name")
    except (AttributeError, KeyError, TypeError):      # informative only: older numpy layouts
        info["numpy_blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                                       "num_threads")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def child(impl, workload, reps, warmup):
    limit_before = sys.getrecursionlimit()
    once, result = RUNNERS[impl, workload]()
    runs = _timed(once, reps, warmup)
    samples = [r[0] for r in runs]
    res = result()
    out = {"impl": impl, "workload": workload, "samples_s": samples,
           "median_s": statistics.median(samples),
           "median_forward_s": statistics.median(r[1] for r in runs),
           "median_backward_s": statistics.median(r[2] for r in runs),
           "untimed_backward_s": res.pop("_untimed_backward_s", None),
           "result": res,
           "recursionlimit": [limit_before, sys.getrecursionlimit()], "pid": os.getpid()}
    if impl == "torch":
        import torch
        out["version"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
    elif impl == "numpy":
        import numpy as np
        out["version"] = np.__version__
        out["blas"] = _blas_info()
    else:
        import autogradkit
        out["version"] = autogradkit.__version__
        out["path"] = os.path.dirname(autogradkit.__file__)
        out.update(_mode_report(autogradkit))
    print("RESULT " + json.dumps(out))
    _exit_now()


def _exit_now():
    """End a child as soon as its result is out: the interpreter's teardown (0.3-0.5 s with torch
    loaded) measures nothing, and it would make up a good part of a --quick run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _mode_report(autogradkit):
    """Which mode the imported package says it runs in: ``autogradkit.REFERENCE_MODE`` (a bool),
    or None while the package has no such attribute; and what the child's environment held."""
    mode = getattr(autogradkit, "REFERENCE_MODE", None)
    return {"reference_mode": None if mode is None else bool(mode),
            "AUTOGRADKIT_REFERENCE": os.environ.get("AUTOGRADKIT_REFERENCE")}


def _mode_warnings(modes):
    """``modes``: impl -> the reference_mode each of its children reported. Returns the warning
    lines (a reference child that says False, a fast child that says True; None says nothing) and
    a confirmation line when every child that reported a mode reported the expected one."""
    warn = []
    ref = modes.get("autogradkit-ref", [])
    fast = modes.get("autogradkit", [])
    if any(m is False for m in ref):
        warn.append(f"WARNING: {sum(m is False for m in ref)} of {len(ref)} autogradkit (reference) "
                    "children report autogradkit.REFERENCE_MODE = False although their environment "
                    "sets AUTOGRADKIT_REFERENCE=1: the reference figures are NOT the reference mode")
    if any(m is True for m in fast):
        warn.append(f"WARNING: {sum(m is True for m in fast)} of {len(fast)} autogradkit (fast) "
                    "children report autogradkit.REFERENCE_MODE = True although their environment "
                    "has no AUTOGRADKIT_REFERENCE: the autogradkit figures are NOT the fast mode")
    ok = None
    if not warn and any(m is not None for m in ref + fast):
        ok = ("reference mode checked: autogradkit.REFERENCE_MODE is True in the reference "
              "children and False in the fast ones"
              + ("" if all(m is not None for m in ref + fast)
                 else " (some children did not report it)"))
    return warn, ok


# ------------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------------
def _child_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)      # benchmark children only, never tests/CI
    env.pop("OPENBLAS_L2_SIZE", None)
    env.pop("AUTOGRADKIT_REFERENCE", None)  # fast mode, unless the spawn adds REFERENCE_ENV
    env.update(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def _impl_env(impl, env):
    """The child environment for ``impl``: ``env``, plus REFERENCE_ENV for autogradkit-ref."""
    return dict(env, **REFERENCE_ENV) if impl == "autogradkit-ref" else env


def parse_only(text, workloads):
    """``--only a,b`` -> the named workloads, in the script's own order; an error names the
    valid ones."""
    if text is None:
        return tuple(workloads)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in workloads]
    if unknown or not names:
        raise SystemExit(f"--only: unknown workload(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(workloads)}")
    return tuple(w for w in workloads if w in names)


def _spawn(impl, workload, reps, warmup, env):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, workload,
           "--reps", str(reps), "--warmup", str(warmup)]
    p = subprocess.run(cmd, env=_impl_env(impl, env), cwd=ROOT, capture_output=True, text=True,
                       timeout=900, check=False)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"benchmark child {impl}/{workload} failed (exit {p.returncode})")
    return json.loads(line[len("RESULT "):])


def _close(a, b, rtol):
    """Elementwise |a-b| <= rtol*|b| (plus a floor far below any value we compare)."""
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + 1e-30))


def _check(workload, results):
    """Every implementation's results must agree with the numpy reference (in ``numbers``, x.grad
    also with the closed form 1.0001**50000, and every value must be float64); returns a report:
    the largest relative difference per implementation and quantity."""
    import numpy as np
    ref = results["numpy"]
    rtol = RTOL[workload]
    report = {}

    def compare(impl, key, got, want, against):
        if not _close(got, want, rtol):
            raise SystemExit(
                f"RESULTS DISAGREE in {workload}: {impl} {key} = {got} but {against} gives "
                f"{want}; the implementations are not computing the same thing")
        a, b = np.asarray(got, float), np.asarray(want, float)
        rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))
        report[f"{impl} {key}" + ("" if against == "numpy by hand" else f" vs {against}")] = rel

    for impl, got in results.items():
        if impl != "numpy":
            for key in ref:
                if key != "dtypes":
                    compare(impl, key, got[key], ref[key], "numpy by hand")
        if workload == "numbers":
            if got["dtypes"] != ["float64", "float64"]:
                raise SystemExit(f"numbers: {impl} did not stay in float64 (x, x.grad): "
                                 f"{got['dtypes']}")
            compare(impl, "x.grad", got["x.grad"], [NUMBERS_GRAD] * SIZE,
                    f"the closed form {NUMBERS_MUL}**{NUMBERS_STEPS}")
    nonzero = all(np.all(np.asarray(v, float) != 0) for k, v in ref.items()
                  if k not in ("loss", "dtypes", "x (final)"))
    if not nonzero:
        raise SystemExit(f"{workload}: a reference gradient is exactly 0 — the check is vacuous")
    return report


def _git_state():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "autogradkit"], cwd=ROOT,
                               check=False, capture_output=True, text=True).stdout.strip()
        return f"{head}{' + uncommitted changes in autogradkit/' if dirty else ''}"
    except OSError:
        return "unknown"


def _fmt_time(workload, s):
    if workload in OPS:
        return f"{s / OPS[workload] * 1e6:.2f} µs/op"
    return f"{s * 1e3:.1f} ms"


ROW_NAME = {"chain": f"{CHAIN_OPS}-op chain, fwd+bwd",
            "deep": f"{DEEP_OPS:,}-op chain, backward only",
            "numbers": f"{NUMBERS_OPS:,} ops with Python numbers, float64, forward only"}


def run_all(rounds, quick, json_path, workloads=WORKLOADS):
    # --quick: the two 100,000-op workloads are long measurements each (0.05-0.5 s), and their
    # repetitions are what takes the time; the 3 rounds still give a median.
    reps = {"chain": 10 if quick else 30, "deep": 1 if quick else 5, "numbers": 2 if quick else 7}
    warmup = {"chain": 3, "deep": 1, "numbers": 1}
    reps = {w: reps[w] for w in workloads}
    warmup = {w: warmup[w] for w in workloads}
    env = _child_env()
    keys = [(w, i) for w in workloads for i in IMPLS]
    per = {k: [] for k in keys}         # per-round medians
    fwd = {k: [] for k in keys}         # per-round forward medians
    bwd = {k: [] for k in keys}         # per-round backward medians
    ubwd = {k: [] for k in keys}        # numbers: the untimed backward after the timed runs
    raw = {k: [] for k in keys}
    modes = {i: [] for i in AGK_IMPLS}  # autogradkit.REFERENCE_MODE, as each child reported it
    limits = set()
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load_before[0]:.2f} on {os.cpu_count()} CPUs before "
              "starting: other processes compete for the cores and the numbers will be noisy",
              file=sys.stderr)
    results = {w: {} for w in workloads}    # the last round's, for the report
    all_results = []                        # every round's, all checked
    meta = {}
    t_start = time.time()
    for r in range(rounds):
        for w in workloads:
            for impl in IMPLS:                                   # A B C D, A B C D, ...
                out = _spawn(impl, w, reps[w], warmup[w], env)
                per[w, impl].append(out["median_s"])
                fwd[w, impl].append(out["median_forward_s"])
                bwd[w, impl].append(out["median_backward_s"])
                ubwd[w, impl].append(out["untimed_backward_s"])
                raw[w, impl].append(out["samples_s"])
                limits.add(tuple(out["recursionlimit"]))
                results[w][impl] = out["result"]
                all_results.append((w, impl, out["result"]))
                if impl in AGK_IMPLS:
                    modes[impl].append(out["reference_mode"])
                meta[impl] = {k: out[k] for k in ("version", "torch_threads", "blas", "path",
                                                  "recursionlimit", "AUTOGRADKIT_REFERENCE")
                              if k in out}
        print(f"  round {r + 1}/{rounds} done ({time.time() - t_start:.0f} s)", file=sys.stderr)

    load_after = os.getloadavg()
    checks = {w: _check(w, results[w]) for w in workloads}
    for w, impl, res in all_results:            # and every round agrees with the reference
        _check(w, {**results[w], impl: res})
    for impl in AGK_IMPLS:
        if not meta[impl]["path"].startswith(ROOT):
            raise SystemExit(f"{LABEL[impl]} was imported from {meta[impl]['path']}, "
                             f"not from this checkout ({ROOT})")
    if any(a != b for a, b in limits):
        raise SystemExit(f"an implementation changed the recursion limit (before, after): {limits}")

    med = {k: statistics.median(v) for k, v in per.items()}
    rows = []
    for w in workloads:
        a, t, n = med[w, "autogradkit"], med[w, "torch"], med[w, "numpy"]
        ref = med[w, "autogradkit-ref"]
        if w == "chain":
            target = f"≤ {TARGET_CHAIN_RATIO:.2f}× PyTorch"
            met = a / t <= TARGET_CHAIN_RATIO
        elif w == "deep":
            target = f"≤ {TARGET_DEEP_RATIO}× PyTorch"
            met = a / t <= TARGET_DEEP_RATIO
        else:
            target = f"≤ {TARGET_NUMBERS_RATIO:.1f}× PyTorch"
            met = a / t <= TARGET_NUMBERS_RATIO
        rows.append([ROW_NAME[w], _fmt_time(w, a), _fmt_time(w, t), _fmt_time(w, n),
                     f"{a / t:.2f}×", f"{a / n:.2f}×", target, "yes" if met else "NO",
                     _fmt_time(w, ref), f"{ref / t:.2f}×", f"×{ref / a:.2f} of fast"])

    head = ["workload", "autogradkit", "PyTorch", "numpy by hand", "ratio vs PyTorch",
            "ratio vs numpy", "target", "met?", "autogradkit (reference)", "reference vs PyTorch",
            "reference vs fast"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells):
        padded = (str(c).ljust(wd) for c, wd in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"
    print()
    print(line(head))
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for row in rows:
        print(line(row))
    print()
    mode_warnings, mode_ok = _mode_warnings(modes)
    for msg in mode_warnings:
        print(msg)
    print(f"median of {rounds} rounds; each round = one fresh subprocess per implementation, "
          "median of " + " / ".join(f"{reps[w]} ({w})" for w in workloads)
          + " repetitions inside it. The target applies to autogradkit (fast mode) only; "
          "autogradkit (reference) runs with AUTOGRADKIT_REFERENCE=1.")
    print("spread of the per-round medians (min – max):")
    for w in workloads:
        print("  " + w + ": " + "; ".join(
            f"{LABEL[i]} {_fmt_time(w, min(per[w, i]))} – {_fmt_time(w, max(per[w, i]))}"
            for i in IMPLS))
    fb = {k: (statistics.median(fwd[k]), statistics.median(bwd[k])) for k in per}
    if "chain" in workloads:
        print("chain, split (µs/op): " + "; ".join(
            f"{LABEL[i]} forward {fb['chain', i][0] / CHAIN_OPS * 1e6:.2f} + backward "
            f"{fb['chain', i][1] / CHAIN_OPS * 1e6:.2f}" for i in IMPLS))
    if "deep" in workloads:
        print("deep, untimed graph build (ms): " + "; ".join(
            f"{LABEL[i]} {fb['deep', i][0] * 1e3:.0f}" for i in IMPLS))
    if "numbers" in workloads:
        print("numbers, the untimed backward after the timed forwards (ms): " + "; ".join(
            f"{LABEL[i]} {statistics.median(ubwd['numbers', i]) * 1e3:.0f}" for i in IMPLS))
    for w in workloads:
        if w == "numbers":
            print(f"numbers, x.grad[0] (closed form {NUMBERS_MUL}**{NUMBERS_STEPS} = "
                  f"{NUMBERS_GRAD:.15g}): " + "; ".join(
                      f"{LABEL[i]} {results[w][i]['x.grad'][0]:.15g}" for i in IMPLS))
        else:
            print(f"{w}, sum of x.grad: " + "; ".join(
                f"{LABEL[i]} {sum(results[w][i]['x.grad']):.7g}" for i in IMPLS))
    print("results agree (gradients and loss vs numpy by hand"
          + ("; numbers: x.grad vs the closed form, float64 throughout" if "numbers" in workloads
             else "") + "): " + "; ".join(
        f"{w}: max rel. diff {max(c.values()):.1e} (rtol {RTOL[w]:g})" for w, c in checks.items()))
    if mode_ok:
        print(mode_ok)
    env_line = (f"python {platform.python_version()}, numpy {meta['numpy']['version']}, torch "
                f"{meta['torch']['version']} ({meta['torch'].get('torch_threads')} thread), "
                f"autogradkit {meta['autogradkit']['version']} @ {_git_state()}, "
                f"{os.cpu_count()} CPUs, recursion limit {min(limits)[0]} (unchanged), "
                f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after")
    print(env_line)
    for msg in mode_warnings:               # again at the end, where it cannot be missed
        print(msg, file=sys.stderr)

    if json_path:
        wl = {"chain": {"ops": CHAIN_OPS, "size": SIZE, "dtype": "float32",
                        "unit_reported": "us/op", "timed": "forward + backward"},
              "deep": {"ops": DEEP_OPS, "size": SIZE, "dtype": "float32", "unit_reported": "ms",
                       "timed": "backward only", "mul": DEEP_MUL, "add": DEEP_ADD},
              "numbers": {"ops": NUMBERS_OPS, "steps": NUMBERS_STEPS, "size": SIZE,
                          "dtype": "float64", "unit_reported": "us/op", "timed": "forward only",
                          "mul": NUMBERS_MUL, "add": NUMBERS_ADD,
                          "closed_form_grad": NUMBERS_GRAD}}
        doc = {
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "processor": platform.processor(), "python": platform.python_version()},
            "git": _git_state(), "meta": meta, "rounds": rounds, "reps": reps,
            "warmup": warmup, "child_env": {k: env.get(k) for k in (
                "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "reference_child_env_extra": REFERENCE_ENV,
            "reference_mode_reported": modes, "reference_mode_warnings": mode_warnings,
            "workloads": {w: wl[w] for w in workloads},
            "load_average_1min": {"before": load_before[0], "after": load_after[0]},
            "per_round_median_s": {f"{w}/{i}": per[w, i] for w, i in per},
            "per_round_forward_median_s": {f"{w}/{i}": fwd[w, i] for w, i in fwd},
            "per_round_backward_median_s": {f"{w}/{i}": bwd[w, i] for w, i in bwd},
            "per_round_untimed_backward_s": {f"{w}/{i}": ubwd[w, i] for w, i in ubwd
                                             if w == "numbers"},
            "samples_s": {f"{w}/{i}": raw[w, i] for w, i in raw},
            "median_s": {f"{w}/{i}": med[w, i] for w, i in med},
            "results": results, "agreement_max_rel_diff": checks,
            "table": {"header": head, "rows": rows},
        }
        d = os.path.dirname(os.path.abspath(json_path))
        os.makedirs(d, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {json_path}")
    return rows


# ------------------------------------------------------------------------------------------
# profile (in-process, autogradkit only)
# ------------------------------------------------------------------------------------------
def _part(path, func, forward_only=False):
    """Which part of the work a profiled function belongs to (for the --profile summary). In a
    forward-only profile (``numbers``) nothing is replayed, so all of node.py is recording."""
    p = path.replace(os.sep, "/")
    if p.endswith("benchmarks/engine.py"):
        return "benchmark driver loop (the same Python loop for every implementation)"
    if p.endswith(("autograd/engine.py", "autograd/api.py")):
        return "backward engine: dependency count, ready list, gradient routing and sums"
    if p.endswith("autograd/node.py"):
        if func.startswith("apply") or forward_only:
            return "recording: Op.apply_* (node + output tensor, saved values)"
        return "replay: Op._run_backward / _unpack (saved-value checks, call into the rule)"
    if "/ops/" in p:
        if func == "backward":
            return "derivative rules (their numpy math included)"
        if func == "forward":
            return "forward rules (their numpy math included)"
        return "ops: other"
    if p.endswith(("autogradkit/tensor.py", "autogradkit/functional.py")):
        return "Tensor / functional wrappers (__mul__, tanh(), _make, properties)"
    if path == "~":
        return "builtins (list/dict methods, len, zip, object.__new__ ...)"
    return "other"


def profile(top=15, workloads=WORKLOADS):
    import cProfile
    import pstats
    for w in workloads:
        once, _ = RUNNERS["autogradkit", w]()
        once()                                      # warm up
        pr = cProfile.Profile()
        if w == "chain":
            pr.enable()
            for _ in range(20):
                once()
            pr.disable()
            what = f"20 x ({CHAIN_OPS}-op chain forward + backward)"
        elif w == "numbers":
            gc.collect()
            pr.enable()
            once()
            pr.disable()
            what = f"{NUMBERS_OPS:,} ops with Python numbers (float64), forward only"
        else:
            # profile only backward: build untimed, then profile loss.backward()
            ag = _agk_setup()
            x = ag.tensor(_inputs()[0], requires_grad=True)
            h = x
            for i in range(DEEP_OPS):
                k = i % 3
                h = h * DEEP_MUL if k == 0 else (h + DEEP_ADD if k == 1 else ag.tanh(h))
            loss = h.sum()
            gc.collect()
            pr.enable()
            loss.backward()
            pr.disable()
            del h, loss
            what = f"{DEEP_OPS:,}-op chain, backward only"
        stats = pstats.Stats(pr)
        print(f"\n=== cProfile: autogradkit, {what} ===")
        print("own time by part (cProfile's own overhead inflates Python calls; numpy's ufuncs "
              "are not calls it sees, so their time is inside the Python function that ran them):")
        parts = {}
        total = 0.0
        for (path, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
            part = _part(path, func, forward_only=w == "numbers")
            parts[part] = parts.get(part, 0.0) + tt
            total += tt
        for part, tt in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {tt * 1e3:8.1f} ms  {tt / total:5.1%}  {part}")
        print(f"  {total * 1e3:8.1f} ms  total")
        print(f"top {top} functions by own time:")
        print(f"  {'calls':>8} {'own ms':>8} {'cum ms':>8}  function")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
        for (path, line, func), (_cc, nc, tt, ct, _callers) in rows:
            where = os.path.relpath(path, ROOT) if os.path.isabs(path) else path
            name = func if path == "~" else f"{where}:{line}({func})"
            print(f"  {nc:8d} {tt * 1e3:8.1f} {ct * 1e3:8.1f}  {name}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="3 rounds, fewer repetitions (under a minute; the default, 7 rounds, takes "
                        "a few minutes)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 7, --quick 3)")
    p.add_argument("--only", metavar="WORKLOAD[,WORKLOAD]",
                   help=f"run only these workloads (of {', '.join(WORKLOADS)})")
    p.add_argument("--json", metavar="PATH", help="also write the raw numbers as JSON")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the autogradkit side of the workloads instead (in-process)")
    p.add_argument("--child", nargs=2, metavar=("IMPL", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        impl, workload = args.child
        child(impl, workload, args.reps, args.warmup)
        return 0
    workloads = parse_only(args.only, WORKLOADS)
    if args.profile:
        profile(workloads=workloads)
        return 0
    rounds = args.rounds or (3 if args.quick else 7)
    run_all(rounds, args.quick, args.json, workloads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
