"""`slimtorch run optimized.yaml` rebuilds the model `slimtorch optimize` chose: same widths, same test accuracy."""

import json

import pytest

from slimtorch.cli import main


@pytest.mark.slow
def test_recipe_reproduces_the_chosen_model(tmp_path, capsys):
    out, run = tmp_path / "opt", tmp_path / "run"
    argv = ["optimize", "mlp", "--data", "digits", "--model-arg", "widths=[64,64,32,10]", "--epochs", "4",
            "--max-drop", "2", "--minutes", "1", "--batch-size", "16", "--out", str(out)]
    assert main(argv) == 0
    chosen = json.loads((out / "candidates.json").read_text())["chosen"]
    assert main(["run", str(out / "optimized.yaml"), "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    rows = {r["label"]: r for r in metrics["measure"]["rows"]}
    final = rows[list(rows)[-1]]
    assert final["params"] == chosen["params"]
    assert abs(100 * final["accuracy"] - chosen["test"]) < 0.3  # the same training, one image of 359 at most
