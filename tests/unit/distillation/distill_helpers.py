"""Tiny models, data and a hand-written training loop that drives hooks in the documented order."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimtorch.hooks import State


class SmallCNN(nn.Module):
    """conv(width) -> relu -> conv(width) -> relu -> pool -> linear; ``width`` varies to mimic channel pruning."""

    def __init__(self, width: int = 8, classes: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def mlp(width: int = 16, classes: int = 4, d_in: int = 6) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, classes))


def run_loop(
    model: nn.Module,
    hooks: list,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 2,
    batch: int = 8,
    lr: float = 0.1,
    shuffle: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> State:
    """Train like st.fit does: hook calls in the order of slimtorch.hooks.Hook's docstring."""
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    state = State(model=model, optimizer=opt, steps_per_epoch=(len(x) + batch - 1) // batch)
    for h in hooks:
        h.on_fit_start(state)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        state.epoch = epoch
        model.train()
        order = torch.randperm(len(x), generator=gen) if shuffle else torch.arange(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            state.inputs, state.targets, state.indices = x[idx], y[idx], idx
            for h in hooks:
                h.on_step_start(state)
            state.outputs = model(state.inputs)
            weight = 1.0
            for h in hooks:
                weight *= h.task_loss_weight
            loss = weight * F.cross_entropy(state.outputs, state.targets)
            for h in hooks:
                extra = h.extra_loss(state)
                if extra is not None:
                    loss = loss + extra
            state.loss = loss
            opt.zero_grad()
            loss.backward()
            for h in hooks:
                h.after_backward(state)
            opt.step()
            for h in hooks:
                h.on_step_end(state)
            state.step += 1
        for h in hooks:
            h.on_epoch_end(state)
    for h in hooks:
        replacement = h.finalize(state)
        if replacement is not None:
            state.model = replacement
    return state
