"""`slimtorch optimize ZOO --model-arg pretrained=true` on labelled data without --epochs: nothing trains the shipped
weights, so optimized.yaml's train: section must be the settings the recovery used (lr 0.01), not training from
scratch's lr 0.1 / 3 epochs, which a user adding `- train` would run on shipped weights; the recipe still rebuilds
the chosen model bit for bit."""

import pytest
import torch
import yaml

import slimtorch as st
from slimtorch.cli import main


@pytest.mark.slow
def test_optimized_yaml_of_shipped_weights_holds_the_recovery_settings_and_reproduces(tmp_path, capsys):
    out = tmp_path / "opt"
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--data", "mnist", "--train-subset", "200",
                 "--max-drop", "99", "--minutes", "1", "--recovery-epochs", "1", "--no-int8",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    recipe = yaml.safe_load((out / "optimized.yaml").read_text())
    assert not any("train" in s for s in recipe["stages"])
    assert recipe["train"]["lr"] == 0.01 and recipe["train"]["epochs"] == 1  # what the recovery did
    distill = [s for s in recipe["stages"] if "distill" in s]
    # a pruned candidate was tried and chosen (18 s of budget tried none on a loaded CI machine: 1 minute here)
    assert distill and distill[0]["distill"]["epochs"] == 1
    # `slimtorch run` rebuilds the chosen model (the measure stage only times it: one batch size here)
    recipe["stages"][-1] = {"measure": {"batch_sizes": [1], "repeats": 1, "warmup": 0, "backends": ["eager"]}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    (last,) = (tmp_path / "run" / "stages").glob("*-distill")
    want, got = st.load(out / "model").state_dict(), st.load(last).state_dict()
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
