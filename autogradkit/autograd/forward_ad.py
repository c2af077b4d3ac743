"""Forward-mode automatic differentiation, with PyTorch's names (``torch.autograd.forward_ad``)::

    with forward_ad.dual_level():
        x = forward_ad.make_dual(x0, v)         # x0 carrying a tangent v: a direction to move in
        y = f(x)                                # every op pushes its tangent along: ẏ = J ẋ
        y0, jv = forward_ad.unpack_dual(y)      # f(x0) and J v, from this one forward pass

Reverse mode (``backward``) runs the chain rule from the output back: one pass gives ḡᵀJ, a
vector-Jacobian product, for every input at once. Forward mode runs it alongside the forward pass:
one pass gives J v, a Jacobian-vector product, for every output at once. So a full Jacobian of
f: ℝⁿ → ℝᵐ costs m backward passes or n forward passes.

Where things are:

* a tangent lives on its tensor (``tensor._tangent``; ``None`` for every tensor outside a dual
  level, so making a tensor costs nothing more), and the level remembers which tensors got one:
  leaving the level drops them all, as in PyTorch;
* every op's forward-mode rule, ``jvp``, sits in its class next to its ``backward`` (with its
  one line of math in ``jvp_formula`` next to ``formula``); ``Op.apply`` calls it while a level
  is active (``Op._push_tangents`` in ``node.py``). No graph is recorded for tangents;
* a custom ``autograd.Function`` gives its rule as PyTorch's ``jvp(ctx, *tangents)``;
* the speed shortcuts in ``autogradkit/fast.py`` record ops without ``Op.apply``, so while a level
  is active they step aside: ``fast.install()`` puts a pair of functions in ``LEVEL_HOOKS``, and
  entering a level runs the first (the reference recording goes back in), leaving it the second.
  The level is one of several reasons for the reference recording (``saved_tensors_hooks`` and
  anomaly mode are the others): ``autograd.graph.need_reference`` counts them, so the shortcuts
  come back only when the last one ends.

One level at a time (nesting is refused, as in PyTorch). Only floating-point tensors carry
tangents; a tangent has its primal's shape, dtype and device.
"""
from __future__ import annotations

import collections
import weakref

from ..tensor_base import TensorBase
from .graph import REFERENCE_HOOKS, need_reference
from .node import ForwardMode, Op

__all__ = ["dual_level", "make_dual", "unpack_dual", "enter_dual_level", "exit_dual_level",
           "UnpackedDualTensor"]

UnpackedDualTensor = collections.namedtuple("UnpackedDualTensor", ["primal", "tangent"])

# (on_enter, on_exit) pairs: fast.install() registers the pair that takes its recording shortcuts
# out of the way while tangents flow, and back after. The same list as autograd.graph's
# REFERENCE_HOOKS: they run when the first reason for the reference recording begins (a dual
# level, saved_tensors_hooks, anomaly mode) and when the last one ends.
LEVEL_HOOKS = REFERENCE_HOOKS


class _Level:
    """One dual level: the tensors given a tangent in it, so that leaving it drops them all."""

    def __init__(self, index):
        self.index = index
        self._holders = []          # weak references: the level keeps no tensor alive

    def attach(self, tensor, tangent):
        tensor._tangent = tangent
        self._holders.append(weakref.ref(tensor))

    def drop_all(self):
        for ref in self._holders:
            tensor = ref()
            if tensor is not None:
                tensor.__dict__.pop("_tangent", None)
        self._holders = []


def enter_dual_level():
    """Start a dual level and return its index (0). ``dual_level()`` is the usual way."""
    if ForwardMode.level is not None or any(lv is not None for lv in _paused_levels):
        raise RuntimeError(
            "Nested forward mode AD is not supported at the moment: a dual level is already "
            "active. Leave it (end the `with forward_ad.dual_level():` block) before entering "
            "another one.")
    level = _Level(0)
    need_reference(True)
    ForwardMode.level = level
    return level.index


def exit_dual_level(*, level=None):
    """Leave the active dual level: every tangent given in it is dropped."""
    active = ForwardMode.level
    if active is None:
        raise RuntimeError("exit_dual_level: no dual level is active (enter one with "
                           "`with forward_ad.dual_level():`)")
    if level is not None and level != active.index:
        raise RuntimeError(f"exit_dual_level: level {level} is not the active level "
                           f"({active.index}); levels are left in the order they were entered")
    ForwardMode.level = None
    active.drop_all()
    need_reference(False)


class dual_level:
    """``with forward_ad.dual_level():`` — inside it, ``make_dual`` gives tensors tangents and
    every op pushes them along; on leaving, all those tangents are dropped."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


_paused_levels = []         # levels set aside by paused(), innermost last


class paused:
    """Tangents stop flowing inside the block (a custom Function's forward runs so: its own
    ``jvp`` gives the output's tangent). Tangents already attached stay."""

    def __enter__(self):
        _paused_levels.append(ForwardMode.level)
        ForwardMode.level = None

    def __exit__(self, *exc):
        ForwardMode.level = _paused_levels.pop()
        return False


def active_level():
    """The active dual level, or ``None``."""
    return ForwardMode.level


def has_tangent(*values):
    """Whether a dual level is active and any of ``values`` is a tensor carrying a tangent."""
    return ForwardMode.level is not None and any(
        isinstance(v, TensorBase) and v._tangent is not None for v in values)


def attach(tensor, tangent):
    """Give ``tensor`` the tangent ``tangent`` (a tensor of its shape) at the active level."""
    ForwardMode.level.attach(tensor, tangent)


class MakeDual(Op):
    """out = x (the same numbers, a new tensor to carry a tangent)    ∂out/∂x = 1

    What ``make_dual`` and ``unpack_dual`` record: PyTorch's ``make_dual`` returns a view of its
    primal, so a gradient flows back through it to the primal (forward-over-reverse needs this)."""
    _name, op, formula, jvp_formula = "ViewBackward0", "make_dual", "x̄ = ḡ", "ẏ = ẋ"

    def forward(self, x):
        return x.view()

    def backward(self, math, g):
        return g

    def jvp(self, math, t):
        return t


def _alias(tensor):
    """A new tensor on ``tensor``'s numbers (and version counter), no tangent, its gradient
    flowing back to ``tensor``."""
    with paused():
        out = MakeDual.apply(tensor)
    out._vcs = tensor._vc           # an in-place change through either is seen by both
    return out


def make_dual(tensor, tangent, *, level=None):
    """A new tensor with ``tensor``'s numbers carrying ``tangent`` (the direction ẋ) at the active
    dual level. The tangent is kept as it is (not copied), as in PyTorch."""
    _check_dual(tensor, tangent, level)
    out = _alias(tensor)
    ForwardMode.level.attach(out, tangent)
    return out


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)``: the tensor's numbers without the tangent, and the tangent (``None``
    when it has none at the active level, or when no level is active)."""
    if not isinstance(tensor, TensorBase):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}. In forward "
                        "mode the function must compute its outputs with tensor operations and "
                        "return tensors (not Python numbers: no .item() or float() inside it).")
    active = ForwardMode.level
    if active is None or tensor._tangent is None or (level is not None and level != active.index):
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(_alias(tensor), tensor._tangent)


def _check_dual(tensor, tangent, level):
    """make_dual's arguments, each refused with what is wrong and how to fix it."""
    if not isinstance(tensor, TensorBase):
        raise TypeError(f"make_dual: the primal must be a Tensor, got {type(tensor).__name__}")
    if not isinstance(tangent, TensorBase):
        raise TypeError(f"make_dual: the tangent must be a Tensor with the primal's shape, got "
                        f"{type(tangent).__name__}; make one with autogradkit.tensor(...) or "
                        "ones_like(primal)")
    active = ForwardMode.level
    if active is None:
        raise RuntimeError(
            "make_dual: no dual level is active. Trying to create a dual Tensor for forward AD "
            "but no level exists: call it inside `with forward_ad.dual_level():` (or after "
            "forward_ad.enter_dual_level()), where tangents can flow.")
    if level is not None and level != active.index:
        raise RuntimeError(f"make_dual: level {level} is not the active dual level "
                           f"({active.index})")
    if tensor._tangent is not None:
        raise RuntimeError(
            f"make_dual: this tensor already has a tangent at the dual level {active.index}; "
            "making a dual tensor from a dual tensor at the same level is not supported (as in "
            "PyTorch). Use its primal: make_dual(unpack_dual(x).primal, tangent)")
    if tensor._data.dtype.kind not in "fc":
        raise TypeError(
            f"make_dual: the primal is an {tensor.dtype.name} tensor, but only floating-point "
            "tensors can carry a tangent (a derivative needs real numbers). Convert it first, "
            "e.g. x.double() (float64) or x.float() (float32).")
    if type(tangent._data) is not type(tensor._data):
        raise RuntimeError(
            f"make_dual: the tangent is on {tangent.device} but the primal is on {tensor.device}; "
            f"a tangent lives where its primal does. Move it: tangent.to({str(tensor.device)!r})")
    if tuple(tangent._data.shape) != tuple(tensor._data.shape):
        raise ValueError(
            f"make_dual: the tangent has shape {tuple(tangent._data.shape)} but the primal has "
            f"shape {tuple(tensor._data.shape)}. A tangent is a direction to move the primal in: "
            "one number per element of the primal, so the shapes must match.")
    if tangent._data.dtype != tensor._data.dtype:
        raise TypeError(
            f"make_dual: the tangent is {tangent.dtype.name} but the primal is "
            f"{tensor.dtype.name}; they must have the same dtype. Convert the tangent: "
            "tangent.to(primal.dtype)")
