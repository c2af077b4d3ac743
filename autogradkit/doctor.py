"""``autogradkit doctor``: is everything the course needs here? Each check says how to fix it."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


def _module_version(name):
    try:
        module = importlib.import_module(name)
    except Exception as exc:                    # ImportError, or a broken install
        return None, exc
    return getattr(module, "__version__", "installed"), None


def _python_check():
    ok = sys.version_info >= (3, 10)
    return Check("Python", ok, sys.version.split()[0],
                 "" if ok else "autogradkit needs Python 3.10 or newer", required=True)


def _package_check(module, label, fix, required=False):
    version, error = _module_version(module)
    if version is None:
        return Check(label, False, f"not importable ({type(error).__name__}: {error})", fix, required)
    return Check(label, True, str(version), required=required)


def _graphviz_check():
    dot = shutil.which("dot")
    if dot is None:
        return Check("Graphviz (dot)", False, "the `dot` program was not found",
                     "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
                     "`brew install graphviz` (macOS); without it graphs show as text")
    try:
        out = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
        version = (out.stderr or out.stdout).strip() or "installed"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("Graphviz (dot)", False, f"`dot -V` failed: {exc}", "reinstall Graphviz")
    return Check("Graphviz (dot)", True, version)


def _gpu_check():
    from . import backend
    try:
        import cupy  # noqa: F401
    except ModuleNotFoundError:
        return Check("CuPy / GPU", False, "CuPy is not installed (optional: only for device='cuda')",
                     "on a machine with an NVIDIA GPU: `pip install 'autogradkit[gpu]'`")
    except Exception as exc:
        return Check("CuPy / GPU", False, f"CuPy is installed but does not import ({exc})",
                     "check the CUDA version CuPy was built for (cupy-cuda12x needs CUDA 12)")
    if backend.cuda_available():
        return Check("CuPy / GPU", True, "CuPy can use a GPU: device='cuda' works")
    return Check("CuPy / GPU", False, f"CuPy is installed but found no usable GPU "
                 f"({backend._cupy_error})", "check `nvidia-smi`; or keep device='cpu'")


def run_checks():
    return [
        _python_check(),
        _package_check("numpy", "numpy", "`pip install numpy`", required=True),
        _graphviz_check(),
        _package_check("graphviz", "graphviz (Python package)", "`pip install graphviz`"),
        _package_check("matplotlib", "matplotlib", "`pip install matplotlib`"),
        _package_check("ipywidgets", "ipywidgets", "`pip install ipywidgets`"),
        _package_check("jupyterlab", "JupyterLab", "`pip install jupyterlab` (or run ./run setup)"),
        _gpu_check(),
    ]


def report(checks):
    """Print one line per check (and its fix); return the exit status (1 if a required one fails)."""
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else ("ERR" if c.required else "-- ")
        print(f"[{mark}] {c.name:<{width}}  {c.detail}")
        if not c.ok and c.fix:
            print(f"      {'':<{width}}  fix: {c.fix}")
    failed = [c for c in checks if c.required and not c.ok]
    print("\nautogradkit can run here." if not failed else
          "\nautogradkit cannot run here until the ERR lines are fixed.")
    return 1 if failed else 0
