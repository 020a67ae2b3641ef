"""PTQ: config validation, backends against the simulation, float fallback, ONNX export, save/load."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import slimtorch as st
from slimtorch.config import ConfigError
from slimtorch.data.arrays import ArrayDataset
from slimtorch.quantization import Int8, QuantizedModel, export_onnx, quantize, sensitivity
from slimtorch.quantization.backends.onnxruntime import session
from slimtorch.registry import config_class, names


@pytest.mark.parametrize("kwargs, match", [
    ({"observer": "kl"}, "observer: got 'kl'; allowed: 'minmax'"),
    ({"backend": "tensorrt"}, "backend: got 'tensorrt'; allowed: 'auto'"),
    ({"weight_bits": 1}, r"weight_bits: got 1; allowed range \[2, 8\]"),
    ({"weight_bits": 9}, r"weight_bits: got 9; allowed range \[2, 8\]"),
    ({"calib_batches": 0}, "calib_batches: got 0"),
    ({"max_accuracy_drop": 2.0}, "max_accuracy_drop: got 2.0"),
    ({"reduce_range": "both"}, "reduce_range: got 'both'"),
    ({"per_channel": "yes"}, "per_channel: wrong type str"),
])
def test_int8_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Int8(**kwargs)


def test_registered_names():
    assert config_class("int8") is Int8
    assert {"int8", "dynamic_int8"} <= set(names("quantize"))
    assert "qat" in names("hook") and "fold_bn" in names("transform")
    assert Int8.from_dict({"observer": "mse", "ignore": ["fc"]}).ignore == ("fc",)


def test_quantize_errors(tiny, tiny_x):
    with pytest.raises(ValueError, match="calib_data is required"):
        quantize(tiny, Int8(), None)
    with pytest.raises(TypeError, match=r"st.quantize takes one of: DynamicInt8 \(dynamic_int8\), Int8 \(int8\); got"):
        quantize(tiny, {"observer": "minmax"}, tiny_x)
    with pytest.raises(TypeError, match="got ChannelPrune, a prune config"):
        quantize(tiny, st.ChannelPrune(ratio=0.5), tiny_x)

    class Unsupported(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    with pytest.raises(ValueError, match="op sigmoid .* has no int8 implementation"):
        quantize(Unsupported(), Int8(), tiny_x)


@pytest.mark.parametrize("backend", ["torch:onednn", "torch:x86", "onnxruntime", "integer"])
def test_backends_close_to_simulation(tiny, tiny_x, backend):
    backend, _, engine = backend.partition(":")
    qm = quantize(tiny, Int8(backend=backend, calib_batches=1), tiny_x)
    qm.set_backend(backend, engine or None)
    assert isinstance(qm, QuantizedModel) and qm.backend == backend
    y = qm(tiny_x)
    assert y.dtype == torch.float32 and y.shape == (16, 4)
    steps = (y - qm.simulate(tiny_x)).abs() / qm.act(qm.ops[-2]["out"])[0]
    # fbgemm / onnxruntime requantize with float multipliers: at most a step or two apart (per layer)
    assert float(steps.max()) <= 2.0 + 1e-3
    assert float((steps < 0.5).float().mean()) >= 0.8


def test_input_model_unchanged_and_ignore_keeps_float(tiny, tiny_x):
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    qm = quantize(tiny, Int8(backend="integer", ignore=["c3", "f.*"]), tiny_x)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())
    floats = {op["name"] for op in qm.layer_ops() if op.get("float")}
    assert floats == {"c3", "fc"}
    steps = (qm(tiny_x) - qm.simulate(tiny_x)).abs() / qm.act(qm.ops[-2]["out"])[0]
    assert float(steps.max()) <= 1.0 + 1e-3


def test_auto_backend_says_which(tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="auto", calib_batches=1), tiny_x)
    assert qm.backend in ("torch", "onnxruntime")
    assert qm.backend_note.startswith(f"auto: {qm.backend}")
    assert "int8 is the fastest here" in qm.backend_note
    assert "onnxruntime_fp32" in qm.backend_times


def test_max_accuracy_drop_falls_back_until_budget():
    m = st.models.build("mlp", widths=[20, 32, 32, 10]).eval()
    x = torch.randn(256, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        data = ArrayDataset(x, m(x).argmax(1))
    order = [r["layer"] for r in sensitivity(m, data, Int8(weight_bits=3))]
    assert sorted(order) == ["fc1", "fc2", "fc3"]
    loose = quantize(m, Int8(backend="integer", weight_bits=3, max_accuracy_drop=0.9), data)
    assert loose.fallback_report["float_layers"] == []
    tight = quantize(m, Int8(backend="integer", weight_bits=3, max_accuracy_drop=0.01), data)
    rep = tight.fallback_report
    assert rep["float_accuracy"] - rep["int8_accuracy"] <= 0.01 or len(rep["float_layers"]) == 3
    assert rep["float_layers"] == order[:len(rep["float_layers"])]  # most sensitive first
    assert len(rep["float_layers"]) >= 1
    assert {op["name"] for op in tight.layer_ops() if op.get("float")} == set(rep["float_layers"])
    assert rep["metric"] == "accuracy" and rep["checks"] <= 4  # 0, then bisection over the 3 ranked layers


@pytest.mark.parametrize("unlabeled", ["tensor", "labels -1"])
def test_max_accuracy_drop_without_labels_is_top1_agreement(unlabeled):
    # an images:DIR folder without class subfolders has labels -1: scored against them every model is 0% and
    # "within the budget" (the old silent pass); the budget is top-1 agreement with the float model instead
    m = st.models.build("mlp", widths=[20, 32, 32, 10]).eval()
    x = torch.randn(256, 20, generator=torch.Generator().manual_seed(0))
    data = x if unlabeled == "tensor" else ArrayDataset(x, torch.full((256,), -1))
    tight = quantize(m, Int8(backend="integer", weight_bits=3, max_accuracy_drop=0.01), data)
    rep = tight.fallback_report
    assert rep["metric"] == "top-1 agreement" and rep["float_accuracy"] == 1.0
    assert rep["float_layers"], "3-bit weights change some top-1 predictions: a layer must stay in float"
    with torch.no_grad():
        agree = float((tight.simulate(x[:256]).argmax(1) == m(x[:256]).argmax(1)).float().mean())
    assert agree == pytest.approx(rep["int8_accuracy"]) and agree >= 0.99


def test_max_accuracy_drop_without_labels_refuses_non_logits():
    m = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 1)).eval()  # one output column: no top-1
    with pytest.raises(ValueError, match="top-1 agreement with the float model, which needs"):
        quantize(m, Int8(backend="integer", max_accuracy_drop=0.01), torch.randn(64, 20))


def test_fallback_bisects_on_the_ranking():
    # 12 layers at 2-bit weights: a one-at-a-time fallback would check up to 13 models; bisection ~log2(13) + 1
    m = st.models.build("mlp", widths=[16] + [24] * 11 + [10]).eval()
    x = torch.randn(512, 16, generator=torch.Generator().manual_seed(1))
    qm = quantize(m, Int8(backend="integer", weight_bits=2, max_accuracy_drop=0.02), x)
    rep = qm.fallback_report
    assert rep["checks"] <= 5
    assert rep["float_accuracy"] - rep["int8_accuracy"] <= 0.02 or len(rep["float_layers"]) == 12


def test_export_onnx_int8_and_fp32(tmp_path, tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    path = export_onnx(qm, tmp_path / "q.onnx")
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "Add"} <= ops
    assert any(i.data_type == onnx.TensorProto.INT8 for i in proto.graph.initializer)
    out = session(path.read_bytes()).run(None, {"input": tiny_x.numpy()})[0]
    steps = np.abs(out - qm.simulate(tiny_x).numpy()) / qm.act(qm.ops[-2]["out"])[0]
    assert steps.max() <= 2.0 + 1e-3
    fp = export_onnx(tiny, tmp_path / "f.onnx", tiny_x)
    ref = session(fp.read_bytes()).run(None, {"input": tiny_x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(ref), tiny(tiny_x).detach(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="example_inputs is required"):
        export_onnx(tiny, tmp_path / "g.onnx")


@pytest.mark.parametrize("backend", ["onnxruntime", "integer", "torch"])
def test_save_load_round_trip(tmp_path, backend):
    m = st.models.build("lenet5").eval()
    x = torch.randn(8, 1, 28, 28)
    qm = quantize(m, Int8(backend=backend, calib_batches=1), x)
    st.save(qm, tmp_path / "q")
    tensors = load_file(str(tmp_path / "q" / "model.safetensors"))
    assert tensors["features_0_wq"].dtype == torch.int8 and tensors["features_0_bq"].dtype == torch.int32
    assert not any(v.dtype == torch.float32 and v.dim() == 4 for v in tensors.values())  # no float conv weights
    meta = json.loads((tmp_path / "q" / "model.json").read_text())
    assert [t["kind"] for t in meta["transforms"]] == ["quantize_int8"]
    q2 = st.load(tmp_path / "q")
    assert isinstance(q2, QuantizedModel) and q2.backend == backend
    assert torch.equal(q2(x), qm(x))
    st.save(m, tmp_path / "f")
    size = {k: (tmp_path / k / "model.safetensors").stat().st_size for k in ("f", "q")}
    assert size["f"] / size["q"] >= 3.8


def test_sensitivity_rows(tiny, tiny_x):
    with torch.no_grad():
        data = ArrayDataset(tiny_x, tiny(tiny_x).argmax(1))
    rows = sensitivity(tiny, data, Int8(weight_bits=4))
    assert [r["layer"] for r in rows] and {r["layer"] for r in rows} == {"c1", "c2", "c3", "fc"}
    drops = [r["accuracy_drop"] for r in rows]
    assert drops == sorted(drops, reverse=True) and all(r["sqnr_db"] > 0 for r in rows)


def test_quantized_torch_ops_live_in_one_module():
    """In quantization/, torch's deprecated quantized tensors/ops are used only by backends/torch.py."""
    root = Path(st.__file__).parent
    needles = ("torch.ops.quantized", "quantize_per_tensor", "quantize_per_channel", "torch.ao", "_make_per_channel")
    users = {p.relative_to(root).as_posix() for p in (root / "quantization").rglob("*.py")
             if any(n in p.read_text() for n in needles)}
    assert users == {"quantization/backends/torch.py"}


def test_fallback_warns_when_even_float_weights_miss_the_budget():
    # activations clipped at their 60th percentile: float weights cannot help, the budget is out of reach, and the
    # user is told
    m = st.models.build("mlp", widths=[20, 32, 32, 10]).eval()
    x = torch.randn(256, 20, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="not reached: with every conv/linear layer in float"):
        qm = quantize(m, Int8(backend="integer", observer="percentile", percentile=60.0, max_accuracy_drop=0.0), x)
    assert len(qm.fallback_report["float_layers"]) == 3
