"""st.quantize on inputs a user gets wrong: calibration rows holding NaN (the ranges became NaN, the zero point
-2^63, every engine "unavailable", and a model came back anyway), an ``ignore`` entry that names no layer
(silently nothing kept in float)."""

import warnings

import pytest
import torch
from torch import nn

import slimtorch as st


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.mark.parametrize("observer", ["minmax", "auto"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_calibration_rows_with_nan_or_inf_are_refused(observer, bad):
    torch.manual_seed(0)
    x = torch.randn(40, 3, 8, 8)
    x[37, 1, 2, 3] = bad  # in the second batch of 32
    with pytest.raises(ValueError, match=r"calib_data: row 37 holds NaN or inf; allowed: finite inputs"):
        st.quantize(Net().eval(), st.Int8(observer=observer, backend="integer"), x)


def test_an_ignore_entry_matching_no_layer_warns():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"ignore: 'c3' matches no conv/linear layer \(layers: c1, c2, fc\); "
                                         "it has no effect"):
        qm = st.quantize(Net().eval(), st.Int8(ignore=("c3", "c1"), backend="integer"), torch.randn(8, 3, 8, 8))
    assert qm(torch.randn(2, 3, 8, 8)).shape == (2, 5)  # the matching entry still applies


def test_matching_ignore_entries_do_not_warn():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qm = st.quantize(Net().eval(), st.Int8(ignore=("c1", "c[2]"), backend="integer"), torch.randn(8, 3, 8, 8))
    assert sum(bool(op.get("float")) for op in qm.ops) == 2
