"""Making tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``*_like``, ``rand``, ``randn``,
``arange``, ``linspace``, ``eye``. Floating-point data defaults to float32, as in PyTorch; every
random function draws from one generator that ``manual_seed`` resets, so results repeat."""
from __future__ import annotations

import numpy as np

from . import backend, dtypes
from .tensor import Tensor

_generator = np.random.default_rng(0)


class SeedInfo:
    """What ``manual_seed`` returns (PyTorch returns its generator): the seed, with a stable repr
    so that a notebook cell ending in ``manual_seed(0)`` prints the same thing every run."""

    def __init__(self, seed):
        self.seed = seed

    def initial_seed(self):
        return self.seed

    def __repr__(self):
        return f"<autogradkit generator, seed {self.seed}>"


def manual_seed(seed):
    """Reset the random generator: every later ``rand``/``randn``/… call repeats exactly."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return SeedInfo(int(seed))


def default_generator():
    return _generator


backend._generator_source = default_generator   # so Tensor.uniform_/normal_ (below) draw from it


def get_rng_state():
    """The random generator's state (a dict), to restore later with ``set_rng_state``."""
    return _generator.bit_generator.state


def set_rng_state(state):
    """Restore a state from ``get_rng_state``: the next random numbers repeat from there."""
    _generator.bit_generator.state = state


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (numbers, nested lists, an array or a tensor), on
    ``device``, else the default device (``set_default_device``); a tensor stays where it is."""
    if device is None and not isinstance(data, Tensor):
        device = backend.default_device_or(None)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor: a tensor already of that dtype and device is returned as it is; a
    tensor on another device or of another dtype is converted with ``to`` (keeping its history)."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a numpy array (no copy)."""
    if type(array) is not np.ndarray:
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    dtypes.from_numpy(array.dtype)
    return Tensor._make(array)


def _sizes(size, op, size_kw=None):
    """The sizes as given positionally (``zeros(2, 3)``, ``zeros((2, 3))``) or by keyword
    (``zeros(size=(2, 3))``, as PyTorch also accepts)."""
    if size_kw is not None:
        if size:
            raise TypeError(f"{op}: give the sizes positionally or as size=, not both")
        if not isinstance(size_kw, (tuple, list)):         # PyTorch wants a sequence here too
            raise TypeError(f"{op}: size= must be a tuple of ints, got {type(size_kw).__name__}")
        size = (tuple(size_kw),)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0:
            raise ValueError(f"{op}: sizes must be non-negative integers, got {size!r}")
    return tuple(int(s) for s in size)


def _finish(arr, dtype, device, requires_grad):
    device = backend.default_device_or(device)
    np_dtype = dtypes.to_numpy(dtype) if dtype is not None else arr.dtype
    if device is not None and backend.Device(device).type != "cpu":
        arr = backend.to_device(arr, device)
    t = Tensor._make(arr.astype(np_dtype, copy=False))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return dtypes.to_numpy(dtype) if dtype is not None else dtypes.default_float.numpy


def zeros(*sizes, dtype=None, device=None, requires_grad=False, size=None):
    return _finish(np.zeros(_sizes(sizes, "zeros", size), _float_dtype(dtype)), None, device, requires_grad)


def ones(*sizes, dtype=None, device=None, requires_grad=False, size=None):
    return _finish(np.ones(_sizes(sizes, "ones", size), _float_dtype(dtype)), None, device, requires_grad)


def empty(*sizes, dtype=None, device=None, requires_grad=False, size=None):
    return zeros(*sizes, dtype=dtype, device=device, requires_grad=requires_grad, size=size)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else dtypes.default_float)
    size = _sizes((size,) if isinstance(size, (int, np.integer)) else tuple(size), "full")
    return _finish(np.full(size, fill_value, dtypes.to_numpy(dtype)), None, device, requires_grad)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(*t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return ones(*t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(tuple(t.shape), fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def rand(*sizes, dtype=None, device=None, requires_grad=False, generator=None, size=None):
    """Uniform on [0, 1). Drawn on the CPU, so the same seed gives the same numbers on every device."""
    g = generator if generator is not None else _generator
    dt = _float_dtype(dtype)
    return _finish(g.random(_sizes(sizes, "rand", size), dtype=np.float64).astype(dt), None, device,
                   requires_grad)


def randn(*sizes, dtype=None, device=None, requires_grad=False, generator=None, size=None):
    """Standard normal. Drawn on the CPU, so the same seed gives the same numbers on every device."""
    g = generator if generator is not None else _generator
    dt = _float_dtype(dtype)
    return _finish(g.standard_normal(_sizes(sizes, "randn", size)).astype(dt), None, device, requires_grad)


def normal(mean, std, size, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Numbers drawn from N(mean, std²) in the shape ``size``, from the same generator as
    ``randn`` (so ``manual_seed`` repeats them): ``mean + std · randn(size)``. This is PyTorch's
    form with a number mean and std; its forms with tensor means/stds are not provided."""
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(f"normal: {name} must be a number here, got {type(v).__name__}")
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    g = generator if generator is not None else _generator
    draw = float(mean) + float(std) * g.standard_normal(_sizes((), "normal", size))
    return _finish(draw.astype(_float_dtype(dtype)), None, device, requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return rand(*t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return randn(*t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None, requires_grad=False):
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``, as PyTorch (int64 by default)."""
    if isinstance(high, (tuple, list)):          # randint(10, (3,)): PyTorch's (high, size) form
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    g = generator if generator is not None else _generator
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    arr = g.integers(low, high, size=_sizes(size, "randint"), dtype=np.int64)
    return _finish(arr, dtype, device, requires_grad)


def randperm(n, dtype=None, device=None, generator=None):
    g = generator if generator is not None else _generator
    return _finish(g.permutation(int(n)).astype(np.int64), dtype, device, False)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Evenly spaced values in [start, end): integers if all arguments are integers."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    values = (start, end, step)
    is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    if dtype is None:
        dtype = dtypes.int64 if is_int else dtypes.default_float
    return _finish(np.arange(start, end, step, dtype=np.float64 if not is_int else np.int64),
                   dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` values evenly spaced from ``start`` to ``end``, both included."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    return _finish(np.linspace(start, end, int(steps)), _float_dtype(dtype), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The identity matrix (n × m, m = n by default)."""
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), None, device, requires_grad)
