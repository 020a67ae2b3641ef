"""Tiny problems shared by the trainer tests."""

from __future__ import annotations

import torch
from torch import nn

from slimtorch.data.arrays import ArrayDataset


def blobs(n: int = 96, dim: int = 4, classes: int = 3, seed: int = 0) -> ArrayDataset:
    """Separable Gaussian blobs: a classification problem a tiny MLP learns in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    centers = torch.randn(classes, dim, generator=g) * 3
    x = centers[y] + torch.randn(n, dim, generator=g)
    return ArrayDataset(x, y)


def mlp(dim: int = 4, classes: int = 3, hidden: int = 8, seed: int = 0, bn: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    norm = [nn.BatchNorm1d(hidden)] if bn else []
    layers = [nn.Linear(dim, hidden), *norm, nn.ReLU(), nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)


def least_squares(n: int = 8, dim: int = 3, seed: int = 0) -> tuple[ArrayDataset, nn.Linear]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * torch.randn(n, 1, generator=g)
    torch.manual_seed(seed)
    return ArrayDataset(x, y), nn.Linear(dim, 1)


def ls_grad(model: nn.Linear, data: ArrayDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand gradient of mean((x w^T + b - y)^2): 2/N X^T r and 2/N sum(r)."""
    x, y = data.tensors
    r = x @ model.weight.detach().T + model.bias.detach() - y
    n = len(x)
    return 2.0 / n * (r.T @ x), 2.0 / n * r.sum(0)


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]
