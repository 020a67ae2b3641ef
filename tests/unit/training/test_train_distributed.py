"""Single-process behaviour of the distributed helpers (the 2-process run is tests/integration/test_ddp.py)."""

import pytest
import torch
from torch import nn

from slimtorch.training import distributed as d


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


@pytest.mark.parametrize("name, index", [("cuda", 3), ("cuda:1", 1), ("auto", 3)])
def test_cuda_device_always_gets_an_index(monkeypatch, name, index):
    """torch.cuda.set_device refuses a bare "cuda" (found on a GPU machine): the current GPU's index is filled in."""
    seen = []
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    monkeypatch.setattr(torch.cuda, "set_device", lambda dev: seen.append(torch.device(dev)))
    device = d.pick_device(name)
    assert device == torch.device("cuda", index) and seen == [device]
