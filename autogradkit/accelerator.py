"""``autogradkit.accelerator``: PyTorch's device-agnostic accelerator questions. The one
accelerator autogradkit knows is a CUDA GPU through CuPy; asking imports CuPy (once).

Tutorials start with::

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
"""
from . import backend

__all__ = ["current_accelerator", "is_available", "device_count"]


def is_available():
    """True when a GPU can be used here (CuPy installed and a GPU found)."""
    return backend.cuda_available()


def current_accelerator(check_available=False):
    """``device(type='cuda')`` when a GPU backend is usable here, else None (as PyTorch returns
    None on a machine without an accelerator). ``check_available`` is accepted for PyTorch's
    signature; the GPU is always checked, since CuPy is the only accelerator backend."""
    return backend.Device("cuda") if backend.cuda_available() else None


def device_count():
    """How many accelerators can be used: 1 with a GPU (autogradkit uses one), else 0."""
    return 1 if backend.cuda_available() else 0
