"""Activations beyond ReLU, tanh and sigmoid, with PyTorch's names and arguments: the stable
``softplus`` and ``logsigmoid`` (one op each), and ``leaky_relu``, ``elu``, ``silu`` composed of
recorded ops (so their gradients and forward-mode tangents come with those ops). Re-exported by
``nn.functional``; the modules ``nn.Softplus``, ``nn.LeakyReLU`` … call them. (Kept in a module of
their own so that the exercises whose learner writes one of them — ex5's LeakyReLU, ex8's
Softplus — can tell when an answer calls the library's instead.)"""
from __future__ import annotations

from .. import functional as _F
from ..ops import elementwise as _E


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, else a·x; the gradient at 0 is a (PyTorch's)."""
    return _F.where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, else α(eˣ − 1), with expm1 on min(x, 0) so that a large x overflows nothing
    in the branch it does not take (its gradient there would be 0·inf = NaN)."""
    return _F.where(input > 0, input, alpha * _F.expm1(input.clamp(max=0)))


def silu(input, inplace=False):
    """x·σ(x) (also called swish)."""
    return input * _F.sigmoid(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(βx))/β, without overflow for large x and exact for very negative x; x itself
    where βx > threshold (PyTorch's). Its gradient is σ(βx)."""
    return _E.Softplus.apply(input, beta=beta, threshold=threshold)


def logsigmoid(input):
    """log σ(x) = −softplus(−x), computed stably; its gradient is 1 − σ(x) = σ(−x)."""
    return _E.LogSigmoid.apply(input)
