"""Checkpoints: atomic files, no pickle, bit-identical resume, NaN stops with the last good checkpoint."""

import json

import pytest
import torch
from torch import nn
from train_helpers import blobs, mlp, params

from slimtorch.data.arrays import ArrayDataset
from slimtorch.hooks import Hook
from slimtorch.training import NonFiniteLossError, TrainConfig, fit
from slimtorch.training.checkpoint import join_tensors, load_checkpoint, save_checkpoint, split_tensors


class Crash(Exception):
    pass


class StopAt(Hook):
    """Simulates a killed run: raises at the first step of ``epoch`` (0-based)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_step_start(self, state):
        if state.epoch == self.epoch:
            raise Crash


class CountSteps(Hook):
    """A hook with state, to check hook states are checkpointed."""

    def __init__(self):
        self.steps = 0
        self.trace = torch.zeros(2)

    def on_step_end(self, state):
        self.steps += 1
        self.trace += 1

    def state_dict(self):
        return {"steps": self.steps, "trace": self.trace.clone(), "nested": {"t": (1, 2)}}

    def load_state_dict(self, state):
        self.steps, self.trace = state["steps"], state["trace"].clone()
        assert state["nested"] == {"t": (1, 2)}


def _cfg(out, **kw):
    base = dict(epochs=3, batch_size=16, optimizer="adam", lr=0.01, schedule="cosine", warmup_epochs=0.5,
                clip_norm=1.0, seed=1, quiet=True, device="cpu", out=str(out))
    return TrainConfig(**{**base, **kw})


def _dropout_mlp():
    torch.manual_seed(0)  # dropout makes the global RNG state part of what must be restored
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def test_resume_after_crash_is_bit_identical(tmp_path):
    data = blobs(n=64)
    full_hook = CountSteps()
    full = _dropout_mlp()
    fit(full, data, _cfg(tmp_path / "full"), hooks=[full_hook])

    with pytest.raises(Crash):
        fit(_dropout_mlp(), data, _cfg(tmp_path / "cut"), hooks=[CountSteps(), StopAt(1)])
    resumed_hook = CountSteps()
    resumed = _dropout_mlp()
    hist = fit(resumed, data, _cfg(tmp_path / "cut", resume=True), hooks=[resumed_hook])

    for a, b in zip(list(full.state_dict().values()), list(resumed.state_dict().values())):
        assert torch.equal(a, b)
    assert resumed_hook.steps == full_hook.steps == 12 and torch.equal(resumed_hook.trace, full_hook.trace)
    assert hist.epochs == [1, 2, 3]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_stop_after_one_epoch_then_resume_to_three(tmp_path):
    data = blobs(n=48)
    full = mlp()
    fit(full, data, _cfg(tmp_path / "a", optimizer="sgd", momentum=0.9, schedule="constant", warmup_epochs=0))
    part = mlp()
    fit(part, data, _cfg(tmp_path / "b", epochs=1, optimizer="sgd", momentum=0.9, schedule="constant", warmup_epochs=0))
    part = mlp(seed=5)  # a fresh process would rebuild the model: weights come from the checkpoint
    fit(part, data, _cfg(tmp_path / "b", optimizer="sgd", momentum=0.9, schedule="constant", warmup_epochs=0,
                         resume=True))
    for a, b in zip(params(full), params(part)):
        assert torch.equal(a, b)


def test_checkpoint_files_are_safetensors_and_json_only(tmp_path):
    fit(mlp(), blobs(n=32), _cfg(tmp_path, epochs=2))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-2.json", "ckpt-2.safetensors", "latest.json", "metrics.jsonl"]
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["epoch"] == 2 and ckpt["state"]["step"] == 4
    assert ckpt["state"]["rng"]["torch"].dtype == torch.uint8


def test_split_join_round_trip(tmp_path):
    obj = {"a": torch.arange(3), 0: [torch.ones(2, 2), None, 1.5], "t": (True, "x"), "s": torch.tensor(2.0)}
    tensors = {}
    back = join_tensors(json.loads(json.dumps(split_tensors(obj, "p", tensors))), tensors)
    assert back[0][1:] == [None, 1.5] and back["t"] == (True, "x")
    assert torch.equal(back["a"], obj["a"]) and torch.equal(back[0][0], obj[0][0]) and torch.equal(back["s"], obj["s"])
    with pytest.raises(TypeError, match=r"cannot store object at 'p.0'"):
        split_tensors({"k": object()}, "p", {})
    save_checkpoint(tmp_path, 1, obj)
    assert torch.equal(load_checkpoint(tmp_path)["state"]["a"], obj["a"])
    assert load_checkpoint(tmp_path / "none") is None


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path):
    x = torch.randn(32, 4)
    x[20] = float("nan")  # row 20 is in batch 3 (rows 16..23) of the unshuffled first epoch
    data = ArrayDataset(x, torch.zeros(32, dtype=torch.long))
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 3: training stopped; no checkpoint"):
        fit(mlp(), data, TrainConfig(epochs=2, batch_size=8, shuffle=False, quiet=True, device="cpu"))
    # with a run directory but before the first checkpoint: the message must not point at one
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 3: training stopped; no checkpoint was written") as e:
        fit(mlp(), data, TrainConfig(epochs=2, batch_size=8, shuffle=False, quiet=True, device="cpu",
                                     out=str(tmp_path / "early")))
    assert str(tmp_path) not in str(e.value) and load_checkpoint(tmp_path / "early") is None

    class Poison(Hook):
        def on_step_start(self, state):
            if state.epoch == 1:  # second epoch, after the first checkpoint was written
                state.model[0].weight.data[0, 0] = float("inf")

    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, step 5: .*last good checkpoint is in .* \(written after "
                                                 r"epoch 1\)"):
        fit(mlp(), blobs(n=32), _cfg(tmp_path, epochs=3, batch_size=8, schedule="constant", warmup_epochs=0,
                                     clip_norm=None), hooks=[Poison()])
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["state"]["model"].values() if t.is_floating_point())


def test_resume_with_changed_settings_is_refused(tmp_path):
    from slimtorch.config import ConfigError

    fit(mlp(), blobs(n=32), _cfg(tmp_path, epochs=1))
    with pytest.raises(ConfigError, match=r"resume: the checkpoint in .* settings \(lr: checkpoint 0.01 vs now 0.5"):
        fit(mlp(), blobs(n=32), _cfg(tmp_path, epochs=2, lr=0.5, resume=True))


def test_identical_fits_write_byte_identical_checkpoints(tmp_path):
    import random

    import numpy as np

    for i, name in enumerate(("a", "b")):
        np.random.seed(i)  # whatever the global RNGs held before the fit must not reach its checkpoint
        random.seed(i)
        fit(_dropout_mlp(), blobs(n=32), _cfg(tmp_path / name, epochs=2))
    a, b = (tmp_path / n / "ckpt-2.safetensors" for n in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("poison_row", [None, 45])
def test_accelerator_loss_path_matches_the_per_step_path(poison_row):
    """The no-host-sync path (windows of 32 steps, used on GPUs) gives the CPU path's loss and finds the
    same NaN step; run here on CPU by switching the path."""
    from slimtorch.training.epoch import train_epoch
    from slimtorch.training.run import build_run

    x, y = blobs(n=400).tensors
    if poison_row is not None:
        x = x.clone()
        x[poison_row] = float("nan")  # unshuffled, batch 8: row 45 is in step 6 of a 50-step epoch
    cfg = TrainConfig(epochs=1, batch_size=8, shuffle=False, quiet=True, device="cpu")
    results = []
    for per_step in (True, False):
        run = build_run(mlp(), ArrayDataset(x, y), cfg, [])
        run.loss_item_per_step = per_step
        try:
            results.append(train_epoch(run, 0))
        except NonFiniteLossError as err:
            results.append((err.epoch, err.step))
    if poison_row is None:
        assert results[1]["loss"] == pytest.approx(results[0]["loss"], rel=1e-6)
        assert results[1]["accuracy"] == pytest.approx(results[0]["accuracy"], rel=1e-12)
    else:
        assert results[0] == results[1] == (1, 6)


def test_resuming_with_another_model_is_one_line(tmp_path):
    """Other data sized the model (2 classes then, 10 now): a one-line ConfigError, not torch's size-mismatch dump."""
    from slimtorch.config import ConfigError

    x = torch.randn(16, 4)
    cfg = TrainConfig(epochs=1, batch_size=8, quiet=True, out=str(tmp_path))
    fit(nn.Linear(4, 2), ArrayDataset(x, torch.arange(16) % 2), cfg)
    with pytest.raises(ConfigError, match=r"^resume: the checkpoint in .* holds another model \(weight \[2, 4\] "
                                          r"vs now \[10, 4\]; bias \[2\] vs now \[10\]\)") as err:
        fit(nn.Linear(4, 10), ArrayDataset(x, torch.arange(16) % 10), cfg.replace(epochs=2, resume=True))
    assert "\n" not in str(err.value)
