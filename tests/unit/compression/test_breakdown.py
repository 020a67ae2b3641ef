"""saved_breakdown: a saved folder's bytes by part, read from the files, adding up to them exactly."""

from __future__ import annotations

import json
import struct

import pytest
import torch

import slimtorch as st
from slimtorch.compression import pack, packed_bytes, share_weights
from slimtorch.compression.breakdown import PARTS, saved_breakdown
from slimtorch.io import ModelFileError


def _model(prune: bool = True, bits: int | None = 4):
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=[64, 48, 32, 10])
    if prune:
        st.prune(model, st.MagnitudePrune(sparsity=0.8, scope="global"))
    return share_weights(model, bits=bits) if bits else model


def _file_sizes(folder):
    """(tensor bytes of the safetensors file, bytes of both files), from the file's own length header."""
    data = (folder / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return len(data) - 8 - n, len(data) + (folder / "model.json").stat().st_size


def test_packed_parts_match_packed_bytes_and_add_up_to_the_files(tmp_path):
    model = pack(_model())
    folder = st.save(model, tmp_path / "m")
    parts = saved_breakdown(folder)
    tensor_bytes, disk = _file_sizes(folder)
    assert list(parts) == list(PARTS)
    assert sum(parts.values()) == disk and sum(parts.values()) - parts["metadata"] == tensor_bytes
    ref = packed_bytes(model)  # re-encoded from the model in memory, not read from the file
    assert (parts["codebooks"], parts["indices"], parts["gaps"], parts["blob_headers"]) == \
        (ref["codebook"], ref["indices"], ref["positions"], ref["header"])
    assert parts["biases_other"] == ref["other"] == 4 * (48 + 32 + 10)
    assert parts["weights"] == parts["masks"] == 0


def test_bitmask_parts_are_values_and_one_bit_per_weight(tmp_path):
    model = _model()
    folder = st.save(model, tmp_path / "m")
    parts = saved_breakdown(folder)
    weights = [p for n, p in model.named_parameters() if p.dim() == 2]
    assert parts["masks"] == sum((p.numel() + 7) // 8 for p in weights)
    assert parts["weights"] == 4 * sum(int((p != 0).sum()) for p in weights)
    assert parts["codebooks"] == parts["indices"] == parts["gaps"] == 0
    assert sum(parts.values()) == _file_sizes(folder)[1]


def test_dense_model_is_weights_biases_and_metadata(tmp_path):
    model = _model(prune=False, bits=None)
    folder = st.save(model, tmp_path / "m")
    parts = saved_breakdown(folder)
    assert parts["weights"] == 4 * sum(p.numel() for p in model.parameters() if p.dim() == 2)
    assert parts["biases_other"] == 4 * sum(p.numel() for p in model.parameters() if p.dim() == 1)
    meta = (folder / "model.json").stat().st_size
    assert parts["metadata"] > meta and sum(parts.values()) == _file_sizes(folder)[1]
    assert json.loads((folder / "model.json").read_text())["encodings"] == {}


def test_a_truncated_file_is_one_line(tmp_path):
    folder = st.save(pack(_model()), tmp_path / "m")
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ModelFileError) as err:
        saved_breakdown(folder)
    assert "\n" not in str(err.value)
