"""The visualizers at real size (issue 17): how long a large graph takes to draw and show.

    .venv/bin/python benchmarks/viz_scale.py [--rounds N]

Graph: ``y = y * 1.0001 + 0.001`` repeated from a leaf ``x`` (requires grad), 200 / 2,000 / 20,000
times (400 / 4,000 / 40,000 ops). Each round builds a fresh graph (not timed), then times:

* ``draw``: ``viz.draw(y)`` (the default ``max_nodes=300``: a summary above it);
* ``display``: ``draw`` and then ``_repr_mimebundle_()``, what Jupyter calls to show it (Graphviz
  lays the summary out: SVG);
* ``explorer``: ``viz.BackwardExplorer(y)`` built (runs the traced backward) and first shown
  (``_repr_mimebundle_``: the widget, its SVG window, panel and inspector), and one ``next()``
  step (median of 5 steps in the round); ipywidgets needed.

In-process, ``gc.collect()`` before each timing; 5 rounds (``--rounds``); the table shows the
median over rounds and the spread (min-max). Payload sizes are the largest item of the bundle.
It is a measurement, not a test: ``tests/test_viz_scale.py`` checks generous bounds only.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import autogradkit as ag  # noqa: E402
from autogradkit import viz  # noqa: E402


def chain(n):
    x = ag.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.001
    return y


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def one_round(iterations, explorer):
    row = {}
    y = chain(iterations)
    row["draw"], _ = timed(lambda: viz.draw(y))
    y = chain(iterations)
    row["display"], bundle = timed(lambda: viz.draw(y)._repr_mimebundle_())
    row["payload"] = max(len(v) for v in bundle.values())
    if explorer:
        y = chain(iterations)
        row["explorer"], ex = timed(lambda: (lambda e: (e._repr_mimebundle_(), e)[1])(
            viz.BackwardExplorer(y)))
        steps = [timed(ex.next)[0] for _ in range(5)]
        row["step"] = statistics.median(steps)
    return row


def fmt(values):
    med = statistics.median(values)
    return f"{med:7.3f} s ({min(values):.3f}-{max(values):.3f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    try:
        import ipywidgets  # noqa: F401
        explorer = True
    except ImportError:
        explorer = False
    print(f"autogradkit viz at scale: {args.rounds} rounds, median (min-max); "
          f"Graphviz {'found' if viz.graphviz_available() else 'MISSING (text only)'}; "
          f"{os.cpu_count()} CPUs; reference mode: {ag.REFERENCE_MODE}")
    head = f"{'ops':>7} | {'draw (summary)':>26} | {'draw + display':>26} | {'largest payload':>15}"
    if explorer:
        head += f" | {'explorer build + show':>26} | {'explorer step':>26}"
    print(head)
    print("-" * len(head))
    for iterations in (200, 2_000, 20_000):
        rows = [one_round(iterations, explorer) for _ in range(args.rounds)]
        line = (f"{2 * iterations:>7,} | {fmt([r['draw'] for r in rows]):>26} | "
                f"{fmt([r['display'] for r in rows]):>26} | "
                f"{max(r['payload'] for r in rows) / 1000:>12.1f} kB")
        if explorer:
            line += (f" | {fmt([r['explorer'] for r in rows]):>26} | "
                     f"{fmt([r['step'] for r in rows]):>26}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
