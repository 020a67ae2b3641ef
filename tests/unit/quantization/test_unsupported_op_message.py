"""The error for an op the int8 engine cannot run names it without contradicting itself: ``x + 1.0`` was
"op add has no int8 implementation; supported: ..., add, ..."."""

import pytest
from torch import nn

from slimtorch.quantization.graph import lower


class AddConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x) + 1.0


class Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv2d(3, 4, 3), nn.GELU()

    def forward(self, x):
        return self.act(self.conv(x))


def test_add_of_a_constant_says_which_add_is_supported():
    with pytest.raises(ValueError) as err:
        lower(AddConstant())
    msg = str(err.value)
    assert "add of a tensor and a constant (node 'add')" in msg
    assert "add of two tensors" in msg


def test_other_unsupported_op_names_it():
    with pytest.raises(ValueError, match=r"op GELU \(node 'act'\) has no int8 implementation; supported: conv2d"):
        lower(Gelu())


def test_add_of_two_tensors_lowers():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(x) + x

    assert [op["op"] for op in lower(Residual())] == ["input", "conv", "add", "output"]
