"""The size objective's weight-sharing step: a shared, packed candidate is smaller, judged on validation with the
margin, and the recipe ends with the stages that rebuild it."""

import pytest
import torch

import slimtorch as st
from slimtorch.search.choose import try_share
from slimtorch.search.clock import Clock
from slimtorch.search.result import OptimizeResult
from slimtorch.search.score import Scorer
from slimtorch.search.space import Group
from slimtorch.search.trial import Trial


@pytest.mark.slow  # two epochs of centroid fine-tuning on digits and a pack: ~15 s on 2 busy cores
def test_shared_candidate_is_smaller_and_its_recipe_rebuilds_it():
    from slimtorch.compression import clusters
    from slimtorch.pipeline.recipe import parse_recipe

    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 64, 10))
    cfg = st.TrainConfig(epochs=3, batch_size=64, lr=0.1, momentum=0.9, quiet=True)
    st.fit(model, train, cfg)
    model.eval()
    val = Scorer(test, model, n_test=len(test))
    base = Trial(0, (64,), val(model), 0, st.bench.saved_bytes(model), {"eager": 1.0}, 1.0, model=model)
    res = OptimizeResult(model=model, baseline=base, objective="size", metric="accuracy", max_drop=3.0,
                         batch_size=8, groups=[Group(("fc",), 64)])
    res.recipe = {"head": {"stages": [{"train": {}}]}, "recovery": []}
    res.chosen = base
    try_share(res, base, train, cfg, val, train.x[:8], Clock(600.0), lambda m: None)
    shared = [t for t in res.trials if t.share]
    assert shared and shared[0].share["bits"] == 5 and shared[0].bytes < base.bytes / 3  # 5 of 32 bits + coding
    assert res.chosen is shared[-1] and res.chosen.val >= base.val - 3.0 - 1e-9
    weights = [p for p in res.chosen.model.parameters() if p.dim() == 2]
    assert weights and all(len(clusters(w)[0]) <= 2 ** res.chosen.share["bits"] for w in weights)
    stages = res.stages()
    assert list(stages[-2]) == ["share_weights", "fit"] and list(stages[-1]) == ["pack"]
    parse_recipe({"model": {"name": "mlp"}, "data": {"name": "digits"}, "stages": stages})


def test_no_time_left_means_no_sharing_and_a_note():
    base = Trial(0, (4,), 90.0, 0, 100, {"eager": 1.0}, 1.0, seconds=50.0, model="m")
    res = OptimizeResult(model=None, baseline=base, objective="size", metric="accuracy", max_drop=1.0,
                         batch_size=8, groups=[Group(("fc",), 4)])
    res.trials.append(Trial(1, (2,), 90.0, 0, 50, {"eager": 1.0}, 1.0, seconds=50.0, model="m"))
    clock = Clock(10.0)
    try_share(res, base, None, None, None, None, clock, lambda m: None)
    assert len(res.trials) == 1 and "weight sharing at 5 bits was not tried" in clock.cuts[0]
