"""When the search kept the original's BatchNorm statistics (the re-estimate hurt the original itself), so does the
recipe it writes: its channel_prune stages say recalibrate_bn: false, and the pipeline's prune stage obeys."""

import pytest
import torch

import slimtorch as st
from slimtorch.pipeline.recipe import parse_recipe
from slimtorch.search.result import OptimizeResult
from slimtorch.search.space import Group
from slimtorch.search.trial import Trial


@pytest.mark.parametrize("bn_recal", [True, False])
def test_the_recipes_prune_stages_carry_the_searchs_batchnorm_choice(bn_recal):
    base = Trial(0, (4,), 90.0, 0, 100, {"eager": 1.0}, 1.0, model="m")
    res = OptimizeResult(model=None, baseline=base, objective="latency", metric="agreement", max_drop=5.0,
                         batch_size=8, groups=[Group(("fc",), 4)], bn_recal=bn_recal)
    res.chosen = Trial(1, (2,), 90.0, 0, 50, {"eager": 1.0}, 0.5, model="m")
    prune = res.stages()[0]["channel_prune"]
    assert prune.get("recalibrate_bn", True) is bn_recal
    recipe = parse_recipe({"model": {"name": "mlp"}, "data": {"name": "digits"}, "stages": res.stages()})
    assert recipe.stages[0].config.recalibrate_bn is bn_recal


@pytest.mark.parametrize("recalibrate", [True, False])
def test_the_pipelines_prune_stage_reestimates_batchnorm_only_when_asked(tmp_path, recalibrate):
    from slimtorch.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: resnet_cifar, kwargs: {depth: 8, in_channels: 1, width: 8}}\n"
                      "data: {name: digits, batch_size: 32, train_subset: 64, test_subset: 16}\n"
                      f"stages: [{{channel_prune: {{ratio: 0.5, recalibrate_bn: {str(recalibrate).lower()}}}}}]\n")
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    folder = next(p for p in (tmp_path / "run" / "stages").iterdir() if "channel_prune" in p.name)
    model = st.load(next(p.parent for p in folder.rglob("model.json")))
    mean = model.bn1.running_mean  # never trained: zeros unless the stage re-estimated it
    assert bool(torch.any(mean != 0)) is recalibrate
