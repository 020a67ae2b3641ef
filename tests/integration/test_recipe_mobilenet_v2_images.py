"""recipes/mobilenet_v2-images.yaml: it validates and its pruning scope keeps the residual stream and the last conv
(fast)."""

import re
from pathlib import Path

from torch import nn

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "mobilenet_v2-images.yaml"


def test_recipe_parses_and_its_stages_can_run_in_order():
    from slimtorch.pipeline.prepare import check_stages
    from slimtorch.recipe import load_recipe

    recipe = load_recipe(RECIPE)
    assert [s.name for s in recipe.stages] == ["channel_prune", "distill", "int8", "export_onnx", "measure"]
    prune, distill = recipe.stages[0].config, recipe.stages[1].config
    assert prune.reconstruct and prune.scoring == "l2" and distill.alpha == 1.0 and distill.label_free
    check_stages(recipe)  # raises ConfigError (naming the stage) when a stage cannot run where it stands


def test_ignore_keeps_exactly_the_stem_the_block_outputs_and_the_last_conv():
    import slimtorch as st
    from slimtorch.recipe import load_recipe

    ignore = load_recipe(RECIPE).stages[0].config.ignore
    model = st.models.build("mobilenet_v2")
    kept = {n for n, m in model.named_modules() if any(re.fullmatch(p, n) for p in ignore)}
    # the projections are the blocks' only bare convs (expand and depthwise are Conv-BN-ReLU6 modules)
    project = {n for n, m in model.named_modules()
               if re.fullmatch(r"features\.\d+\.conv\.\d+", n) and isinstance(m, nn.Conv2d)}
    layers = {n for n in kept if not isinstance(model.get_submodule(n), nn.BatchNorm2d)}  # BNs follow their conv
    assert len(project) == 17 and layers == project | {"features.0.0", "features.18.0"}


def test_the_per_block_ratios_bring_the_macs_under_0_6x_with_about_30_percent_of_channels():
    import torch

    import slimtorch as st
    from slimtorch.bench.counts import count_macs
    from slimtorch.recipe import load_recipe

    cfg = load_recipe(RECIPE).stages[0].config.replace(reconstruct=False)  # the cut alone: no calibration
    model, x = st.models.build("mobilenet_v2").eval(), torch.randn(1, 3, 224, 224)
    before = count_macs(model, (x,))
    chans = lambda m: sum(c.out_channels for c in m.modules() if isinstance(c, nn.Conv2d))  # noqa: E731
    n0 = chans(model)
    st.prune(model, cfg, example_inputs=x)
    assert count_macs(model, (x,)) / before <= 0.6
    assert 0.28 <= 1 - chans(model) / n0 <= 0.34
