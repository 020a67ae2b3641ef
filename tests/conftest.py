"""Shared test setup: one thread (2-core machines run several things at once), seeded torch."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
