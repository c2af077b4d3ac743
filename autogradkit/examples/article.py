"""The source article's training example as a function, for the course, the CLI and tests.

The network and loop are the article's (``article_program.py`` holds its exact text):
``Linear(10, 20) → relu → Linear(20, 1)``, ``MSELoss``, ``SGD(lr=0.01)``, data ``randn(100, 10)``
and ``randn(100, 1)``, 1000 epochs of forward → loss → backward → step → zero_grad.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import autogradkit as torch
import autogradkit.nn as nn
import autogradkit.optim as optim
from pathlib import Path

PROGRAM = Path(__file__).with_name("article_program.py")


class Net(nn.Module):
    """The article's network: Linear(10, 20) → relu → Linear(20, 1)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 20)
        self.fc2 = nn.Linear(20, 1)

    def forward(self, x):
        x = self.fc1(x)              # (100, 20)
        x = torch.relu(x)
        x = self.fc2(x)              # (100, 1)
        return x


@dataclass
class TrainingRun:
    net: Net
    x: object
    y: object
    losses: list = field(default_factory=list)


def make_data(seed=0, dtype=None, device=None):
    """The article's data, x = randn(100, 10) and y = randn(100, 1), seeded."""
    torch.manual_seed(seed)
    return torch.randn(100, 10, dtype=dtype, device=device), torch.randn(100, 1, dtype=dtype, device=device)


def train(epochs=1000, lr=0.01, seed=0, dtype=None, device=None, net=None, data=None,
          callback=None):
    """Run the article's loop; return the network, the data and the loss of every epoch.

    ``callback(epoch, loss_value)`` is called after every epoch (for progress bars and plots).
    """
    torch.manual_seed(seed)
    if net is None:
        net = Net()
        if dtype is not None or device is not None:
            net.to(device=device, dtype=dtype)
    x, y = data if data is not None else make_data(seed + 1, dtype, device)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=lr)
    run = TrainingRun(net, x, y)
    for epoch in range(epochs):
        y_pred = net(x)
        loss = criterion(y_pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        value = loss.item()
        run.losses.append(value)
        if callback is not None:
            callback(epoch, value)
    return run
