"""The visualizers: DOT text, the text fallback without Graphviz, the explorers' replay, plots.

Every gradient a visualizer shows must be one the engine recorded: the explorer tests compare each
frame with the events of the trace it replays.
"""
import html
import re
import shutil
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

import autogradkit as ag
import autogradkit.nn as nn
from autogradkit import autograd, optim, viz
from autogradkit.examples import article
from autogradkit.viz._format import to_numpy
from autogradkit.viz.graph import GraphModel
from autogradkit.viz.replay import BackwardReplay, broadcast_axes

NODE_LINE = re.compile(r"^\t([a-z]\d+) \[", re.M)
EDGE_LINE = re.compile(r"^\t([a-z]\d+) -> ([a-z]\d+)", re.M)


def micrograd_expression():
    """L = (a·b + c)·f, the three-op example: L = -8, ∂L/∂(a, b, c, f) = (6, -4, -2, 4)."""
    a = ag.tensor(2.0, requires_grad=True)
    b = ag.tensor(-3.0, requires_grad=True)
    c = ag.tensor(10.0, requires_grad=True)
    f = ag.tensor(-2.0, requires_grad=True)
    e = a * b
    d = e + c
    L = d * f
    return L, {"a": a, "b": b, "c": c, "f": f, "e": e, "d": d, "L": L}


def article_iteration(seed=0):
    run = article.train(epochs=2, seed=seed)
    loss = nn.MSELoss()(run.net(run.x), run.y)
    return run, loss, {"x": run.x, "y": run.y, "loss": loss}


def engine_graph(*outputs):
    """Nodes and edges of the engine's graph, walked here independently of viz."""
    nodes, edges, stack = set(), 0, [t.grad_fn for t in outputs]
    consts = 0
    while stack:
        n = stack.pop()
        if n in nodes:
            continue
        nodes.add(n)
        for nxt in n._next:
            edges += 1
            if nxt is None:
                consts += 1
            else:
                stack.append(nxt)
    return nodes, edges, consts


def no_dot(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))


# ---- the static graph -------------------------------------------------------------------------
def test_dot_counts_match_the_engine_graph():
    L, names = micrograd_expression()
    dot = viz.to_dot(L, names=names)
    nodes, edges, consts = engine_graph(L)
    drawn = NODE_LINE.findall(dot)
    assert len(drawn) == len(nodes) + consts + 1            # + the output box
    assert len(EDGE_LINE.findall(dot)) == edges + 1         # + op → output
    assert sorted(drawn) == sorted({*drawn})                # each id once
    assert all(re.fullmatch(r"[ncos]\d+", i) for i in drawn)   # counters, never id()


def test_dot_labels_names_shapes_and_gradients():
    L, names = micrograd_expression()
    before = viz.to_dot(L, names=names)
    for name in "abcf":
        assert f"<b>{name}</b>" in before
    assert before.count("grad: not computed yet") == 4     # never a misleading 0
    assert "scalar float32" in before and "MulBackward0" in before and "∂/∂①a = ②b" in before
    assert "→ e" in before and "→ d" in before             # named intermediates
    L.backward()
    after = viz.to_dot(L, names=names)
    assert "grad: not computed yet" not in after
    for g in ("grad 6<", "grad -4<", "grad -2<", "grad 4<"):
        assert g in after
    x = ag.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = ag.tensor([0.5, -1.0, 2.0], requires_grad=True)
    dot = viz.to_dot((x * w).sum(), names={"x": x, "w": w})
    assert "(2, 3) float32" in dot and "(3,) float32" in dot and "constant" in dot


def test_same_code_same_dot_text_in_process_and_across_runs():
    texts = [viz.to_dot(micrograd_expression()[0], names=micrograd_expression()[1])
             for _ in range(2)]
    assert texts[0] == texts[1]
    _, loss, names = article_iteration()
    here = viz.to_dot(loss, module=article_iteration()[0].net, names=names)
    code = ("from autogradkit import viz, nn\nfrom autogradkit.examples import article\n"
            "run = article.train(epochs=2, seed=0)\nloss = nn.MSELoss()(run.net(run.x), run.y)\n"
            "print(viz.to_dot(loss, module=run.net, names={'x': run.x, 'y': run.y, 'loss': loss}),"
            " end='')")
    # a second process: different addresses, same text
    run, loss, names = article_iteration()
    here = viz.to_dot(loss, module=run.net, names=names)
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout
    assert here == there
    assert "0x" not in here


def test_article_network_names_clusters_and_collapse():
    run, loss, names = article_iteration()
    plain = viz.to_dot(loss, module=run.net, names=names)
    for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "<b>x</b>", "<b>y</b>",
                 "(20, 10) float32", "AddmmBackward0", "ReluBackward0", "MseLossBackward0"):
        assert name in plain
    assert plain.count("parameter</font>") == 4
    clustered = viz.to_dot(loss, module=run.net, names=names, group="cluster")
    assert "subgraph cluster_root" in clustered and "subgraph cluster_fc1" in clustered
    assert "fc2: Linear" in clustered
    collapsed = viz.to_dot(loss, module=run.net, names=names, group="collapse")
    assert "AddmmBackward0" not in collapsed and "ReluBackward0" in collapsed
    assert len(re.findall(r"^\tm\d+ \[", collapsed, re.M)) == 2
    assert "<b>x</b>" in collapsed and "<b>y</b>" in collapsed   # inputs stay outside
    edges = EDGE_LINE.findall(collapsed)
    assert len(edges) == len(set(edges))
    with pytest.raises(ValueError, match="module"):
        viz.draw(loss, group="cluster")


def test_options_saved_tensors_constants_and_layout():
    run, loss, names = article_iteration()
    saved = viz.to_dot(loss, module=run.net, names=names, show_saved=True)
    assert saved.count("<b>saved for backward</b>") == 4 and "wt = TBackward0&#x27;s output (10, 20)" in saved
    hidden = viz.to_dot(loss, module=run.net, names=names, show_constants=False)
    assert "<b>x</b>" not in hidden and "constant" not in hidden
    assert "rankdir=TB" in viz.to_dot(loss, rankdir="TB")
    loss.backward()
    freed = viz.to_dot(loss, show_saved=True)
    assert "freed after backward" in freed


def test_unnamed_leaves_numbers_and_names_from_locals():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    dot = viz.to_dot(y, names={"x": x, "not a tensor": 3, "_": x})
    assert "<b>x</b>" in dot and "<3>" in dot               # the number 3 as a small node
    auto = viz.to_dot(y)
    assert "<b>leaf0</b>" in auto and "<b>output</b>" in auto
    with pytest.raises(TypeError):
        viz.draw([1, 2])


def test_svg_renders_with_graphviz():
    if not viz.graphviz_available():
        pytest.skip("Graphviz's dot is not installed")
    L, names = micrograd_expression()
    g = viz.draw(L, names=names)
    bundle = g._repr_mimebundle_()
    svg = html.unescape(bundle["image/svg+xml"])
    assert svg.count('class="node agk-node') == 8 and "MulBackward0" in svg
    assert "0x" not in bundle["text/plain"] and "0x" not in repr(g)


# ---- without Graphviz's dot ---------------------------------------------------------------------
def test_without_dot_the_notebook_shows_text_and_how_to_install(monkeypatch, tmp_path):
    no_dot(monkeypatch)
    assert not viz.graphviz_available()
    L, names = micrograd_expression()
    g = viz.draw(L, names=names)
    bundle = g._repr_mimebundle_()                      # no ExecutableNotFound
    assert "image/svg+xml" not in bundle
    text = bundle["text/plain"]
    assert "e = mul(a, b)" in text and "L = mul(d, f)" in text
    assert "apt-get install graphviz" in text
    assert "<pre" in bundle["text/html"]
    path, hint = viz.render(g.source, tmp_path / "graph")
    assert path.suffix == ".dot" and "graphviz" in hint.lower()
    ex = viz.BackwardExplorer(L, names=names)
    _ = ex.widget
    assert "agk-text-graph" in ex._graph.value and "▶" in ex._graph.value


def test_dot_missing_from_path_is_caught_too(monkeypatch, tmp_path):
    """``which`` says yes but running ``dot`` fails: still text, never a traceback."""
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/dot")
    monkeypatch.setenv("PATH", str(tmp_path))
    L, names = micrograd_expression()
    bundle = viz.draw(L, names=names)._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "install Graphviz" in bundle["text/plain"]


def test_text_graph():
    L, names = micrograd_expression()
    text = viz.text_graph(L, names=names)
    lines = text.splitlines()
    assert lines[0].startswith("autograd graph: 3 ops, 5 tensors")
    assert [ln.split()[0] for ln in lines[1:]] == ["a", "b", "e", "c", "d", "f", "L", "L"]


# ---- the backward explorer ----------------------------------------------------------------------
def assert_frames_match_trace(replay, trace):
    model = replay.model
    assert len(replay) == len(trace.events) + 1
    for frame, ev in zip(replay.frames[1:], trace.events):
        nid = model.by_engine[ev.node]
        assert frame.node == model.id_of(ev.node)
        kind = type(ev).__name__
        assert frame.kind == kind.lower()
        if kind == "Step":
            np.testing.assert_array_equal(frame.received[nid], to_numpy(ev.grad_output))
            op = model.all_nodes[nid]
            for i, ((_, src), g) in enumerate(zip(op.inputs, ev.grad_inputs)):
                if g is not None and src is not None and model.all_nodes[src].engine is not None:
                    np.testing.assert_array_equal(frame.sent[(src, nid, i)], to_numpy(g))
        elif kind == "Sum":
            np.testing.assert_array_equal(frame.totals[nid], to_numpy(ev.after))
        else:
            np.testing.assert_array_equal(frame.leaf_grads[nid], to_numpy(ev.after))


def test_explorer_replays_the_scalar_expression():
    L, names = micrograd_expression()
    ex = viz.BackwardExplorer(L, names=names)
    assert_frames_match_trace(ex.replay, ex.trace)
    assert [f.kind for f in ex.replay.frames].count("step") == 3
    assert ex.frame.kind == "start" and "∂L/∂L = 1" in ex.panel_text
    ex.next()
    assert ex.frame.node == "n0"
    assert "MulBackward0 → L" in ex.panel_text
    text = unicodedata.normalize("NFC", ex.panel_text)
    for line in ("input ①a ← d (AddBackward0): ①ā = ḡ × ∂out/∂①a = 1 × -2 = -2",
                 "input ②b ← f: ②b̄ = ḡ × ∂out/∂②b = 1 × 4 = 4"):
        assert unicodedata.normalize("NFC", line) in text
    last = ex.replay.frames[-1]
    model = ex.model
    for name in "abcf":
        leaf = model.by_engine[names[name]._accum]
        np.testing.assert_array_equal(last.leaf_grads[leaf], names[name].grad.numpy())
    assert [names[n].grad.item() for n in "abcf"] == [6.0, -4.0, -2.0, 4.0]


def test_slots_cannot_be_read_as_the_learners_tensors_a_and_b():
    # issue 12: the learner's tensors are called a and b, like MulBackward0's and AddBackward0's
    # slots; every mention of a slot must carry its position mark (①a), a tensor never does
    a = ag.tensor(2.0, requires_grad=True)
    b = ag.tensor(3.0, requires_grad=True)
    d = a * b
    L = d + a
    names = {"a": a, "b": b, "d": d, "L": L}
    dot = viz.to_dot(L, names=names)
    ex = viz.BackwardExplorer(L, names=names)
    steps = viz.ForwardSteps(GraphModel(L, names=names))
    texts = [unicodedata.normalize("NFD", f.text) for f in ex.replay.frames]
    texts += ["\n".join(steps.describe(k)[1]) for k in range(len(steps))]
    texts.append(viz.draw(L, names=names).text())
    marked = re.compile("[\u2460-\u2473](?:a|b)")
    bare = re.compile("(?<![A-Za-z0-9_\u2460-\u2473])(?:a|b)(?![A-Za-z0-9_.])")
    n_slot_lines = 0
    for text in texts:
        for line in text.splitlines():
            line = line.replace("\u0304", "").strip()
            if line.startswith(("local rule", "its local rule")) or ": ∂/∂" in line:         # the rule: slots only
                rule = line.split("local rule", 1)[-1].split(":", 1)[-1]
                rule = rule.split("Backward0: ", 1)[-1]
                assert not bare.search(rule) and marked.search(rule), line
                n_slot_lines += 1
            elif line.startswith("input "):                    # input ①a ← a: ①ā = … ∂out/∂①a
                slot_name, _, rest = line[len("input "):].partition(" ← ")
                assert marked.fullmatch(slot_name), line
                assert not bare.search(rest.split(": ", 1)[1]), line
                n_slot_lines += 1
            elif line[:1] in "\u2460\u2461":                   # forward steps: ①a: AccumulateGrad …
                assert marked.match(line), line
                n_slot_lines += 1
    assert n_slot_lines >= 10
    by_title = {f.title.split(" · ")[-1].split()[0]: f.text for f in ex.replay.frames}
    step = unicodedata.normalize("NFD", by_title["MulBackward0"])
    assert "local rule: ∂/∂①a = ②b, ∂/∂②b = ①a" in step
    assert unicodedata.normalize("NFD", "input ①a ← a: ①ā = ḡ × ∂out/∂①a = 1 × 3 = 3") in step
    assert "input ②b ← b:" in step
    add = unicodedata.normalize("NFD", by_title["AddBackward0"])
    assert "input ①a ← d (MulBackward0):" in add and "input ②b ← a:" in add
    heads = re.findall(r'headlabel="([^"]*)"', dot)
    assert sorted(heads) == ["①a", "①a", "②b", "②b"]
    assert all(marked.fullmatch(h) for h in heads)
    assert "∂/∂①a = ②b, ∂/∂②b = ①a" in dot and "∂/∂a" not in dot


def test_explorer_widget_highlights_and_navigates():
    L, names = micrograd_expression()
    ex = viz.BackwardExplorer(L, names=names)
    box = ex.widget
    assert "agk-explorer" in box._dom_classes
    svg = html.unescape(ex._graph.value)
    if viz.graphviz_available():
        assert svg.count('class="node agk-node') == 8
        assert re.search(r'class="node agk-node agk-output agk-current">\s*<title>o0</title>', svg)
    ex._next.click()
    assert ex.index == 1 and ex._slider.value == 1
    assert "Step 1 of 3" in ex._panel.value
    if viz.graphviz_available():
        assert re.search(r'agk-current">\s*<title>n0</title>', html.unescape(ex._graph.value))
    assert ex._pick.value == "n0"                           # the inspector follows
    assert "ḡ received" in ex._inspect_html.value
    ex.previous().previous()
    assert ex.index == 0
    ex.go(99)
    assert ex.index == len(ex.replay) - 1
    assert "0x" not in repr(ex) and ex._repr_mimebundle_()["text/plain"] == repr(ex)


def test_explorer_on_one_iteration_of_the_article_network():
    run, loss, names = article_iteration()
    ex = viz.BackwardExplorer(loss, module=run.net, names=names, group="cluster")
    assert_frames_match_trace(ex.replay, ex.trace)
    kinds = [f.kind for f in ex.replay.frames]
    assert kinds.count("step") == 6 and kinds.count("accumulate") == 4   # 2 of them TBackward0
    texts = [f.text for f in ex.replay.frames]
    assert any("bias (20,) was stretched to (100, 20)" in t and "summed over axis 0" in t
               for t in texts)
    assert any("fc1.weight" in t and "x's shape (20, 10)" in t for t in texts)   # TBackward0
    for p in run.net.parameters():
        leaf = ex.model.by_engine[p._accum]
        np.testing.assert_array_equal(ex.replay.frames[-1].leaf_grads[leaf], p.grad.numpy())
    _ = ex.widget
    ex.go(2)
    _, rows, heat = ex.inspect(ex.frame.node)
    assert heat and rows
    collapsed = viz.BackwardExplorer(nn.MSELoss()(run.net(run.x), run.y), module=run.net,
                                     names={"x": run.x, "y": run.y}, group="collapse")
    assert {f.node for f in collapsed.replay.frames if f.kind == "step"} >= {"m0", "m1"}


def test_explorer_shows_each_contribution_and_their_sum():
    a = ag.tensor(2.0, requires_grad=True)
    b = ag.tensor(-3.0, requires_grad=True)
    L = a * b + a                                           # a feeds two ops
    ex = viz.BackwardExplorer(L, names={"a": a, "b": b, "L": L})
    sums = [f for f in ex.replay.frames if f.kind == "sum"]
    assert len(sums) == 1
    text = sums[0].text
    assert "gradients meet at a" in text and "1 + -3 = -2" in text
    assert text.count("   from ") == 2
    assert a.grad.item() == -2.0


def test_explorer_explains_broadcasting():
    x = ag.tensor(np.arange(6.0).reshape(2, 3))
    w = ag.tensor([[1.0], [2.0]], requires_grad=True)      # (2, 1): stretched along axis 1
    v = ag.tensor([1.0, 1.0, 1.0], requires_grad=True)     # (3,): a new leading axis
    ex = viz.BackwardExplorer((x * w + v).sum(), names={"x": x, "w": w, "v": v})
    text = "\n".join(f.text for f in ex.replay.frames)
    assert "summed over axis 1 keeping size 1 → (2, 1)" in text
    assert "summed over axis 0 → (3,)" in text
    assert broadcast_axes((3,), (2, 3)) == ([0], [])
    assert broadcast_axes((2, 1), (2, 3)) == ([], [1])
    assert broadcast_axes((4,), (2, 3)) is None


def test_explorer_accepts_a_recorded_trace_and_rejects_a_foreign_one():
    L, names = micrograd_expression()
    with autograd.trace_backward() as trace:
        L.backward()
    ex = viz.BackwardExplorer(L, names=names, trace=trace)
    assert ex.replay.frames[0].leaf_grads[ex.model.by_engine[names["a"]._accum]] is None
    assert_frames_match_trace(ex.replay, trace)
    other, other_names = micrograd_expression()
    with pytest.raises(ValueError, match="does not belong"):
        BackwardReplay(GraphModel(other, names=other_names), trace)


def test_forward_explorer_builds_the_graph_one_op_at_a_time():
    L, names = micrograd_expression()
    fx = viz.ForwardExplorer(L, names=names)
    assert len(fx.steps) == 4
    sizes = [len(fx.steps.visible(k)) for k in range(4)]
    assert sizes == sorted(sizes) and sizes[0] == 4
    _ = fx.widget
    fx.next()
    assert "e = mul(a, b) records the node MulBackward0" in fx.panel_text
    assert not re.search(r"(?<![a-z])grad[ :]", fx.view(1).source)   # no backward yet
    fx.go(3)
    assert "L = mul(d, f)" in fx.panel_text


# ---- plots ------------------------------------------------------------------------------------
def test_finite_difference_errors_make_the_u_shape():
    r = viz.fd_errors(lambda x: x.exp().sin(), 1.0)
    hs, fwd, cen = r["h"], r["forward"], r["central"]
    at = {h: k for k, h in enumerate(np.round(np.log10(hs)).astype(int))}
    assert fwd[at[-8]] < fwd[at[-2]] and fwd[at[-8]] < fwd[at[-15]]
    assert cen[at[-5]] < cen[at[-1]] and cen[at[-5]] < cen[at[-14]]
    assert cen.min() < fwd.min() / 10                      # central is much better at its best
    assert abs(r["exact"] - np.cos(np.e) * np.e) < 1e-12
    fig = viz.plot_fd_error(lambda x: x.exp().sin(), 1.0)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"


def test_tangent_and_loss_surface_plots():
    fig = viz.plot_tangent(lambda x: x.sin() * x, 1.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    exact = np.sin(1.0) + np.cos(1.0)
    assert any(f"{exact:.10g}" in t for t in labels)
    quad = lambda p: (p[0] - 1) ** 2 + 4 * (p[1] + 0.5) ** 2   # noqa: E731
    path = viz.trajectory(quad, [-1.5, 1.5], lambda ps: optim.SGD(ps, lr=0.05), steps=40)
    assert path.shape == (41, 2) and np.allclose(path[-1], [1, -0.5], atol=0.2)
    fig = viz.plot_loss_surface(quad, {"SGD": path}, resolution=20, minimum=(1, -0.5))
    assert len(fig.axes) == 2                               # the plot and its colorbar


def test_live_loss_plot_is_a_training_callback():
    plot = viz.LiveLossPlot(total=6)
    _ = plot.widget
    run = article.train(epochs=6, callback=plot)
    plot.close()
    assert plot.losses == run.losses and plot._bar.value == 6
    assert bytes(plot._image.value).startswith(b"\x89PNG")
    assert repr(plot) == "LiveLossPlot(6/6 values)"
    assert plot._repr_mimebundle_()["text/plain"] == repr(plot)
    quiet = viz.LiveLossPlot()
    quiet.update(ag.tensor(2.0))
    assert quiet.losses == [2.0] and quiet.figure().axes


def test_importing_viz_pulls_in_nothing_heavy():
    code = ("import sys, autogradkit, autogradkit.viz as v; v.GraphModel; print(sorted(m for m "
            "in ('matplotlib', 'ipywidgets', 'graphviz') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cuda_tensors_are_drawn_and_replayed():
    """With the strict CuPy stand-in as "cuda": values are copied to the host explicitly."""
    import strict_cupy
    from autogradkit import backend
    backend._use_cupy_module(strict_cupy)
    try:
        a = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
        w = ag.tensor([3.0, -1.0], device="cuda", requires_grad=True)
        L = (a * w).sum()
        assert "value [1, 2]" in viz.to_dot(L, names={"a": a, "w": w})
        ex = viz.BackwardExplorer(L, names={"a": a, "w": w, "L": L})
        assert_frames_match_trace(ex.replay, ex.trace)
        assert "= [1, 1] × [3, -1] = [3, -1]" in ex.replay.frames[2].text
    finally:
        backend._forget_cupy()
