"""Channel multiples: the ladder of counts, and the choice of multiple from measured widths."""

import pytest
import torch

import slimtorch as st
from slimtorch.search.latency_table import LatencyTable, input_shapes
from slimtorch.search.rounding import ladder, measure_multiple
from slimtorch.search.space import space_of


@pytest.mark.parametrize("n,m,expected", [(64, 8, [64, 48, 32, 24, 16, 8]), (32, 8, [32, 24, 16, 8]),
                                          (16, 8, [16, 8]), (12, 8, [12, 9, 6, 4, 3, 2, 1]),
                                          (6, 8, [6, 4, 3, 2, 1]), (16, 1, [16, 12, 8, 6, 4, 2, 1]),
                                          (1, 4, [1])])
def test_ladder(n, m, expected):
    assert ladder(n, m) == expected


def _table(cost):
    torch.manual_seed(0)
    model = st.models.build("lenet5").eval()
    x = torch.randn(1, 1, 28, 28)
    space = space_of(model, x)
    table = LatencyTable(model, space, input_shapes(model, space, x), "eager", 4)

    def fake_fill(keys):  # a made-up cost per (layer, c_in, c_out) instead of timings
        for k in keys:
            table.entries.setdefault(k, cost(*k))

    table.fill = fake_fill
    return table


def test_blocked_widths_choose_the_block():
    # conv2 (the heaviest) costs per block of 8 output channels: 9..16 cost as much as 16
    table = _table(lambda name, c_in, c_out: (-(-c_out // 8)) * (10.0 if name == "features.3" else 0.001))
    got = measure_multiple(table)
    assert got["layer"] == "features.3" and got["multiple"] == 8 and 16 not in got["checked"]


def test_linear_widths_choose_no_multiple():
    table = _table(lambda name, c_in, c_out: c_out * (10.0 if name == "features.3" else 0.001))
    assert measure_multiple(table)["multiple"] == 1
