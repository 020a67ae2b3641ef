"""DynamicInt8 quantizes Hugging Face's Conv1D (GPT-2's attention and MLP projections: a Linear with its weight
stored (in, out)); they stayed float, so a GPT-2 came back with only its head in int8. A model with no layer to
quantize says so in a warning instead of coming back float in silence."""

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization import DynamicLinear
from slimtorch.quantization.dynamic import _rebuild


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D as it is written there."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.2)
        self.bias = nn.Parameter(torch.randn(nf) * 0.1)

    def forward(self, x):
        out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return out.view(x.size()[:-1] + (self.nf,))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc, self.c_proj, self.head = Conv1D(24, 8), Conv1D(8, 24), nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.c_proj(torch.relu(self.c_fc(x)))))


def test_conv1d_is_quantized_as_the_linear_it_is():
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(2, 5, 8)
    q = st.quantize(model, st.DynamicInt8())
    assert all(isinstance(q.get_submodule(n), DynamicLinear) for n in ("c_fc", "c_proj", "head"))
    with torch.no_grad():
        want, got = model(x), q(x)
    err = float((got - want).norm() / want.norm())
    assert err < 0.02, err  # int8 per-channel weights: about 1% here
    rebuilt = _rebuild(Block(), {"layers": ["c_fc", "c_proj", "head"], "reduce_range": False})
    assert [(m.in_features, m.out_features) for m in rebuilt.modules() if isinstance(m, DynamicLinear)] == [
        (8, 24), (24, 8), (8, 3)]


def test_smoothquant_calibrates_conv1d():
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 5, 8)
    q = st.quantize(model, st.DynamicInt8(smooth=0.5), calib_data=x)
    assert not torch.equal(q.c_fc.smooth, torch.ones(8))
    with torch.no_grad():
        assert float((q(x) - model(x)).norm() / model(x).norm()) < 0.02


def test_a_model_without_linear_layers_warns_that_it_stays_float():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.warns(UserWarning, match=r"DynamicInt8: Sequential has no nn.Linear layer to quantize; it stays float "
                                         r"\(st.Int8 quantizes convolutions\)"):
        q = st.quantize(model, st.DynamicInt8())
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(q(x), model(x))  # float, as the warning says
    with pytest.warns(UserWarning, match="no nn.Linear layer with >= 64 input features to quantize"):
        st.quantize(nn.Linear(8, 2), st.DynamicInt8(min_features=64))


def test_a_bfloat16_model_gets_bfloat16_back_from_its_int8_layers():
    """DynamicLinear returned fp32 whatever came in (``.to(x.dtype)`` after x became fp32): the next bf16 layer of
    a bf16 model then failed ("mixed dtype (CPU): expect parameter to have scalar type of Float")."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2)).to(torch.bfloat16).eval()
    x = torch.randn(4, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        got, want = st.quantize(model, st.DynamicInt8())(x), model(x)
    assert got.dtype == torch.bfloat16
    assert float((got.float() - want.float()).norm() / want.float().norm()) < 0.05
