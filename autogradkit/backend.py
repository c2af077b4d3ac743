"""The only place that chooses an array library: numpy on the CPU, CuPy on a GPU.

Every op gets its array module from the arrays it is given (``array_module``), so no op has
a separate code path per device. CuPy is imported lazily, the first time a tensor is put on
``"cuda"``; its absence, or a machine without a GPU, gives a clear message instead of a crash.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Device", "device", "array_module", "device_of", "to_device", "sign_of",
           "CudaUnavailableError", "set_default_device", "get_default_device"]


class CudaUnavailableError(RuntimeError):
    """Raised when a tensor is sent to "cuda" on a machine where CuPy or a GPU is missing."""


class Device:
    """Where a tensor's numbers live: ``device(type='cpu')``, ``device(type='cuda')`` (the current
    GPU, no index, as PyTorch) or ``device(type='cuda', index=0)`` (what a tensor on the GPU reports).

    As in PyTorch, ``device('cuda').index`` is None and prints as ``cuda``. Unlike PyTorch,
    ``device('cuda') == device('cuda:0')`` is True: autogradkit has one GPU, so both name it.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda', got {spec!r}")
        kind, _, num = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {spec!r}; use 'cpu' or 'cuda'")
        if num:
            if not num.isdigit():
                raise ValueError(f"device: bad device index in {spec!r}; write e.g. 'cuda:0'")
            index = int(num)
        if kind == "cpu":
            index = None
        elif index is not None and index != 0:
            raise ValueError(f"device: autogradkit uses one GPU, 'cuda:0'; got {spec!r}")
        self.type, self.index = kind, index

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and self.type == other.type

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


device = Device
CPU = Device("cpu")
CUDA = Device("cuda", 0)      # what a tensor on the GPU reports as its device

# ---- the default device (PyTorch's set_default_device) --------------------------------------
_default_device = CPU


def set_default_device(device):
    """Where creation functions (``tensor``, ``zeros``, ``randn``, …, and so ``nn.Linear``'s
    parameters) put their tensors when no ``device=`` is given. ``None`` means ``"cpu"`` again.
    Setting ``"cuda"`` needs no GPU yet; making a tensor there without one raises the usual
    ``CudaUnavailableError`` that says how to fix it."""
    global _default_device
    _default_device = CPU if device is None else Device(device)


def get_default_device():
    """The device creation functions use when none is given (``device(type='cpu')`` at start)."""
    d = _default_device
    return CUDA if d.type == "cuda" else d


def default_device_or(device):
    """``device`` when given, else the default device (``None`` while that is the CPU: no move)."""
    if device is not None:
        return device
    return None if _default_device.type == "cpu" else _default_device


# ---- autogradkit's random generator, for the layers below ``creation`` ---------------------
_generator_source = None    # set by ``creation``: a function returning the global generator


def default_generator():
    """The generator ``manual_seed`` resets (it lives in ``creation``; ``Tensor.uniform_`` sits
    below that layer and reaches it through here)."""
    return _generator_source()

# ---- lazy, guarded CuPy ---------------------------------------------------------------
_cupy = None            # the module once loaded
_cupy_error = None      # why it could not be loaded (an exception), kept for the message


def load_cupy():
    """Import CuPy on first use; raise ``CudaUnavailableError`` (saying how to fix it) if we can't."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy
            cupy.zeros(1)  # fails here, not later, when there is no usable GPU
            _cupy = cupy
            return cupy
        except Exception as exc:  # ImportError, CUDARuntimeError, ...
            _cupy_error = exc
    raise CudaUnavailableError(_cuda_help(_cupy_error))


def _cuda_help(exc):
    if isinstance(exc, ModuleNotFoundError) and exc.name == "cupy":
        return ("CUDA is not available: CuPy is not installed. On a machine with an NVIDIA GPU run "
                "`pip install 'autogradkit[gpu]'` (CuPy for CUDA 12), or keep using device='cpu'.")
    if isinstance(exc, ImportError):   # installed, but it (or a CUDA library it needs) won't load
        return (f"CUDA is not available: CuPy is installed but could not be imported ({exc}). "
                "Check that the CuPy package matches your CUDA version (`pip install "
                "'autogradkit[gpu]'` is CuPy for CUDA 12) and that the NVIDIA driver works "
                "(`nvidia-smi`), or keep using device='cpu'.")
    return (f"CUDA is not available: CuPy is installed but found no usable GPU ({exc}). "
            "Check `nvidia-smi`, or keep using device='cpu'.")


def cuda_available():
    try:
        load_cupy()
        return True
    except CudaUnavailableError:
        return False


def _use_cupy_module(module):
    """Install an array module as the "cuda" backend (tests use a strict stand-in for CuPy)."""
    global _cupy, _cupy_error
    _cupy, _cupy_error = module, None


def _forget_cupy():
    global _cupy, _cupy_error
    _cupy = _cupy_error = None


# ---- dispatch ---------------------------------------------------------------------------
def array_module(array):
    """numpy for a numpy array (or scalar), the GPU module for anything else (CuPy or the test
    stand-in)."""
    if type(array) is np.ndarray or isinstance(array, np.generic):
        return np
    return load_cupy()


def sign_of(xp, x):
    """−1, 0 or 1, and 0 for NaN (PyTorch's sign; numpy's gives NaN)."""
    s = xp.sign(x)
    return s if s.dtype.kind not in "fc" else xp.where(s == s, s, 0)


def device_of(array):
    return CPU if type(array) is np.ndarray or isinstance(array, np.generic) else CUDA


def module_for(dev):
    return np if Device(dev).type == "cpu" else load_cupy()


def to_device(array, dev):
    """Copy ``array`` to device ``dev`` (no copy when it is already there)."""
    dev = Device(dev)
    if dev.type == "cpu":
        if type(array) is np.ndarray:
            return array
        if isinstance(array, np.generic):
            return np.asarray(array)
        return array.get()
    xp = load_cupy()
    return xp.asarray(array)
