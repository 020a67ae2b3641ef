"""Case table of op families (issue 10): each prunes exactly like its masked original or is kept with a warning."""

from __future__ import annotations

import contextlib
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from prune_families import FAMILIES
from test_prune_verify import recorded_plan
from torch import nn

import slimtorch as st
from slimtorch.bench import count_params
from slimtorch.pruning import ChannelPrune, PruneWarning, zero_plan


@contextlib.contextmanager
def masked_norms(keep: dict[int, torch.Tensor]):
    """The test's own oracle for cut norms: ``F.layer_norm``/``F.group_norm`` over the kept channels only
    (patched on ``torch.nn.functional`` while the reference runs; keyed by the norm's weight)."""
    layer_norm, group_norm = F.layer_norm, F.group_norm

    def ln(x, shape, weight=None, bias=None, eps=1e-5):
        if weight is None or id(weight) not in keep:
            return layer_norm(x, shape, weight, bias, eps)
        k = keep[id(weight)]
        ys = layer_norm(x[..., k], (len(k),), weight[k], bias[k], eps)
        return torch.zeros_like(x).index_copy(x.dim() - 1, k, ys)

    def gn(x, groups, weight=None, bias=None, eps=1e-5):
        if weight is None or id(weight) not in keep:
            return group_norm(x, groups, weight, bias, eps)
        k = keep[id(weight)]
        ys = group_norm(x[:, k], len(k) * groups // len(weight), weight[k], bias[k], eps)
        return torch.zeros_like(x).index_copy(1, k, ys)

    F.layer_norm, F.group_norm = ln, gn
    try:
        yield
    finally:
        F.layer_norm, F.group_norm = layer_norm, group_norm


class MaskedOriginal(nn.Module):
    """The original with the plan's removed channels masked: readers zeroed, cut norms over kept channels."""

    def __init__(self, original: nn.Module, plan: dict):
        super().__init__()
        self.model = zero_plan(copy.deepcopy(original), plan)
        self.keep = {id(m.weight): torch.tensor(plan[n]["c"]) for n, m in self.model.named_modules()
                     if n in plan and isinstance(m, (nn.LayerNorm, nn.GroupNorm)) and m.weight is not None}

    def forward(self, *args, **kwargs):
        with masked_norms(self.keep):
            return self.model(*args, **kwargs)


def masked_original(original, plan):
    return MaskedOriginal(original, plan).eval()


# what each family must show after pruning at 0.5: (check on the pruned model, warning expected or None)
EXPECT = {
    "split_pieces": (lambda m: m.a.out_channels == 4 and m.b.out_channels == 4 and m.split_size == 4, None),
    "split_list": (lambda m: sum(m.sizes) == 6 and m.sizes == [m.a.in_channels, m.b.in_channels]
                   and m.stem.out_channels == 6 and m.a.out_channels == 4, None),
    "chunk_glu": (lambda m: m.up.out_features == 16 and m.down.in_features == 4, None),
    "res2net": (lambda m: m.width == 2 and all(c.out_channels == 2 for c in m.convs), None),
    "partial_residual": (lambda m: m.stem.out_channels == 4 and m.body.out_channels == 8, "slice of a channel dim"),
    "convnext_block": (lambda m: m.pw1.out_features == 16 and m.gamma.shape == (4,) and m.norm.weight.shape == (4,),
                       None),
    "hand_attention": (lambda m: m.fc1.out_features == 16 and m.qkv.out_features == 48, "spreads channels"),
    # the residual width is rolled back: the head size is read from it (qkv.in_features // heads)
    "heads_from_input": (lambda m: m.qkv.out_features == 24 and m.proj.in_features == 8, "differs from the masked"),
    # one key/value head leaves with its two query heads: 4 q / 2 kv heads become 2 / 1, the group size kept
    "gqa_attention": (lambda m: m.q.out_features == 8 and m.k.out_features == 4 and m.v.out_features == 4
                      and m.o.in_features == 8, None),
    "standardized_conv": (lambda m: m.conv1.out_channels == 8 and m.conv2.out_channels == 4, "parametrised"),
    "group_norm": (lambda m: m.gn.num_groups == 2 and m.conv1.out_channels == 8, None),
    "conv_transpose": (lambda m: m.enc.out_channels == 4 and m.up.out_channels == 4, None),
    # hidden units prune like channels: each leaves its gate rows, its recurrent column and the next layer's input
    "gru": (lambda m: m.rnn.hidden_size == 6 and m.fc.in_features == 6 and m.rnn.input_size == 4, None),
    "lstm": (lambda m: m.rnn.hidden_size == 6 and m.fc.in_features == 6 and m.rnn.input_size == 4, None),
    "embedding": (lambda m: m.emb.embedding_dim == 8 and m.fc.in_features == 8, None),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_prunes_exactly_or_is_kept_with_a_warning(name):
    factory, inputs, _ = FAMILIES[name]
    torch.manual_seed(0)
    model, xs = factory().eval(), inputs()
    original, before = copy.deepcopy(model), count_params(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=xs)
    messages = [str(w.message) for w in caught if issubclass(w.category, PruneWarning)]
    check, warned = EXPECT[name]
    assert check(model), model
    if warned is None:
        assert not messages, messages
    else:
        assert any(warned in m for m in messages), messages
    assert count_params(model) < before
    reference = masked_original(original, recorded_plan(model))
    with torch.no_grad():
        for x in xs:  # both input shapes
            torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-4)


def test_the_table_covers_every_family():
    assert set(EXPECT) == set(FAMILIES)


class DeepRecurrent(nn.Module):
    """Two stacked layers; ``use_state`` also reads the final state h_n (rows of different layers)."""

    def __init__(self, cls=nn.GRU, use_state: bool = False):
        super().__init__()
        self.rnn, self.use_state = cls(4, 10, num_layers=2, batch_first=True), use_state
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        out, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1] if self.use_state else out.mean(1))


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM, nn.RNN])
def test_stacked_recurrent_layers_lose_the_same_hidden_units_in_every_layer(cls):
    torch.manual_seed(0)
    model, xs = DeepRecurrent(cls).eval(), [torch.randn(2, 5, 4), torch.randn(3, 7, 4)]
    original = copy.deepcopy(model)
    st.prune(model, ChannelPrune(ratio=0.5), example_inputs=xs)
    assert model.rnn.hidden_size == 5 and model.rnn.weight_hh_l1.shape[1] == 5 and model.head.in_features == 5
    reference = masked_original(original, recorded_plan(model))
    with torch.no_grad():
        for x in xs:
            torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-4)


def test_a_stacked_recurrent_state_read_downstream_is_rolled_back_never_wrong():
    torch.manual_seed(0)
    model, x = DeepRecurrent(nn.GRU, use_state=True).eval(), torch.randn(2, 5, 4)
    want = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PruneWarning)
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=x)
    assert model.rnn.hidden_size == 10  # h_n's rows mix layers: not traced, so the verifier keeps the units
    torch.testing.assert_close(model(x), want)


def test_a_recurrent_layer_given_an_initial_state_is_kept_with_a_warning():
    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = nn.GRU(4, 6, batch_first=True), nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.rnn(x, torch.zeros(1, x.shape[0], 6))[0][:, -1])

    model = WithState().eval()
    with pytest.warns(PruneWarning, match="initial hidden state"):
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=torch.randn(2, 5, 4))
    assert model.rnn.hidden_size == 6
