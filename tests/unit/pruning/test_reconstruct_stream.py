"""Streamed calibration: checkpoints of the sequential pass change nothing, datasets that draw new rows
every pass and DataLoaders calibrate, held-out rows (Calibration.held) choose the ridge."""

import copy

import pytest
import torch
from residual_net import cut as _cut
from residual_net import model as _model
from torch import nn
from torch.utils.data import DataLoader, Dataset

import slimtorch as st
from slimtorch.pruning import reconstruct as rec
from slimtorch.pruning.calib_stream import Calibration, Stream
from slimtorch.pruning.sequential import walk


class Fresh(Dataset):
    """``n`` rows per pass, each a new random input (as PhotoCrops draws a new crop per row)."""

    def __init__(self, n: int):
        self.n, self.drawn = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        self.drawn += 1
        return torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(self.drawn)), -1


def _err(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).pow(2).mean())


@pytest.mark.parametrize("memory", [0, 1 << 30])
def test_checkpoints_or_restarts_give_the_per_layer_result(monkeypatch, memory):
    x = torch.randn(40, 3, 8, 8)
    original, fast, slow = _model(), _model(), _model()
    plan = _cut(fast)
    _cut(slow)
    info = rec.reconstruct(original, fast, plan, x, batch_size=16, memory=memory)
    monkeypatch.setattr(rec, "walk", lambda *a: False)
    rec.reconstruct(original, slow, plan, x, batch_size=16)
    assert info["pass"] == "sequential" and info["solved"] >= 3
    for (name, p), q in zip(fast.state_dict().items(), slow.state_dict().values()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize(("memory", "reads"), [(0, 5), (1 << 30, 1)])
def test_the_inputs_are_read_again_only_when_the_checkpoint_does_not_fit(memory, reads):
    original, net = _model(), _model()
    _cut(net)
    x, calls, seen = torch.randn(8, 3, 8, 8), [], []

    def batches():
        calls.append(1)
        return [(x[:4], 0), (x[4:], 1)]

    stops = {"1.a", "1.b", "2.a", "2.b", "5"}
    assert walk(original, net, batches, stops, lambda n, pairs: seen.append((n, len(list(pairs)))), memory)
    assert len(calls) == reads and seen == [(n, 2) for n in ("1.a", "1.b", "2.a", "2.b", "5")]


def test_a_dataset_drawing_new_rows_streams_every_pass_and_beats_plain_pruning():
    original, net = _model(), _model()
    plan = _cut(net)
    plain, data = copy.deepcopy(net), Fresh(64)
    info = rec.reconstruct(original, net, plan, data, batch_size=16, memory=0)  # every pass from new rows
    assert data.drawn > 3 * 64 and info["solved"] >= 3
    assert (info["rows"], info["held_rows"]) == (48, 16)  # every 4th batch of a pass held out
    held = torch.randn(64, 3, 8, 8)
    assert _err(net, original, held) < 0.7 * _err(plain, original, held)


def test_calibration_held_rows_choose_the_ridge_and_a_one_shot_iterator_is_read_once():
    original, a, b = _model(), _model(), _model()
    plan = _cut(a)
    _cut(b)
    x, held = torch.randn(48, 3, 8, 8), torch.randn(20, 3, 8, 8)
    info = rec.reconstruct(original, a, plan, Calibration(x, held=held), batch_size=16)
    assert (info["rows"], info["held_rows"]) == (48, 20)
    rec.reconstruct(original, b, plan, Calibration(iter(x.split(16)), held=held), batch_size=16)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)


def test_st_prune_reconstructs_from_a_dataloader():
    def fresh():
        m = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
                          nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(16, 5))
        torch.manual_seed(0)
        m.train()
        with torch.no_grad():
            for _ in range(3):
                m(torch.randn(32, 3, 8, 8) + 0.3)
        return m.eval()

    original, x, held = fresh(), torch.randn(2, 3, 8, 8), torch.randn(64, 3, 8, 8)
    cut = st.ChannelPrune(ratio=0.5, importance="l2")
    plain = st.prune(fresh(), cut, example_inputs=x)
    loader = DataLoader(Fresh(96), batch_size=16)
    rebuilt = st.prune(fresh(), cut.replace(reconstruct=True), example_inputs=x, calib_data=loader)
    assert _err(rebuilt, original, held) < _err(plain, original, held)


@pytest.mark.parametrize(("data", "message"), [(None, "needs calib_data"), ([], "holds no inputs"),
                                               (torch.empty(0, 3), "holds no inputs")])
def test_bad_streams_are_one_line(data, message):
    with pytest.raises(ValueError, match=message):
        Stream(data)


def test_calib_batches_batches_a_dataset_of_rows():
    batches = rec.calib_batches(Fresh(40), batch_size=16, limit=24)
    assert [tuple(b.shape) for b in batches] == [(16, 3, 8, 8), (8, 3, 8, 8)]
