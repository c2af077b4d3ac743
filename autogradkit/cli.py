"""The ``autogradkit`` command (also ``python -m autogradkit``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _demo(args):
    """The article's training example: train, report, and write the loss curve and the graph."""
    import time
    from pathlib import Path

    import autogradkit as ag
    from autogradkit.examples import article
    from autogradkit.viz import to_dot, render

    if args.epochs < 1:
        return _fail("--epochs must be at least 1")
    if args.device.startswith("cuda") and not ag.cuda.is_available():
        return _fail("--device cuda: " + str(_cuda_reason()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"autogradkit demo: the article's network, Linear(10, 20) → relu → Linear(20, 1), "
          f"trained with MSELoss and SGD(lr=0.01) for {args.epochs} epochs on {args.device}\n")
    every = max(1, args.epochs // 10)
    bar = _ProgressBar(args.epochs)

    def report(epoch, loss):
        bar.update(epoch + 1, loss)
        if epoch == 0 or (epoch + 1) % every == 0:
            bar.clear()
            print(f"  epoch {epoch + 1:>5}   loss {loss:.6f}")

    start = time.perf_counter()
    run = article.train(epochs=args.epochs, seed=args.seed, device=args.device, callback=report)
    seconds = time.perf_counter() - start
    bar.clear()
    print(f"\ntrained in {seconds:.2f} s ({seconds / args.epochs * 1e6:.0f} µs per epoch); "
          f"loss {run.losses[0]:.4f} → {run.losses[-1]:.4f}")

    curve = out / "loss_curve.png"
    _plot_losses(run.losses, curve)
    loss = article.nn.MSELoss()(run.net(run.x), run.y)
    graph, hint = render(to_dot(loss, module=run.net, names={"x": run.x, "y": run.y}),
                         out / "graph_one_iteration")
    print(f"wrote {curve}\nwrote {graph}")
    if hint:
        print(hint)
    return 0


def _plot_losses(losses, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(range(1, len(losses) + 1), losses, color="#1f77b4")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_title("The article's network: training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


class _ProgressBar:
    """A one-line progress bar on a terminal (silent when output is not a terminal)."""

    def __init__(self, total, width=30):
        self.total, self.width = total, width
        self.live = sys.stderr.isatty()

    def update(self, done, loss):
        if self.live:
            filled = int(self.width * done / self.total)
            sys.stderr.write(f"\r  [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                             f"loss {loss:.4f}")
            sys.stderr.flush()

    def clear(self):
        if self.live:
            sys.stderr.write("\r" + " " * (self.width + 40) + "\r")
            sys.stderr.flush()


def _fail(reason):
    print(f"autogradkit: error: {reason}", file=sys.stderr)
    return 2


def _cuda_reason():
    from autogradkit import backend
    try:
        backend.load_cupy()
    except backend.CudaUnavailableError as exc:
        return exc
    return "unknown"


def _doctor(args):
    from autogradkit import doctor
    return doctor.report(doctor.run_checks())


def _tour(args):
    """A short tour of the engine: a small expression, its graph, its gradients, checked."""
    import autogradkit as ag
    from autogradkit.autograd import gradcheck, trace_backward

    print("autogradkit demo: reverse-mode autodiff on  L = sum(tanh(w * x + b))\n")
    ag.manual_seed(0)
    x = ag.tensor([1.0, -2.0, 0.5])
    w = ag.tensor([0.5, 0.25, -1.0], requires_grad=True)
    b = ag.tensor([0.1, 0.1, 0.1], requires_grad=True)
    L = (w * x + b).tanh().sum()
    print(f"L = {L}")
    print("\nThe recorded graph (grad_fn and next_functions), from L back to the leaves:")
    _print_graph(L.grad_fn)
    with trace_backward() as trace:
        L.backward()
    print("\nThe backward pass, node by node (upstream gradient in, gradients out):")
    for step in trace.steps:
        outs = ", ".join("-" if g is None else _short(g) for g in step.grad_inputs)
        print(f"  {step.name:<16} ḡ = {_short(step.grad_output):<28} -> {outs}")
    print(f"\nw.grad = {w.grad}\nb.grad = {b.grad}")
    exact = (1 - (w * x + b).tanh() ** 2).detach()
    print(f"by hand: ∂L/∂b = 1 - tanh²(w·x + b) = {exact}")
    ok = gradcheck(lambda w, b: (w * x.double() + b).tanh().sum(), (w.detach().double().requires_grad_(),
                                                                      b.detach().double().requires_grad_()))
    print(f"gradcheck against central differences (float64): {'passed' if ok else 'FAILED'}")
    return 0


def _short(t):
    return " ".join(f"{v:+.4f}" for v in t.detach().reshape(-1).tolist()[:3])


def _print_graph(root):
    stack, seen = [(root, 0)], set()
    while stack:
        node, depth = stack.pop()
        label = node.name()
        if node.name() == "AccumulateGrad":
            label += f"  (leaf of shape {tuple(node.variable.shape)})"
        print("  " + "  " * depth + label)
        if node in seen:
            continue
        seen.add(node)
        for nxt, _ in reversed(node.next_functions):
            if nxt is not None:
                stack.append((nxt, depth + 1))


def _grade(args):
    """Run learner notebooks headless and print a score table per task (or JSON)."""
    from autogradkit.exercises import grading
    if args.timeout <= 0:
        return _fail("--timeout must be positive")
    if args.time_limit is not None and args.time_limit <= 0:
        return _fail("--time-limit must be positive")
    if args.jobs < 1:
        return _fail("--jobs must be at least 1")
    if args.json and args.csv:
        return _fail("choose one of --json and --csv")
    if args.total_timeout <= 0:
        return _fail("--total-timeout must be positive")
    if args.memory_limit < 0:
        return _fail("--memory-limit must be 0 (no cap) or a number of MiB")
    return grading.run(args.notebooks, as_json=args.json, timeout=args.timeout,
                       time_limit=args.time_limit, total_timeout=args.total_timeout,
                       jobs=args.jobs, as_csv=args.csv, memory_limit=args.memory_limit,
                       extra_checks=args.extra_checks)


def _exercises(args):
    """Generate the learner notebooks from their sources, or check that they are up to date."""
    from autogradkit.exercises import notebooks
    folders = [args.dir] if args.dir else [f for f in ("exercises", "notebooks")
                                           if notebooks.sources(f)]
    if not folders or not all(notebooks.sources(f) for f in folders):
        return _fail(f"no source notebooks in {(folders or ['exercises'])[0]}/source (use --dir "
                     "to point at the exercises or notebooks folder)")
    if args.check:
        problems = [p for f in folders for p in notebooks.up_to_date_problems(f)]
        for p in problems:
            print(f"autogradkit: {p}", file=sys.stderr)
        if problems:
            return 1
        print(f"the learner notebooks in {' and '.join(folders)} are up to date with their sources")
        return 0
    try:
        for f in folders:
            notebooks.build(f, names=args.names or None, run=not args.no_execute)
    except notebooks.SourceError as exc:
        return _fail(str(exc))
    return 0


def _course(args):
    """Copy the course notebooks and the learner exercises into a folder; say how to open them."""
    import shlex
    from autogradkit import course
    try:
        written = course.copy_course(args.dir, force=args.force)
    except course.CourseError as exc:
        return _fail(str(exc))
    counts = {folder: sum(1 for w in written if w.parent.name == folder and w.suffix == ".ipynb")
              for folder in course.FILES}
    folder = shlex.quote(args.dir)
    first_exercise = shlex.quote(str(Path(args.dir) / "exercises" / "ex1_derivatives.ipynb"))
    jupyter = _jupyter()
    print(f"copied the course into {args.dir}: {counts['notebooks']} notebooks in notebooks/ and "
          f"{counts['exercises']} exercise notebooks in exercises/\n\nopen them with\n\n"
          f"    {shlex.quote(jupyter or 'jupyter')} lab {folder}\n\nand start with "
          f"notebooks/00_welcome.ipynb. Check an exercise from the command line with\n\n"
          f"    autogradkit grade {first_exercise}")
    if jupyter is None:
        print("\n(Jupyter is not installed here: pip install jupyterlab)")
    return 0


def _jupyter():
    """How to run Jupyter with this Python's packages: ``jupyter`` when the one on PATH is this
    environment's, its full path when it is installed here but not on PATH, else None."""
    import shutil
    here = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    on_path = shutil.which("jupyter")
    if here and not (on_path and Path(on_path).resolve() == Path(here).resolve()):
        return here
    return "jupyter" if on_path else None


def build_parser():
    parser = argparse.ArgumentParser(prog="autogradkit", description="Learn automatic "
                                     "differentiation and backpropagation with autogradkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train the article's example; write its loss curve and graph",
                          description="Run the source article's training example, print the loss "
                          "at intervals, and write the loss curve (PNG) and the graph of one "
                          "iteration (SVG, or DOT without Graphviz) to an output folder.")
    demo.add_argument("--epochs", type=int, default=1000, help="training epochs (default 1000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    demo.add_argument("--out", default="autogradkit-output", help="output folder "
                      "(default ./autogradkit-output)")
    demo.set_defaults(func=_demo)
    tour = sub.add_parser("tour", help="a short, commented tour of the engine on a tiny expression")
    tour.set_defaults(func=_tour)
    doctor = sub.add_parser("doctor", help="check numpy, Graphviz, Jupyter/ipywidgets, CuPy and the GPU",
                            description="Report what autogradkit and the course need, each missing "
                            "piece with how to fix it. Exits 1 only if something required is missing.")
    doctor.set_defaults(func=_doctor)
    grade = sub.add_parser("grade", help="run exercise notebooks headless and score each task",
                           description="Run learner exercise notebooks top to bottom in a fresh "
                           "kernel, check every task, and print a score table per notebook: "
                           "a passed task scores 1 point, a failed one the share of its cases "
                           "passed before the first failing one. A submission that changed or "
                           "deleted a check cell of the learner notebook gets a note (the "
                           "grade re-checks every task itself). Exit status 0 only when every "
                           "task passes, 2 when a notebook or --extra-checks cannot be used.")
    grade.add_argument("notebooks", nargs="+", metavar="PATH", help="notebook(s) to grade, or "
                       "folders of them (a class's submissions)")
    grade.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="grade N notebooks "
                       "at a time (default 1)")
    grade.add_argument("--csv", action="store_true", help="print one CSV row per task: student, "
                       "notebook, exercise, task, points (fractional: partial credit per case), "
                       "cases passed, cases in all, status, failing case, message, hint, "
                       "changed check cells, time, checker version")
    grade.add_argument("--json", action="store_true", help="print the results as JSON "
                       "(for instructors' scripts), with each task's points and each case: "
                       "passed, failed or not run")
    grade.add_argument("--timeout", type=float, default=120, help="seconds a single cell may "
                       "run before it is interrupted (default 120)")
    grade.add_argument("--total-timeout", type=float, default=900, metavar="SECONDS",
                       help="seconds all of the learner's cells together may run; later cells "
                       "are skipped (default 900). The checks run after, each task with its own "
                       "time limit")
    grade.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                       help="the time each task's check may take (default: each task's own, "
                       "10 s for most)")
    grade.add_argument("--memory-limit", type=int, default=4096, metavar="MiB",
                       help="the data memory each notebook's kernel may use (RLIMIT_DATA, set "
                       "before the notebook's first cell); a runaway allocation becomes a "
                       "MemoryError in its cell or task. Default 4096; 0: no cap")
    grade.add_argument("--extra-checks", default=None, metavar="FILE.py",
                       help="an instructor's file of extra checks, never seen by learners: "
                       "def check_<task>(t, answer) with the checks' API (t.case, t.call, "
                       "t.compare, t.fail); optional EXERCISE = 'exN_…' limits it to one "
                       "exercise. A task passes only if its own check and its extra check "
                       "pass; a broken file stops the grader (exit 2) before any notebook runs")
    grade.set_defaults(func=_grade)
    exercises = sub.add_parser("exercises", help="generate the learner exercise notebooks from "
                               "their sources (or --check that they are up to date)",
                               description="Make each learner notebook exercises/exN_*.ipynb "
                               "(and each course notebook notebooks/NN_*.ipynb with 'your turn' "
                               "cells) from its source in source/ (solution regions "
                               "replaced by stubs), and run both so their outputs are stored.")
    exercises.add_argument("names", nargs="*", metavar="NAME", help="only these exercises "
                           "(e.g. ex1_derivatives); default all")
    exercises.add_argument("--dir", default=None, help="the exercises or notebooks folder "
                           "(default: both ./exercises and ./notebooks)")
    exercises.add_argument("--check", action="store_true", help="change nothing; exit 1 if a "
                           "learner notebook is out of date with its source or not executed")
    exercises.add_argument("--no-execute", action="store_true", help="write the learner "
                           "notebooks without running them (their outputs will be empty)")
    exercises.set_defaults(func=_exercises)
    course = sub.add_parser("course", help="copy the course notebooks and the exercises into a "
                            "folder, to open with Jupyter",
                            description="Copy the course notebooks (notebooks/0*.ipynb) and the "
                            "learner exercise notebooks "
                            "(exercises/ex*.ipynb) that come with this installation into DIR, "
                            "and say how to open them. Refuses a DIR that is not empty unless "
                            "--force.")
    course.add_argument("dir", metavar="DIR", help="the folder to copy into (created if needed)")
    course.add_argument("--force", action="store_true", help="copy into a folder that is not "
                        "empty, overwriting the course files there (other files are left alone)")
    course.set_defaults(func=_course)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
