"""importance="activation": channels scored by the energy they send into their consumers on calibration inputs."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.pruning.graph import trace
from slimtorch.pruning.importance import activation_scores, unit_scores


def _net_with_dead_channel() -> nn.Module:
    """Conv -> ReLU -> conv; channel 2 of the first conv never fires (bias -100) but has the largest weights."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[0].weight[2] *= 10.0
        net[0].bias[2] = -100.0
    return net.eval()


def test_activation_picks_the_dead_channel_that_l2_keeps():
    net, x = _net_with_dead_channel(), torch.randn(16, 3, 8, 8)
    # one channel of six goes: the dead one under "activation" (outputs unchanged), a live one under l2
    act = st.prune(copy.deepcopy(net), st.ChannelPrune(ratio=0.2, importance="activation", ignore=["2"]),
                   example_inputs=x[:2], calib_data=x)
    assert act[0].out_channels == 5 and -100.0 not in act[0].bias.tolist()
    with torch.no_grad():
        torch.testing.assert_close(act(x), net(x))
    l2 = st.prune(copy.deepcopy(net), st.ChannelPrune(ratio=0.2, importance="l2", ignore=["2"]), example_inputs=x[:2])
    assert -100.0 in l2[0].bias.tolist()


def test_activation_score_equals_energy_times_column_norm():
    net, x = _net_with_dead_channel(), torch.randn(8, 3, 8, 8)
    graph = trace(net, x[:2])
    scores = activation_scores(net, graph, [x])
    with torch.no_grad():
        h = net[1](net[0](x))
    want = h.double().pow(2).sum((0, 2, 3)) * net[2].weight.detach().double().pow(2).sum((0, 2, 3))
    lab = graph.slots["2"]["in"]
    np.testing.assert_allclose(scores[lab], want.numpy(), rtol=1e-6)
    units = graph.units()
    per_unit = unit_scores(net, graph, units, "activation", calib=[x])
    assert min(per_unit, key=per_unit.get) == graph.root[lab[2]]


def test_activation_needs_calibration_and_auto_resolves():
    net, x = _net_with_dead_channel(), torch.randn(4, 3, 8, 8)
    assert st.ChannelPrune(importance="activation").needs_calibration
    assert st.ChannelPrune(reconstruct=True).scoring == "activation"
    assert st.ChannelPrune().scoring == "l2"
    with pytest.raises(ValueError, match="calib_data"):
        st.prune(net, st.ChannelPrune(ratio=0.2, importance="activation"), example_inputs=x)
