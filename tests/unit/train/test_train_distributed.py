"""Single-process behaviour of the distributed helpers (the 2-process run is tests/integration/test_ddp.py)."""

import pytest
import torch
from torch import nn

from slimtorch.train import distributed as d


def test_single_process_without_torchrun(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert not d.launched_by_torchrun()
    info = d.setup(torch.device("cpu"))
    assert (info.rank, info.world_size, info.enabled, info.is_main) == (0, 1, False, True)
    model = nn.Linear(2, 2)
    assert d.wrap(model, info, torch.device("cpu")) is model and d.unwrap(model) is model
    torch.testing.assert_close(d.all_reduce_sum(torch.tensor([1.0, 2.0]), info), torch.tensor([1.0, 2.0]))


def test_torchrun_environment_is_detected(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert d.launched_by_torchrun()


def test_device_choice():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert d.pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda' was asked for but torch sees no CUDA device"):
            d.pick_device("cuda")
