"""A statically quantized model calibrated on inputs of several sizes (images of two sides) runs at each of them on
every engine: the QDQ graph (backend onnxruntime, and "auto", which picked it) declared the last calibration batch's
sizes, so the model crashed in onnxruntime on the other ("Got invalid dimensions for input"). Sizes that varied are
now dynamic; sizes that did not stay fixed (the batch-as-channels rewrite needs them)."""

import onnx
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization import export_onnx


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


XS = [torch.randn(2, 3, 8, 8), torch.randn(3, 3, 6, 6)]


def test_every_engine_runs_at_every_calibrated_size():
    qm = st.quantize(_net(), st.Int8(backend="integer"), calib_data=XS)
    step = qm.act(qm.ops[-2]["out"])[0]
    for backend in ("integer", "torch", "onnxruntime"):
        qm.set_backend(backend)
        for x in XS:
            with torch.no_grad():
                off = float((qm(x) - qm.simulate(x)).abs().max())
            assert off <= 2 * step + 1e-6, (backend, tuple(x.shape), off / step)


def test_qdq_graph_declares_varying_sizes_dynamic_and_the_rest_fixed(tmp_path):
    qm = st.quantize(_net(), st.Int8(backend="integer"), calib_data=XS)
    graph = onnx.load(str(export_onnx(qm, tmp_path / "q.onnx"))).graph
    dims = [d.dim_value or d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "input_dim2", "input_dim3"]
    assert [d.dim_value or d.dim_param for d in graph.output[0].type.tensor_type.shape.dim] == ["batch", 3]
    one = st.quantize(_net(), st.Int8(backend="integer"), calib_data=XS[0])
    graph = onnx.load(str(export_onnx(one, tmp_path / "one.onnx"))).graph
    assert [d.dim_value or d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == ["batch", 3, 8, 8]
