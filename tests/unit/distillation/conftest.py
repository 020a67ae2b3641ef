"""Fixtures of the distillation tests: tiny seeded data sets."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 1, 6, 6, generator=g)
    return x, (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()


@pytest.fixture
def vectors() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40, 6, generator=g)
    return x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
