"""The packed format through st.save / st.load: bit-exact weights, smaller files, one-line errors on damage."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import saved_bytes
from slimtorch.compression import pack, packed_bytes, share_weights
from slimtorch.compression.codec import decode_tensor, encode_tensor


def _shared(bits=4):
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=[64, 48, 32, 10])
    st.prune(model, st.MagnitudePrune(sparsity=0.8, scope="global"))
    return share_weights(model, bits=bits)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def test_load_gives_back_exactly_the_same_dense_weights(tmp_path):
    model = pack(_shared())
    st.save(model, tmp_path / "m")
    enc = json.loads((tmp_path / "m" / "model.json").read_text())["encodings"]
    assert {n for n, e in enc.items() if e["codec"] == "packed"} == {"fc1.weight", "fc2.weight", "fc3.weight"}
    loaded = st.load(tmp_path / "m")
    for name, t in model.state_dict().items():
        assert torch.equal(_bits(loaded.state_dict()[name]), _bits(t)), name  # bit for bit
    x = torch.randn(5, 64)
    assert torch.equal(loaded(x), model.eval()(x))
    assert saved_bytes(loaded) == saved_bytes(model)  # a loaded model stays packed when saved again


def test_packing_is_what_makes_the_file_small():
    model = _shared(bits=4)
    unpacked = saved_bytes(model)
    packed = saved_bytes(pack(model))
    parts = packed_bytes(model)
    # ~4-bit indices + ~3-bit gaps per nonzero instead of 32-bit values + a 1-bit mask per weight
    assert packed < unpacked / 2.5
    assert parts["other"] == 4 * (48 + 32 + 10)  # the biases, saved as they are
    assert set(parts["methods"]) == {"fc1.weight", "fc2.weight", "fc3.weight"}


def test_only_a_packed_model_is_saved_packed(tmp_path):
    """The packed codec is opt-in: an unpacked shared model gets the default codecs whatever the import
    order registered first (compression imports no pruning module, so it may register before bitmask)."""
    st.save(_shared(), tmp_path / "plain")
    enc = json.loads((tmp_path / "plain" / "model.json").read_text())["encodings"]
    assert enc and {e["codec"] for e in enc.values()} == {"bitmask"}


@pytest.mark.parametrize("shape, dtype", [((40, 3, 3, 3), torch.float32), ((257,), torch.float32),
                                          ((64, 70), torch.float16), ((64, 70), torch.bfloat16),
                                          ((50, 50), torch.float64)])
def test_codec_round_trips_shapes_and_dtypes(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    codebook = torch.randn(32, generator=gen).to(dtype)
    t = codebook[torch.randint(0, 32, shape, generator=gen)]
    t[torch.rand(shape, generator=gen) < 0.9] = 0
    t.view(-1)[-1] = codebook[3]  # a nonzero at the very end: the last gap
    out = decode_tensor(encode_tensor(t), list(shape), dtype)
    assert out.dtype == dtype and torch.equal(out, t)


def test_long_runs_of_zeros_and_all_zero_tensors():
    t = torch.zeros(100_000)
    assert torch.equal(decode_tensor(encode_tensor(t), [100_000], torch.float32), t)
    t[[0, 70_000, 99_999]] = torch.tensor([1.0, -2.0, 1.0])
    assert torch.equal(decode_tensor(encode_tensor(t), [100_000], torch.float32), t)


def test_too_many_distinct_values_is_not_packed_and_pack_refuses_an_unshared_model():
    assert encode_tensor(torch.randn(1000)) is None
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="share them first with st.share_weights"):
        pack(nn.Sequential(nn.Linear(64, 64)))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, damage):
    st.save(pack(_shared()), tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-40] ^= 0x5A  # inside the last packed blob
    else:
        data = data[: len(data) - 30]
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as err:
        st.load(tmp_path / "m")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
