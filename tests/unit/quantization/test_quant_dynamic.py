"""Dynamic int8 Linear layers: accuracy vs float, smoothing, save/load, errors."""

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.config import ConfigError
from slimtorch.quantization import DynamicInt8, DynamicLinear, Int8, export_onnx, quantize


def _mlp():
    torch.manual_seed(0)
    return st.models.build("mlp", widths=[64, 128, 10]).eval()


def test_dynamic_int8_close_to_float():
    m = _mlp()
    x = torch.randn(32, 64)
    qm = quantize(m, DynamicInt8(), None)
    assert sum(isinstance(mod, DynamicLinear) for mod in qm.modules()) == 2
    assert not any(isinstance(mod, DynamicLinear) for mod in m.modules())  # input untouched
    with torch.no_grad():
        ref, y = m(x), qm(x)
    cos = nn.functional.cosine_similarity(ref, y, dim=1)
    assert float(cos.min()) > 0.99


def test_smoothing_tames_activation_outliers():
    torch.manual_seed(0)
    lin = nn.Linear(64, 32)
    model = nn.Sequential(lin)
    x = torch.randn(128, 64)
    x[:, 3] *= 60.0  # one outlier channel, as in transformer activations
    with torch.no_grad():
        ref = model(x)
        plain = quantize(model, DynamicInt8(), None)(x)
        smooth = quantize(model, DynamicInt8(smooth=0.5), x)(x)
    err_plain, err_smooth = (plain - ref).pow(2).mean(), (smooth - ref).pow(2).mean()
    assert float(err_smooth) < 0.5 * float(err_plain)


def test_dynamic_save_load(tmp_path):
    m = _mlp()
    qm = quantize(m, DynamicInt8(ignore=["fc2"]), None)
    assert isinstance(qm.get_submodule("fc2"), nn.Linear)
    st.save(qm, tmp_path / "d")
    q2 = st.load(tmp_path / "d")
    x = torch.randn(8, 64)
    assert isinstance(q2.get_submodule("fc1"), DynamicLinear)
    torch.testing.assert_close(q2(x), qm(x))
    with pytest.raises(ValueError, match="dynamic-int8 models are not exported"):
        export_onnx(qm, tmp_path / "d.onnx", x)


def test_dynamic_errors():
    with pytest.raises(ConfigError, match="smooth: got 2"):
        DynamicInt8(smooth=2)
    with pytest.raises(ConfigError, match="reduce_range: got 'x'"):
        DynamicInt8(reduce_range="x")
    with pytest.raises(ValueError, match="needs calib_data"):
        quantize(_mlp(), DynamicInt8(smooth=0.5), None)


@pytest.mark.parametrize("setting, vnni, side, bits", [
    ("auto", False, "weights", 7), ("auto", True, "none", 8), ("none", False, "none", 8),
    ("weights", True, "weights", 7), ("activations", False, "activations", 8),
])
def test_reduce_range_resolved_once_for_static_and_dynamic(monkeypatch, setting, vnni, side, bits):
    from slimtorch.quantization import int8

    monkeypatch.setattr(int8, "has_vnni", lambda: vnni)
    for cfg in (Int8(reduce_range=setting), DynamicInt8(reduce_range=setting)):
        assert int8.effective_reduce_range(cfg) == side and int8.weight_bits(cfg) == bits
    torch.manual_seed(0)
    q = st.quantize(nn.Sequential(nn.Linear(16, 8)), DynamicInt8(reduce_range=setting))
    assert int(q[0].weight_q.abs().max()) == 2 ** (bits - 1) - 1  # the largest weight uses the full code range
    assert q[0].reduce_range == (side == "activations")
