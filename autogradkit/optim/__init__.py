"""Optimizers with PyTorch's names and update rules: ``SGD``, ``Adam``, ``AdamW``; schedules in
``lr_scheduler``. Updates happen in place, without recording a graph."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
