"""st.distill on another device: teacher, student, validation inputs and best-epoch weights meet there.

torch's lazy-tensor backend stands in for a GPU (see tests/unit/core/test_devices.py). It traces a Python
scalar as a float64 constant, so a distillation loss scaled by Python floats (1/T, T², alpha, feature_weight)
made float64 gradient products and st.fit failed at the gradient norm ("expected scalar type Double"). The
same run with everything on the CPU is the oracle.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.devices import device_of
from slimtorch.distillation import distill_report
from slimtorch.training import distributed


def _mlp(width, out, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, width), nn.ReLU(), nn.Linear(width, out))


class Encoder(nn.Module):
    def __init__(self, width, seed):
        super().__init__()
        self.net = _mlp(width, 8, seed)

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


def _on(device, monkeypatch):
    """What TrainConfig(device="cuda") resolves to, with the stand-in device instead (None: the CPU run)."""
    monkeypatch.undo()
    if device is not None:
        monkeypatch.setattr(distributed, "pick_device", lambda name, *a: device)


X = torch.randn(96, 6, generator=torch.Generator().manual_seed(3))
Y = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()


@pytest.mark.slow  # 15-30 s each: the lazy backend traces every step of st.distill's fits
@pytest.mark.filterwarnings("ignore:distillation was not better")
@pytest.mark.parametrize("case", ["classifier", "encoder", "labels"])
def test_distill_on_another_device_matches_the_cpu_run(other, monkeypatch, case):
    make = (lambda w, s: Encoder(w, s)) if case == "encoder" else (lambda w, s: _mlp(w, 4, s))
    teacher, student = make(16, 0), make(8, 1)
    data = (X, Y) if case == "labels" else X
    cfg = st.TrainConfig(epochs=4, batch_size=16, quiet=True)
    results = {}
    for where in ("cpu", "other"):
        t, s = copy.deepcopy(teacher), copy.deepcopy(student)
        if where == "other":
            t, s = t.to(other), s.to(other)
        kd = st.Distill(t, alpha=1.0 if case != "labels" else 0.5, patience=None)
        _on(other if where == "other" else None, monkeypatch)
        out = st.distill(s, data, kd, cfg)
        monkeypatch.undo()
        results[where] = (out, distill_report(out))
    (cpu, rep_cpu), (dev, rep_dev) = results["cpu"], results["other"]
    assert device_of(dev).type == "lazy"
    for k, v in cpu.state_dict().items():  # the kept (best or chosen) weights, restored on the device
        assert_close(dev.state_dict()[k].cpu(), v, rtol=1e-4, atol=1e-5)
    first = next(iter(student.state_dict()))
    assert not torch.equal(cpu.state_dict()[first], student.state_dict()[first])  # it trained: not two no-ops
    for key in ("kept_epoch", "choice", "kind", "loss"):
        assert rep_dev.get(key) == rep_cpu.get(key)
    if case != "labels":
        for a, b in zip(rep_dev["val_fidelity"], rep_cpu["val_fidelity"]):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("kw", [dict(alpha=0.5, temperature=3.0), dict(alpha=0.7, features={"0": "0"})])
def test_fit_with_a_distill_hook_on_another_device_matches_the_cpu_run(other, monkeypatch, kw):
    teacher, student = _mlp(16, 4, 0), _mlp(8, 4, 1)
    cfg = st.TrainConfig(epochs=2, batch_size=16, quiet=True)
    runs = {}
    for where, device in (("cpu", None), ("other", other)):
        t, s = copy.deepcopy(teacher), copy.deepcopy(student)
        _on(device, monkeypatch)
        torch.manual_seed(0)  # the adapters' initial weights
        runs[where] = (s, st.fit(s, ArrayDataset(X, Y), cfg, hooks=[st.Distill(t.to(device or "cpu"), **kw)]))
        monkeypatch.undo()
    (cpu, h_cpu), (dev, h_dev) = runs["cpu"], runs["other"]
    assert device_of(dev).type == "lazy"
    for k, v in cpu.state_dict().items():
        assert_close(dev.state_dict()[k].cpu(), v, rtol=1e-4, atol=1e-5)
    for field in ("loss", "grad_norm"):
        assert getattr(h_dev, field) == pytest.approx(getattr(h_cpu, field), rel=1e-4, abs=1e-5)
    assert h_cpu.loss[-1] < h_cpu.loss[0]  # it trained: the comparison is not between two no-ops
