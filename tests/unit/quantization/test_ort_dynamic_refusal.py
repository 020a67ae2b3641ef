"""export_onnx(..., dynamic_int8=True) on a graph onnxruntime's quantize_dynamic fails on (a conv whose weight is
computed in the graph: weight standardisation) is one line of UnsupportedModelError naming it and the way out; it was
onnxruntime's internal "ValueError: Expected /conv/weight/Div_1_output_0 to be an initializer"."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from slimtorch.quantization import export_onnx
from slimtorch.quantization.errors import UnsupportedModelError


class Standardize(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.gain = nn.Parameter(torch.rand(c, 1, 1, 1) + 0.5)

    def forward(self, w):
        return self.gain * (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)


class StandardizedConv(nn.Module):  # as in BiT (tests/unit/pruning/prune_families.py)
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 2)
        parametrize.register_parametrization(self.conv, "weight", Standardize(8))

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean((2, 3)))


def test_a_graph_the_quantizer_fails_on_is_one_line(tmp_path):
    with pytest.raises(UnsupportedModelError) as err:
        export_onnx(StandardizedConv().eval(), tmp_path / "q.onnx", torch.randn(2, 3, 8, 8), dynamic_int8=True)
    msg = str(err.value)
    assert msg.startswith("export_onnx: onnxruntime's quantize_dynamic cannot quantize this graph (")
    assert msg.endswith("); export the float model, or st.DynamicInt8 for int8 in torch") and "\n" not in msg
    assert not (tmp_path / "q.onnx").exists()
    assert export_onnx(StandardizedConv().eval(), tmp_path / "f.onnx", torch.randn(2, 3, 8, 8)).is_file()
