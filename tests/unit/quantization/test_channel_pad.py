"""Channel padding of the exported graph: fast widths for onnxruntime's kernels, the same outputs."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

import slimtorch as st
from slimtorch.quantization import Int8, quantize
from slimtorch.quantization.backends.onnxruntime import optimized_ops, session
from slimtorch.quantization.channel_pad import padded_width, plan
from slimtorch.quantization.qdq import qdq_model


class PrunedBlock(nn.Module):
    """An inverted residual with a pruned hidden width (45) beside a 37-wide conv that feeds a pool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.expand = nn.Conv2d(16, 45, 1)
        self.dw = nn.Conv2d(45, 45, 3, padding=1, groups=45)
        self.project = nn.Conv2d(45, 16, 1)
        self.side = nn.Conv2d(16, 37, 1)
        self.fc = nn.Linear(37, 5)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = self.project(F.relu6(self.dw(F.relu6(self.expand(x)))))
        z = F.relu(self.side(x + y))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(z, 1), 1))


@pytest.fixture
def block():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 10, 10)
    return quantize(PrunedBlock().eval(), Int8(backend="integer", calib_batches=1), x), x


@pytest.mark.parametrize(("channels", "width"), [(101, 112), (68, 80), (135, 144), (269, 272), (45, 48),
                                                 (37, 40), (24, 24), (32, 32), (5, 5), (12, 12)])
def test_padded_width(channels, width):
    assert padded_width(channels) == width


def test_plan_pads_only_conv_to_conv_values(block):
    qm, _ = block
    out = {op["module"]: op["out"] for op in qm.ops if op["op"] == "conv"}
    # the expanded value and the depthwise output behind it; not project (feeds an add), not side (a pool)
    assert plan(qm) == {out["expand"]: 48, out["dw"]: 48}
    assert plan(qm, pad_input=True) == {out["expand"]: 48, out["dw"]: 48, qm.ops[0]["out"]: 4}  # RGB as 4
    assert plan(qm, enabled=False, pad_input=True) == {}


def test_grey_input_is_not_padded(tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    assert qm.ops[0]["out"] not in plan(qm, pad_input=True)  # 1 -> 4 channels would quadruple the stem


@pytest.mark.parametrize("int8", [True, False])
def test_padded_graph_gives_the_same_outputs(block, int8):
    qm, x = block
    padded, plain = qdq_model(qm, int8=int8), qdq_model(qm, int8=int8, pad_channels=False)
    got, want = (session(p).run(None, {"input": x.numpy()})[0] for p in (padded, plain))
    if int8:
        np.testing.assert_array_equal(got, want)  # zero channels add exact zeros to the int32 sums
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    shapes = {t.name: tuple(t.dims) for t in padded.graph.initializer}
    key = "wq" if int8 else "w"
    assert shapes[f"expand__{key}"] == (48, 16, 1, 1) and shapes[f"dw__{key}"] == (48, 1, 3, 3)
    assert shapes[f"project__{key}"] == (16, 48, 1, 1) and shapes[f"side__{key}"] == (37, 16, 1, 1)
    assert shapes[f"stem__{key}"] == ((16, 4, 3, 3) if int8 else (16, 3, 3, 3))  # the uint8 input is padded
    assert any(n.op_type == "Pad" for n in padded.graph.node) == int8
    if int8:
        pad = numpy_helper.to_array(next(t for t in padded.graph.initializer if t.name == "expand__wq"))[45:]
        assert not pad.any()
        assert optimized_ops(padded)["QLinearConv"] == 5


def test_padded_graph_within_the_tested_steps_of_the_simulation(block):
    qm, x = block
    out = session(qdq_model(qm)).run(None, {"input": x.numpy()})[0]
    steps = np.abs(out - qm.simulate(x).numpy()) / qm.act(qm.ops[-2]["out"])[0]
    assert steps.max() <= 2.0 + 1e-3


def test_pruned_mobilenet_v2_runs_fused_and_padded():
    """A pruned MobileNetV2 (hidden widths such as 67): every layer an int8 kernel, its hidden widths padded,
    the outputs bitwise those of the unpadded graph."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 64, 64)
    keep = [r"features\.0\.0", r"features\.1\.conv\.1", r"features\.\d+\.conv\.2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = st.prune(st.models.build("mobilenet_v2", num_classes=10).eval(),
                         st.ChannelPrune(ratio=0.3, ignore=keep), example_inputs=x[:2])
    qm = quantize(model, Int8(backend="integer", calib_batches=1), x)
    widths = plan(qm)
    assert len(widths) >= 20 and all(w % 8 == 0 for w in widths.values())
    padded = qdq_model(qm)
    ops = optimized_ops(padded)
    assert (ops["QLinearConv"], ops["QLinearAdd"], ops["QuantizeLinear"], ops["DequantizeLinear"]) == (52, 10, 1, 1)
    got, want = (session(p).run(None, {"input": x.numpy()})[0] for p in (padded, qdq_model(qm, pad_channels=False)))
    np.testing.assert_array_equal(got, want)
