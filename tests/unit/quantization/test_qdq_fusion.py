"""The int8 QDQ graph is one onnxruntime fuses whole: every conv, linear and add runs as an int8 kernel."""

import numpy as np
import onnx
from onnx import numpy_helper

from slimtorch.quantization import Int8, quantize
from slimtorch.quantization.backends.onnxruntime import optimized_ops, session
from slimtorch.quantization.qdq import qdq_model


def test_every_layer_fuses_into_an_int8_kernel(tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    ops = optimized_ops(qdq_model(qm))
    n_conv = sum(op["op"] == "conv" for op in qm.ops)
    n_add = sum(op["op"] == "add" for op in qm.ops)
    assert (ops["QLinearConv"], ops["QLinearAdd"], ops["QGemm"]) == (n_conv, n_add, 1)
    # only the graph's own input is quantized and its output dequantized: no fp32 island in between
    assert (ops["QuantizeLinear"], ops["DequantizeLinear"]) == (1, 1)
    assert not {"Conv", "Add", "Gemm", "Relu", "Clip"} & set(ops)


def test_activation_qparams_are_scalars(tiny, tiny_x):
    """onnxruntime leaves DQ -> Add -> Q in float when the scales are 1-element vectors, not scalars."""
    proto = qdq_model(quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x))
    inits = {t.name: t for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "QuantizeLinear":
            assert [list(inits[name].dims) for name in node.input[1:]] == [[], []], node.name


def test_fused_graph_matches_the_integer_model(tiny, tiny_x):
    """The fused add rescales in onnxruntime's own arithmetic: still within two output steps of the simulation."""
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    proto = qdq_model(qm)
    out = session(proto).run(None, {"input": tiny_x.numpy()})[0]
    step = qm.act(qm.ops[-2]["out"])[0]
    steps = np.abs(out - qm.simulate(tiny_x).numpy()) / step
    assert steps.max() <= 2.0 + 1e-3
    integer = qm.set_backend("integer")(tiny_x).numpy()
    assert np.abs(out - integer).max() / step <= 2.0 + 1e-3
    assert numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name.endswith("_wq"))).dtype == np.int8
    assert onnx.checker.check_model(proto) is None
