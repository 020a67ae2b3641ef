"""save/load: safetensors + JSON, atomic writes, transforms replayed, codecs applied."""

import json

import pytest
import torch

from slimtorch import io


def _linear():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return io.set_spec(model, {"factory": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 3}})


def test_round_trip_identical_tensors(tmp_path):
    model = _linear()
    io.save(model, tmp_path / "m", extra={"note": "hi"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.safetensors"]
    again = io.load(tmp_path / "m", trust_factory=True)
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["extra"] == {"note": "hi"} and meta["spec"]["factory"] == "torch.nn:Linear"


def test_files_hold_no_pickle(tmp_path):
    io.save(_linear(), tmp_path)
    raw = (tmp_path / "model.safetensors").read_bytes()
    assert b"\x80\x04" not in raw[:8] and raw[8:9] == b"{"  # safetensors: u64 header length, then JSON


def test_model_without_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has no build spec"):
        io.save(torch.nn.Linear(2, 2), tmp_path)


def test_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="written by st.save"):
        io.load(tmp_path / "nothing")


def test_transform_replayed_on_load(tmp_path):
    def shrink(model, t):
        return torch.nn.Linear(model.in_features, t["out"])

    io.register_rebuilder("_test_shrink", shrink)
    small = io.set_spec(torch.nn.Linear(4, 2), io.get_spec(_linear()))
    io.record_transform(small, "_test_shrink", {"out": 2})
    io.save(small, tmp_path)
    again = io.load(tmp_path, trust_factory=["torch.nn:Linear"])
    assert again.out_features == 2
    assert io.transforms(again) == [{"kind": "_test_shrink", "out": 2}]
    torch.testing.assert_close(again.weight, small.weight)


def test_unknown_transform_is_a_clear_error(tmp_path):
    model = _linear()
    io.record_transform(model, "_never_registered", {})
    io.save(model, tmp_path)
    with pytest.raises(ValueError, match="unknown to this slimtorch"):
        io.load(tmp_path, trust_factory=True)


def test_codec_encodes_and_decodes(tmp_path):
    def enc(t):
        return ({"half": t.to(torch.float16)}, {"dtype": "float32"}) if t.dim() == 2 else None

    def dec(parts, meta):
        return parts["half"].to(getattr(torch, meta["dtype"]))

    io.register_codec("_test_half", enc, dec, lambda parts, meta: parts["half"])
    try:
        model = _linear()
        io.save(model, tmp_path)
        again = io.load(tmp_path, trust_factory=True)
        torch.testing.assert_close(again.weight, model.weight, atol=1e-3, rtol=1e-3)
        meta = json.loads((tmp_path / "model.json").read_text())
        assert meta["encodings"]["weight"]["codec"] == "_test_half"
    finally:
        io._CODECS.pop("_test_half")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def boom(tmp):
        open(tmp, "w").write("partial")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        io.atomic_write(target, boom)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_bad_factory_is_reported():
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg.mod'"):
        io.import_factory("no_such_pkg.mod:fn")
    with pytest.raises(ValueError, match="must look like"):
        io.import_factory("torch.nn.Linear")
