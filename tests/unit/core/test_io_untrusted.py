"""Loading folders we did not write: no code runs, every declared size is checked, errors are one line."""

import json

import pytest
import torch

import slimtorch as st
from slimtorch import io
from slimtorch.untrusted import ModelFileError, UntrustedFactoryError


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    directory = tmp_path / "m"
    st.save(st.models.build("lenet5"), directory)
    return directory


def _edit_json(directory, change):
    meta = json.loads((directory / "model.json").read_text())
    change(meta)
    (directory / "model.json").write_text(json.dumps(meta))


def test_factory_in_a_file_never_runs_by_default(saved, tmp_path):
    marker = tmp_path / "pwned"
    _edit_json(saved, lambda m: m.update(spec={"factory": "os:system", "kwargs": {"command": f"touch {marker}"}}))
    opt_in = r"names the factory 'os:system'.*trust_factory=True.*--trust-factory"
    with pytest.raises(UntrustedFactoryError, match=opt_in):
        st.load(saved)
    with pytest.raises(UntrustedFactoryError):
        st.load(saved, trust_factory=["torch.nn:Linear"])  # trusting one factory is not trusting all
    assert not marker.exists()


def test_a_trusted_factory_that_builds_no_module_is_one_line(saved):
    _edit_json(saved, lambda m: m.update(spec={"factory": "builtins:int", "kwargs": {}}))
    with pytest.raises(ModelFileError, match=r"rebuild the architecture \(factory 'builtins:int' returned int, not"):
        st.load(saved, trust_factory=True)


def test_trust_is_explicit_per_call_or_per_block(tmp_path):
    model = io.set_spec(torch.nn.Linear(4, 3), {"factory": "torch.nn:Linear",
                                                "kwargs": {"in_features": 4, "out_features": 3}})
    st.save(model, tmp_path)
    with pytest.raises(UntrustedFactoryError):
        st.load(tmp_path)
    torch.testing.assert_close(st.load(tmp_path, trust_factory=["torch.nn:Linear"]).weight, model.weight)
    with io.trusting(True):
        torch.testing.assert_close(st.load(tmp_path).weight, model.weight)
        with pytest.raises(UntrustedFactoryError):
            st.load(tmp_path, trust_factory=False)  # the caller's word wins over the block's
    with pytest.raises(UntrustedFactoryError):
        st.load(tmp_path)


def test_huge_declared_widths_are_refused_before_allocating(saved):
    _edit_json(saved, lambda m: m["spec"]["kwargs"].update(num_classes=2_000_000_000))
    with pytest.raises(ModelFileError, match=r"'classifier.4.weight' is \[10, 84\] in the file but \[2000000000, 84\]"):
        st.load(saved)


def test_huge_declared_sparse_shape_is_refused(tmp_path):
    torch.manual_seed(0)
    model = st.prune(st.models.build("lenet5"), st.MagnitudePrune(sparsity=0.9))
    st.save(model, tmp_path)
    _edit_json(tmp_path, lambda m: m["encodings"]["classifier.0.weight"]["meta"].update(shape=[1_000_000, 1_000_000]))
    with pytest.raises(ModelFileError, match=r"safetensors: tensor 'classifier.0.weight': bitmask .* cannot hold"):
        st.load(tmp_path)


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "model.json").write_text("{not json"), r"model.json: not valid JSON"),
    (lambda d: (d / "model.json").write_bytes(b"\xff\xfe"), r"model.json: not valid JSON"),
    (lambda d: (d / "model.json").write_text("[]"), r"model.json: expected a JSON object"),
    (lambda d: _edit_json(d, lambda m: m.pop("spec")), r"model.json: 'spec' must be an object"),
    (lambda d: _edit_json(d, lambda m: m.update(transforms="x")), r"model.json: 'transforms' must be a list"),
    (lambda d: _edit_json(d, lambda m: m["spec"].update(name="no_such_net")), r"model.json: cannot rebuild"),
    (lambda d: _edit_json(d, lambda m: m.update(transforms=[{"kind": "nope"}])), r"transform 'nope', unknown"),
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-100]),
     r"model.safetensors: .*(truncated|outside the file)"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x01"), r"model.safetensors: truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64), r"safetensors: truncated or not a safetensors"),
    (lambda d: _edit_json(d, lambda m: m.update(extra=[])), r"model.json: 'extra' must be an object, got list"),
    (lambda d: _edit_json(d, lambda m: m.update(extra={"input_shape": [-4]})),
     r"model.json: extra.input_shape is \[-4\]; allowed: a list of positive integers"),
    (lambda d: _edit_json(d, lambda m: m.update(extra={"input_shape": "1,28,28"})),
     r"extra.input_shape is \"1,28,28\""),
    (lambda d: _edit_json(d, lambda m: m.update(extra={"classes": 5})), r"extra.classes is 5; allowed: a list of"),
    (lambda d: _edit_json(d, lambda m: m.update(extra={"stage": [1]})), r"extra.stage is \[1\]; allowed: a string"),
])
def test_damaged_files_are_one_line_errors_naming_the_file(saved, damage, match):
    damage(saved)
    with pytest.raises(ModelFileError, match=match) as info:
        st.load(saved)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("keep", [{"1": [0]}, {"fc1.weight": "x"}, "x"])
def test_a_tampered_transform_is_one_line(tmp_path, keep):
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=(8, 6, 3))
    st.save(st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=torch.randn(2, 8)), tmp_path)

    def tamper(meta):
        for t in meta["transforms"]:
            for key in [k for k in t if k != "kind"]:
                t[key] = keep
    _edit_json(tmp_path, tamper)
    with pytest.raises(ModelFileError, match=r"model.json: cannot replay transform") as info:
        st.load(tmp_path)
    assert "\n" not in str(info.value)


def test_tensors_of_the_wrong_architecture_are_refused(saved, tmp_path):
    st.save(st.models.build("lenet5", num_classes=3), tmp_path / "other")
    (saved / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match=r"'classifier.4.weight' is \[3, 84\] in the file but \[10, 84\]"):
        st.load(saved)


def test_onnx_export_is_atomic(tmp_path, monkeypatch):
    import onnx

    model = st.models.build("mlp", widths=(4, 3, 2))
    path = tmp_path / "model.onnx"
    st.export_onnx(model, path, example_inputs=torch.randn(1, 4))
    before = path.read_bytes()

    def crash(proto, target):
        open(target, "wb").write(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        st.export_onnx(model, path, example_inputs=torch.randn(1, 4))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_extra_fields_slimtorch_writes_load_back(saved):
    _edit_json(saved, lambda m: m.update(extra={"input_shape": [1, 28, 28], "classes": None, "stage": "train",
                                                "anything": {"else": [1]}}))
    assert st.load(saved)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
