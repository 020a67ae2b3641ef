"""fit: hook protocol, loss composition, accumulation, losses, early stopping, outputs on disk."""

import json
import math

import pytest
import torch
from torch import nn
from train_helpers import blobs, least_squares, mlp, params

from slimtorch.data.arrays import ArrayDataset
from slimtorch.hooks import Hook
from slimtorch.training import History, TrainConfig, fit


def _cfg(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "lr": 0.1, "quiet": True, "device": "cpu", **kw})


class Recorder(Hook):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, state):
        self.calls.append("fit_start")
        assert state.steps_per_epoch == 2 and state.total_steps == 4

    def on_step_start(self, state):
        self.calls.append("step_start")
        assert state.indices is not None and len(state.indices) == len(state.inputs) == len(state.targets)

    def extra_loss(self, state):
        self.calls.append("extra_loss")
        assert state.outputs.shape == (len(state.inputs), 3)

    def after_backward(self, state):
        self.calls.append("after_backward")
        assert all(p.grad is not None for p in state.model.parameters())

    def on_step_end(self, state):
        self.calls.append("step_end")

    def on_epoch_end(self, state):
        self.calls.append("epoch_end")
        assert "loss" in state.metrics

    def finalize(self, state):
        self.calls.append("finalize")


def test_hook_call_order():
    rec = Recorder()
    fit(mlp(), blobs(n=32), _cfg(), hooks=[rec])
    step = ["step_start", "extra_loss", "after_backward", "step_end"]
    assert rec.calls == ["fit_start"] + (step * 2 + ["epoch_end"]) * 2 + ["finalize"]


class L2Only(Hook):
    """Task loss weighted 0 and extra loss 0.5 ||w||^2: a gd step must give w (1 - lr)."""

    task_loss_weight = 0.0

    def extra_loss(self, state):
        return 0.5 * sum((p**2).sum() for p in state.model.parameters())


def test_task_loss_weight_and_extra_loss_compose():
    data, model = least_squares()
    before = params(model)
    fit(model, data, _cfg(optimizer="gd", loss="mse", epochs=1), hooks=[L2Only()])
    for b, a in zip(before, params(model)):
        torch.testing.assert_close(a, b * 0.9)


def test_finalize_may_replace_the_model():
    replacement = nn.Identity()

    class Swap(Hook):
        def finalize(self, state):
            return replacement

    hist = fit(mlp(), blobs(n=32), _cfg(), hooks=[Swap()])
    assert hist.model is replacement


def test_grad_accum_equals_bigger_batch():
    data = blobs(n=44)
    a, b = mlp(), mlp()
    fit(a, data, _cfg(batch_size=16, shuffle=False, momentum=0.9))
    # groups of 8 + 8 rows; the last group is 8 + 4 rows: chunk weights must still give the group mean
    fit(b, data, _cfg(batch_size=8, grad_accum=2, shuffle=False, momentum=0.9))
    for x, y in zip(params(a), params(b)):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_history_records_every_metric_and_loss_goes_down(tmp_path):
    data = blobs(n=144)
    train, test = ArrayDataset(data.x[:96], data.y[:96]), ArrayDataset(data.x[96:], data.y[96:])
    cfg = _cfg(epochs=4, lr=0.5, clip_norm=2.0, schedule="cosine", out=str(tmp_path))
    hist = fit(mlp(), train, cfg, eval_data=test)
    assert isinstance(hist, History) and len(hist) == 4
    assert hist.loss[-1] < hist.loss[0]
    assert hist.eval_accuracy[-1] > 0.8 and hist.accuracy[-1] > 0.8
    assert all(g > 0 for g in hist.grad_norm) and all(s > 0 for s in hist.samples_per_s)
    assert hist.lr[0] > hist.lr[-1]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == hist.rows() and hist.last()["epoch"] == 4


def test_losses_bce_mse_callable_and_label_smoothing():
    x = torch.randn(64, 2)
    yb = (x[:, :1] > 0).float()
    for loss in ("bce", "mse"):
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        if loss == "mse":
            model.append(nn.Sigmoid())
        hist = fit(model, ArrayDataset(x, yb), _cfg(loss=loss, epochs=5, lr=0.5))
        assert hist.loss[-1] < hist.loss[0] and hist.accuracy[-1] > 0.8
    hist = fit(mlp(), blobs(n=32), _cfg(loss=lambda out, y: nn.functional.cross_entropy(out, y)))
    assert math.isnan(hist.accuracy[0]) and math.isfinite(hist.loss[0])
    smooth = fit(mlp(), blobs(n=32), _cfg(epochs=1, lr=1e-9, label_smoothing=0.2))
    plain = fit(mlp(), blobs(n=32), _cfg(epochs=1, lr=1e-9))
    assert smooth.loss[0] != pytest.approx(plain.loss[0])


def test_bf16_autocast_trains():
    hist = fit(mlp(), blobs(n=64), _cfg(bf16=True, epochs=3))
    assert hist.loss[-1] < hist.loss[0]


def test_early_stopping_stops_when_eval_loss_stalls():
    hist = fit(mlp(), blobs(n=32), _cfg(epochs=10, lr=1e-12, early_stopping=2), eval_data=blobs(n=16, seed=2))
    assert hist.stopped_early and len(hist) == 3  # best at 1, two epochs without improvement


def test_errors():
    with pytest.raises(ValueError, match="train_data is empty"):
        fit(mlp(), ArrayDataset(torch.zeros(0, 4), torch.zeros(0)), _cfg())
    frozen = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(frozen, blobs(n=8), _cfg())


@pytest.mark.parametrize("y, loss, match", [
    (torch.tensor([0, 1, -1, 2] * 4), "cross_entropy", r"^train_data: got label -1; allowed: class ids 0, 1"),
    (torch.tensor([0.0, 1.5, 1.0, 2.0] * 4), "cross_entropy", r"^train_data: .* got label 1.5 \(for regression"),
    (torch.tensor([0.0, 1.0, float("nan"), 1.0] * 4), "mse", r"^train_data: labels hold NaN or inf"),
    (torch.tensor([0.0, 2.0, 1.0, 1.0] * 4), "bce", r"^train_data: loss 'bce' needs targets in \[0, 1\]"),
])
def test_labels_checked_before_training(y, loss, match):
    model, rec = mlp(), Recorder()
    before = params(model)
    data = torch.utils.data.TensorDataset(torch.randn(16, 4), y)
    with pytest.raises(ValueError, match=match) as err:
        fit(model, data, _cfg(loss=loss), hooks=[rec])
    assert "\n" not in str(err.value) and rec.calls == []  # one line; nothing ran
    assert all(torch.equal(a, b) for a, b in zip(before, params(model)))
    with pytest.raises(ValueError, match=r"^eval_data: got label -1"):
        fit(model, blobs(n=16), _cfg(), eval_data=ArrayDataset(torch.randn(4, 4), torch.tensor([0, -1, 1, 0])))


def test_quiet_false_prints_one_line_per_epoch(capsys):
    fit(mlp(), blobs(n=32), _cfg(quiet=False), eval_data=blobs(n=8))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  loss ") and "eval_acc" in lines[1]


def test_submodule_modes_set_by_hooks_survive_epochs_and_evaluation():
    class FreezeBN(Hook):
        def on_epoch_end(self, state):
            state.model[1].eval()  # e.g. QAT freezing BN statistics after an epoch

    model = mlp(bn=True)
    fit(model, blobs(n=32), _cfg(epochs=3), eval_data=blobs(n=8), hooks=[FreezeBN()])
    assert model.training and not model[1].training
    assert model[1].num_batches_tracked.item() == 2  # only the first epoch's 2 steps updated the statistics


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from slimtorch.training.reporting import Progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not Progress(True).enabled
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert Progress(True).enabled and not Progress(False).enabled
