"""Seeing forward mode: the tangent drawing and the JVP explorer (``autogradkit/viz/forward.py``).

Every tangent shown must be one the op's own ``jvp`` gave while the dual computation ran: the
explorer tests compare each step with ``unpack_dual`` of the same intermediate. The file runs in
both modes (the fast shortcuts installed, and ``AUTOGRADKIT_REFERENCE=1``); one test runs the
listing in the other mode in a subprocess and checks it is the same text.
"""
import html
import os
import re
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

import autogradkit as ag
from autogradkit import viz
from autogradkit.autograd import forward_ad as fwAD
from autogradkit.autograd.node import Op
from autogradkit.viz._format import to_numpy

# the expected listing: its op lines are longer than 100 characters
LISTING = """\
forward-mode graph: 4 ops, 4 tensors (inputs first, the output last; each value with its tangent)
  x   dual input (2,) float64     value [1, 2]   tangent [1, 0]
  w   constant  (2,) float64     value [3, -1]   no tangent (ẇ = 0)
  h = mul(x, w)                 MulBackward0: ẏ = ①ȧ·②b + ①a·②ḃ   value [3, -2]   tangent [3, 0]
  y = sin(h)                    SinBackward0: ẏ = cos(①x)·①ẋ   value [0.1411, -0.9093]   tangent [-2.97, 0]
  2   number    scalar           (a Python number)
  z = mul(y, 2)                 MulBackward0: ẏ = ①ȧ·②b + ①a·②ḃ   value [0.2822, -1.819]   tangent [-5.94, 0]
  s = sum(z)                    SumBackward0: ẏ = Σᵢ ①ẋᵢ   value -1.536   tangent -5.94
  s   output    scalar float64   value -1.536   tangent -5.94"""


def dual_computation(requires_grad=False):
    """s = Σ 2·sin(x·w) at x = (1, 2), w = (3, -1), in the direction ẋ = (1, 0):
    ṡ = 2·cos(3)·3 = -5.94. Returns the trace, the names, and each intermediate's unpack_dual."""
    x0 = ag.tensor([1.0, 2.0], dtype="float64", requires_grad=requires_grad)
    v = ag.tensor([1.0, 0.0], dtype="float64")
    w = ag.tensor([3.0, -1.0], dtype="float64")
    with viz.trace_forward() as tr, fwAD.dual_level():
        x = fwAD.make_dual(x0, v)
        h = x * w
        y = h.sin()
        z = y * 2.0
        s = z.sum()
        unpacked = {k: tuple(to_numpy(a) for a in fwAD.unpack_dual(t))
                    for k, t in {"h": h, "y": y, "z": z, "s": s}.items()}
    names = {"x": x, "w": w, "h": h, "y": y, "z": z, "s": s}
    return tr, names, unpacked


def test_text_listing_of_a_dual_computation():
    tr, names, _ = dual_computation()
    assert len(tr) == 4 and "0x" not in repr(tr)
    text = viz.text_graph(names["s"], names=names)
    assert unicodedata.normalize("NFC", text) == unicodedata.normalize("NFC", LISTING)
    assert viz.text_graph(names["s"], names=names, tangents=tr) == text
    assert viz.draw(names["s"], names=names).text() == text      # found automatically
    # the same computation recorded again gives the same text (nothing run-dependent in it)
    tr2, names2, _ = dual_computation()
    assert viz.text_graph(names2["s"], names=names2) == text


def test_the_listing_follows_the_tensor_asked_for():
    tr, names, _ = dual_computation()
    text = viz.text_graph(names["y"], names=names)
    assert "sum(" not in text and "= sin(h)" in text and "2 " not in text.splitlines()[3]
    assert text.splitlines()[0].startswith("forward-mode graph: 2 ops, 3 tensors")
    # unnamed: stable automatic names
    auto = viz.text_graph(names["s"], tangents=tr)
    assert "dual0" in auto and "const0" in auto and "output" in auto


def test_dot_shows_values_tangents_and_jvp_rules():
    tr, names, _ = dual_computation()
    dot = viz.to_dot(names["s"], names=names)
    assert dot == viz.to_dot(names["s"], names=names)           # deterministic
    assert "0x" not in dot
    labels = html.unescape(unicodedata.normalize("NFC", dot))
    assert "MulBackward0 → h" in labels and "ẏ = ①ȧ·②b + ①a·②ḃ" in labels
    assert "tangent [3, 0]" in labels and "no tangent (ẇ = 0)" in labels
    assert "agk-dual" in dot and labels.count("tangent -5.94") == 2     # the op and the output
    nodes = re.findall(r"^\t([a-z]\d+) \[", dot, re.M)
    assert sorted(nodes) == ["c0", "d0", "k0", "n0", "n1", "n2", "n3", "o0"]
    assert "d0 -> n0" in dot and "n3 -> o0" in dot


def test_tangents_switch():
    tr, names, _ = dual_computation(requires_grad=True)
    s = names["s"]
    # a graph was recorded too (x0 requires grad): tangents=False draws the reverse-mode one
    assert viz.text_graph(s, names=names, tangents=False).startswith("autograd graph:")
    assert viz.text_graph(s, names=names, tangents=True).startswith("forward-mode graph:")
    plain = ag.tensor([1.0], requires_grad=True) * 2.0
    assert viz.text_graph(plain).startswith("autograd graph:")      # never traced: as before
    with pytest.raises(ValueError, match="trace_forward"):
        viz.draw(plain, tangents=True)


def test_explorer_steps_equal_unpack_dual_of_each_intermediate():
    tr, names, unpacked = dual_computation()
    ex = viz.JVPExplorer(tr, names=names)
    frames = ex.steps.frames
    assert len(frames) == 5 and ex.frame.index == 0
    assert "x = [1, 2] carries the tangent ẋ = [1, 0]" in unicodedata.normalize("NFC",
                                                                              ex.panel_text)
    for f, key in zip(frames[1:], ["h", "y", "z", "s"]):
        primal, tangent = unpacked[key]
        np.testing.assert_array_equal(f.primal, primal)
        np.testing.assert_array_equal(f.tangent, tangent)
        assert f.record.out is names[key]
        # each input's value and tangent are those of the step (or make_dual) that made it
        for sl, who, p, t in f.inputs:
            if who in unpacked:
                np.testing.assert_array_equal(p, unpacked[who][0])
                np.testing.assert_array_equal(t, unpacked[who][1])
    ex.go(1)
    text = unicodedata.normalize("NFC", ex.panel_text)
    assert text.splitlines()[0] == "Step 1 of 4 · MulBackward0 → h  (mul)"
    assert "input ①a ← x: value [1, 2], tangent [1, 0]" in text
    assert "input ②b ← w: value [3, -1], tangent none (②ḃ = 0)" in text
    assert "jvp rule: ẏ = ①ȧ·②b + ①a·②ḃ" in text
    assert "its tangent ẏ = ḣ = [3, 0]" in text
    ex.go(3)
    assert "input ②b ← 2: a number, no tangent" in ex.panel_text
    ex.go(99)
    assert ex.index == 4 and "its tangent ẏ = ṡ = -5.94" in unicodedata.normalize("NFC",
                                                                             ex.panel_text)
    # the drawing grows step by step, the current op highlighted
    assert "▶ h = mul(x, w)" in ex.text(1) and "sin(" not in ex.text(1)
    assert ex.text(4).splitlines()[-1].startswith("  s   output")
    # the same explorer from the output alone (the newest trace that made it)
    again = viz.JVPExplorer(names["s"], names=names)
    assert [f.text for f in again.steps.frames] == [f.text for f in frames]


def test_explorer_with_a_differentiable_tangent():
    """x0 requires grad: the rules run on tensors (reverse-over-forward); the same numbers."""
    tr, names, unpacked = dual_computation(requires_grad=True)
    ex = viz.JVPExplorer(tr, names=names)
    for f, key in zip(ex.steps.frames[1:], ["h", "y", "z", "s"]):
        np.testing.assert_array_equal(f.tangent, unpacked[key][1])
    _, _, plain = dual_computation()
    np.testing.assert_allclose(unpacked["s"][1], plain["s"][1])


def test_explorer_widget_navigates():
    pytest.importorskip("ipywidgets")
    tr, names, _ = dual_computation()
    ex = viz.JVPExplorer(tr, names=names)
    box = ex.widget
    assert "agk-jvp-explorer" in box._dom_classes
    ex._next.click()
    assert ex.index == 1 and ex._slider.value == 1
    assert "Step 1 of 4" in ex._panel.value
    if viz.graphviz_available():
        assert re.search(r'agk-current">\s*<title>n0</title>', html.unescape(ex._graph.value))
    ex.previous()
    assert ex.index == 0
    assert "0x" not in repr(ex) and ex._repr_mimebundle_()["text/plain"] == repr(ex)


def test_trace_forward_puts_op_back_and_records_nothing_outside_a_level():
    original = Op.__dict__["_push_tangents"]
    with viz.trace_forward() as outer:
        with viz.trace_forward() as inner:
            assert Op.__dict__["_push_tangents"] is not original
            a = ag.tensor([1.0, 2.0]) * 3.0             # no dual level: nothing to record
            with fwAD.dual_level():
                x = fwAD.make_dual(ag.tensor([1.0]), ag.tensor([2.0]))
                y = x.exp()
        assert Op.__dict__["_push_tangents"] is not original
    assert Op.__dict__["_push_tangents"] is original
    assert len(inner) == len(outer) == 1 and inner.records[0].out is y
    assert a is not None
    with pytest.raises(RuntimeError):
        with viz.trace_forward():
            raise RuntimeError("boom")
    assert Op.__dict__["_push_tangents"] is original


def test_the_other_mode_gives_the_same_listing():
    """Run the listing with AUTOGRADKIT_REFERENCE flipped (reference path ↔ fast shortcuts)."""
    env = dict(os.environ)
    if ag.REFERENCE_MODE:
        env.pop("AUTOGRADKIT_REFERENCE", None)
    else:
        env["AUTOGRADKIT_REFERENCE"] = "1"
    code = ("import sys; sys.path.insert(0, 'tests'); import test_viz_forward as t;"
            "import autogradkit as ag;"
            "from autogradkit import viz; tr, n, _ = t.dual_computation();"
            "print(ag.REFERENCE_MODE); print(viz.text_graph(n['s'], names=n))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, encoding="utf-8", timeout=120)
    assert out.returncode == 0, out.stderr
    flag, text = out.stdout.split("\n", 1)
    assert flag == str(not ag.REFERENCE_MODE)
    assert unicodedata.normalize("NFC", text.rstrip("\n")) == unicodedata.normalize("NFC", LISTING)


def test_matmul_broadcast_and_softmax_steps_match_unpack_dual():
    rng = np.random.default_rng(0)
    X, W, b = (ag.tensor(rng.normal(size=s)) for s in [(2, 3), (3, 2), (2,)])
    with viz.trace_forward() as tr, fwAD.dual_level():
        Wd = fwAD.make_dual(W, ag.ones_like(W))
        m = X @ Wd
        z = m + b                                   # b broadcast along the rows
        p = z.tanh().softmax(-1)
        L = (p * p).mean()
        want = [to_numpy(fwAD.unpack_dual(t).tangent) for t in (m, z)]
        final = to_numpy(fwAD.unpack_dual(L).tangent)
    ex = viz.JVPExplorer(L, names={"X": X, "W": Wd, "b": b, "L": L})
    np.testing.assert_array_equal(ex.steps[1].tangent, want[0])
    np.testing.assert_array_equal(ex.steps[2].tangent, want[1])
    np.testing.assert_array_equal(ex.steps[len(ex.steps) - 1].tangent, final)
    ex.go(2)
    assert "input ①a ← n0:" in ex.panel_text and "tangent none (②ḃ = 0)" in \
        unicodedata.normalize("NFC", ex.panel_text)
    assert "▶ n1 = add(n0, b)" in ex.text()
