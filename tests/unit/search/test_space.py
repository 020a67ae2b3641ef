"""The search space: per-group kept counts become verified ChannelPrune stages with exactly those widths."""

import copy
import math

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.search.optimize import _params
from slimtorch.search.space import apply, ratio_for, space_of, widths


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 16, 84, 120, 255, 1000])
def test_ratio_for_removes_exactly_n_minus_k(n):
    for k in range(1, n + 1):
        r = ratio_for(n, k)
        assert 0 <= r < 1
        assert math.floor(r * n) == n - k  # what ChannelPrune's select() computes


def _lenet():
    torch.manual_seed(0)
    return st.models.build("lenet5").eval(), torch.randn(2, 1, 28, 28)


def test_lenet_groups_and_layers():
    model, x = _lenet()
    space = space_of(model, x[:1])
    assert [g.size for g in space.groups] == [6, 16, 120, 84]
    fc1 = next(layer for layer in space.layers if layer.name == "classifier.0")
    assert fc1.dims(space.groups, (6, 8, 60, 84)) == (8 * 25, 60)  # flatten: 25 features per channel


@pytest.mark.parametrize("keep", [(3, 8, 40, 20), (6, 16, 120, 10), (1, 1, 1, 1)])
def test_apply_gives_the_asked_widths_and_layer_dims(keep):
    model, x = _lenet()
    space = space_of(model, x[:1])
    pruned = apply(copy.deepcopy(model), space, keep, x[:1])
    assert widths(pruned, space) == keep
    for layer in space.layers:
        w = pruned.get_submodule(layer.name).weight
        assert (w.shape[1], w.shape[0]) == layer.dims(space.groups, keep)
    # the size objective's shape arithmetic equals the real parameter count of the layers
    real = sum(p.numel() for n, p in pruned.named_parameters())
    assert _params(model, space)(keep) == pytest.approx(real)
    assert pruned(x).shape == (2, 10)


def test_stages_ignore_other_groups_and_share_equal_ratios():
    model, x = _lenet()
    space = space_of(model, x[:1])
    cfgs = space.stages((6, 8, 60, 84))  # 16 -> 8 and 120 -> 60 are not the same ratio (halfway rounding)
    assert len(cfgs) == 2
    assert all("features\\.0" in c.ignore and "classifier\\.2" in c.ignore for c in cfgs)
    assert space.stages(space.full) == []


def test_resnet_residual_group_is_one_group():
    torch.manual_seed(0)
    model = st.models.build("resnet_cifar", depth=8, in_channels=1).eval()
    x = torch.randn(1, 1, 16, 16)
    space = space_of(model, x)
    residual = [g for g in space.groups if len(g.layers) > 1]
    assert residual and all(len(g.layers) >= 2 for g in residual)
    keep = tuple(max(1, n // 2) for n in space.full)
    pruned = apply(copy.deepcopy(model), space, keep, x)
    assert widths(pruned, space) == keep


def test_model_without_groups_is_refused():
    model = nn.Sequential(nn.Linear(4, 1))
    with pytest.raises(ValueError, match="no channel group"):
        space_of(model, torch.randn(1, 4))
