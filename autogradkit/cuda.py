"""``autogradkit.cuda``: is a GPU usable here? (CuPy is imported only when this is asked.)"""
from . import backend


def is_available():
    """True when CuPy is installed and can use a GPU."""
    return backend.cuda_available()


def device_count():
    if not is_available():
        return 0
    xp = backend.load_cupy()
    try:
        return int(xp.cuda.runtime.getDeviceCount())
    except AttributeError:
        return 1


def check():
    """Raise a clear error saying how to fix things if no GPU can be used."""
    backend.load_cupy()
