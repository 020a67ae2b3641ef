"""A recipe's distill stage with ``teacher: baseline`` runs st.distill and records what it kept."""

import json
import re

import pytest

from slimtorch.pipeline import runner
from slimtorch.recipe import parse_recipe

MEASURE = {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [8], "backends": ["eager"], "sensitivity": False}}


def _recipe(distill: dict) -> dict:
    return {
        "model": {"name": "mlp", "widths": [64, 32, 10]},
        "data": {"name": "digits", "batch_size": 32, "train_subset": 300, "test_subset": 100},
        "train": {"epochs": 2, "optimizer": "adam", "lr": 0.01, "quiet": True},
        "stages": ["train", {"channel_prune": {"ratio": 0.5}}, {"distill": {"teacher": "baseline", **distill}},
                   MEASURE],
        "report": {"plots": False},
    }


@pytest.mark.filterwarnings("ignore:distillation was not better")
@pytest.mark.parametrize("fields, mode", [({"alpha": 1.0, "compare": False, "epochs": 3}, "labels"),
                                          ({"alpha": 0.9, "epochs": 1}, "compare")])
def test_recipe_with_teacher_baseline_runs_end_to_end(tmp_path, fields, mode):
    result = runner.run(parse_recipe(_recipe(fields), name="kd"), out=tmp_path / "run", quiet=True)
    stage = next(s for s in result.metrics["stages"] if s["name"] == "distill")
    report = stage["info"]["distill"]
    assert report["mode"] == mode
    assert 0.5 < stage["info"]["eval_accuracy"] <= 1 and stage["history"]["eval_accuracy"][-1] is not None
    if mode == "labels":  # best epoch by fidelity to the unpruned baseline
        assert 0 <= report["kept_epoch"] <= 3 and len(report["val_fidelity"]) >= 2
        assert report["val_fidelity"][report["kept_epoch"]]["agreement_top1"] == max(
            e["agreement_top1"] for e in report["val_fidelity"])
    else:
        assert report["choice"] in ("alone", "distill") and set(report["val_accuracy"]) == {"alone", "distill"}
    json.dumps(result.metrics)  # the report is JSON-ready


def _unlabeled_npz(tmp_path, rows=160):
    import numpy as np
    import torch

    x = torch.randn(rows, 1, 28, 28, generator=torch.Generator().manual_seed(0)).numpy()
    np.savez(tmp_path / "photos.npz", x=x, y=-np.ones(rows, dtype=np.int64))
    return f"npz:{tmp_path / 'photos.npz'}"


def test_label_free_recipe_on_a_pretrained_model_uses_the_input_as_baseline(tmp_path):
    pytest.importorskip("ccexam")  # the pretrained mnist_cnn's weights
    recipe = {"model": {"name": "mnist_cnn", "pretrained": True}, "data": {"name": _unlabeled_npz(tmp_path)},
              "train": {"epochs": 2, "optimizer": "adam", "lr": 0.001, "batch_size": 32, "quiet": True},
              "stages": [{"channel_prune": {"ratio": 0.5}}, {"distill": {"teacher": "baseline", "alpha": 1.0}},
                         MEASURE], "report": {"plots": False}}
    result = runner.run(parse_recipe(recipe, name="unlabeled"), out=tmp_path / "run", quiet=True)
    assert result.metrics["baseline"] == "input"
    report = next(s for s in result.metrics["stages"] if s["name"] == "distill")["info"]["distill"]
    assert report["mode"] == "label_free" and report["kind"] == "classifier"
    fid = report["val_fidelity"]
    assert len(fid) == 3 and fid[report["kept_epoch"]]["kl"] <= fid[0]["kl"]


@pytest.mark.parametrize("stages, where", [(["train"], "stages[0].train"),
                                           ([{"distill": {"teacher": "baseline", "alpha": 0.5}}], "stages[0].distill")])
def test_unlabeled_data_reaches_only_label_free_stages(tmp_path, stages, where):
    from slimtorch.config import ConfigError

    recipe = {"model": {"name": "mnist_cnn", "pretrained": True}, "data": {"name": _unlabeled_npz(tmp_path)},
              "stages": stages}
    with pytest.raises(ConfigError, match=rf"^{re.escape(where)}: trains on labels, but data .* has none"):
        runner.run(parse_recipe(recipe, name="unlabeled"), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
