"""st.distill on another device: teacher, student, validation inputs and best-epoch weights meet there.

torch's lazy-tensor backend stands in for a GPU (see tests/unit/core/test_devices.py). It cannot train
(a backward pass through a Python-scalar product fails there with "expected scalar type Double"), so a
scripted fit plays st.fit's part: it calls the hooks in st.fit's order, evaluates the distillation loss
on the device, and replaces training by fixed weight steps made on the CPU and moved to the model.
The same run with everything on the CPU is the oracle.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import slimtorch as st
from slimtorch.devices import device_of
from slimtorch.distillation import distill_report
from slimtorch.hooks import State


def _mlp(width, out, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, width), nn.ReLU(), nn.Linear(width, out))


class Encoder(nn.Module):
    def __init__(self, width, seed):
        super().__init__()
        self.net = _mlp(width, 8, seed)

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


class History:
    def __init__(self, model):
        self.model = model


def scripted_fit(model, data, cfg, hooks=()):
    """st.fit's hook order on the model's device; each epoch adds a fixed CPU-made step to every weight."""
    dev = device_of(model)
    state = State(model=model, device=dev)
    for h in hooks:
        h.on_fit_start(state)
    gen = torch.Generator().manual_seed(7)
    losses = []
    for epoch in range(cfg.epochs):
        state.epoch = epoch
        idx = torch.arange(min(cfg.batch_size, len(data)))
        state.inputs, state.targets, state.indices = data.x[idx].to(dev), data.y[idx].to(dev), idx
        for h in hooks:
            h.on_step_start(state)
        state.outputs = model(state.inputs)
        extras = [h.extra_loss(state) for h in hooks]
        losses.append(sum(float(e.detach().cpu()) for e in extras if e is not None))
        with torch.no_grad():
            for p in model.parameters():
                p.add_((0.3 * torch.randn(p.shape, generator=gen)).to(p.device))
        for h in hooks:
            h.on_epoch_end(state)
        if any(h.stop_training for h in hooks):
            break
    for h in hooks:
        h.finalize(state)
    model.losses = losses
    return History(model)


X = torch.randn(96, 6, generator=torch.Generator().manual_seed(3))
Y = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()


@pytest.mark.filterwarnings("ignore:distillation was not better")
@pytest.mark.parametrize("case", ["classifier", "encoder", "labels"])
def test_distill_on_another_device_matches_the_cpu_run(other, case):
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
        out = kd.drive(s, data, cfg, scripted_fit)  # what st.distill runs, with st.fit in it
        results[where] = (out, distill_report(out))
    (cpu, rep_cpu), (dev, rep_dev) = results["cpu"], results["other"]
    assert device_of(dev).type == "lazy"
    for k, v in cpu.state_dict().items():  # the kept (best or chosen) weights, restored on the device
        assert_close(dev.state_dict()[k].cpu(), v, rtol=1e-5, atol=1e-6)
    assert dev.losses == pytest.approx(cpu.losses, rel=1e-5, abs=1e-6)
    for key in ("kept_epoch", "choice", "kind", "loss"):
        assert rep_dev.get(key) == rep_cpu.get(key)
    if case != "labels":
        for a, b in zip(rep_dev["val_fidelity"], rep_cpu["val_fidelity"]):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
