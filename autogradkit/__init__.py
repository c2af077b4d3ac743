"""autogradkit: learn how automatic differentiation and backpropagation work, with a
PyTorch-shaped engine small enough to read.

    import autogradkit as torch
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad            # tensor([2., 4., 6.])
"""
import os as _os

from .dtypes import (float16, float32, float64, int8, int16, int32, int64, uint8, bool_,
                     DType, set_default_dtype, get_default_dtype)
from .backend import Device, device, set_default_device, get_default_device
from .tensor import Tensor, Size
from .creation import (tensor, as_tensor, from_numpy, zeros, ones, empty, full, zeros_like,
                       ones_like, full_like, rand, randn, normal, rand_like, randn_like, randint,
                       randperm,
                       arange, linspace, eye, manual_seed, get_rng_state, set_rng_state)
from .functional import *  # noqa: F401,F403  (the ops as functions: exp, sum, cat, …)
from .functional import __all__ as _functional_all
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode,
                       is_inference_mode_enabled)
from . import autograd, cuda, accelerator, functional
from .autograd import functional as _autograd_functional  # noqa: F401  (jacobian, hessian, …)
from . import func  # noqa: E402  (torch.func: grad, vjp, jvp, jacrev, jacfwd, hessian)
from . import nn, optim, data, utils  # noqa: E402  (after the core: they build on it)
from .serialization import save, load

# The speed shortcuts, all in autogradkit/fast.py, go in last, unless AUTOGRADKIT_REFERENCE=1
# asks for the reference path alone (the code a learner reads, and nothing else).
REFERENCE_MODE = _os.environ.get("AUTOGRADKIT_REFERENCE", "") not in ("", "0")
if not REFERENCE_MODE:
    from . import fast as _fast
    _fast.install()

float = float32      # PyTorch's aliases (these shadow the builtins only inside this module)
double = float64
half = float16
long = int64
int = int32
bool = bool_

__version__ = "0.1.0"

__all__ = ["Tensor", "Size", "DType", "Device", "device", "tensor", "as_tensor", "from_numpy",
           "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "full_like", "rand", "randn",
           "normal", "rand_like", "randn_like", "randint", "randperm", "arange", "linspace", "eye",
           "manual_seed", "get_rng_state", "set_rng_state", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode", "is_inference_mode_enabled",
           "autograd", "cuda", "accelerator", "set_default_device", "get_default_device",
           "float16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool_", "set_default_dtype", "get_default_dtype", "float", "double", "half",
           "long", "int", "bool", "save", "load", "functional", "func", "nn", "optim", "data", "utils"] + list(_functional_all)
