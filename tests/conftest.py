"""Shared test setup: one thread (2-core machines run several things at once), seeded torch."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def other():
    """A device that is not the CPU (the lazy-tensor backend), standing in for ``cuda``.

    Session-wide: torch's lazy backend registers its fallback once per process, and a second ``init()``
    raises, so every test module asking for another device shares this one.
    """
    ts_backend = pytest.importorskip("torch._lazy.ts_backend")
    ts_backend.init()
    dev = torch.device("lazy")
    with pytest.raises(RuntimeError):  # really another device: CPU inputs are refused, as on a GPU
        torch.nn.Linear(2, 2).to(dev)(torch.ones(1, 2))
    return dev
