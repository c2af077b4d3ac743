"""The ``autogradkit`` command (also ``python -m autogradkit``)."""
from __future__ import annotations

import argparse
import sys


def _demo(args):
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
        label = node.name
        if node.name == "AccumulateGrad":
            label += f"  (leaf of shape {tuple(node.variable.shape)})"
        print("  " + "  " * depth + label)
        if node in seen:
            continue
        seen.add(node)
        for nxt, _ in reversed(node.next_functions):
            if nxt is not None:
                stack.append((nxt, depth + 1))


def build_parser():
    parser = argparse.ArgumentParser(prog="autogradkit", description="Learn automatic "
                                     "differentiation and backpropagation with autogradkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="a short tour of the engine")
    demo.set_defaults(func=_demo)
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
