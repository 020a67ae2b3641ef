"""Float fallback layers run in float with what follows them up to the next int8 layer, on every engine."""

import pytest
import torch

from slimtorch.quantization import Int8, export_onnx, quantize
from slimtorch.quantization.graph import float_values

ENGINES = ("integer", "torch", "onnxruntime", "simulate")


@pytest.mark.parametrize("backend", ENGINES)
def test_every_layer_in_float_is_the_float_model(tiny, tiny_x, backend):
    # before float regions, a float layer's output was still quantized to uint8: "all in float" was ~1% off
    qm = quantize(tiny, Int8(backend="integer", ignore=[".*"]), tiny_x)
    qm.set_backend(backend)
    with torch.no_grad():
        assert torch.allclose(qm(tiny_x), tiny(tiny_x), atol=1e-5, rtol=1e-4)


def test_a_float_residual_branch_makes_the_add_float(tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="integer", ignore=["c2", "c3"]), tiny_x)
    names = {op["name"]: op for op in qm.ops}
    floats = float_values(qm.ops)
    add = next(op for op in qm.ops if op["op"] == "add")
    assert names["c2"]["out"] in floats and names["c3"]["out"] in floats
    assert add["out"] in floats  # x (int8 c1) + y (float c3) runs in float
    assert names["c1"]["out"] not in floats and names["fc"]["out"] not in floats
    assert next(op for op in qm.ops if op["op"] == "input")["out"] not in floats  # c1 (int8) reads it


@pytest.mark.parametrize("backend", ("integer", "torch", "onnxruntime"))
def test_engines_match_the_simulation_across_float_regions(tiny, tiny_x, backend):
    qm = quantize(tiny, Int8(backend="integer", ignore=["c2", "c3"]), tiny_x)  # fc (int8) re-quantizes
    ref = qm.simulate(tiny_x)
    qm.set_backend(backend)
    steps = (qm(tiny_x) - ref).abs() / qm.act(qm.ops[-2]["out"])[0]
    assert float(steps.max()) <= 1.0 + 1e-3
    assert float((steps < 0.5).float().mean()) >= 0.8


def test_float_input_region_exports_without_a_quantized_input(tiny, tiny_x, tmp_path):
    # the stem conv in float reads the float input: the graph starts with a float Conv, not QuantizeLinear
    import onnx

    qm = quantize(tiny, Int8(backend="integer", ignore=["c1"]), tiny_x)
    assert next(op for op in qm.ops if op["op"] == "input")["out"] in float_values(qm.ops)
    path = export_onnx(qm, tmp_path / "m.onnx")
    graph = onnx.load(str(path)).graph
    first = next(n for n in graph.node if "input" in n.input)
    assert first.op_type == "Conv"
    qm.set_backend("onnxruntime")
    steps = (qm(tiny_x) - qm.simulate(tiny_x)).abs() / qm.act(qm.ops[-2]["out"])[0]
    assert float(steps.max()) <= 1.0 + 1e-3


def test_the_integer_engine_computes_float_regions_as_the_simulation_does(tiny, tiny_x):
    # float64 in the float regions, like the simulation: the reference engine stays exact, not one step off
    for ignore in (["c2", "c3"], ["c1"], ["c3", "fc"]):
        qm = quantize(tiny, Int8(backend="integer", ignore=ignore), tiny_x)
        assert torch.allclose(qm(tiny_x), qm.simulate(tiny_x), atol=1e-6, rtol=0), ignore
