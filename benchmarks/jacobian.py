"""Jacobian benchmark: by rows (reverse mode) vs by columns (forward mode), autogradkit vs PyTorch.

One command, run from the repository root:

    .venv/bin/python benchmarks/jacobian.py [--quick] [--only VARIANT[,VARIANT]] [--json PATH]
                                            [--rounds N] [--plot PATH]

The function is f: R^n -> R^m, f(x) = tanh(W x + b), W of shape (m, n), float64, and its Jacobian
J = diag(1 - tanh(W x + b)^2) W (shape (m, n)) is taken at one point x for every (n, m) of a grid
(1, 10, 30, 100, 300, 1000 each; ``--quick``: 1, 3, 10, 30, 100). W, b and x are drawn from one
seed, the same in every child. Variants (``--only`` names):

* ``agk-rev``  — ``autogradkit.autograd.functional.jacobian(f, x, strategy="reverse-mode")``: one
  forward pass, then m backward passes with a one-hot seed, a row each (``jacobian_by_rows``).
* ``agk-fwd``  — the same with ``strategy="forward-mode"``: n forward passes carrying a one-hot
  tangent (``autograd.forward_ad``), a column each (``jacobian_by_columns``).
* ``torch-rev`` — ``torch.autograd.functional.jacobian(f, x)`` (reverse mode, vectorize=False):
  a Python loop of m ``autograd.grad`` calls, the same algorithm as ``agk-rev``.
* ``torch-rev-vmap`` — the same with ``vectorize=True``: the m backward passes batched by vmap
  into one (PyTorch's fast path; autogradkit has no vmap).
* ``torch-fwd-vmap`` — ``strategy="forward-mode", vectorize=True`` (PyTorch allows forward mode
  only with vectorize=True): the n JVPs batched by vmap into one forward pass.
* ``numpy`` — the closed form, ``(1 - tanh(W x + b)**2)[:, None] * W``: the floor.

Cost model: reverse mode costs ~m passes, forward mode ~n passes, so at fixed n reverse grows with
m and forward does not, and the two cross near m = n. The plot (``--plot``, default
benchmarks/results/jacobian.png, matplotlib with the Agg backend) shows time vs m at a fixed n and
time vs n at a fixed m, both strategies, autogradkit and PyTorch.

Method (engine.py's): one fresh subprocess per library per round (autogradkit, PyTorch, numpy;
each child runs its variants over the whole grid), with engine.py's child environment
(OMP_NUM_THREADS=1, one BLAS thread, PyTorch with one intra-op thread); rounds interleaved
(A B C, A B C, ...; 5 rounds, 3 with ``--quick``). Within a child, each (variant, n, m) runs once
untimed (warm-up: vmap and dispatch caches), then is timed ``reps`` times (7, 3 with ``--quick``)
or until ~0.5 s (0.2 s) has been spent on it, at least once; the child reports the median.
``gc.collect()`` before each repetition, the collector on while timing. The table shows the median
over rounds of the children's medians, and the spread (min-max of those medians).

Same computation, checked: every child compares each Jacobian it computed with the closed form
(computed in float64 numpy in the child, from the same W, b, x) and reports the largest absolute
difference, the shape, the dtype and the sum; the parent stops unless every difference is
<= 1e-10, every shape is (m, n), every dtype float64 and every sum agrees with numpy's to 1e-9
(relative).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from engine import _child_env, _exit_now, _git_state  # noqa: E402

SEED = 14
GRID = (1, 10, 30, 100, 300, 1000)
GRID_QUICK = (1, 3, 10, 30, 100)
FIXED = {GRID: 100, GRID_QUICK: 10}      # the n (or m) held fixed in the plot and the crossover
ATOL = 1e-10
LIBS = {"autogradkit": ("agk-rev", "agk-fwd"),
        "torch": ("torch-rev", "torch-rev-vmap", "torch-fwd-vmap"),
        "numpy": ("numpy",)}
VARIANTS = tuple(v for vs in LIBS.values() for v in vs)
LABEL = {"agk-rev": "autogradkit reverse (m backward passes)",
         "agk-fwd": "autogradkit forward (n JVP passes)",
         "torch-rev": "PyTorch reverse, vectorize=False (m backward passes)",
         "torch-rev-vmap": "PyTorch reverse, vectorize=True (vmap: 1 batched pass)",
         "torch-fwd-vmap": "PyTorch forward, vectorize=True (vmap: 1 batched pass)",
         "numpy": "numpy closed form diag(1-tanh²) W"}
SHORT = {"agk-rev": "agk rev", "agk-fwd": "agk fwd", "torch-rev": "torch rev",
         "torch-rev-vmap": "torch rev vmap", "torch-fwd-vmap": "torch fwd vmap",
         "numpy": "numpy"}


def _data(n, m):
    import numpy as np
    rng = np.random.default_rng([SEED, n, m])
    W = rng.standard_normal((m, n)) / np.sqrt(n)
    b = 0.1 * rng.standard_normal(m)
    x = rng.standard_normal(n)
    return W, b, x


def _closed_form(W, b, x):
    import numpy as np
    t = np.tanh(W @ x + b)
    return (1.0 - t * t)[:, None] * W


def _makers(variant, W, b, x):
    """A function of no arguments computing the Jacobian, and one turning its result into numpy."""
    import numpy as np
    if variant.startswith("agk"):
        import autogradkit as agk
        from autogradkit.autograd.functional import jacobian
        Wt, bt, xt = agk.tensor(W), agk.tensor(b), agk.tensor(x)
        strategy = "reverse-mode" if variant == "agk-rev" else "forward-mode"

        def f(v):
            return agk.tanh(Wt @ v + bt)
        return (lambda: jacobian(f, xt, strategy=strategy)), (lambda J: J.numpy())
    if variant.startswith("torch"):
        import torch
        from torch.autograd.functional import jacobian
        Wt, bt, xt = (torch.from_numpy(a.copy()) for a in (W, b, x))
        strategy = "forward-mode" if variant == "torch-fwd-vmap" else "reverse-mode"
        vectorize = variant.endswith("vmap")

        def f(v):
            return torch.tanh(Wt @ v + bt)
        return ((lambda: jacobian(f, xt, strategy=strategy, vectorize=vectorize)),
                (lambda J: J.detach().numpy()))

    def closed():
        t = np.tanh(W @ x + b)
        return (1.0 - t * t)[:, None] * W
    return closed, (lambda J: J)


def child(lib, grid, reps, budget, variants):
    import numpy as np
    if lib == "torch":
        import torch
        torch.set_num_threads(1)
    out = {"lib": lib, "points": []}
    for variant in LIBS[lib]:
        if variant not in variants:
            continue
        for n in grid:
            for m in grid:
                W, b, x = _data(n, m)
                want = _closed_form(W, b, x)
                run, to_np = _makers(variant, W, b, x)
                t0 = time.perf_counter()
                J = run()                                      # warm-up, and the result checked
                warm = time.perf_counter() - t0
                Jn = np.asarray(to_np(J))
                # calls per repetition: enough for ~2 ms, so µs-scale points are not clock noise
                calls = max(1, min(1000, int(2e-3 / max(warm, 1e-7))))
                samples, spent = [], 0.0
                while len(samples) < reps and (not samples or spent < budget):
                    gc.collect()
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        run()
                    dt = time.perf_counter() - t0
                    samples.append(dt / calls)
                    spent += dt
                out["points"].append({
                    "variant": variant, "n": n, "m": m, "samples_s": samples,
                    "median_s": statistics.median(samples), "calls_per_rep": calls,
                    "shape": list(Jn.shape), "dtype": str(Jn.dtype),
                    "max_abs_err": float(np.max(np.abs(Jn - want))) if Jn.shape == want.shape
                    else float("inf"),
                    "sum": float(Jn.sum())})
    if lib == "torch":
        import torch
        out["version"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
    elif lib == "numpy":
        out["version"] = np.__version__
    else:
        import autogradkit
        out["version"] = autogradkit.__version__
        out["reference_mode"] = getattr(autogradkit, "REFERENCE_MODE", None)
    print("RESULT " + json.dumps(out))
    _exit_now()


# ------------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------------
def _spawn(lib, quick, variants, env):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", lib,
           "--variants", ",".join(variants)] + (["--quick"] if quick else [])
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800,
                       check=False)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"benchmark child {lib} failed (exit {p.returncode})")
    return json.loads(line[len("RESULT "):])


def _check(points):
    """Every Jacobian: shape (m, n), float64, within ATOL of the closed form, numpy's sum."""
    worst = {}
    sums = {}
    for p in points:
        if p["variant"] == "numpy":
            sums[p["n"], p["m"]] = p["sum"]
    for p in points:
        v, n, m = p["variant"], p["n"], p["m"]
        if p["shape"] != [m, n] or p["dtype"] != "float64":
            raise SystemExit(f"{v} at n={n}, m={m}: Jacobian of shape {p['shape']} and dtype "
                             f"{p['dtype']}, expected ({m}, {n}) float64")
        if not p["max_abs_err"] <= ATOL:
            raise SystemExit(f"RESULTS DISAGREE: {v} at n={n}, m={m} differs from the closed form "
                             f"diag(1-tanh²) W by {p['max_abs_err']:.3g} (> {ATOL})")
        ref = sums.get((n, m))
        if ref is not None and abs(p["sum"] - ref) > 1e-9 * max(abs(ref), 1.0):
            raise SystemExit(f"RESULTS DISAGREE: {v} at n={n}, m={m}: sum {p['sum']!r}, numpy's "
                             f"closed form {ref!r}")
        worst[v] = max(worst.get(v, 0.0), p["max_abs_err"])
    return worst


def _fmt(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def _crossover(grid, med, fixed, axis, a="agk-rev", b="agk-fwd"):
    """Where the curves of ``a`` and ``b`` (time vs ``axis`` at the other size = ``fixed``) cross,
    interpolated linearly in log-log between the two grid points around the sign change; None
    when they do not cross on the grid."""
    import math
    pts = []
    for k in grid:
        key = (fixed, k) if axis == "m" else (k, fixed)
        if (a,) + key in med and (b,) + key in med:
            pts.append((k, math.log(med[(a,) + key]) - math.log(med[(b,) + key])))
    for (k0, d0), (k1, d1) in zip(pts, pts[1:]):
        if d0 == 0:
            return float(k0)
        if d0 * d1 < 0:
            t = d0 / (d0 - d1)
            return math.exp(math.log(k0) + t * (math.log(k1) - math.log(k0)))
    return None


def _plot(path, grid, med, variants):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fixed = FIXED[grid]
    style = {"agk-rev": ("C0", "-", "o"), "agk-fwd": ("C1", "-", "s"),
             "torch-rev": ("C0", "--", "o"), "torch-rev-vmap": ("C2", ":", "^"),
             "torch-fwd-vmap": ("C1", "--", "s"), "numpy": ("0.5", ":", ".")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, axis in zip(axes, ("m", "n")):
        for v in variants:
            xs, ys = [], []
            for k in grid:
                n, m = (fixed, k) if axis == "m" else (k, fixed)
                if (v, n, m) in med:
                    xs.append(k)
                    ys.append(med[v, n, m])
            c, ls, mk = style[v]
            ax.plot(xs, ys, color=c, linestyle=ls, marker=mk, label=LABEL[v])
        ax.axvline(fixed, color="0.6", linewidth=1, linestyle="--")
        ax.text(fixed, 0.02, f" {axis} = {'n' if axis == 'm' else 'm'}", color="0.4", fontsize=8,
                transform=ax.get_xaxis_transform())
        x = _crossover(grid, med, fixed, axis)
        if x is not None:
            ax.axvline(x, color="C3", linewidth=1.5)
            ax.text(x, 0.93, f" autogradkit crossover\n {axis} ≈ {x:.0f}",
                    transform=ax.get_xaxis_transform(), color="C3", fontsize=8, va="top")
        ax.set_xscale("log")
        ax.set_yscale("log")
        other = "n" if axis == "m" else "m"
        ax.set_xlabel(f"{axis} ({'outputs' if axis == 'm' else 'inputs'}), {other} = {fixed}")
        ax.set_title(f"time vs {axis} at {other} = {fixed}: "
                     + ("reverse ∝ m, forward flat" if axis == "m"
                        else "forward ∝ n, reverse flat"))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("median time per Jacobian (s)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Jacobian of tanh(W x + b), W (m × n), float64: by rows (reverse mode, m passes) "
                 "vs by columns (forward mode, n passes); median of the rounds", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_all(rounds, quick, variants, json_path, plot_path):
    grid = GRID_QUICK if quick else GRID
    libs = [lib for lib, vs in LIBS.items() if any(v in variants for v in vs)]
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1) / 2:
        print(f"warning: load average {load_before:.2f} already above half the cores; the figures "
              "will be noisy", file=sys.stderr)
    env = _child_env()
    t_start = time.time()
    per_round = {}                     # (variant, n, m) -> [median per round]
    children = []
    for r in range(rounds):
        for lib in libs:
            out = _spawn(lib, quick, variants, env)
            children.append(out)
            for p in out["points"]:
                per_round.setdefault((p["variant"], p["n"], p["m"]), []).append(p["median_s"])
        print(f"round {r + 1}/{rounds} done ({time.time() - t_start:.0f} s)", file=sys.stderr)
    load_after = os.getloadavg()[0]
    worst = _check([p for c in children for p in c["points"]])
    med = {k: statistics.median(v) for k, v in per_round.items()}
    have = [v for v in VARIANTS if v in variants]

    def cell(v, n, m):
        if (v, n, m) not in med:
            return "—"
        return _fmt(med[v, n, m])

    def ratio(a, b, n, m):
        if (a, n, m) in med and (b, n, m) in med:
            return f"{med[a, n, m] / med[b, n, m]:.2f}×"
        return "—"

    header = (["n", "m"] + [SHORT[v] for v in have]
              + ["agk fwd / agk rev", "agk rev / torch rev", "agk fwd / torch fwd vmap",
                 "agk best / numpy"])
    rows = []
    for n in grid:
        for m in grid:
            best = None
            if ("agk-rev", n, m) in med and ("agk-fwd", n, m) in med:
                best = min(med["agk-rev", n, m], med["agk-fwd", n, m])
            rows.append([str(n), str(m)] + [cell(v, n, m) for v in have]
                        + [ratio("agk-fwd", "agk-rev", n, m), ratio("agk-rev", "torch-rev", n, m),
                           ratio("agk-fwd", "torch-fwd-vmap", n, m),
                           (f"{best / med['numpy', n, m]:.0f}×"
                            if best is not None and ("numpy", n, m) in med else "—")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print("```")
    print(f"median of {rounds} rounds; each round = one fresh subprocess per library (autogradkit, "
          f"PyTorch, numpy) running its variants over the grid; inside it, per point, one untimed "
          f"warm-up and the median of up to {3 if quick else 7} repetitions "
          f"({0.2 if quick else 0.5} s per point at most, at least one; a repetition under 2 ms "
          "repeats the call and is divided).")
    print("spread of the per-round medians (min – max):")
    for v in have:
        parts = [f"({n},{m}) {_fmt(min(per_round[v, n, m]))}–{_fmt(max(per_round[v, n, m]))}"
                 for n in grid for m in grid if (v, n, m) in per_round]
        print(f"  {SHORT[v]}: " + "; ".join(parts))
    if "agk-rev" in have and "agk-fwd" in have:
        print("crossover (the faster of autogradkit's two strategies):")
        for n in grid:
            faster = ["fwd" if med["agk-fwd", n, m] < med["agk-rev", n, m] else "rev" for m in grid]
            print(f"  autogradkit, n={n}: faster strategy for m = {', '.join(map(str, grid))}: "
                  f"{', '.join(faster)}")
        fixed = FIXED[grid]
        for axis in ("m", "n"):
            x = _crossover(grid, med, fixed, axis)
            other = "n" if axis == "m" else "m"
            print(f"  autogradkit at {other} = {fixed}: reverse and forward cross at {axis} ≈ "
                  + (f"{x:.0f} ({axis}/{other} ≈ {x / fixed:.2f})" if x else "(not on the grid)"))
        if "torch-rev" in have and "torch-fwd-vmap" in have:
            for axis in ("m", "n"):
                x = _crossover(grid, med, fixed, axis, "torch-rev", "torch-fwd-vmap")
                other = "n" if axis == "m" else "m"
                print(f"  PyTorch at {other} = {fixed}: reverse (loop) and forward (vmap) cross at "
                      f"{axis} ≈ " + (f"{x:.0f}" if x else "(not on the grid)"))
    print("results agree (every Jacobian vs the closed form diag(1 - tanh²) W, shape (m, n), "
          "float64, sums vs numpy's): max abs. diff " +
          ", ".join(f"{SHORT[v]} {worst[v]:.1e}" for v in have) + f" (atol {ATOL:g})")
    versions = {c["lib"]: c.get("version") for c in children}
    modes = {c.get("reference_mode") for c in children if c["lib"] == "autogradkit"}
    import platform
    torch_v = (f"torch {versions['torch']} (1 thread)" if "torch" in versions
               else "torch not run")
    print(f"python {platform.python_version()}, numpy {versions.get('numpy', '?')}, "
          f"{torch_v}, autogradkit {versions.get('autogradkit', '?')}"
          f" @ {_git_state()} (REFERENCE_MODE {', '.join(map(str, modes)) or 'n/a'}), "
          f"{os.cpu_count()} CPUs, load average {load_before:.2f} before / {load_after:.2f} after, "
          f"{time.time() - t_start:.0f} s")
    print("```")
    if plot_path:
        _plot(plot_path, grid, med, have)
        print(f"plot written to {plot_path}")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"grid": grid, "rounds": rounds, "quick": quick, "children": children,
                       "per_round": {f"{v} {n} {m}": s for (v, n, m), s in per_round.items()},
                       "load": [load_before, load_after]}, fh, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="grid 1, 10, 100; 3 rounds")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only", default=None,
                    help=f"comma-separated variants, from {', '.join(VARIANTS)}")
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    ap.add_argument("--plot", default=os.path.join(ROOT, "benchmarks", "results", "jacobian.png"),
                    help="where the PNG goes ('' for none)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        grid = GRID_QUICK if args.quick else GRID
        child(args.child, grid, 3 if args.quick else 7, 0.2 if args.quick else 0.5,
              tuple(args.variants.split(",")))
        return
    if args.only is None:
        variants = VARIANTS
    else:
        names = [t.strip() for t in args.only.split(",") if t.strip()]
        unknown = [n for n in names if n not in VARIANTS]
        if unknown or not names:
            raise SystemExit(f"--only: unknown variant(s) {', '.join(unknown) or '(none given)'}; "
                             f"choose from {', '.join(VARIANTS)}")
        variants = tuple(v for v in VARIANTS if v in names)
    rounds = args.rounds or (3 if args.quick else 5)
    run_all(rounds, args.quick, variants, args.json, args.plot or None)


if __name__ == "__main__":
    main()
