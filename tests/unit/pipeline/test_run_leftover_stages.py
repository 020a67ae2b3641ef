"""A second recipe run into the same --out leaves the first recipe's stage folders beside its own (a measure-only
recipe after a train recipe: stages/00-train stays): the run says which folders are not its own."""

import yaml

from slimtorch.cli import main

MEASURE = {"measure": {"batch_sizes": [1], "repeats": 1, "warmup": 0, "backends": ["eager"]}}


def _recipe(tmp_path, name, stages):
    recipe = {"model": {"name": "mlp", "widths": [64, 16, 10]}, "data": {"name": "digits", "train_subset": 200},
              "train": {"epochs": 1}, "stages": stages}
    (tmp_path / name).write_text(yaml.safe_dump(recipe))
    return str(tmp_path / name)


def test_a_run_names_stage_folders_left_by_an_earlier_recipe(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["run", _recipe(tmp_path, "a.yaml", ["train", MEASURE]), "--out", out, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", _recipe(tmp_path, "b.yaml", [MEASURE]), "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "note: stages/00-train is left from an earlier recipe in this folder, not this run's" in printed
    # the same recipe again: nothing left over, nothing said
    assert main(["run", _recipe(tmp_path, "a.yaml", ["train", MEASURE]), "--out", out]) == 0
    assert "left from an earlier recipe" not in capsys.readouterr().out
