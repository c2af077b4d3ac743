"""Automatic differentiation: the graph, the backward pass, and tools around it."""
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode,
                        is_inference_mode_enabled)
from .api import backward, grad
from .function import Function, FunctionCtx
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .node import Node, AccumulateGrad, Op
from .trace import trace_backward, BackwardTrace
from .anomaly_mode import (detect_anomaly, set_detect_anomaly, is_anomaly_enabled,
                           is_anomaly_check_nan_enabled)
from . import forward_ad  # noqa: F401  (forward mode: dual_level, make_dual, unpack_dual)
from . import graph  # noqa: F401  (saved_tensors_hooks, save_on_cpu, saved_nbytes)

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "backward", "grad",
           "Function", "FunctionCtx", "gradcheck", "gradgradcheck", "GradcheckError", "Node",
           "AccumulateGrad", "Op", "trace_backward", "BackwardTrace", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]
