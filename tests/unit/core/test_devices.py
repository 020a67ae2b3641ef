"""Stage boundaries move models and data on purpose (issue 14, GPU paths), checked without a GPU.

torch's lazy-tensor device stands in for CUDA: it is a second real device, it moves to and from the
CPU, and mixing it with CPU tensors fails the way CUDA does ("Input tensor is not a lazy tensor:
torch.FloatTensor" for "Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor)").
Each test runs the same work with the model on the CPU as the oracle. (The lazy device does not
update BatchNorm running statistics in train mode, so BN re-estimation on a GPU is left to
scripts/gpu_smoke.py.)
"""

import copy
import json

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch import devices
from slimtorch.pipeline import runner
from slimtorch.recipe import parse_recipe


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)).eval()


X = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_device_helpers():
    model = nn.Linear(2, 2)
    assert devices.device_of(model) == devices.CPU and devices.device_of(nn.ReLU()) == devices.CPU
    assert devices.on_cpu(model) is model  # no copy when nothing has to move
    moved = devices.to_device({"a": (X, [X]), "b": 3}, "cpu")
    assert moved["b"] == 3 and moved["a"][1][0] is X


def test_gpu_trained_model_pruned_there_then_quantized_with_cpu_calibration(other):
    """The issue's failure: trained and pruned on the accelerator, calibrated with CPU data."""
    ref = net()
    model = copy.deepcopy(ref).to(other)
    small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=X.to(other))
    small_ref = st.prune(ref, st.ChannelPrune(ratio=0.5), example_inputs=X)
    assert devices.device_of(small) == devices.device_of(model)  # pruning worked where the model is
    q = st.quantize(small, st.Int8(backend="integer"), calib_data=X)  # CPU data: calibrated on a CPU copy
    q_ref = st.quantize(small_ref, st.Int8(backend="integer"), calib_data=X)
    assert devices.device_of(small).type == "lazy"  # the caller's model was not moved
    torch.testing.assert_close(q(X), q_ref(X), atol=1e-4, rtol=0)
    q_dev = st.quantize(small, st.Int8(backend="integer"), calib_data=X.to(other))  # accelerator data too
    torch.testing.assert_close(q_dev(X), q_ref(X), atol=1e-4, rtol=0)


def test_prune_moves_cpu_inputs_and_labelled_batches_to_the_model(other):
    ref = net()
    model = copy.deepcopy(ref).to(other)
    batches = [(X, torch.arange(16) % 10)]
    cfg = st.ChannelPrune(ratio=0.5, importance="taylor")
    small = st.prune(model, cfg, example_inputs=X, data=batches)
    small_ref = st.prune(ref, cfg, example_inputs=X, data=batches)
    assert devices.device_of(small).type == "lazy"
    assert [p.shape for p in small.parameters()] == [p.shape for p in small_ref.parameters()]
    torch.testing.assert_close(small(X.to(other)).cpu(), small_ref(X), atol=1e-5, rtol=1e-5)


def test_measure_and_export_run_on_the_cpu(other, tmp_path):
    ref = net()
    model = copy.deepcopy(ref).to(other)
    test = st.data.arrays.ArrayDataset(X, torch.arange(16) % 10)
    got = st.measure(model, eval_data=test, latency=False)
    want = st.measure(ref, eval_data=test, latency=False)
    assert devices.device_of(model).type == "lazy"  # measured as a CPU copy
    assert got["accuracy"] == pytest.approx(want["accuracy"]) and got["params"] == want["params"]
    assert any("measured on the CPU" in n for n in got["notes"])
    path = st.export_onnx(model, tmp_path / "m.onnx", example_inputs=X)  # CPU inputs, accelerator model
    assert path.stat().st_size > 0


RECIPE = {
    "model": {"name": "mlp", "widths": [64, 32, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 256, "test_subset": 128},
    "train": {"epochs": 1, "optimizer": "sgd", "lr": 0.1, "quiet": True, "device": "cpu"},
    "stages": ["train", {"channel_prune": {"ratio": 0.5}}, "export_onnx", {"int8": {"backend": "integer"}},
               {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [1], "backends": ["eager"],
                            "sensitivity": False}}],
    "report": {"plots": False},
}


def test_pipeline_with_a_stage_that_leaves_its_model_on_the_accelerator(other, tmp_path, monkeypatch):
    """train (ends on the accelerator) -> channel_prune -> export -> int8 -> measure."""
    recipe = parse_recipe(json.loads(json.dumps(RECIPE)), name="dev")
    want = runner.run(recipe, out=tmp_path / "cpu", quiet=True).metrics
    real_fit = st.training.fit

    def fit_on_accelerator(model, *args, **kwargs):  # what fit(device="cuda") leaves behind
        history = real_fit(model, *args, **kwargs)
        (history.model or model).to(other)
        return history

    monkeypatch.setattr(st.training, "fit", fit_on_accelerator)
    got = runner.run(recipe, out=tmp_path / "dev", quiet=True).metrics
    assert [s["label"] for s in got["stages"]] == [s["label"] for s in want["stages"]]
    rows = {r["label"]: r for r in got["measure"]["rows"]}
    for r in want["measure"]["rows"]:
        assert rows[r["label"]]["params"] == r["params"], r["label"]
        assert rows[r["label"]]["accuracy"] == pytest.approx(r["accuracy"], abs=1 / 128), r["label"]
    assert "onnx_error" not in got and (tmp_path / "dev" / "model.onnx").stat().st_size > 0
