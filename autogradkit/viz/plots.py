"""Teaching plots (matplotlib): a live loss curve, tangents, finite-difference error, loss surfaces.

Every function returns a ``matplotlib.figure.Figure`` made without ``pyplot``, so a notebook
shows it once (as the cell's value) and no global figure state leaks between cells. Derivatives
come from autogradkit's own ``backward()``; finite differences are computed in float64 unless
you ask for another dtype.
"""
from __future__ import annotations

import io

import numpy as np

from ._format import num

_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


_shown_figure = None


def _figure_class():
    """A Figure that Jupyter draws as PNG even before ``%matplotlib inline`` has run (made once,
    on first use, so that importing this module does not import matplotlib)."""
    global _shown_figure
    if _shown_figure is None:
        from matplotlib.figure import Figure

        class ShownFigure(Figure):
            def _repr_png_(self):
                return _png(self)

        ShownFigure.__name__ = ShownFigure.__qualname__ = "Figure"   # prints as matplotlib's does
        _shown_figure = ShownFigure
    return _shown_figure


def _figure(w=6.0, h=3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = _figure_class()(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _as_float(v):
    if hasattr(v, "item"):
        return float(v.item())
    return float(v)


# ---- live loss curve ------------------------------------------------------------------------
class LiveLossPlot:
    """A loss curve that redraws in place while a training loop runs, with a progress bar.

        plot = viz.LiveLossPlot(total=200).show()      # displays it (in a notebook)
        for epoch in range(200):
            ...
            plot.update(loss)                          # a tensor or a number
        plot.close()                                   # final redraw

    It is also a ``callback(epoch, loss)``: ``article.train(epochs=200, callback=plot)``.
    Outside a notebook nothing is displayed; ``.figure()`` gives the curve as a Figure.
    """

    def __init__(self, total=None, title="training loss", xlabel="epoch", ylabel="loss",
                 logy=False, redraws=20):
        self.total = total
        self.title, self.xlabel, self.ylabel, self.logy = title, xlabel, ylabel, logy
        self.losses = []
        self._every = max(1, (total or 0) // redraws) if total else 1
        self._box = None

    # feeding it
    def update(self, loss):
        self.losses.append(_as_float(loss))
        n = len(self.losses)
        every = self._every if self.total else max(1, n // 20)   # unknown length: ever rarer
        if self._box is not None and (n % every == 0 or n == self.total or n == 1):
            self._redraw()
        return self

    def __call__(self, epoch, loss):
        self.update(loss)

    def close(self):
        """Draw the final curve (returns nothing, so a cell ending with it shows nothing)."""
        if self._box is not None:
            self._redraw()

    # showing it
    def figure(self):
        fig = _figure(6.0, 3.4)
        ax = fig.add_subplot(1, 1, 1)
        n = len(self.losses)
        if n:
            xs = np.arange(1, n + 1)
            ax.plot(xs, self.losses, color=_BLUE, lw=1.6)
            ax.plot([n], [self.losses[-1]], "o", color=_BLUE, ms=4)
            ax.set_title(f"{self.title}: {num(self.losses[-1])} after {n} {self.xlabel}s"
                         if n > 1 else f"{self.title}: {num(self.losses[-1])}", fontsize=10)
        else:
            ax.set_title(f"{self.title}: waiting for the first value", fontsize=10)
        if self.total:
            ax.set_xlim(0, self.total + 1)
        if self.logy and n and min(self.losses) > 0:
            ax.set_yscale("log")
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    @property
    def widget(self):
        if self._box is None:
            import ipywidgets as w
            self._bar = w.IntProgress(value=0, min=0, max=self.total or 1,
                                      layout=w.Layout(width="320px"))
            self._bar.add_class("agk-progress")
            self._bar.layout.display = "" if self.total else "none"
            self._label = w.HTML()
            self._image = w.Image(format="png", layout=w.Layout(max_width="100%"))
            self._box = w.VBox([w.HBox([self._bar, self._label]), self._image])
            self._box.add_class("agk-live-loss")
            self._redraw()
        return self._box

    def show(self):
        """Display it now (in a notebook) and return it, so it can be fed afterwards."""
        from IPython.display import display
        display(self)
        return self

    def _redraw(self):
        n = len(self.losses)
        if self.total:
            self._bar.value = min(n, self.total)
            self._label.value = (f"&nbsp;{n}/{self.total} {self.xlabel}s"
                                 + (f" · loss {num(self.losses[-1])}" if n else ""))
        elif n:
            self._label.value = f"{n} {self.xlabel}s · loss {num(self.losses[-1])}"
        self._image.value = _png(self.figure())

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self):
        total = f"/{self.total}" if self.total else ""
        return f"LiveLossPlot({len(self.losses)}{total} values)"


# ---- f, its tangent, and a finite difference ------------------------------------------------
def _scalar_fn(f, dtype):
    """f on one float64 number through autogradkit tensors: (value, autograd derivative)."""
    import autogradkit as ag

    def value(x):
        with ag.no_grad():
            return _as_float(f(ag.tensor(float(x), dtype=dtype)))

    def derivative(x):
        t = ag.tensor(float(x), dtype=dtype, requires_grad=True)
        y = f(t)
        y.backward()
        return _as_float(t.grad)

    return value, derivative


def _curve(f, xs, dtype):
    import autogradkit as ag
    with ag.no_grad():
        try:
            ys = f(ag.tensor(xs, dtype=dtype))
            ys = np.asarray(ys.tolist(), dtype=np.float64)
            if ys.shape == xs.shape:
                return ys
        except Exception:                               # noqa: BLE001 - fall back to a loop
            pass
    value, _ = _scalar_fn(f, dtype)
    return np.array([value(x) for x in xs])


def plot_tangent(f, x0, span=2.0, h=1e-3, label="f(x)", dtype=None):
    """``f`` around ``x0`` with its tangent (slope from ``backward()``) and a central difference.

    ``f`` takes and returns autogradkit tensors (``lambda x: x.sin() * x``). The legend shows the
    autograd derivative, the central difference ``(f(x0+h) − f(x0−h)) / 2h`` and their gap.
    """
    import autogradkit as ag
    dtype = dtype or ag.float64
    value, derivative = _scalar_fn(f, dtype)
    x0 = float(x0)
    y0, slope = value(x0), derivative(x0)
    fd = (value(x0 + h) - value(x0 - h)) / (2 * h)
    xs = np.linspace(x0 - span, x0 + span, 301)
    ys = _curve(f, xs, dtype)
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, ys, color=_BLUE, lw=2, label=label)
    near = np.abs(xs - x0) <= span * 0.6
    ax.plot(xs[near], y0 + slope * (xs[near] - x0), color=_RED, lw=1.6,
            label=f"tangent, autograd f'({num(x0)}) = {slope:.10g}")
    ax.plot(xs[near], y0 + fd * (xs[near] - x0), color=_ORANGE, lw=1.2, ls="--",
            label=f"central difference, h = {h:g}: {fd:.10g}")
    ax.plot([x0], [y0], "o", color="black", ms=5, zorder=5)
    lo, hi = np.nanmin(ys), np.nanmax(ys)
    pad = 0.15 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("x")
    ax.set_title(f"{label} and its tangent at x = {num(x0)}   "
                 f"(|autograd − difference| = {abs(slope - fd):.1e})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- finite-difference error against step size ----------------------------------------------
def fd_errors(f, x0, hs=None, dtype=None):
    """Errors of forward and central differences of ``f`` at ``x0`` for each step ``h``,
    against the autograd derivative: ``{"h", "forward", "central", "exact"}`` (NumPy arrays)."""
    import autogradkit as ag
    dtype = dtype or ag.float64
    hs = np.logspace(-16, 0, 65) if hs is None else np.asarray(hs, dtype=np.float64)
    value, derivative = _scalar_fn(f, dtype)
    exact = derivative(float(x0))
    fx = value(x0)
    fwd, cen = [], []
    for h in hs:
        fwd.append(abs((value(x0 + h) - fx) / h - exact))
        cen.append(abs((value(x0 + h) - value(x0 - h)) / (2 * h) - exact))
    return {"h": hs, "forward": np.array(fwd), "central": np.array(cen), "exact": exact}


def plot_fd_error(f, x0, hs=None, dtype=None, label="f"):
    """Log-log error of forward vs central differences against step size ``h``: the U-shape.

    Right of each minimum the truncation error dominates (slope 1 for forward, 2 for central
    differences); left of it round-off does (≈ ε/h, ε the dtype's machine epsilon)."""
    import autogradkit as ag
    dtype = dtype or ag.float64
    r = fd_errors(f, x0, hs, dtype)
    hs, fwd, cen = r["h"], r["forward"], r["central"]
    eps = float(np.finfo(np.dtype(dtype.name if hasattr(dtype, "name") else dtype)).eps)
    floor = eps * 1e-3
    fig = _figure(6.6, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.loglog(hs, np.maximum(fwd, floor), "o-", ms=3, lw=1.3, color=_BLUE,
              label="forward  (f(x+h) − f(x)) / h")
    ax.loglog(hs, np.maximum(cen, floor), "s-", ms=3, lw=1.3, color=_ORANGE,
              label="central  (f(x+h) − f(x−h)) / 2h")
    best = []
    for errs, color, name, rule in ((fwd, _BLUE, "forward", "√ε"), (cen, _ORANGE, "central", "∛ε")):
        k = int(np.argmin(np.where(errs > 0, errs, np.inf)))
        ax.plot([hs[k]], [max(errs[k], floor)], "o", ms=11, mfc="none", mec=color, mew=1.6)
        scale = eps ** (0.5 if name == "forward" else 1 / 3)
        best.append(f"best h, {name}: {hs[k]:.0e} (≈ {rule} = {scale:.0e}), error {errs[k]:.1e}")
    ref = np.array([hs[0], hs[-1]])
    mid = int(np.argmin(np.abs(np.log10(hs) + 2)))      # anchor the slopes at h ≈ 0.01
    y_ref = max(fwd[mid], floor)
    ax.loglog(ref, y_ref * ref / hs[mid], ":", color=_GREY, lw=1, label="∝ h (truncation)")
    y_ref2 = max(cen[mid], floor)
    ax.loglog(ref, y_ref2 * (ref / hs[mid]) ** 2, "-.", color=_GREY, lw=1,
              label="∝ h² (truncation)")
    ax.loglog(ref, abs(r["exact"] or 1.0) * eps / ref, "--", color=_GREEN, lw=1,
              label="≈ ε/h (round-off)")
    finite = np.concatenate([fwd[fwd > 0], cen[cen > 0]])
    if finite.size:
        ax.set_ylim(max(finite.min() / 10, floor), finite.max() * 1e3)
    ax.set_xlabel("step size h")
    ax.set_ylabel("|difference − autograd derivative|")
    ax.set_title(f"Finite differences of {label} at x = {num(x0)}: error against h ({dtype.name})",
                 fontsize=10)
    ax.text(0.02, 0.97, "← round-off dominates", transform=ax.transAxes, fontsize=8,
            va="top", color=_GREY)
    ax.text(0.98, 0.97, "truncation dominates →", transform=ax.transAxes, fontsize=8,
            va="top", ha="right", color=_GREY)
    ax.text(0.5, 0.90, "\n".join(best), transform=ax.transAxes, fontsize=7.5, va="top",
            ha="center", bbox=dict(boxstyle="round", fc="white", ec="#cccccc", alpha=0.9))
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# ---- loss surface with an optimizer's path ---------------------------------------------------
def trajectory(loss_fn, start, optimizer=None, steps=50):
    """The points an optimizer visits minimizing ``loss_fn(p)`` (``p`` a tensor of shape (2,)).

    ``optimizer`` makes an optimizer from a parameter list (default: SGD with lr 0.1), e.g.
    ``lambda params: optim.Adam(params, lr=0.05)``. Returns an array of shape (steps + 1, 2)."""
    import autogradkit as ag
    from .. import optim
    p = ag.tensor(np.asarray(start, dtype=np.float64), requires_grad=True)
    opt = (optimizer or (lambda params: optim.SGD(params, lr=0.1)))([p])
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(p).backward()
        opt.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


def plot_loss_surface(loss_fn, path=None, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), resolution=60,
                      levels=25, log=False, labels=("w₀", "w₁"), title="loss surface",
                      minimum=None):
    """Contours of ``loss_fn(p)`` over two parameters, with an optimizer's ``path`` on top.

    ``loss_fn`` takes a tensor of shape (2,) and returns a scalar tensor; ``path`` is an array of
    shape (steps, 2) (e.g. from ``trajectory``) or a dict ``{"SGD": path, "Adam": path2}``;
    ``minimum`` marks a point (the true minimum, say); ``log=True`` spaces the contours
    logarithmically (for valleys like Rosenbrock's)."""
    import autogradkit as ag
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    Z = np.empty((resolution, resolution))
    with ag.no_grad():
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                Z[i, j] = _as_float(loss_fn(ag.tensor([xv, yv], dtype=ag.float64)))
    fig = _figure(5.6, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    if log:
        from matplotlib.colors import LogNorm
        Zp = np.maximum(Z, np.nanmin(Z[Z > 0]) if np.any(Z > 0) else 1e-12)
        lv = np.geomspace(Zp.min(), Zp.max(), levels)
        cf = ax.contourf(xs, ys, Zp, levels=lv, norm=LogNorm(), cmap="viridis", alpha=0.85)
        ax.contour(xs, ys, Zp, levels=lv, norm=LogNorm(), colors="white", linewidths=0.4)
    else:
        cf = ax.contourf(xs, ys, Z, levels=levels, cmap="viridis", alpha=0.85)
        ax.contour(xs, ys, Z, levels=levels, colors="white", linewidths=0.4)
    if log:
        fig.colorbar(cf, ax=ax, label="loss (log scale)", ticks=lv[::max(1, len(lv) // 6)],
                     format="%.2g")
    else:
        fig.colorbar(cf, ax=ax, label="loss", format="%.2g")
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], "X", color="black", ms=9, mec="white",
                zorder=6, label="minimum")
    paths = path if isinstance(path, dict) else ({"optimizer": path} if path is not None else {})
    colors = [_RED, "#ffffff", _ORANGE, "#e377c2"]
    for k, (name, pts) in enumerate(paths.items()):
        pts = np.asarray(pts, dtype=np.float64)
        c = colors[k % len(colors)]
        ax.plot(pts[:, 0], pts[:, 1], "-o", color=c, ms=2.5, lw=1.4,
                label=f"{name}: {len(pts) - 1} steps")
        ax.plot(pts[0, 0], pts[0, 1], "o", color=c, ms=8, mec="black", zorder=5)
        ax.plot(pts[-1, 0], pts[-1, 1], "*", color=c, ms=13, mec="black", zorder=5)
    if paths or minimum is not None:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title + ("  (● start, ★ end)" if paths else ""), fontsize=10)
    fig.tight_layout()
    return fig
