"""st.quantize(model, st.Int8()) on a model the static int8 engine cannot run is one line of UnsupportedModelError
(a ValueError) naming the op or the trace failure and pointing at DynamicInt8. It was a ValueError without the
pointer, and an untraceable model was refused as "fold_batchnorm: ..." with torch.fx's paragraph of advice."""

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization.errors import UnsupportedModelError


class Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(4, 4), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


class Branchy(nn.Module):  # data-dependent control flow, as in many Hugging Face models
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


class ReadsShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).reshape(x.shape[0], -1)


X = torch.randn(2, 3, 4)


@pytest.mark.parametrize("model, says", [
    (Gelu(), r"^quantize: op GELU \(node 'act'\) has no int8 implementation; supported: conv2d"),
    (Branchy(), r"^quantize: cannot trace Branchy with torch.fx \(symbolically traced variables cannot be used as "
                r"inputs to control flow\); st.DynamicInt8"),
    (ReadsShape(), r"^quantize: reading a tensor's .shape \(node 'getattr_1'\) has no int8 implementation"),
])
def test_refusal_is_one_line_naming_the_op_and_dynamic_int8(model, says):
    with pytest.raises(UnsupportedModelError, match=says) as err:
        st.quantize(model, st.Int8(backend="integer"), calib_data=X)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300
    assert msg.endswith("st.DynamicInt8() quantizes the Linear layers of any model")
    assert isinstance(err.value, ValueError)  # callers catching bad input (the CLI) still do


def test_dynamic_int8_takes_the_refused_models():
    for model in (Gelu(), Branchy(), ReadsShape()):
        with torch.no_grad():
            want, got = model(X), st.quantize(model, st.DynamicInt8())(X)
        assert float((got - want).abs().max()) <= 0.05 * float(want.abs().max())
