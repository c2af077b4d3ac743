"""Training benchmark: autogradkit vs PyTorch (CPU) vs hand-written numpy backprop.

One command, run from the repository root:

    .venv/bin/python benchmarks/training.py [--quick] [--only WORKLOAD[,WORKLOAD]] [--json PATH]
                                            [--rounds N] [--profile]

Three measurements of a whole training loop (forward, loss, backward, optimizer step, zero_grad):

1. ``article-float32`` / ``article-float64`` — the source article's example
   (``autogradkit/examples/article_program.py``): ``Linear(10, 20) → relu → Linear(20, 1)``,
   ``MSELoss``, ``SGD(lr=0.01)``, x of shape (100, 10), y of shape (100, 1), 1000 iterations of
   forward / loss / backward / step / zero_grad, once in float32 and once in float64. Reported in
   µs per iteration. Small arrays: this is mostly the cost of the framework's bookkeeping.
   Target: autogradkit <= 0.30 x PyTorch.
2. ``mlp`` — an MLP 784-512-512-10 with ReLU, batch 256, cross-entropy on class indices,
   SGD(lr=0.01), float32. Reported in ms per training step (median over the timed steps, after
   warm-up steps). Mostly matrix products. Target: autogradkit <= 1.05 x PyTorch.
3. ``mlp-memory`` — peak resident memory (``ru_maxrss``) of a fresh process that runs only
   that MLP workload, the same steps. Target: autogradkit <= 60 MiB. This child also records
   which heavy packages ``import autogradkit`` pulled in: it should import numpy and nothing like
   matplotlib, ipywidgets, graphviz or torch.

Three implementations of each, plus autogradkit's reference mode (below): autogradkit (this
checkout), PyTorch with one intra-op thread, and **numpy by hand**: the same network with its
backward pass written out on raw arrays. That
is the floor a numpy-backed library can approach: the same numpy calls with no framework around
them. autogradkit and PyTorch run the *same* driver code (autogradkit is PyTorch-shaped:
``nn.Module``, ``nn.Linear``, ``nn.MSELoss`` / ``nn.CrossEntropyLoss``, ``optim.SGD``).
A fourth, ``autogradkit-ref`` ("autogradkit (reference)" in the table), is the same code as
autogradkit run in children whose environment has AUTOGRADKIT_REFERENCE=1: the package then
runs without its speed shortcuts. It has no target; the table shows its ratio to PyTorch and
how many times the fast mode's figure it takes. Each autogradkit child reports
``autogradkit.REFERENCE_MODE`` (None while the package has no such attribute) and the parent
warns if a reference child says False or a fast child says True (engine.py's helpers).

Same computation, checked: every child builds its inputs and initial weights with numpy from
one seed (``SEED``), loads them into its model and reports a CRC of the weights and data as its
model holds them. The parent checks that the CRCs agree, that every implementation ends at the
same loss and the same weights (relative tolerance 1e-3 in float32, 1e-9 in float64), and that
every gradient in the numpy-by-hand, autogradkit and PyTorch versions has the workload's dtype
(float32 stays float32), before it prints the table. In the MLP the input of the first layer
needs no gradient, and no implementation computes it.

How it measures is the house style of ``benchmarks/engine.py``, whose helpers it imports: every
(workload, implementation) runs in a fresh subprocess with OMP_NUM_THREADS=1,
OMP_WAIT_POLICY=PASSIVE, one BLAS thread, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed (children
only); rounds are interleaved (A B C D, A B C D, ...); each child reports the median of its inner
repetitions and the table shows the median over rounds. ``gc.collect()`` runs before each timed
repetition (a 1000-iteration run, or one MLP step); the collector stays on while timing.
One addition: the timing children (not the memory child) fix glibc malloc's mmap and trim
thresholds, so that no implementation's big arrays come back as fresh, page-faulting memory on
every step merely because of its allocation history (see ``MALLOC_FIXED``); every timing child
reports its page faults. Children end with ``os._exit`` once their result is printed (the
interpreter's teardown measures nothing). ``--only mlp,mlp-memory`` runs a subset of the
workloads. ``--profile`` runs the autogradkit side under cProfile instead.
"""
from __future__ import annotations

import gc
import itertools
import os
import sys
import time

# Only the standard library's lightest modules are imported at module level: the memory child
# runs this file, and what it imports counts in its peak RSS. engine.py's helpers (and argparse,
# subprocess, json ...) are imported where they are used.

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SEED = 20261128
IMPLS = ("autogradkit", "autogradkit-ref", "torch", "numpy")
AGK_IMPLS = ("autogradkit", "autogradkit-ref")     # the same code; -ref: AUTOGRADKIT_REFERENCE=1
LABEL = {"autogradkit": "autogradkit", "autogradkit-ref": "autogradkit (reference)",
         "torch": "PyTorch", "numpy": "numpy by hand"}
WORKLOADS = ("article-float32", "article-float64", "mlp", "mlp-memory")

ART_ITERS = 1000
ART_LR = 0.01
ART_N, ART_IN, ART_HIDDEN = 100, 10, 20
MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 256
MLP_LR = 0.01

TARGET_ART_RATIO = 0.30         # autogradkit / PyTorch, µs/iter
TARGET_MLP_RATIO = 1.05         # autogradkit / PyTorch, ms/step
TARGET_MLP_MIB = 60.0           # autogradkit peak RSS
RTOL = {"float32": 1e-3, "float64": 1e-9}
# glibc malloc's thresholds, fixed in the *timing* children. By default glibc adapts them as
# large blocks are freed, and trims the top of the heap when enough of it is free: whether a
# step's big arrays (0.5-1.6 MB here) come back as fresh pages, each of which faults, then
# depends on the process's allocation history. With the defaults, numpy by hand's MLP step
# faulted ~1800 pages per step and took 7.0 ms instead of 4.4 ms, while autogradkit and PyTorch
# faulted none; how the initial weights were generated was enough to flip it. Fixed thresholds
# make all three reuse their heap (each timing child reports its page faults). The memory child
# keeps the defaults, which is what a user's script gets.
MALLOC_FIXED = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}
HEAVY = ("matplotlib", "ipywidgets", "graphviz", "torch", "IPython", "scipy", "pandas", "PIL")


# ------------------------------------------------------------------------------------------
# Inputs and initial weights: numpy, one seed, identical in every child
# ------------------------------------------------------------------------------------------
def _uniform(rng, shape, bound):
    """U(-bound, bound) in float64 (nn.Linear's default initialisation, PyTorch's bounds)."""
    return rng.uniform(-bound, bound, shape)


def article_inputs(dtype):
    """x = randn(100, 10), y = randn(100, 1); fc1 and fc2 initialised as nn.Linear would be.
    The same float64 draws for both dtypes, then cast."""
    import numpy as np
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((ART_N, ART_IN))
    y = rng.standard_normal((ART_N, 1))
    b1, b2 = 1 / np.sqrt(ART_IN), 1 / np.sqrt(ART_HIDDEN)
    params = [_uniform(rng, (ART_HIDDEN, ART_IN), b1), _uniform(rng, (ART_HIDDEN,), b1),
              _uniform(rng, (1, ART_HIDDEN), b2), _uniform(rng, (1,), b2)]
    return x.astype(dtype), y.astype(dtype), [p.astype(dtype) for p in params]


def mlp_inputs():
    """A fixed batch (x: 256 x 784 standard normal, float32; labels: 256 class indices, int64)
    and the three layers' weights and biases, U(±1/√fan_in), drawn directly in float32."""
    import numpy as np
    rng = np.random.default_rng(SEED + 1)
    f32 = np.float32
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]), dtype=f32)
    labels = rng.integers(0, MLP_SIZES[-1], MLP_BATCH, dtype=np.int64)
    params = []
    for fan_in, fan_out in itertools.pairwise(MLP_SIZES):
        bound = f32(1 / np.sqrt(fan_in))
        for shape in ((fan_out, fan_in), (fan_out,)):
            a = rng.random(shape, dtype=f32)
            a *= 2
            a -= 1
            a *= bound
            params.append(a)
    return x, labels, params


def _crc(arrays):
    """CRC-32 of the arrays' bytes (read in place, no copy): proves every implementation starts
    from the same numbers."""
    import zlib
    c = 0
    for a in arrays:
        c = zlib.crc32(memoryview(a).cast("B"), c)
    return c


def _summary(final, initial):
    """What training did to the weights, as a few numbers to compare across implementations:
    per parameter ‖final‖ and ‖final − initial‖, in float64, a block at a time (the memory child
    calls this after it has read its peak RSS, but it should stay small all the same)."""
    import numpy as np
    out = []
    block = 1 << 15
    for f, i in zip(final, initial):
        f, i = f.reshape(-1), i.reshape(-1)
        sf = sd = 0.0
        for k in range(0, f.size, block):
            a = f[k:k + block].astype(np.float64)
            b = a - i[k:k + block]
            sf += float(a @ a)
            sd += float(b @ b)
        out += [sf ** 0.5, sd ** 0.5]
    return out


def _dtype_name(dt):
    """'float32' from np.float32, torch.float32 or autogradkit.float32."""
    return str(dt).rsplit(".", 1)[-1]


# ------------------------------------------------------------------------------------------
# autogradkit and PyTorch: one driver, the same code for both (autogradkit is PyTorch-shaped)
# ------------------------------------------------------------------------------------------
def _lib(impl):
    if impl == "torch":
        import torch
        torch.set_num_threads(1)
        return torch
    sys.path.insert(0, ROOT)
    import autogradkit
    return autogradkit


def _load(lib, params, arrays):
    with lib.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(lib.from_numpy(a))


def _read(params):
    return [p.detach().numpy() for p in params]        # shared with the model, not copied


def framework_article(impl, dtype_name):
    """The article's program (``autogradkit/examples/article_program.py``), with autogradkit or
    torch as ``lib``, weights and data from ``article_inputs``."""
    import numpy as np
    lib = _lib(impl)
    nn, optim = lib.nn, lib.optim
    dt = getattr(lib, dtype_name)
    x0, y0, init = article_inputs(np.dtype(dtype_name))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(ART_IN, ART_HIDDEN, dtype=dt)
            self.fc2 = nn.Linear(ART_HIDDEN, 1, dtype=dt)

        def forward(self, x):
            x = self.fc1(x)
            x = lib.relu(x)
            x = self.fc2(x)
            return x

    net = Net()
    params = list(net.parameters())
    x, y = lib.from_numpy(x0), lib.from_numpy(y0)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=ART_LR)
    perf = time.perf_counter

    def reset():
        _load(lib, params, init)

    def run():                          # the timed region: the article's loop, as written
        for epoch in range(ART_ITERS):
            y_pred = net(x)
            loss = criterion(y_pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return loss.item()

    def run_split():                    # the same loop with a clock between the phases
        tf = tb = tu = 0.0
        for epoch in range(ART_ITERS):
            t0 = perf()
            y_pred = net(x)
            loss = criterion(y_pred, y)
            t1 = perf()
            loss.backward()
            t2 = perf()
            optimizer.step()
            optimizer.zero_grad()
            t3 = perf()
            tf += t1 - t0
            tb += t2 - t1
            tu += t3 - t2
        return {"forward+loss": tf / ART_ITERS, "backward": tb / ART_ITERS,
                "step+zero_grad": tu / ART_ITERS}

    def check():                        # one step, every intermediate's gradient kept
        h = net.fc1(x)
        r = lib.relu(h)
        p = net.fc2(r)
        for t in (h, r, p):
            t.retain_grad()
        loss = criterion(p, y)
        loss.backward()
        dtypes = {f"{n}.grad": _dtype_name(q.grad.dtype) for n, q in net.named_parameters()}
        dtypes.update({"fc1 output .grad": _dtype_name(h.grad.dtype),
                       "relu output .grad": _dtype_name(r.grad.dtype),
                       "fc2 output .grad": _dtype_name(p.grad.dtype),
                       "loss": _dtype_name(loss.dtype)})
        optimizer.step()
        optimizer.zero_grad()
        dtypes.update({f"{n} after step": _dtype_name(q.dtype) for n, q in net.named_parameters()})
        return dtypes

    return {"reset": reset, "run": run, "run_split": run_split, "check": check,
            "initial": lambda: _read(params) + [x0, y0], "final": lambda: _read(params),
            "init": init}


def framework_mlp(impl):
    """784-512-512-10 MLP with ReLU, nn.CrossEntropyLoss on class indices, SGD."""
    lib = _lib(impl)
    nn, optim = lib.nn, lib.optim
    x0, labels0, init = mlp_inputs()
    s = MLP_SIZES
    model = nn.Sequential(nn.Linear(s[0], s[1]), nn.ReLU(), nn.Linear(s[1], s[2]), nn.ReLU(),
                          nn.Linear(s[2], s[3]))
    params = list(model.parameters())
    x, labels = lib.from_numpy(x0), lib.from_numpy(labels0)   # x needs no gradient
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=MLP_LR)
    perf = time.perf_counter

    def reset():
        _load(lib, params, init)

    def step():                         # timed: one training step, with a clock between phases
        t0 = perf()
        loss = criterion(model(x), labels)
        t1 = perf()
        loss.backward()
        t2 = perf()
        optimizer.step()
        optimizer.zero_grad()
        t3 = perf()
        return loss, t0, t1, t2, t3

    def check():                        # one step, every intermediate's gradient kept
        h = x
        kept = []
        for m in model:
            h = m(h)
            h.retain_grad()
            kept.append((f"{type(m).__name__} output ({len(kept)}) .grad", h))
        loss = criterion(h, labels)
        loss.backward()
        dtypes = {f"{n}.grad": _dtype_name(q.grad.dtype) for n, q in model.named_parameters()}
        dtypes.update({name: _dtype_name(t.grad.dtype) for name, t in kept})
        dtypes["loss"] = _dtype_name(loss.dtype)
        optimizer.step()
        optimizer.zero_grad()
        dtypes.update({f"{n} after step": _dtype_name(q.dtype) for n, q in model.named_parameters()})
        return dtypes

    return {"reset": reset, "step": step, "check": check, "loss": lambda t: t.item(),
            "initial": lambda: _read(params) + [x0, labels0], "final": lambda: _read(params),
            "init": init}


# ------------------------------------------------------------------------------------------
# numpy, backprop by hand
# ------------------------------------------------------------------------------------------
def numpy_article(dtype_name):
    """The article's network with its backward written out. No .grad storage, so no zero_grad."""
    import numpy as np
    x, y, init = article_inputs(np.dtype(dtype_name))
    params = [p.copy() for p in init]
    n = y.size
    lr = ART_LR
    perf = time.perf_counter

    def reset():
        for p, a in zip(params, init):
            p[...] = a

    # The same numpy calls as autogradkit's rules for these ops, so that this stays the floor
    # of what autogradkit computes: ndarray.dot rather than @ (one BLAS call, less overhead on
    # small arrays), Σd² as one dot, bias gradients as ones·g (numpy's axis-0 sum is slower on
    # small arrays), the ReLU mask as a float array (multiplying by a bool casts per element).
    ones = np.ones(n, dtype=x.dtype)
    mask_dtype = x.dtype

    def run(record=None):
        W1, b1, W2, b2 = params         # locals; `W1 -= ...` updates the arrays in place
        for epoch in range(ART_ITERS):
            h = x.dot(W1.T)             # fc1
            h += b1
            r = np.maximum(h, 0)        # relu
            p = r.dot(W2.T)             # fc2
            p += b2
            d = p - y                   # MSE
            loss = np.vdot(d, d) / n
            gp = d * (2.0 / n)          # ∂loss/∂p (a Python float keeps the dtype)
            gW2 = gp.T.dot(r)
            gb2 = ones.dot(gp)
            gr = gp.dot(W2)
            gh = gr * (r > 0).astype(mask_dtype)
            gW1 = gh.T.dot(x)           # x needs no gradient: not computed
            gb1 = ones.dot(gh)
            W1 -= lr * gW1              # SGD, in place
            b1 -= lr * gb1
            W2 -= lr * gW2
            b2 -= lr * gb2
            if record is not None:
                record.update({"fc1.weight.grad": gW1, "fc1.bias.grad": gb1,
                               "fc2.weight.grad": gW2, "fc2.bias.grad": gb2,
                               "fc1 output .grad": gh, "relu output .grad": gr,
                               "fc2 output .grad": gp, "loss": loss})
                break
        return float(loss)

    def run_split():
        W1, b1, W2, b2 = params
        tf = tb = tu = 0.0
        for epoch in range(ART_ITERS):
            t0 = perf()
            h = x.dot(W1.T)
            h += b1
            r = np.maximum(h, 0)
            p = r.dot(W2.T)
            p += b2
            d = p - y
            np.vdot(d, d) / n           # the loss: computed, as in run(); not kept for the split
            t1 = perf()
            gp = d * (2.0 / n)
            gW2 = gp.T.dot(r)
            gb2 = ones.dot(gp)
            gr = gp.dot(W2)
            gh = gr * (r > 0).astype(mask_dtype)
            gW1 = gh.T.dot(x)
            gb1 = ones.dot(gh)
            t2 = perf()
            W1 -= lr * gW1
            b1 -= lr * gb1
            W2 -= lr * gW2
            b2 -= lr * gb2
            t3 = perf()
            tf += t1 - t0
            tb += t2 - t1
            tu += t3 - t2
        return {"forward+loss": tf / ART_ITERS, "backward": tb / ART_ITERS,
                "step+zero_grad": tu / ART_ITERS}

    def check():
        rec = {}
        run(rec)
        dtypes = {k: _dtype_name(v.dtype) for k, v in rec.items()}
        dtypes.update({f"{k} after step": _dtype_name(p.dtype) for k, p in
                       zip(("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), params)})
        return dtypes

    return {"reset": reset, "run": run, "run_split": run_split, "check": check,
            "initial": lambda: params + [x, y], "final": lambda: params, "init": init}


def numpy_mlp():
    """The MLP with its backward written out: softmax cross-entropy's gradient (p − onehot)/N,
    ReLU masks applied in place, no gradient for the input."""
    import numpy as np
    x, labels, init = mlp_inputs()
    params = [p.copy() for p in init]
    n = labels.size
    rows = np.arange(n)
    lr = MLP_LR
    perf = time.perf_counter

    def reset():
        for p, a in zip(params, init):
            p[...] = a

    def step(record=None):
        W1, b1, W2, b2, W3, b3 = params  # locals; `W1 -= ...` updates the arrays in place
        t0 = perf()
        h1 = x @ W1.T
        h1 += b1
        r1 = np.maximum(h1, 0)
        h2 = r1 @ W2.T
        h2 += b2
        r2 = np.maximum(h2, 0)
        z = r2 @ W3.T
        z += b3
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        se = e.sum(axis=1, keepdims=True)
        loss = (np.log(se[:, 0]) - shifted[rows, labels]).mean()
        t1 = perf()
        gz = e / se                     # softmax
        gz[rows, labels] -= 1
        gz /= n
        gW3 = gz.T @ r2
        gb3 = gz.sum(0)
        g2 = gz @ W3
        g2 *= h2 > 0
        gW2 = g2.T @ r1
        gb2 = g2.sum(0)
        g1 = g2 @ W2
        g1 *= h1 > 0
        gW1 = g1.T @ x                  # x needs no gradient: not computed
        gb1 = g1.sum(0)
        t2 = perf()
        W1 -= lr * gW1
        b1 -= lr * gb1
        W2 -= lr * gW2
        b2 -= lr * gb2
        W3 -= lr * gW3
        b3 -= lr * gb3
        t3 = perf()
        if record is not None:
            record.update({"0.weight.grad": gW1, "0.bias.grad": gb1, "2.weight.grad": gW2,
                           "2.bias.grad": gb2, "4.weight.grad": gW3, "4.bias.grad": gb3,
                           "Linear output (0) .grad": g1, "Linear output (2) .grad": g2,
                           "Linear output (4) .grad": gz, "loss": loss})
        return loss, t0, t1, t2, t3

    def check():
        rec = {}
        step(rec)
        dtypes = {k: _dtype_name(v.dtype) for k, v in rec.items()}
        dtypes.update({f"{k} after step": _dtype_name(p.dtype) for k, p in
                       zip(("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"),
                           params)})
        return dtypes

    return {"reset": reset, "step": step, "check": check, "loss": float,
            "initial": lambda: params + [x, labels], "final": lambda: params, "init": init}


def _build(impl, workload):
    if workload.startswith("article"):
        dtype_name = workload.split("-")[1]
        return numpy_article(dtype_name) if impl == "numpy" else framework_article(impl, dtype_name)
    return numpy_mlp() if impl == "numpy" else framework_mlp(impl)


# ------------------------------------------------------------------------------------------
# child process
# ------------------------------------------------------------------------------------------
def _rss_kib():
    """(current, peak) resident set size of this process in KiB, from /proc/self/status."""
    cur = peak = None
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return cur, peak


def _heavy_loaded():
    return sorted(m for m in HEAVY if m in sys.modules)


def child_article(impl, workload, reps, warmup):
    import statistics
    w = _build(impl, workload)
    w["reset"]()
    initial_crc = _crc(w["initial"]())
    dtypes = w["check"]()               # one step with every gradient's dtype recorded
    for _ in range(warmup):
        w["reset"]()
        gc.collect()
        w["run"]()
    import resource
    perf, cpu = time.perf_counter, time.process_time
    samples, cpu_share, losses = [], [], []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(reps):
        w["reset"]()
        gc.collect()
        c0 = cpu()
        t0 = perf()
        loss = w["run"]()
        t1 = perf()
        c1 = cpu()
        samples.append((t1 - t0) / ART_ITERS)
        cpu_share.append((c1 - c0) / (t1 - t0))
        losses.append(loss)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    summary = _summary(w["final"](), w["init"])     # before the split run changes the weights
    w["reset"]()
    gc.collect()
    split = w["run_split"]()            # not in the table: where an iteration's time goes
    return {"samples_s": samples, "median_s": statistics.median(samples),
            "cpu_share": statistics.median(cpu_share), "faults_per_unit": faults / (reps * ART_ITERS),
            "split_s": split, "losses": losses,
            "result": {"loss": losses[-1], "weights": summary},
            "initial_crc": initial_crc, "dtypes": dtypes}


def child_mlp(impl, steps, warmup, memory):
    """The MLP run: ``warmup`` untimed steps, then ``steps`` timed ones.

    With ``memory``, the same steps in a process that does nothing else, and no dtype-check
    step (it keeps extra gradients alive; the timing child checks the dtypes of the same code):
    the peak RSS is read as soon as the last step ends, before anything else is computed."""
    rss_start = _rss_kib()[0]
    heavy_before = _heavy_loaded()
    if impl == "numpy":
        __import__("numpy")         # so that "after import" means the same for all of them
    else:
        _lib(impl)
    rss_import = _rss_kib()[0]
    heavy_after_import = _heavy_loaded()
    w = _build(impl, "mlp")
    w["reset"]()
    initial_crc = _crc(w["initial"]())
    step, to_float = w["step"], w["loss"]
    dtypes = None if memory else w["check"]()   # the first warm-up step, dtypes recorded
    for _ in range(warmup if memory else warmup - 1):
        step()
    import resource
    cpu = time.process_time
    times, phases, cpu_s, wall_s = [], [], 0.0, 0.0
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        gc.collect()
        c0 = cpu()
        loss, t0, t1, t2, t3 = step()
        c1 = cpu()
        wall_s += t3 - t0
        cpu_s += c1 - c0
        times.append(t3 - t0)
        phases.append((t1 - t0, t2 - t1, t3 - t2))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    if memory:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_end = _rss_kib()[0]
    out = {"result": {"loss": to_float(loss), "weights": _summary(w["final"](), w["init"])},
           "initial_crc": initial_crc, "dtypes": dtypes}
    if memory:
        out.update(ru_maxrss_kib=peak_kib,
                   rss_kib={"start": rss_start, "after import": rss_import, "end": rss_end},
                   heavy_modules={"before import": heavy_before,
                                  "after import": heavy_after_import, "at end": _heavy_loaded()},
                   n_modules=len(sys.modules))
        return out
    import statistics
    out.update(samples_s=times, median_s=statistics.median(times), cpu_share=cpu_s / wall_s,
               faults_per_unit=faults / steps,
               split_s={k: statistics.median(p[i] for p in phases)
                        for i, k in enumerate(("forward+loss", "backward", "step+zero_grad"))})
    return out


def child(impl, workload, reps, warmup):
    limit = sys.getrecursionlimit()
    load = os.getloadavg()[0]
    if workload.startswith("article"):
        out = child_article(impl, workload, reps, warmup)
    else:
        out = child_mlp(impl, reps, warmup, memory=workload == "mlp-memory")
    out.update(impl=impl, workload=workload, pid=os.getpid(), load_at_start=load,
               recursionlimit=[limit, sys.getrecursionlimit()])
    # Versions and the mode: every child has already imported numpy and its implementation, so
    # these imports add nothing; engine.py (for the BLAS details) is not imported by the memory
    # child, where it would count.
    import numpy as np
    out["numpy"] = np.__version__
    if impl == "torch":
        import torch
        out["version"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
    elif impl == "numpy":
        out["version"] = np.__version__
        if workload != "mlp-memory":
            sys.path.insert(0, HERE)
            from engine import _blas_info
            out["blas"] = _blas_info()
    else:
        import autogradkit
        out["version"] = autogradkit.__version__
        out["path"] = os.path.dirname(autogradkit.__file__)
        mode = getattr(autogradkit, "REFERENCE_MODE", None)     # None: not exposed (yet)
        out["reference_mode"] = None if mode is None else bool(mode)
        out["AUTOGRADKIT_REFERENCE"] = os.environ.get("AUTOGRADKIT_REFERENCE")
    import json
    print("RESULT " + json.dumps(out))
    sys.stdout.flush()                  # and end now: the interpreter's teardown (0.3-0.5 s with
    sys.stderr.flush()                  # torch loaded) measures nothing
    os._exit(0)


# ------------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------------
def _engine():
    sys.path.insert(0, HERE)
    import engine
    return engine


def _spawn(impl, workload, reps, warmup, env):
    import json
    import subprocess
    cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, workload,
           str(reps), str(warmup)]
    env = _engine()._impl_env(impl, env)        # + AUTOGRADKIT_REFERENCE=1 for autogradkit-ref
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
                       check=False)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"benchmark child {impl}/{workload} failed (exit {p.returncode})")
    return json.loads(line[len("RESULT "):])


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def _dtype_of(workload):
    return "float64" if workload == "article-float64" else "float32"


def _check(workload, outs):
    """Every child of one workload (all rounds, all implementations) against numpy by hand's
    first: same starting point, same final loss and weights, every gradient in the right dtype.
    Returns the largest relative differences seen, per implementation."""
    dtype = _dtype_of(workload)
    rtol = RTOL[dtype]
    ref = outs["numpy"][0]
    report = {}
    for impl in IMPLS:
        worst = 0.0
        for out in outs[impl]:
            if out["initial_crc"] != ref["initial_crc"]:
                raise SystemExit(f"{workload}: {impl} did not start from the same weights and data "
                                 f"(CRC {out['initial_crc']} vs numpy by hand's {ref['initial_crc']})")
            wrong = {k: v for k, v in (out["dtypes"] or {}).items() if v != dtype}
            if wrong:
                raise SystemExit(f"{workload}: {impl} computed in the wrong dtype, expected {dtype}: "
                                 f"{wrong}")
            got, want = out["result"], ref["result"]
            pairs = [("final loss", got["loss"], want["loss"])]
            pairs += [(f"weights summary {k}", a, b)
                      for k, (a, b) in enumerate(zip(got["weights"], want["weights"]))]
            pairs += [("repetition's final loss", x, want["loss"]) for x in out.get("losses", ())]
            for what, a, b in pairs:
                r = _rel(a, b)
                if not r <= rtol:
                    raise SystemExit(
                        f"RESULTS DISAGREE in {workload}: {impl} {what} = {a!r} but numpy by hand "
                        f"gives {b!r} (relative difference {r:.1e} > {rtol:g}); the "
                        "implementations are not computing the same thing")
                worst = max(worst, r)
        report[impl] = worst
    return report


def _table(head, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


def _fmt(workload, v):
    if workload.startswith("article"):
        return f"{v * 1e6:.1f} µs/iter"
    if workload == "mlp":
        return f"{v * 1e3:.2f} ms/step"
    return f"{v:.1f} MiB"


def run_all(rounds, quick, json_path, workloads=WORKLOADS):
    import datetime as _dt
    import platform
    import statistics
    eng = _engine()
    reps = {"article-float32": 2 if quick else 5, "article-float64": 2 if quick else 5,
            "mlp": 10 if quick else 30, "mlp-memory": 10 if quick else 30}
    warmup = {"article-float32": 1, "article-float64": 1, "mlp": 3 if quick else 5,
              "mlp-memory": 3 if quick else 5}
    env = eng._child_env()
    env_time = dict(env, **MALLOC_FIXED)        # timing children only; see MALLOC_FIXED
    outs = {w: {i: [] for i in IMPLS} for w in workloads}
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load_before[0]:.2f} on {os.cpu_count()} CPUs before "
              "starting: other processes compete for the cores and the numbers will be noisy",
              file=sys.stderr)
    loads = []
    t_start = time.time()
    for r in range(rounds):
        for w in workloads:
            for impl in IMPLS:                                   # A B C D, A B C D, ...
                outs[w][impl].append(_spawn(impl, w, reps[w], warmup[w],
                                            env if w == "mlp-memory" else env_time))
        loads.append(os.getloadavg()[0])
        print(f"  round {r + 1}/{rounds} done ({time.time() - t_start:.0f} s, load average "
              f"{loads[-1]:.2f})", file=sys.stderr)
    load_after = os.getloadavg()

    # ---- checks before anything is printed ----
    checks = {w: _check(w, outs[w]) for w in workloads}
    first = {i: outs[workloads[0]][i][0] for i in IMPLS}     # versions, paths
    for impl in AGK_IMPLS:
        paths = {o["path"] for w in workloads for o in outs[w][impl]}
        if not all(p.startswith(ROOT) for p in paths):
            raise SystemExit(f"{LABEL[impl]} was imported from {', '.join(sorted(paths))}, not "
                             f"from this checkout ({ROOT})")
    limits = {tuple(o["recursionlimit"]) for w in workloads for i in IMPLS for o in outs[w][i]}
    if any(a != b for a, b in limits):
        raise SystemExit(f"an implementation changed the recursion limit: {limits}")
    modes = {i: [o["reference_mode"] for w in workloads for o in outs[w][i]] for i in AGK_IMPLS}
    mode_warnings, mode_ok = eng._mode_warnings(modes)
    timing = [w for w in workloads if w != "mlp-memory"]
    if "mlp-memory" in workloads:
        mem_agk = outs["mlp-memory"]["autogradkit"] + outs["mlp-memory"]["autogradkit-ref"]
        heavy = sorted({m for o in mem_agk for m in o["heavy_modules"]["after import"]})
    else:
        mem_agk, heavy = [], []

    # ---- numbers ----
    per = {}                            # (workload, impl) -> per-round values
    for w in workloads:
        for i in IMPLS:
            if w == "mlp-memory":
                per[w, i] = [o["ru_maxrss_kib"] / 1024 for o in outs[w][i]]
            else:
                per[w, i] = [o["median_s"] for o in outs[w][i]]
    med = {k: statistics.median(v) for k, v in per.items()}
    names = {"article-float32": f"article, float32 ({ART_ITERS} iterations)",
             "article-float64": f"article, float64 ({ART_ITERS} iterations)",
             "mlp": "MLP 784-512-512-10, batch 256, float32",
             "mlp-memory": "MLP peak RSS (whole process)"}
    rows, met = [], {}
    for w in workloads:
        a, t, n = med[w, "autogradkit"], med[w, "torch"], med[w, "numpy"]
        ref = med[w, "autogradkit-ref"]
        if w.startswith("article"):
            target, ok = f"≤ {TARGET_ART_RATIO:.2f}× PyTorch", a / t <= TARGET_ART_RATIO
        elif w == "mlp":
            target, ok = f"≤ {TARGET_MLP_RATIO:.2f}× PyTorch", a / t <= TARGET_MLP_RATIO
        else:
            target, ok = f"≤ {TARGET_MLP_MIB:.0f} MiB", a <= TARGET_MLP_MIB
        met[w] = ok
        rows.append([names[w], _fmt(w, a), _fmt(w, t), _fmt(w, n), f"{a / t:.2f}×",
                     f"{a / n:.2f}×", target, "yes" if ok else "NO",
                     _fmt(w, ref), f"{ref / t:.2f}×", f"×{ref / a:.2f} of fast"])
    head = ["workload", "autogradkit", "PyTorch", "numpy by hand", "ratio vs PyTorch",
            "ratio vs numpy", "target", "met?", "autogradkit (reference)", "reference vs PyTorch",
            "reference vs fast"]
    print()
    print(_table(head, rows))
    print()
    for msg in mode_warnings:
        print(msg)
    inner = []
    if any(w.startswith("article") for w in workloads):
        wa = next(w for w in workloads if w.startswith("article"))
        inner.append(f"{reps[wa]} runs of {ART_ITERS} iterations (article, after {warmup[wa]} "
                     "warm-up run)")
    if "mlp" in workloads or "mlp-memory" in workloads:
        wm = "mlp" if "mlp" in workloads else "mlp-memory"
        inner.append(f"{reps[wm]} steps (MLP, after {warmup[wm]} warm-up steps)")
    print(f"median of {rounds} rounds; each round = one fresh subprocess per implementation and "
          f"workload; inside it, the median of {' or of '.join(inner)}. The targets apply to "
          "autogradkit (fast mode) only; autogradkit (reference) runs with "
          "AUTOGRADKIT_REFERENCE=1.")
    print("spread of the per-round values (min – max):")
    for w in workloads:
        print(f"  {w}: " + "; ".join(
            f"{LABEL[i]} {_fmt(w, min(per[w, i]))} – {_fmt(w, max(per[w, i]))}" for i in IMPLS))
    if timing:
        print("where the time goes (median, per iteration or step): ")
    for w in timing:
        parts = []
        for i in IMPLS:
            sp = {k: statistics.median(o["split_s"][k] for o in outs[w][i])
                  for k in ("forward+loss", "backward", "step+zero_grad")}
            scale, unit = (1e6, "µs") if w.startswith("article") else (1e3, "ms")
            parts.append(f"{LABEL[i]} " + " + ".join(f"{v * scale:.2f}" for v in sp.values())
                         + f" {unit}")
        print(f"  {w} (forward+loss + backward + step+zero_grad): " + "; ".join(parts))
    if timing:
        print("CPU share of the timed wall time (1.00 = never descheduled): " + "; ".join(
            f"{w}: " + ", ".join(
                f"{LABEL[i]} {statistics.median(o['cpu_share'] for o in outs[w][i]):.2f}"
                for i in IMPLS)
            for w in timing))
        print("minor page faults per iteration / step while timed (0 = the heap is reused): "
              + "; ".join(f"{w}: " + ", ".join(
                  f"{LABEL[i]} {statistics.median(o['faults_per_unit'] for o in outs[w][i]):.1f}"
                  for i in IMPLS)
                  for w in timing))
    if "mlp-memory" in workloads:
        mem = {i: outs["mlp-memory"][i] for i in IMPLS}
        print("memory child, RSS after importing the implementation → peak (MiB): " + "; ".join(
            f"{LABEL[i]} "
            f"{statistics.median(o['rss_kib']['after import'] for o in mem[i]) / 1024:.1f}"
            f" → {med['mlp-memory', i]:.1f}" for i in IMPLS))
        print("import autogradkit (memory child, both modes): heavy modules loaded: "
              + (", ".join(heavy) if heavy else f"none of {', '.join(HEAVY)}")
              + f"; {statistics.median(o['n_modules'] for o in mem_agk):.0f} modules in sys.modules "
              "at the end")
    if timing:
        print("final loss: " + "; ".join(
            f"{w}: " + ", ".join(f"{LABEL[i]} {outs[w][i][0]['result']['loss']:.9g}"
                                 for i in IMPLS)
            for w in timing))
    print("results agree (same initial CRC; final loss, weight norms and update norms vs numpy by "
          "hand; every gradient in the workload's dtype): " + "; ".join(
              f"{w}: max rel. diff {max(c.values()):.1e} (rtol {RTOL[_dtype_of(w)]:g})"
              for w, c in checks.items()))
    if mode_ok:
        print(mode_ok)
    torch_threads = first["torch"].get("torch_threads")
    env_line = (f"python {platform.python_version()}, numpy {first['numpy']['numpy']}, torch "
                f"{first['torch']['version']} ({torch_threads} thread), "
                f"autogradkit {first['autogradkit']['version']} @ {eng._git_state()}, "
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
                f"{load_after[0]:.2f} after (per round {min(loads):.2f}–{max(loads):.2f})")
    print(env_line)
    if heavy:
        print(f"WARNING: import autogradkit loaded {', '.join(heavy)}", file=sys.stderr)
    for msg in mode_warnings:               # again at the end, where it cannot be missed
        print(msg, file=sys.stderr)

    if json_path:
        import json
        doc = {
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "processor": platform.processor(), "python": platform.python_version()},
            "git": eng._git_state(), "rounds": rounds, "workloads": list(workloads),
            "reps": {w: reps[w] for w in workloads}, "warmup": {w: warmup[w] for w in workloads},
            "seed": SEED,
            "child_env": {k: env.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                  "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                  "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "timing_child_env_extra": MALLOC_FIXED,
            "reference_child_env_extra": eng.REFERENCE_ENV,
            "reference_mode_reported": modes, "reference_mode_warnings": mode_warnings,
            "load_average_1min": {"before": load_before[0], "after": load_after[0],
                                  "per_round": loads},
            "per_round": {f"{w}/{i}": per[w, i] for w, i in per},
            "median": {f"{w}/{i}": med[w, i] for w, i in med},
            "agreement_max_rel_diff": checks, "targets_met": met,
            "children": outs, "table": {"header": head, "rows": rows},
        }
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {json_path}")
    return rows


# ------------------------------------------------------------------------------------------
# profile (in-process, autogradkit only)
# ------------------------------------------------------------------------------------------
def _part(path, func):
    p = path.replace(os.sep, "/")
    if p.endswith("benchmarks/training.py"):
        return "benchmark driver loop (the same code drives PyTorch)"
    if "/autogradkit/nn/" in p:
        return "nn: Module.__call__/__getattr__, Linear/ReLU/loss modules, nn.functional"
    if "/autogradkit/optim/" in p:
        return "optim: SGD.step, zero_grad (numpy update math included)"
    if p.endswith(("autograd/engine.py", "autograd/api.py")):
        return "backward engine: run_backward, seed, dependency count, accumulate into .grad"
    if p.endswith("autograd/node.py"):
        if func.startswith("apply"):
            return "recording: Op.apply* (node + output tensor, saved values)"
        return "replay: Op._run_backward / _unpack"
    if "/autogradkit/ops/" in p:
        if func == "backward":
            return "derivative rules (their numpy math and matmuls included)"
        if func == "forward":
            return "forward rules (their numpy math and matmuls included)"
        return "ops: other (index key normalisation ...)"
    if "/autogradkit/" in p:
        return "Tensor / functional wrappers, creation, math_for ..."
    if "/numpy/" in p:
        return "numpy's Python-level functions (mean, ones ...)"
    if path == "~":
        return "builtins and C functions cProfile sees (ufunc.reduce, len, isinstance ...)"
    return "other"


PROFILED = ("article-float32", "mlp")     # what --profile runs unless --only names others


def profile(top=18, workloads=PROFILED):
    import cProfile
    import pstats
    for workload in workloads:
        w = _build("autogradkit", workload)
        w["reset"]()
        pr = cProfile.Profile()
        if workload == "mlp":
            for _ in range(5):
                w["step"]()
            gc.collect()
            t0 = time.perf_counter()
            pr.enable()
            for _ in range(30):
                w["step"]()
            pr.disable()
            what, n, unit = "30 MLP training steps", 30, "step"
        else:
            w["run"]()
            w["reset"]()
            gc.collect()
            t0 = time.perf_counter()
            pr.enable()
            w["run"]()
            pr.disable()
            what, n, unit = (f"the article's loop, {ART_ITERS} iterations, "
                             f"{_dtype_of(workload)}", ART_ITERS, "iter")
        wall = time.perf_counter() - t0
        stats = pstats.Stats(pr)
        print(f"\n=== cProfile: autogradkit, {what} ({wall / n * 1e6:.0f} µs/{unit} under the "
              "profiler) ===")
        print("own time by part (the profiler inflates every Python call; numpy's ufuncs, "
              "operators and BLAS are not calls it sees, so their time is inside the Python "
              "function that ran them):")
        parts, total = {}, 0.0
        for (path, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
            part = _part(path, func)
            parts[part] = parts.get(part, 0.0) + tt
            total += tt
        for part, tt in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {tt / n * 1e6:9.1f} µs/{unit}  {tt / total:5.1%}  {part}")
        print(f"  {total / n * 1e6:9.1f} µs/{unit}         total")
        print(f"top {top} functions by own time (calls and µs per {unit}):")
        print(f"  {'calls':>7} {'own µs':>8} {'cum µs':>8}  function")
        for (path, line, func), (_cc, nc, tt, ct, _c) in sorted(stats.stats.items(),
                                                                key=lambda kv: -kv[1][2])[:top]:
            where = os.path.relpath(path, ROOT) if os.path.isabs(path) else path
            name = func if path == "~" else f"{where}:{line}({func})"
            print(f"  {nc / n:7.1f} {tt / n * 1e6:8.2f} {ct / n * 1e6:8.2f}  {name}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:         # no argparse in the children (it would count in RSS)
        impl, workload, reps, warmup = argv[1:5]
        child(impl, workload, int(reps), int(warmup))
        return 0
    if argv[:1] == ["--profile-child"]:
        profile(workloads=tuple(argv[1].split(",")) if len(argv) > 1 else PROFILED)
        return 0
    import argparse
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
                   help="cProfile the autogradkit side, fast mode (article float32 and MLP, or "
                        "the article/mlp workloads given with --only) instead, in a child with "
                        "the timing children's environment")
    args = p.parse_args(argv)
    workloads = _engine().parse_only(args.only, WORKLOADS)
    if args.profile:                    # in a child, with the timing children's environment
        import subprocess
        env = dict(_engine()._child_env(), **MALLOC_FIXED)
        which = PROFILED if args.only is None else tuple(dict.fromkeys(
            "mlp" if w == "mlp-memory" else w for w in workloads))
        return subprocess.run([sys.executable, os.path.abspath(__file__), "--profile-child",
                               ",".join(which)], env=env, cwd=ROOT, check=False).returncode
    run_all(args.rounds or (3 if args.quick else 7), args.quick, args.json, workloads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
