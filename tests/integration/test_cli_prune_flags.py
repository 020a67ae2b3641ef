"""`slimtorch prune`: flags the CLI cannot serve are refused by name, and a pruned folder keeps the
metadata of the folder it came from (class names), so later commands still score it correctly."""

import json

import torch

import slimtorch as st
from slimtorch.cli import main


def test_taylor_importance_is_refused_as_an_importance_choice(capsys):
    assert main(["prune", "lenet5", "--importance", "taylor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: argument --importance:") and "'l2'" in err


def test_pruned_folder_keeps_the_class_names_of_its_source(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[3, 8, 3]), tmp_path / "src",
            extra={"classes": ["cat", "dog", "owl"], "input_shape": [3]})
    out = tmp_path / "pruned"
    assert main(["prune", str(tmp_path / "src"), "--ratio", "0.5", "--out", str(out)]) == 0
    extra = json.loads((out / "model.json").read_text())["extra"]
    assert extra["classes"] == ["cat", "dog", "owl"] and extra["input_shape"] == [3]
    assert st.load(out).fc1.out_features == 4


def test_a_folder_from_slimtorch_train_prunes_and_benches_without_an_input_shape(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--model-arg", "widths=[64,16,10]", "--data", "digits", "--limit", "100",
                 "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "model" / "model.json").read_text())["extra"]["input_shape"] == [1, 8, 8]
    assert main(["prune", str(out / "model"), "--ratio", "0.5", "--out", str(tmp_path / "pruned")]) == 0
    assert st.load(tmp_path / "pruned").fc1.out_features == 8
