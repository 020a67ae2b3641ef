"""A recipe's distill stage with ``teacher: baseline`` runs st.distill and records what it kept."""

import json

import pytest

from slimtorch.pipeline import runner
from slimtorch.recipe import parse_recipe

MEASURE = {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [8], "backends": ["eager"], "sensitivity": False}}


def _recipe(distill: dict) -> dict:
    return {
        "model": {"name": "mlp", "widths": [64, 32, 10]},
        "data": {"name": "digits", "batch_size": 32, "train_subset": 300, "test_subset": 100},
        "train": {"epochs": 2, "optimizer": "adam", "lr": 0.01, "quiet": True},
        "stages": ["train", {"channel_prune": {"ratio": 0.5}}, {"distill": {"teacher": "baseline", **distill}}, MEASURE],
        "report": {"plots": False},
    }


@pytest.mark.parametrize("fields, mode", [({"alpha": 1.0, "compare": False, "epochs": 3}, "labels"),
                                          ({"alpha": 0.9, "epochs": 1}, "compare")])
def test_recipe_with_teacher_baseline_runs_end_to_end(tmp_path, fields, mode):
    result = runner.run(parse_recipe(_recipe(fields), name="kd"), out=tmp_path / "run", quiet=True)
    stage = next(s for s in result.metrics["stages"] if s["name"] == "distill")
    report = stage["info"]["distill"]
    assert report["mode"] == mode
    if mode == "labels":  # best epoch by fidelity to the unpruned baseline
        assert 0 <= report["kept_epoch"] <= 3 and len(report["val_fidelity"]) >= 2
        assert report["val_fidelity"][report["kept_epoch"]]["agreement_top1"] == max(
            e["agreement_top1"] for e in report["val_fidelity"])
    else:
        assert report["choice"] in ("alone", "distill") and set(report["val_accuracy"]) == {"alone", "distill"}
    json.dumps(result.metrics)  # the report is JSON-ready
