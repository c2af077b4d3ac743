"""What an explorer adds to a drawing at one moment: the highlighted node, labels, edges.

Kept apart from ``dot.py`` so that both the drawing and the explorers' step models can use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Overlay:
    """What an explorer adds to a drawing at one moment of a replay."""
    current: str | None = None              # the node to highlight
    ran: set = field(default_factory=set)   # ops whose backward already ran
    extra: dict = field(default_factory=dict)       # id -> extra label lines
    grads: dict = field(default_factory=dict)       # tensor id -> gradient to show (or None)
    edge_labels: dict = field(default_factory=dict)  # (src, dst) -> label text
    hot_edges: set = field(default_factory=set)     # (src, dst) edges of the current step
    visible: set | None = None              # draw only these ids (forward explorer)
    slot_labels: bool = True                # name each op input slot at the arrow's head (①a …)
    show_grads: bool = True                 # False in the forward explorer (no backward yet)
    caption: str = ""
