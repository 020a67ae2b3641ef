"""The batch-as-channels rewrite of the first convolution: same outputs as torch at any batch size, or None."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slimtorch.models.lenet import LeNet5
from slimtorch.quantization.backends.onnxruntime import session
from slimtorch.quantization.onnx_export import fp32_model
from slimtorch.search.batch_channels import rewrite
from slimtorch.search.latency_table import ort_session


class ConvOut(nn.Module):
    """The regrouped convolution is the graph's output itself (no per-channel op after it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


CASES = [
    (LeNet5(channels=(3, 8), hidden=(60, 42)), (1, 28, 28)),
    (LeNet5(channels=(1, 8), hidden=(16,)), (1, 28, 28)),
    (ConvOut(), (1, 12, 10)),
]


@pytest.mark.parametrize("model,shape", CASES)
@pytest.mark.parametrize("batch", [1, 5, 8, 17])
def test_rewrite_matches_torch(model, shape, batch):
    torch.manual_seed(0)
    model.eval()
    proto = rewrite(fp32_model(model, torch.randn(1, *shape)))
    assert proto is not None
    x = torch.randn(batch, *shape)
    got = session(proto).run(None, {"input": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model,shape", [
    (LeNet5(in_channels=3), (3, 28, 28)),  # three input channels: no one-channel convolution
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), (1, 4, 4)),  # no convolution at all
])
def test_rewrite_declines(model, shape):
    assert rewrite(fp32_model(model.eval(), torch.randn(1, *shape))) is None


def test_rewrite_groups_the_convolution():
    proto = rewrite(fp32_model(LeNet5(channels=(3, 8)).eval(), torch.randn(1, 1, 28, 28)))
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    assert next(a.i for a in conv.attribute if a.name == "group") == 3 * 8  # depthwise over 8 images x 3 filters


def test_session_falls_back_to_plain_graph_when_not_applicable():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.randn(4, 1, 4, 4)
    sess = ort_session(fp32_model(model, x[:1]), x, regroup=True)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_verified_refuses_a_rewrite_that_differs(monkeypatch):
    import slimtorch.search.batch_channels as bc

    real = bc.rewrite

    def wrong(proto):  # a rewrite whose regrouped weights are off by a little
        out = real(proto)
        w = next(t for t in out.graph.initializer if t.name == "bc_w")
        arr = bc.numpy_helper.to_array(w) * 1.01
        w.CopyFrom(bc.numpy_helper.from_array(arr, "bc_w"))
        return out

    model = LeNet5(channels=(2, 4), hidden=(8,)).eval()
    x = torch.randn(4, 1, 28, 28)
    proto = fp32_model(model, x[:1])
    assert bc.verified(proto, x) is not None
    monkeypatch.setattr(bc, "rewrite", wrong)
    assert bc.verified(proto, x) is None


def test_measure_stage_times_the_regrouped_graph(tmp_path):
    """The pipeline's measure stage adds onnxruntime-bc for an exported model whose first conv reads one channel."""
    from slimtorch.pipeline.measure import regrouped_runner
    from slimtorch.quantization import export_onnx

    model = LeNet5(channels=(3, 8), hidden=(16,)).eval()
    x = torch.randn(6, 1, 28, 28)
    export_onnx(model, str(tmp_path / "model.onnx"), example_inputs=x[:1])
    run = regrouped_runner(tmp_path / "model.onnx", x)
    torch.testing.assert_close(torch.from_numpy(run(x)[0]), model(x).detach(), rtol=1e-4, atol=1e-5)
    assert (tmp_path / "model-bc.onnx").is_file()
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    export_onnx(mlp, str(tmp_path / "mlp.onnx"), example_inputs=torch.randn(1, 1, 4, 4))
    assert regrouped_runner(tmp_path / "mlp.onnx", torch.randn(2, 1, 4, 4)) is None
