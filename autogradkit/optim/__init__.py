"""Optimizers with PyTorch's names and update rules: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``,
``Adagrad``; schedules in ``lr_scheduler``. Updates happen in place, without recording a graph."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
