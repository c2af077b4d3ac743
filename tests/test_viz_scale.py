"""The visualizers at real size (issue 17, items 1-3; issue 15, item 2's drawing).

A large graph is drawn as a summary (repeated patterns folded into one box, the part nearest the
output and the leaves, a caption with the whole graph's counts); Graphviz runs with a time limit;
the explorers draw a window around the current step. Time bounds here are generous (a shared
2-core machine): the real figures are printed, and ``benchmarks/viz_scale.py`` measures them.
"""
import html
import os
import re
import stat
import time

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.nn as nn
from autogradkit import optim, viz
from autogradkit.autograd import forward_ad as fwAD
from autogradkit.viz import dot as vdot
from autogradkit.viz import summary
from autogradkit.viz._format import nbytes

NODE_LINE = re.compile(r"^\t([a-z]\d+) \[", re.M)
EDGE_LINE = re.compile(r"^\t([a-z]\d+) -> ([a-z]\d+)", re.M)


def unrolled(n):
    """y = y * 1.0001 + 0.001, ``n`` times, from a leaf x: 2n ops in one chain."""
    x = ag.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.001
    return x, y


def training_loop(iterations=50, seed=0):
    """The growing-graph bug: ``total = total + loss`` keeps every iteration's graph."""
    ag.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = optim.SGD(net.parameters(), lr=0.01)
    X, Y = ag.randn(16, 3), ag.randn(16, 1)
    total = 0
    for _ in range(iterations):
        opt.zero_grad()
        loss = nn.MSELoss()(net(X), Y)
        loss.backward()
        opt.step()
        total = total + loss
    return net, total, {"X": X, "Y": Y, "total": total}


def engine_nodes(*outputs):
    """The engine graph walked here, independently of viz: (ops, leaves, constant inputs)."""
    seen, stack, consts = set(), [t.grad_fn for t in outputs], 0
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for m in n._next:
            if m is None:
                consts += 1
            else:
                stack.append(m)
    leaves = sum(1 for n in seen if n.name() == "AccumulateGrad")
    return len(seen) - leaves, leaves, consts


# ---- folding -----------------------------------------------------------------------------------
def test_runs_finds_maximal_repeats_of_period_1_to_4():
    a, b, c, d, e = range(5)
    assert summary._runs([a, b] * 5) == [(0, 2, 5)]
    assert summary._runs([a] * 7) == [(0, 1, 7)]
    assert summary._runs([e] + [a, b, c] * 4 + [d]) == [(1, 3, 4)]
    assert summary._runs([a, b, c, d] * 3) == [(0, 4, 3)]
    assert summary._runs([a, b, a, b, a]) == []                 # only 2 full repeats
    assert summary._runs([a, a, a, b, b, b, b]) == [(0, 1, 3), (3, 1, 4)]
    assert summary._runs([a, b, c, d, e, a, b, c, d, e]) == []  # period 5: not folded
    # a stretch that is not whole repeats ends where it ends (the loop's first iteration)
    assert summary._runs([b, a, b, a, b, a, b]) == [(1, 2, 3)]


def test_the_pattern_reads_in_the_order_the_loop_runs():
    x, y = unrolled(300)
    z = y * 2.0                                            # one more mul on top of the loop
    text = viz.text_graph(y, z, x, names={"x": x, "y": y, "z": z})
    assert re.search(r"^  f0 += mul → add +× 300 +← x ", text, re.M)
    assert re.search(r"^  z += mul\(f0, 2\)", text, re.M)      # y is made inside f0


def test_an_unrolled_loop_is_one_box_with_its_count():
    x, y = unrolled(20_000)
    t0 = time.perf_counter()
    g = viz.draw(y, names={"x": x, "y": y})
    built = time.perf_counter() - t0
    bundle = g._repr_mimebundle_()
    total = time.perf_counter() - t0
    print(f"\n40,000-op summary: built in {built:.2f} s, built and displayed in {total:.2f} s")
    assert total < 10
    for mime, payload in bundle.items():
        assert len(payload) < 1_000_000, mime
    assert sorted(NODE_LINE.findall(g.source)) == ["f0", "n40000", "o0"]
    assert EDGE_LINE.findall(g.source) == [("n40000", "f0"), ("f0", "o0")]
    labels = html.unescape(g.source)
    assert "<b>mul → add</b>" in labels and "× 20,000" in labels
    assert "40,000 ops in one box: 2 ops repeated 20,000 times" in labels
    text = g.text()
    assert re.search(r"^  f0 += mul → add +× 20,000 +← x ", text, re.M)
    assert "Summary of a large graph: 40,000 ops, 1 leaf, 40,000 constant inputs" in text
    # each mul saves its input y (4 bytes), 20,000 distinct arrays
    assert f"saved for backward: {nbytes(20_000 * 4)} in 20,000 arrays" in text
    assert "80,002 boxes" in text and "max_nodes=None" in text and "group=\"collapse\"" in text
    assert "image/svg+xml" in bundle if viz.graphviz_available() else True
    assert "40000 ops" in repr(g) and "summarised" in repr(g)


def test_the_text_listing_summarises_the_same_way():
    x, y = unrolled(500)
    text = viz.text_graph(y, names={"x": x, "y": y})
    lines = text.splitlines()
    assert lines[0] == ("autograd graph: 1000 ops, 1002 tensors — a summary "
                        "(inputs first, the output last)")
    assert [ln.split()[0] for ln in lines[5:]] == ["x", "f0", "y"]
    assert "mul → add  × 500" in text
    assert len(text) < 2000
    assert viz.text_graph(y, max_nodes=None).count("\n") == 1000 * 2 + 2   # all of it


@pytest.mark.filterwarnings("ignore::autogradkit.autograd.growth.GrowingGraphWarning")
def test_a_training_loop_that_keeps_every_graph_folds_per_iteration():
    net, total, names = training_loop(50)
    n_ops, n_leaves, n_consts = engine_nodes(total)
    assert (n_ops, n_leaves) == (50 * 7, 4)
    text = viz.text_graph(total, module=net, names=names)
    flat = re.sub(" +", " ", text)
    # the first iteration is 0 + loss (a number in the add): it differs, the 49 others repeat
    assert "f0 = t → addmm → relu → t → addmm → mse_loss → add × 49" in flat
    assert "343 ops in one box: 7 ops repeated 49 times" in flat
    for p in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert f"{p} × 49" in flat                         # one edge per parameter, with its count
    assert f"Summary of a large graph: {n_ops} ops, 4 leaves (4 parameters), {n_consts} constant" \
        in text
    assert "nothing saved for backward now" in text        # each backward() freed its graph
    dot = viz.to_dot(total, module=net, names=names)
    assert len(NODE_LINE.findall(dot)) <= summary.MAX_NODES
    # a drawn op keeps its id and its label from the full drawing
    full = viz.to_dot(total, module=net, names=names, max_nodes=None)
    drawn_ops = [i for i in NODE_LINE.findall(dot) if i.startswith("n")]
    assert drawn_ops
    for nid in drawn_ops:
        line = re.search(rf"^\t{nid} \[.*$", dot, re.M).group(0)
        assert line in full


def test_a_graph_without_repeats_keeps_the_part_nearest_the_output():
    rng = np.random.default_rng(0)
    x = ag.tensor([0.5, -0.25], requires_grad=True)
    y = x
    for k in rng.integers(0, 5, size=600):
        y = [lambda t: t.sin(), lambda t: t * 0.5, lambda t: t.tanh(), lambda t: t + 1.0,
             lambda t: t.exp() * 0.1][k](y)
    out = y.sum()
    dot = viz.to_dot(out, names={"x": x}, max_nodes=120)
    ids = NODE_LINE.findall(dot)
    assert len(ids) <= 120
    assert {"n0", "n1", "n2", "o0", "r0"} <= set(ids)       # nearest the output, and the rest
    leaf = [i for i in ids if f"\t{i} [" in dot and "<b>x</b>" in
            re.search(rf"^\t{i} \[.*$", dot, re.M).group(0)]
    assert leaf                                            # the leaf is drawn
    assert counted_ops(dot) == engine_nodes(out)[0]         # every op accounted for once


def counted_ops(dot):
    """Ops drawn one per box, ops inside folded boxes, ops in the box for the rest."""
    text = html.unescape(dot)
    drawn = len(re.findall(r"^\tn\d+ \[label=<<b>\w+Backward", text, re.M))
    folded = sum(int(m.replace(",", "")) for m in re.findall(r"([\d,]+) ops in one box", text))
    hidden = re.search(r"… ([\d,]+) more ops", text)
    return drawn + folded + (int(hidden.group(1).replace(",", "")) if hidden else 0)


def test_a_scalar_mlp_with_shared_values_is_summarised_and_every_op_counted():
    """micrograd's style: one scalar per neuron input, values shared by every neuron of the next
    layer (a summary's boxes can then form a cycle: it must still be drawn, once)."""
    rng = np.random.default_rng(1)
    layers = [[[ag.tensor(float(rng.normal()), requires_grad=True) for _ in range(i)]
               for _ in range(o)] for i, o in ((2, 8), (8, 8), (8, 1))]
    loss = ag.tensor(0.0)
    for _ in range(3):
        h = [ag.tensor(float(v)) for v in rng.normal(size=2)]
        for k, layer in enumerate(layers):
            outs = []
            for ws in layer:
                acc = ws[0] * h[0]
                for w, v in zip(ws[1:], h[1:]):
                    acc = acc + w * v
                outs.append(acc.tanh() if k < 2 else acc)
            h = outs
        loss = loss + (h[0] - 1.0) ** 2
    n_ops = engine_nodes(loss)[0]
    for budget in (40, 120, 300):
        dot = viz.to_dot(loss, max_nodes=budget)
        assert len(NODE_LINE.findall(dot)) <= budget
        assert counted_ops(dot) == n_ops, budget
    assert "mul → add × 7" in html.unescape(viz.to_dot(loss, max_nodes=120))  # a neuron's sum


def test_max_nodes_none_and_small_graphs_draw_everything_as_before():
    a = ag.tensor(2.0, requires_grad=True)
    b = ag.tensor(-3.0, requires_grad=True)
    L = (a * b + 10.0) * -2.0
    names = {"a": a, "b": b, "L": L}
    assert viz.to_dot(L, names=names) == viz.to_dot(L, names=names, max_nodes=None)
    assert viz.text_graph(L, names=names) == viz.text_graph(L, names=names, max_nodes=None)
    x, y = unrolled(200)                                   # 400 ops: over the default budget
    full = viz.to_dot(y, max_nodes=None)
    n_ops, n_leaves, n_consts = engine_nodes(y)
    assert len(NODE_LINE.findall(full)) == n_ops + n_leaves + n_consts + 1
    assert "Summary" not in full and "\tf0 [" not in full
    assert viz.to_dot(y, max_nodes=10_000) == full
    assert len(NODE_LINE.findall(viz.to_dot(y))) < 10
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(y, max_nodes=0)


def test_forward_mode_drawings_have_a_budget_too():
    with viz.trace_forward() as tr, fwAD.dual_level():
        y = fwAD.make_dual(ag.tensor(1.0), ag.tensor(1.0))
        for _ in range(300):
            y = y * 1.0001 + 0.001
    dot = viz.to_dot(y, tangents=tr, max_nodes=50)
    ids = NODE_LINE.findall(dot)
    assert len(ids) <= 50 and "r0" in ids and "o0" in ids
    assert "max_nodes=None draws all" in html.unescape(dot)
    assert len(NODE_LINE.findall(viz.to_dot(y, tangents=tr, max_nodes=None))) > 600


# ---- the time limit ------------------------------------------------------------------------------
@pytest.fixture
def slow_dot(tmp_path, monkeypatch):
    """A ``dot`` on PATH that takes 30 s (a layout that would freeze the notebook)."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(vdot, "LAYOUT_TIMEOUT", 0.5)
    return fake


def test_a_slow_layout_is_stopped_and_the_text_summary_shown(slow_dot):
    x, y = unrolled(2_000)
    g = viz.draw(y, names={"x": x, "y": y}, max_nodes=None)   # the whole graph: 8,002 boxes
    t0 = time.perf_counter()
    bundle = g._repr_mimebundle_()
    took = time.perf_counter() - t0
    assert took < 10, took
    assert "image/svg+xml" not in bundle
    text = bundle["text/plain"]
    assert "Graphviz needed more than 0.5 s to lay out this graph" in text
    assert "mul → add  × 2,000" in text                    # the summary, not 8,000 lines
    assert len(text) < 5000 and "<pre" in bundle["text/html"]
    with pytest.raises(vdot.LayoutTimeout):
        viz.svg(g)
    # the explorer shows its text instead of waiting
    a = ag.tensor(2.0, requires_grad=True)
    ex = viz.BackwardExplorer(a * 3.0, names={"a": a})
    _ = ex.widget
    assert "agk-text-graph" in ex._graph.value and "shown as text" in ex._graph.value


def test_the_real_dot_past_a_tiny_limit_gives_text_too(monkeypatch):
    if not viz.graphviz_available():
        pytest.skip("Graphviz's dot is not installed")
    monkeypatch.setattr(vdot, "LAYOUT_TIMEOUT", 0.01)
    x, y = unrolled(1_000)
    bundle = viz.draw(y, max_nodes=None)._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "more than 0.01 s" in bundle["text/plain"]


# ---- memory --------------------------------------------------------------------------------------
def test_memory_labels_are_the_numpy_bytes_of_what_each_op_saved():
    x = ag.tensor(np.arange(6.0).reshape(2, 3), dtype="float32", requires_grad=True)  # 24 B
    w = ag.tensor(np.ones((3, 4)), dtype="float64")                     # 96 bytes
    h = x @ w.float()                                                   # saves x and w32
    y = h.tanh()                                                        # saves its output
    L = (y * y).sum()                                                   # saves y twice
    names = {"x": x, "w": w, "h": h, "y": y, "L": L}
    g = viz.draw(L, names=names, memory=True)
    labels = html.unescape(g.source)
    w32 = h.grad_fn._saved[1]
    xb, wb, yb = (t.detach().numpy().nbytes for t in (x, w32, y))
    want = {"MmBackward0": xb + wb, "MatmulBackward0": xb + wb, "TanhBackward0": yb,
            "MulBackward0": 2 * yb}
    want.pop("MatmulBackward0" if h.grad_fn.name() == "MmBackward0" else "MmBackward0")
    for line in labels.splitlines():
        m = re.search(r"<b>(\w+Backward0)[^<]*</b>.*saves ([\d.]+ \w?B)<", line)
        if m and m.group(1) in want:
            assert m.group(2) == nbytes(want.pop(m.group(1)))
    assert not want, f"no memory label for {want}"
    distinct = xb + wb + yb                                             # y counted once
    assert f"saved for backward: {distinct} B in 3 arrays (shared arrays counted once)" in labels
    text = viz.text_graph(L, names=names, memory=True)
    assert f"saves {xb + wb} B" in text
    assert f"saved for backward: {distinct} B in 3 arrays" in text
    assert "saves" not in viz.to_dot(L, names=names)        # off by default
    L.backward()
    assert "saved for backward: 0 B in 0 arrays" in viz.text_graph(L, memory=True)


def test_memory_on_a_summary_puts_the_folded_bytes_on_the_box():
    x, y = unrolled(1_000)
    text = viz.text_graph(y, memory=True)
    assert f"saves {nbytes(1_000 * 4)} in all" in text


# ---- explorers -----------------------------------------------------------------------------------
def test_explorers_on_a_4000_op_graph_draw_a_window_and_stay_quick():
    pytest.importorskip("ipywidgets")
    x, y = unrolled(2_000)
    t0 = time.perf_counter()
    ex = viz.BackwardExplorer(y, names={"x": x})
    _ = ex._repr_mimebundle_()
    first = time.perf_counter() - t0
    steps = []
    for _ in range(3):
        t1 = time.perf_counter()
        ex.next()
        steps.append(time.perf_counter() - t1)
    print(f"\nBackwardExplorer, 4,000 ops: build + first display {first:.2f} s, "
          f"steps {', '.join(f'{s:.3f}' for s in steps)} s")
    assert first < 10 and max(steps) < 2
    drawn = NODE_LINE.findall(ex.view().source)
    assert len(drawn) <= 40 and ex.frame.node in drawn
    assert "Showing the" in ex.text() and "max_nodes=None" in ex.text()
    # the replay is made lazily, and still equals the trace where we look
    events = list(ex.trace.events)
    assert len(ex.replay) == len(events) + 1
    for k in (1, 2, 1000, len(events)):
        f, ev = ex.replay.frames[k], events[k - 1]
        nid = ex.model.by_engine[ev.node]
        if type(ev).__name__ == "Step":
            np.testing.assert_array_equal(f.received[nid], ev.grad_output.numpy()
                                          if hasattr(ev.grad_output, "numpy") else ev.grad_output)
    assert ex.replay.frames[-1].leaf_grads[ex.model.by_engine[x._accum]] == x.grad.item()
    ex.go(len(ex.replay) - 1)
    assert ex.frame.node in NODE_LINE.findall(ex.view().source)
    fx = viz.ForwardExplorer(y)
    fx.go(2000)
    assert len(NODE_LINE.findall(fx.view().source)) <= 40
    with viz.trace_forward() as tr, fwAD.dual_level():
        d = fwAD.make_dual(ag.tensor(1.0), ag.tensor(1.0))
        for _ in range(2_000):
            d = d * 1.0001 + 0.001
    jx = viz.JVPExplorer(tr)
    jx.go(1234)
    drawn = NODE_LINE.findall(jx.view().source)
    assert len(drawn) <= 40 and jx.frame.node in drawn
    assert jx.frame.known[jx.frame.node][1] == jx.frame.tangent
    small = viz.BackwardExplorer(unrolled(3)[1], max_nodes=None)     # a small graph: all drawn
    assert len(NODE_LINE.findall(small.view().source)) == 3 * 2 + 1 + 3 * 2 + 1
