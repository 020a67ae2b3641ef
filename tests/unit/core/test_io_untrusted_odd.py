"""Odd model folders someone else made: each is one ModelFileError line naming the file, never another error."""

import json
import struct

import pytest
import torch

import slimtorch as st
from slimtorch.untrusted import ModelFileError


@pytest.fixture()
def saved(tmp_path):
    directory = tmp_path / "m"
    st.save(st.models.build("mlp", widths=[4, 8, 3]), directory)
    return directory


def _edit_json(directory, change):
    meta = json.loads((directory / "model.json").read_text())
    change(meta)
    (directory / "model.json").write_text(json.dumps(meta))


def _header(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: (d / "model.json").write_bytes(b"[" * 100_000 + b"]" * 100_000), r"model.json: not valid JSON"),
        (
            lambda d: (d / "model.json").write_bytes(b'{"spec":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
            r"model.json: not valid JSON \(nested too deeply\)",
        ),
        (
            lambda d: _edit_json(d, lambda m: m.update(transforms=[{"kind": ["a"]}])),
            r"model.json: 'transforms' must be a list of objects with a string 'kind'",
        ),
        (
            lambda d: _edit_json(d, lambda m: m.update(version=99)),
            r"model.json: format version 99 is newer than this slimtorch reads \(1\)",
        ),
        (lambda d: _edit_json(d, lambda m: m.update(version="1")), r"model.json: format version '1'"),
        (
            lambda d: _edit_json(d, lambda m: m.update(format="keras")),
            r"model.json: format 'keras' is not a slimtorch model",
        ),
        (
            lambda d: (d / "model.safetensors").write_bytes(_header(b"[]")),
            r"model.safetensors: corrupt safetensors header",
        ),
        (
            lambda d: (d / "model.safetensors").write_bytes(_header(b"5")),
            r"model.safetensors: corrupt safetensors header",
        ),
        (
            lambda d: (d / "model.safetensors").write_bytes(_header(b"[" * 50_000 + b"]" * 50_000)),
            r"model.safetensors: corrupt safetensors header",
        ),
        (lambda d: ((d / "model.json").unlink(), (d / "model.json").mkdir()), r"model.json: not a file"),
    ],
)
def test_odd_folders_are_one_line_errors_naming_the_file(saved, damage, match):
    damage(saved)
    with pytest.raises(ModelFileError, match=match) as info:
        st.load(saved)
    assert "\n" not in str(info.value)


def test_a_plain_folder_still_loads(saved):
    assert st.load(saved)(torch.zeros(2, 4)).shape == (2, 3)


def test_a_fifo_in_place_of_the_weights_is_refused_without_blocking(saved):
    (saved / "model.safetensors").unlink()
    import os

    os.mkfifo(saved / "model.safetensors")
    with pytest.raises(ModelFileError, match=r"model.safetensors: not a file"):
        st.load(saved)
