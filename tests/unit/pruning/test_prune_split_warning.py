"""Splits by a list of sizes: a list held in an attribute prunes each piece on its own and the attribute is
rewritten; a list written in the code, or an int size cutting unequal pieces, is kept with a warning that says
what blocks it (a constant list used to be called "fixed unequal sizes")."""

import copy
import warnings

import pytest
import torch
from test_prune_verify import assert_matches_masked_original, recorded_plan
from torch import nn

import slimtorch as st
from slimtorch.pruning import PruneWarning, apply_plan


class SplitBySizes(nn.Module):
    """``torch.split`` by ``self.sizes`` (held), by a literal list in the code, or by one int size."""

    def __init__(self, sizes, how: str = "held"):
        super().__init__()
        self.sizes, self.how = sizes, how
        self.stem = nn.Conv2d(3, sum(sizes), 1)
        self.heads = nn.ModuleList(nn.Conv2d(s, 4, 1) for s in sizes)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        if self.how == "held":
            pieces = torch.split(h, self.sizes, dim=1)
        elif self.how == "literal":
            pieces = h.split([8, 8], 1)
        else:
            pieces = h.split(6, dim=1)
        return sum(head(p).mean((2, 3)) for head, p in zip(self.heads, pieces))


def _prune(model, xs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PruneWarning)
        pruned = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=xs)
    return pruned, [str(w.message) for w in caught if issubclass(w.category, PruneWarning)]


@pytest.mark.parametrize("sizes", [[8, 8], [8, 4], (6, 2, 8)])
def test_a_list_of_split_sizes_held_in_an_attribute_prunes_each_piece_and_is_rewritten(sizes):
    torch.manual_seed(0)
    model, xs = SplitBySizes(sizes).eval(), [torch.randn(2, 3, 6, 6), torch.randn(1, 3, 5, 5)]
    original = copy.deepcopy(model)
    pruned, messages = _prune(model, xs)
    assert not any("split" in m for m in messages), messages
    assert pruned.stem.out_channels == sum(sizes) // 2
    assert type(pruned.sizes) is type(sizes) and list(pruned.sizes) == [h.in_channels for h in pruned.heads]
    assert_matches_masked_original(original, pruned, xs)
    replayed = apply_plan(copy.deepcopy(original), recorded_plan(pruned))  # what st.load replays
    assert replayed.sizes == pruned.sizes and original.sizes == sizes  # the original's list is not changed in place


@pytest.mark.parametrize("sizes, how, says", [
    ([8, 8], "literal", "'split' with a constant list of sizes or indices ([8, 8]) on a channel dim, which the "
                        "pruned model would still pass"),
    ([6, 6, 4], "int", "'split' into pieces of unequal sizes [6, 6, 4] on a channel dim"),
])
def test_a_split_it_cannot_rewrite_is_kept_with_a_warning_naming_what_blocks_it(sizes, how, says):
    torch.manual_seed(0)
    model, x = SplitBySizes(sizes, how).eval(), torch.randn(2, 3, 6, 6)
    want = model(x)
    pruned, messages = _prune(model, x)
    assert any(says in m for m in messages), messages
    assert pruned.stem.out_channels == sum(sizes)  # kept, as the warning says
    torch.testing.assert_close(pruned(x), want)
