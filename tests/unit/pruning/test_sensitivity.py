"""channel_sensitivity: cut a producer's weakest channels, re-solve the reader, KL on other rows."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slimtorch.pruning.sensitivity import channel_sensitivity


def _net() -> nn.Sequential:
    """Producer 4 -> 6 whose channels 4, 5 are 0.1x copies of 0, 1 (the weakest), then a reader 6 -> 5."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 5)).eval()
    with torch.no_grad():
        net[0].weight[4:] = 0.1 * net[0].weight[:2]
        net[0].bias[4:] = 0.1 * net[0].bias[:2]
        net[1].weight[:, 4:] = torch.linspace(-2, 2, 5)[:, None]  # moves the logits apart
    return net


def _kl(out, ref):
    lp, lq = F.log_softmax(ref, 1), F.log_softmax(out, 1)
    return float((lp.exp() * (lp - lq)).sum(1).mean())


def test_redundant_channels_cost_nothing_once_the_reader_is_re_solved():
    net, fit, val = _net(), torch.randn(64, 4), torch.randn(32, 4)
    before = copy.deepcopy(net.state_dict())
    table = channel_sensitivity(net, {"block": ("0", "1")}, (1 / 3, 0.8), fit, val, ridge=0.0)
    assert table["block"][1 / 3] < 1e-6  # the two copies are folded into the channels they copy
    with torch.no_grad():  # only zeroing them (no re-solve) moves the output
        zeroed = copy.deepcopy(net)
        zeroed[1].weight[:, 4:] = 0
        assert _kl(zeroed(val), net(val)) > 1e-3
    assert table["block"][0.8] > 1e-3  # two of the four independent channels carry information of their own
    for k, v in net.state_dict().items():  # the model is left as it was
        torch.testing.assert_close(v, before[k])


def test_a_conv_reader_that_is_not_pointwise_is_refused():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 2, 3), nn.Flatten()).eval()
    with pytest.raises(ValueError, match="1x1 conv"):
        channel_sensitivity(net, {"b": ("0", "1")}, (0.5,), torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"ratios must lie in \(0, 1\)"):
        channel_sensitivity(net, {"b": ("0", "1")}, (1.0,), torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5))
