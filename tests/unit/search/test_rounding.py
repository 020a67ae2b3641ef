"""Channel multiples: the ladder of counts, and the choice of multiple from measured widths."""

import pytest
import torch

import slimtorch as st
from slimtorch.search.latency_table import LatencyTable, input_shapes, standalone
from slimtorch.search.rounding import ladder, measure_multiple
from slimtorch.search.space import space_of


@pytest.mark.parametrize("n,m,expected", [(64, 8, [64, 48, 32, 24, 16, 8]), (32, 8, [32, 24, 16, 8]),
                                          (16, 8, [16, 8]), (6, 8, [6, 4, 3, 2, 1]), (16, 1, [16, 12, 8, 6, 4, 2, 1]),
                                          (1, 4, [1]), (32, 16, [32, 16]),
                                          # under 2 of the multiple: the largest smaller block it holds 2 of (the
                                          # unrounded ladders, 24 18 12 9 6 3 2 and 12 9 6 4 3 2 1, missed 16 / 8)
                                          (24, 16, [24, 16, 8]), (16, 16, [16, 8]), (12, 8, [12, 8, 4])])
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


def test_depthwise_heaviest_layer_is_timed_at_equal_widths():
    # MobileNetV2's heaviest width-controlled layer can be a depthwise conv: its input must narrow with its
    # output (a 32-channel input to a 16-channel depthwise conv cannot be built)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.BatchNorm2d(32),
                                torch.nn.ReLU(), torch.nn.Conv2d(32, 8, 1), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    x = torch.randn(1, 3, 8, 8)
    space = space_of(model, x)
    table = LatencyTable(model, space, input_shapes(model, space, x), "eager", 2)
    built = []

    def fill(keys):  # builds each standalone layer as the real fill does; the depthwise conv costs the most
        for name, c_in, c_out in keys:
            mod, inp = standalone(model.get_submodule(name), table.shapes[name], c_in, c_out, 2)
            mod(inp)
            built.append((name, c_in, c_out))
            table.entries.setdefault((name, c_in, c_out), c_out * (10.0 if name == "3" else 0.001))

    table.fill = fill
    got = measure_multiple(table)
    assert got["layer"] == "3" and got["multiple"] == 1
    assert all(c_in == c_out for name, c_in, c_out in built if name == "3") and len(got["ms"]) > 5


def test_narrow_widths_on_a_cheaper_kernel_do_not_veto_the_block():
    # MobileNetV2's features.2.conv.1.0 on onnxruntime (measured, ms): off-block widths above 16 cost about
    # twice the next multiple, but 3-5 channels run a cheaper kernel than 16 (they never reach a rounded ladder)
    ms = {3: 0.245, 4: 0.355, 5: 0.359, 7: 0.544, 8: 0.469, 9: 0.694, 15: 1.123, 16: 0.495, 17: 1.2, 31: 2.179,
          32: 1.034, 120: 4.0}
    # the 120-wide classifier layer stands in for the heaviest layer (wide enough to time 17, 31 and 32)
    table = _table(lambda name, c_in, c_out: ms.get(c_out, 0.001) * (10.0 if name == "classifier.0" else 0.001))
    got = measure_multiple(table)
    assert got["layer"] == "classifier.0" and got["multiple"] == 16 and got["checked"] == [16, 8], got
