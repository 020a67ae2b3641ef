"""`slimtorch bench RUN` of a run whose stages saved no model (a measure-only recipe: its model is the recipe's
input, built from recipe.json) said "not finished" or "holds no saved model"; bench now rebuilds and measures that
model, other commands say what the run holds, and a finished run whose final stage folder was deleted says so."""

import json
import shutil

import pytest
import yaml

from slimtorch.cli import main
from slimtorch.cli.folders import UsageError, model_dir

MEASURE = {"measure": {"batch_sizes": [1], "repeats": 1, "warmup": 0, "backends": ["eager"]}}


def _run(tmp_path, stages):
    recipe = {"model": {"name": "mlp", "widths": [64, 16, 10]}, "data": {"name": "digits", "train_subset": 100},
              "stages": stages}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(run), "--quiet"]) == 0
    return run


@pytest.mark.parametrize("stages", [[MEASURE], ["export_onnx", MEASURE]], ids=["measure", "export+measure"])
def test_bench_of_a_measure_only_run_measures_the_recipes_model(tmp_path, capsys, stages):
    run = _run(tmp_path, stages)
    (run / "stages").mkdir(exist_ok=True)  # an earlier run's leftover folder: it said "not finished"
    measured = json.loads((run / "metrics.json").read_text())["measure"]["rows"][0]
    capsys.readouterr()
    out = tmp_path / "b.json"
    assert main(["bench", str(run), "--data", "digits", "--repeats", "1", "--batch-sizes", "1",
                 "--backends", "eager", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the recipe's model (mlp), rebuilt from" in printed
    row = json.loads(out.read_text())["rows"][0]
    assert row["params"] == measured["params"] == 64 * 16 + 16 + 16 * 10 + 10
    assert row["accuracy"] == pytest.approx(measured["accuracy"], abs=1e-9)  # the same seeded weights
    # without --data: the input shape comes from the run's model.onnx
    assert main(["bench", str(run), "--repeats", "1", "--batch-sizes", "1", "--backends", "eager"]) == 0


def test_other_commands_say_what_a_measure_only_run_holds(tmp_path, capsys):
    run = _run(tmp_path, [MEASURE])
    with pytest.raises(UsageError) as err:
        model_dir(run, "model")
    msg = str(err.value)
    assert msg.startswith(f"model: {run} is a finished run whose stages saved no model (its recipe: measure)")
    assert "the recipe's mlp" in msg and "\n" not in msg


def test_a_finished_run_whose_final_stage_folder_was_deleted_says_so(tmp_path):
    run = _run(tmp_path, [{"channel_prune": {"ratio": 0.5}}, MEASURE])
    shutil.rmtree(run / "stages" / "00-channel_prune")
    with pytest.raises(UsageError) as err:
        model_dir(run)
    msg = str(err.value)
    assert "not finished" not in msg and "\n" not in msg
    assert f"{run}'s final stage 'channel_prune' has no saved model (00-channel_prune deleted or moved?)" in msg
    assert "slimtorch run" in msg  # rerunning the recipe rebuilds it


def test_a_measure_only_run_of_a_trusted_factory_is_rebuilt(tmp_path, capsys, monkeypatch):
    (tmp_path / "usernets.py").write_text(
        "import torch\n\ndef make(width=8):\n    return torch.nn.Sequential(torch.nn.Flatten(), "
        "torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = {"model": {"factory": "usernets:make", "kwargs": {"width": 8}}, "data": {"name": "digits"},
              "stages": [MEASURE]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(run), "--quiet", "--trust-factory"]) == 0
    capsys.readouterr()
    assert main(["bench", str(run), "--repeats", "1", "--batch-sizes", "1", "--backends", "eager"]) == 2
    assert "--trust-factory to rebuild it" in capsys.readouterr().err
    # before: "recipe model no longer builds: ... only zoo models load by default" although it was trusted
    measured = json.loads((run / "metrics.json").read_text())["measure"]["rows"][0]
    out = tmp_path / "b.json"
    assert main(["bench", str(run), "--trust-factory", "--data", "digits", "--repeats", "1", "--batch-sizes", "1",
                 "--backends", "eager", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["params"] == measured["params"] == 64 * 8 + 8 + 8 * 10 + 10
    assert row["accuracy"] == pytest.approx(measured["accuracy"], abs=1e-9)
