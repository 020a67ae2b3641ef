"""st.prune refuses an int8 model (it has no float weights to rank: pruning it was a silent no-op)."""

import pytest
import torch

import slimtorch as st


def _int8(_):
    train, _ = st.data.load("digits", limit=32)
    return st.quantize(st.models.build("mlp", widths=[64, 8, 10]), st.Int8(), calib_data=train)


def _dynamic(_):
    return st.quantize(st.models.build("mlp", widths=[64, 8, 10]), st.DynamicInt8(min_features=1))


@pytest.mark.parametrize("make", [_int8, _dynamic], ids=["int8", "dynamic_int8"])
@pytest.mark.parametrize("cfg", [st.MagnitudePrune(sparsity=0.5), st.ChannelPrune(ratio=0.5)],
                         ids=["magnitude", "channel"])
def test_pruning_a_quantized_model_is_refused_in_one_line(make, cfg):
    torch.manual_seed(0)
    model = make(None)
    with pytest.raises(ValueError, match=r"is quantized \(int8\).*prune it first, then quantize") as info:
        st.prune(model, cfg, example_inputs=torch.randn(2, 1, 8, 8))
    assert "\n" not in str(info.value)
