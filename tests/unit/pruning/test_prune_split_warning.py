"""The warning for a split it cannot prune says what really blocks it: a constant list of sizes (even equal
ones, which it used to call "fixed unequal sizes") or pieces of unequal sizes."""

import warnings

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.pruning import PruneWarning


class SplitBySizes(nn.Module):
    def __init__(self, sizes: list[int]):
        super().__init__()
        self.sizes = sizes
        self.stem = nn.Conv2d(3, sum(sizes), 1)
        self.a, self.b = nn.Conv2d(sizes[0], 4, 1), nn.Conv2d(sizes[1], 4, 1)

    def forward(self, x):
        p, q = torch.split(torch.relu(self.stem(x)), self.sizes, dim=1)
        return self.a(p) + self.b(q)


@pytest.mark.parametrize("sizes, says", [
    ([8, 8], "'split' with a constant list of sizes or indices ([8, 8]) on a channel dim, which the pruned model "
             "would still pass"),
    ([8, 4], "'split' into pieces of unequal sizes [8, 4] on a channel dim"),
])
def test_split_warning_names_what_blocks_it(sizes, says):
    torch.manual_seed(0)
    model, x = SplitBySizes(sizes).eval(), torch.randn(2, 3, 6, 6)
    want = model(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PruneWarning)
        pruned = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x)
    messages = [str(w.message) for w in caught if issubclass(w.category, PruneWarning)]
    assert any(says in m for m in messages), messages
    assert not any("unequal" in m for m in messages) or sizes[0] != sizes[1]
    assert pruned.stem.out_channels == sum(sizes)  # kept, as the warning says
    torch.testing.assert_close(pruned(x), want)
