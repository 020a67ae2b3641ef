"""Per-layer latency table: standalone layers have the asked shapes; predictions add up and are calibrated."""

import math

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.search.latency_table import LatencyTable, input_shapes, prediction_error, runner, standalone
from slimtorch.search.space import space_of


def test_standalone_layers_have_the_asked_widths():
    conv, x = standalone(nn.Conv2d(6, 16, 5, padding=2), (6, 14, 14), 3, 8, 4)
    assert conv(x).shape == (4, 8, 14, 14)
    dw, x = standalone(nn.Conv2d(32, 32, 3, groups=32, padding=1), (32, 8, 8), 16, 16, 2)
    assert dw.groups == 16 and dw(x).shape == (2, 16, 8, 8)
    lin, x = standalone(nn.Linear(400, 120), (400,), 200, 60, 3)
    assert lin(x).shape == (3, 60)


def test_prediction_is_the_sum_of_entries_plus_the_calibrated_residual():
    torch.manual_seed(0)
    model = st.models.build("lenet5").eval()
    x = torch.randn(1, 1, 28, 28)
    space = space_of(model, x)
    table = LatencyTable(model, space, input_shapes(model, space, x), "eager", 2)
    table.fill = lambda keys: [table.entries.setdefault(k, 1e-6 * k[1] * k[2]) for k in keys]  # c_in * c_out
    table.calibrate(1.0)
    assert table.predict(space.full) == pytest.approx(1.0)
    half = (3, 8, 60, 42)
    dims = [layer.dims(space.groups, half) for layer in space.layers]
    full = [layer.dims(space.groups, space.full) for layer in space.layers]
    residual = 1.0 - 1e-6 * sum(a * b for a, b in full)
    # the residual follows the activation volume: each layer's input channels times its input's spatial size
    spatial = [math.prod(table.shapes[layer.name][1:]) for layer in space.layers]
    share = sum(a[0] * n for a, n in zip(dims, spatial)) / sum(a[0] * n for a, n in zip(full, spatial))
    assert 0 < share < 1
    assert table.predict(half) == pytest.approx(residual * share + 1e-6 * sum(a * b for a, b in dims))


def test_prediction_error():
    err = prediction_error([(1.1, 1.0), (0.5, 1.0), (2.0, 0.0)])
    assert err["mean"] == pytest.approx(0.3) and err["max"] == pytest.approx(0.5) and err["candidates"] == 2
    assert prediction_error([]) is None


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_runner_backends_agree_with_torch(backend):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    x = torch.randn(5, 1, 8, 8)
    out = runner(model, x, backend)()
    got = out if isinstance(out, torch.Tensor) else torch.from_numpy(out[0])
    torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-5)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="allowed: eager, onnxruntime"):
        runner(nn.Linear(2, 2), torch.randn(1, 2), "tpu")
