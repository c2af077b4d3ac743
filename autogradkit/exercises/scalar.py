"""A tiny scalar autodiff engine: the reference the chapter-3 exercise checks against.

Each ``Value`` holds a number (``data``), its gradient (``grad``, ∂L/∂value once backward has
run), the values it was made from (``_prev``), the op's name (``_op``), a ``label`` for reports,
and ``_backward``: a function that sends ``out.grad`` on to the inputs by the op's local rule
(the micrograd design: the rule is a closure made when the op runs).

Ops: ``+ − · /``, unary minus, ``tanh`` and ``exp``. The exercise's learner writes rules and a
backward pass of their own; the checks build graphs out of these Values (whose own rules are
right) and compare — and fail an answer that calls these rules or this ``backward`` instead of
doing the work.
"""
from __future__ import annotations

import math


class Value:
    __slots__ = ("data", "grad", "_prev", "_op", "label", "_backward")

    def __init__(self, data, _prev=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._op = _op
        self.label = label
        self._backward = _nothing

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():                       # ∂out/∂a = 1, ∂out/∂b = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                       # ∂out/∂a = b, ∂out/∂b = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward():                       # ∂out/∂a = 1, ∂out/∂b = −1
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():                       # ∂out/∂a = 1/b, ∂out/∂b = −a/b²
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / other.data ** 2
        out._backward = _backward
        return out

    def __neg__(self):
        out = Value(-self.data, (self,), "neg")

        def _backward():                       # ∂out/∂a = −1
            self.grad -= out.grad
        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):                 # 2 − a
        return Value(other) - self

    def __rtruediv__(self, other):             # 2 / a
        return Value(other) / self

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():                       # ∂out/∂a = 1 − tanh²(a)
            self.grad += (1 - out.data ** 2) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():                       # ∂out/∂a = e^a, which is out itself
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.4g}, grad={self.grad:.4g})"


def _nothing():
    pass


def topological_order(root):
    """Every node reachable from ``root``, each after all of its inputs (iterative DFS)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in node._prev:
            if id(child) not in seen:
                stack.append((child, False))
    return order


def backward(root):
    """The reference backward pass: ∂root/∂root = 1, then every node's rule, outputs first."""
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        node._backward()
