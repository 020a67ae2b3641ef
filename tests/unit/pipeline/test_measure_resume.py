"""Measuring every model together (ratios, kept channels) and the hashes that make runs resumable."""

import json

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.pipeline.measure import batch_of, measure_models, module_backend
from slimtorch.pipeline.resume import RunState, digest, model_hash, stage_key, tensors_hash


def mlp(hidden):
    return st.models.build("mlp", widths=[8, hidden, 3])


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return ArrayDataset(torch.randn(40, 8, generator=g), torch.randint(0, 3, (40,), generator=g))


def test_measure_models_ratios_and_kept_channels(data, tmp_path):
    models = {"base": mlp(16), "small": mlp(8)}
    res = measure_models(models, "base", data.x[:16], eval_data=data, batch_sizes=(1, 4), backends=("eager",),
                         repeats=2, warmup=0, work_dir=tmp_path, disk_bytes={"base": 1000, "small": 250})
    rows = {r["label"]: r for r in res["rows"]}
    assert res["batch_sizes"] == [1, 4] and set(rows) == {"base", "small"}
    base, small = rows["base"], rows["small"]
    assert base["speedup"] == {"1": pytest.approx(1.0), "4": pytest.approx(1.0)}
    assert small["size_ratio"] == pytest.approx(4.0) and base["size_ratio"] == pytest.approx(1.0)
    assert base["params"] == 8 * 16 + 16 + 16 * 3 + 3 and small["params"] == 8 * 8 + 8 + 8 * 3 + 3
    assert base["macs"] == 8 * 16 + 16 * 3
    # fc1 keeps 8 of 16 outputs; fc2 (the classifier) keeps all 3
    assert [(k["name"], k["kept"], k["total"]) for k in small["kept"]] == [("fc1", 8, 16), ("fc2", 3, 3)]
    for r in (base, small):
        assert set(r["latency_ms"]) == {"eager"} and r["best"]["4"]["backend"] == "eager"
        assert 0.0 <= r["accuracy"] <= 1.0
    assert json.loads(json.dumps(res)) == res  # metrics.json-ready


def test_measure_models_reports_unavailable_backends(data, tmp_path):
    class NoExport(nn.Module):  # a model whose forward ONNX cannot trace (data-dependent Python branch)
        def forward(self, x):
            return x[:, :3] if float(x.sum()) > 0 else -x[:, :3]

    res = measure_models({"m": NoExport()}, "m", data.x[:4], eval_data=None, batch_sizes=(2,),
                         backends=("eager", "onnxruntime"), repeats=1, warmup=0, work_dir=tmp_path)
    row = res["rows"][0]
    assert "eager" in row["latency_ms"]
    assert "onnxruntime" in row["latency_ms"] or "onnxruntime" in row["unavailable"]


def test_batch_of_cycles_rows():
    x = torch.arange(3.0).reshape(3, 1)
    assert batch_of(x, 5).flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]


def test_module_backend_names_quantized_engines():
    m = nn.Linear(2, 2)
    assert module_backend(m) == "eager"
    m.backend = "torch"
    assert module_backend(m) == "int8-torch"


def test_digest_is_stable_and_order_free():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    k = stage_key({"train": {"lr": 0.1}}, {"model": "h1"}, {"data": {"name": "digits"}})
    assert k != stage_key({"train": {"lr": 0.1}}, {"model": "h2"}, {"data": {"name": "digits"}})
    assert k != stage_key({"train": {"lr": 0.2}}, {"model": "h1"}, {"data": {"name": "digits"}})
    assert k != stage_key({"train": {"lr": 0.1}}, {"model": "h1"}, {"data": {"name": "mnist"}})


def test_model_hashes_follow_the_weights(tmp_path):
    m = mlp(4)
    h = tensors_hash(m)
    assert tensors_hash(m) == h
    st.save(m, tmp_path / "a", extra={"note": 1})
    st.save(m, tmp_path / "b", extra={"note": 2})  # notes are not part of the model
    assert model_hash(tmp_path / "a") == model_hash(tmp_path / "b")
    with torch.no_grad():
        m.fc1.weight[0, 0] += 1.0
    assert tensors_hash(m) != h
    st.save(m, tmp_path / "c")
    assert model_hash(tmp_path / "c") != model_hash(tmp_path / "a")


def test_run_state_records(tmp_path):
    stage_dir = tmp_path / "stages" / "00-train"
    state = RunState(tmp_path)
    state.start("00-train", "k1")
    assert RunState(tmp_path).resumable("00-train", "k1")
    assert not RunState(tmp_path).resumable("00-train", "k2")
    state.finish("00-train", "k1", {"saved": True, "model_hash": "h"})
    again = RunState(tmp_path)
    assert again.finished("00-train", "k1", stage_dir) is None  # its model files are gone
    st.save(st.models.build("mlp", widths=(4, 3, 2)), stage_dir)
    assert again.finished("00-train", "k1", stage_dir) is None  # files there, but not the ones recorded
    state.finish("00-train", "k1", {"saved": True, "model_hash": model_hash(stage_dir)})
    again = RunState(tmp_path)
    assert again.finished("00-train", "k1", stage_dir)["model_hash"] == model_hash(stage_dir)
    assert again.finished("00-train", "k2", stage_dir) is None
    (stage_dir / "model.safetensors").write_bytes((stage_dir / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    assert again.finished("00-train", "k1", stage_dir) is None  # tampered weights: run the stage again
    (stage_dir / "model.json").write_text("{not json")
    assert again.finished("00-train", "k1", stage_dir) is None
    (tmp_path / "state.json").write_text("{not json")
    assert RunState(tmp_path).records == {}  # unreadable state costs a rerun, never a wrong skip


def test_int8_model_gets_each_backend_with_its_own_accuracy(data, tmp_path):
    from slimtorch.quantization import Int8, quantize

    base = mlp(16).eval()
    q = quantize(base, Int8(backend="integer", calib_batches=1), calib_data=data)
    res = measure_models({"base": base, "int8": q}, "base", data.x[:8], eval_data=data, batch_sizes=(4,),
                         repeats=1, warmup=0, work_dir=tmp_path)
    rows = {r["label"]: r for r in res["rows"]}
    assert set(rows["base"]["latency_ms"]) == {"eager", "onnxruntime"}
    assert set(rows["int8"]["latency_ms"]) == {"int8-integer", "onnxruntime", "onnxruntime-fp32"}
    accs = rows["int8"]["backend_accuracy"]
    assert set(accs) == {"int8-integer", "onnxruntime", "onnxruntime-fp32"}
    assert accs["int8-integer"] == pytest.approx(rows["int8"]["accuracy"])  # the module itself
    assert "backend_accuracy" not in rows["base"]  # fp32 backends share one arithmetic
