"""st.fit on a device that is not the CPU: torch's lazy-tensor backend (tests/conftest.py's ``other``)
stands in for a GPU. It traces a Python scalar as a float64 constant, so a loss scaled by a Python
float made float64 gradient products that failed at the gradient norm ("expected scalar type Float but
found Double"). The same run on the CPU is the oracle: same weights, losses and gradient norms."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.devices import device_of
from slimtorch.hooks import Hook
from slimtorch.training import distributed

X = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
Y = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()


class HalfTask(Hook):
    """A hook that only reweights the task loss (the trainer's own scalar product, as Distill's 1 - alpha)."""

    task_loss_weight = 0.5


def _fit(model, cfg, hooks, device, monkeypatch):
    if device is not None:  # what TrainConfig(device="cuda") resolves to, with the stand-in device instead
        monkeypatch.setattr(distributed, "pick_device", lambda name, *a: device)
    history = st.fit(model, ArrayDataset(X, Y), cfg, eval_data=ArrayDataset(X, Y), hooks=hooks)
    monkeypatch.undo()
    return history


@pytest.mark.parametrize("kw", [dict(optimizer="gd", lr=0.5), dict(grad_accum=2, momentum=0.9, nesterov=True),
                                dict(optimizer="adam", lr=1e-2, clip_norm=0.5, clip_value=0.1),
                                dict(clip_adaptive=0.05, schedule="cosine", hooks=True)])
def test_fit_on_another_device_matches_the_cpu_run(other, monkeypatch, kw):
    kw = dict(kw)
    hooks = [HalfTask()] if kw.pop("hooks", False) else []
    cfg = st.TrainConfig(epochs=2, batch_size=16, quiet=True, **kw)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    cpu, dev = copy.deepcopy(model), copy.deepcopy(model)
    h_cpu = _fit(cpu, cfg, hooks, None, monkeypatch)
    h_dev = _fit(dev, cfg, hooks, other, monkeypatch)
    assert device_of(dev).type == "lazy"
    for k, v in cpu.state_dict().items():
        assert_close(dev.state_dict()[k].cpu(), v, rtol=1e-4, atol=1e-5)
    for field in ("loss", "grad_norm", "eval_accuracy"):
        assert getattr(h_dev, field) == pytest.approx(getattr(h_cpu, field), rel=1e-4, abs=1e-5)
    assert h_cpu.loss[-1] < h_cpu.loss[0]  # it trained: the comparison is not between two no-ops
