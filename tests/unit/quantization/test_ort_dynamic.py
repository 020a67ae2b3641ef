"""onnxruntime dynamic int8 through ``export_onnx(..., dynamic_int8=True)`` and the sessions that run it: the int8
graph follows the float model, refusals name the reason, and the slow SkipLayerNormalization fusion stays off."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from slimtorch.quantization import Int8, export_onnx, quantize
from slimtorch.quantization.backends.onnxruntime import SLOW_FUSIONS, optimized_ops, session
from slimtorch.quantization.ort_dynamic import check_int8, row_cosines


class Encoder(nn.Module):
    """Token ids -> Linear/GELU blocks with residual + LayerNorm (the shape of a transformer's FFN)."""

    def __init__(self, vocab: int = 50, width: int = 64):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        h = self.emb(x)
        h = self.norm(h + self.down(torch.nn.functional.gelu(self.up(h))))
        return h.mean(1)


def _ids(batch=4, length=7):
    return torch.randint(0, 50, (batch, length), generator=torch.Generator().manual_seed(batch + length))


def _add_layernorm(width=32) -> onnx.ModelProto:
    """x + y -> LayerNormalization on (2, 5, width): the pattern onnxruntime fuses into SkipLayerNormalization."""
    a, b = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 5, width]) for n in "ab")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, width])
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=width).astype(np.float32), n) for n in ("g", "beta")]
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("LayerNormalization", ["s", "g", "beta"], ["y"], axis=-1, epsilon=1e-12),
    ]
    graph = helper.make_graph(nodes, "addln", [a, b], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_session_leaves_skip_layernorm_unfused_with_the_same_outputs():
    proto = _add_layernorm()
    assert SLOW_FUSIONS == ("SkipLayerNormFusion",)
    assert optimized_ops(proto, disabled=())["SkipLayerNormalization"] == 1  # onnxruntime's default fuses it
    ops = optimized_ops(proto)
    assert ops["SkipLayerNormalization"] == 0 and ops["LayerNormalization"] == 1
    rng = np.random.default_rng(1)
    feeds = {n: rng.normal(size=(2, 5, 32)).astype(np.float32) for n in "ab"}
    ours, default = (session(proto, 1, disabled=d).run(None, feeds)[0] for d in (SLOW_FUSIONS, ()))
    np.testing.assert_allclose(ours, default, rtol=1e-5, atol=1e-5)


def test_dynamic_int8_export_runs_int8_kernels_and_follows_the_model(tmp_path):
    torch.manual_seed(0)
    model = Encoder().eval()
    fp32 = export_onnx(model, tmp_path / "fp32.onnx", _ids())
    int8 = export_onnx(model, tmp_path / "int8.onnx", _ids(), dynamic_int8=True)
    proto = onnx.load(str(int8))
    ops = {n.op_type for n in proto.graph.node}
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops  # what quantize_dynamic writes
    weights = [t for t in proto.graph.initializer if t.data_type == TensorProto.INT8]
    assert len(weights) >= 2 and int8.stat().st_size < fp32.stat().st_size
    x = _ids(6, 11)  # another batch size and length than the example's: the axes stay dynamic
    got = session(proto).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape
    assert row_cosines(got, want).min() > 0.99
    assert np.abs(got - want).max() > 1e-6  # int8 weights: not the float graph under another name


def test_dynamic_int8_refusals(tmp_path):
    model = Encoder().eval()
    with pytest.raises(ValueError, match="dynamic_int8=True needs a float model"):
        qm = quantize(nn.Sequential(nn.Linear(4, 4)), Int8(), calib_data=[torch.randn(8, 4)])
        export_onnx(qm, tmp_path / "q.onnx", dynamic_int8=True)
    fp32 = onnx.load(str(export_onnx(model, tmp_path / "a.onnx", _ids())))
    torch.manual_seed(1)
    other = onnx.load(str(export_onnx(Encoder().eval(), tmp_path / "b.onnx", _ids())))
    with pytest.raises(ValueError, match="cosine .* to the float graph"):
        check_int8(fp32, other, {"input": _ids().numpy()})  # a graph that does not follow the float one
    assert check_int8(fp32, fp32, {"input": _ids().numpy()}) == pytest.approx(1.0, abs=1e-6)
