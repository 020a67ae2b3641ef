"""Recipe stages ``share_weights`` then ``pack`` through the runner: bytes per stage, the same weights on disk."""

from __future__ import annotations

import pytest
import torch

import slimtorch as st
from slimtorch.compression import clusters
from slimtorch.pipeline import runner
from slimtorch.pruning.masks import prunable
from slimtorch.recipe import parse_recipe

RECIPE = {
    "model": {"name": "mlp", "widths": [64, 32, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 256, "test_subset": 128},
    "train": {"epochs": 2, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "quiet": True},
    "stages": [
        "train",
        {"magnitude_prune": {"sparsity": 0.8, "scope": "global"}},
        {"share_weights": {"bits": 4, "epochs": 1}, "fit": {"lr": 0.001}},
        "pack",
        {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [8], "backends": ["eager"], "sensitivity": False}},
    ],
    "report": {"plots": False},
}


def test_share_then_pack_stages(tmp_path):
    recipe = parse_recipe(RECIPE, name="dc")
    assert [s.kind for s in recipe.stages][2:4] == ["hook", "transform"]
    assert recipe.stages[2].train.epochs == 1 and recipe.stages[2].train.lr == 0.001
    result = runner.run(recipe, out=tmp_path / "run", quiet=True)
    rows = {r["label"]: r for r in result.metrics["measure"]["rows"]}
    pruned, shared, packed = rows["magnitude_prune"], rows["share_weights"], rows["pack"]
    assert packed["bytes_on_disk"] < shared["bytes_on_disk"] / 2  # the pack stage is where the bytes go
    assert packed["nonzero_params"] == shared["nonzero_params"] == pruned["nonzero_params"]
    for row in rows.values():  # the measure stage splits every stage's saved bytes by part
        assert sum(row["size_breakdown"].values()) == row["bytes_on_disk"], row["label"]
    assert packed["size_breakdown"]["indices"] > 0 and packed["size_breakdown"]["weights"] == 0
    assert shared["size_breakdown"]["masks"] > 0 and shared["size_breakdown"]["indices"] == 0
    model = st.load(tmp_path / "run" / "stages" / "03-pack")
    shared_model = st.load(tmp_path / "run" / "stages" / "02-share_weights")
    for name, p in prunable(model).items():
        assert clusters(p)[0].numel() <= 16
        assert torch.equal(p, prunable(shared_model)[name])  # packing changed the file, not the weights


@pytest.mark.parametrize("file, names", [
    ("mnist-deep-compression.yaml", ["train", "gradual_prune", "share_weights", "pack", "measure"]),
    ("mnist-demo-deep-compression.yaml",
     ["train", "channel_prune", "distill", "gradual_prune", "share_weights", "pack", "measure"]),
])
def test_the_shipped_recipes_parse(file, names):
    from pathlib import Path

    from slimtorch.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[3] / "recipes" / file)
    assert [s.name for s in recipe.stages] == names
    share = recipe.stages[names.index("share_weights")]
    assert share.train.lr == 0.0005 and share.config.bits == 5
