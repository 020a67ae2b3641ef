"""ChannelPrune(ratios=...): per-layer ratios override the global one, group by group."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.config import ConfigError
from slimtorch.pruning import ChannelPrune


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)
    ).eval()


def test_a_matching_regex_sets_its_groups_ratio_and_the_others_keep_the_global_one():
    model = _net()
    x = torch.randn(2, 3, 6, 6)
    st.prune(model, ChannelPrune(ratio=0.5, importance="l2", ratios={"0": 0.75, r"4|9": 0.0}), example_inputs=x)
    assert model[0].out_channels == 2 and model[2].out_channels == 4 and model[4].out_channels == 4


def test_the_first_matching_regex_wins_and_a_zero_ratio_keeps_the_group():
    model = _net()
    cfg = ChannelPrune(ratio=0.5, importance="l2", ratios=[[r"[02]", 0.0], ["2", 0.75]])
    st.prune(model, cfg, example_inputs=torch.randn(2, 3, 6, 6))
    assert model[0].out_channels == 8 and model[2].out_channels == 8


def test_ratios_round_trip_through_a_dict_and_stay_hashable():
    cfg = ChannelPrune(ratio=0.3, ratios={r"features\.2\..*": 0.1})
    assert cfg.ratios == ((r"features\.2\..*", 0.1),)
    again = ChannelPrune.from_dict(cfg.to_dict())
    assert again == cfg and hash(again) == hash(cfg)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratios": {"0": 1.0}}, r"ratios\['0'\]"),
        ({"ratios": [["0"]]}, r"ratios\[0\].*pair"),
        ({"ratios": {"0": 0.2}, "scope": "global"}, "scope='layer'"),
        ({"ratios": {"[": 0.2}}, r"ratios\[0\]: '\[' is not a valid regular expression"),
        ({"ignore": ("conv", "(")}, r"ignore\[1\]: '\(' is not a valid regular expression"),
    ],
)
def test_bad_ratios_are_one_line_naming_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ChannelPrune(**kwargs)


def test_a_pattern_that_matches_no_layer_is_a_warning_naming_it():
    model, x = _net(), torch.randn(2, 3, 6, 6)
    with pytest.warns(st.pruning.PruneWarning, match=r"ratios: 'conv' matches no layer.*no effect"):
        st.prune(model, ChannelPrune(ratio=0.5, importance="l2", ratios={"conv": 0.0}), example_inputs=x)
    assert model[0].out_channels == 4  # the global ratio applied: the typo changed nothing
    with pytest.warns(st.pruning.PruneWarning, match=r"ignore: 'fc' matches no layer"):
        st.prune(_net(), ChannelPrune(ratio=0.5, importance="l2", ignore=("fc",)), example_inputs=x)
