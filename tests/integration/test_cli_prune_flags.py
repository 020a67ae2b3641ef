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
