"""Seeing the graph: DOT/Graphviz rendering (``to_dot``). Imports nothing heavy until used."""
from .dot import to_dot, render

__all__ = ["to_dot", "render"]
