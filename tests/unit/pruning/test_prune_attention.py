"""Head pruning beyond the forward pass: torch's fused encoder path, nested batches, HF config bookkeeping."""

from __future__ import annotations

import copy
import json
import warnings

import prune_nets
import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.pruning import ChannelPrune, apply_plan, plan_channels, zero_plan
from slimtorch.pruning.attention import HeadPrunedMHA


def _plan(model, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "kept" warnings are tested elsewhere
        return plan_channels(model, ChannelPrune(**{"ratio": 0.5, **kw}), x)


@pytest.fixture
def fused_calls(monkeypatch):
    """Count calls of torch's fused encoder-layer kernel (TransformerEncoderLayer looks it up on ``torch``)."""
    calls = []
    fused = torch._transformer_encoder_layer_fwd

    def spy(*args):
        calls.append(args[0].is_nested)
        return fused(*args)

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", spy)
    return calls


# ---- nn.TransformerEncoderLayer / nn.MultiheadAttention ------------------------------------------
def test_pruned_encoder_layer_leaves_the_fused_path_only_because_its_kernel_needs_all_heads(fused_calls):
    model, x = prune_nets.tiny_transformer().eval(), torch.randn(2, 6, 12)
    plan = _plan(model, x)
    reference = zero_plan(copy.deepcopy(model), plan)  # dense shapes: runs the fused kernel
    pruned = apply_plan(model, plan)
    with torch.inference_mode():
        want = reference(x)
        assert fused_calls == [False]
        got = pruned(x)
    assert fused_calls == [False], "the pruned layer must take the Python path"
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # the one fast-path condition the surgery turns off; with it on, torch's kernel rejects the smaller q|k|v
    forced = copy.deepcopy(pruned)
    forced.enc.self_attn._qkv_same_embed_dim = True
    with torch.inference_mode(), pytest.raises(RuntimeError, match="qkv_weight.*3x embed_dim"):
        forced(x)


def test_pruned_transformer_encoder_handles_the_nested_batches_it_packs_in_eval(fused_calls):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    x = torch.randn(3, 6, 32)
    pad = torch.zeros(3, 6, dtype=torch.bool)
    pad[1, 4:], pad[2, 2:] = True, True
    plan = _plan(model, x)
    assert {"layers.0.self_attn", "layers.1.self_attn"} <= set(plan)
    reference = zero_plan(copy.deepcopy(model), plan)
    pruned = apply_plan(model, plan)
    seen = []
    pruned.layers[0].self_attn.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_nested))
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "nested tensors are in prototype stage"
        want = reference(x, src_key_padding_mask=pad)
        got = pruned(x, src_key_padding_mask=pad)
    assert fused_calls == [True, True] and seen == [True]  # the encoder packed both; only the dense one fused
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.float32])
@pytest.mark.parametrize("batch_first", [True, False])
def test_head_pruned_attention_without_weights_matches_torch(mask_dtype, batch_first):
    mha = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    ours = copy.deepcopy(mha)
    ours.__class__ = HeadPrunedMHA  # no head removed: must be torch's MultiheadAttention exactly
    q = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    if mask_dtype != torch.bool:
        pad, causal = (torch.zeros(m.shape).masked_fill(m, float("-inf")) for m in (pad, causal))
    want, _ = mha(q, q, q, key_padding_mask=pad, attn_mask=causal, need_weights=False)
    got, weights = ours(q, q, q, key_padding_mask=pad, attn_mask=causal, need_weights=False)
    assert weights is None
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# ---- Hugging Face BERT: config.pruned_heads -------------------------------------------------------
def _head_plan(model, kept: dict[int, list[int]]) -> dict[str, dict[str, list[int]]]:
    """A plan keeping heads ``kept[layer]`` (positions in the layer's current layout) of each listed layer."""
    plan = {}
    for i, heads in kept.items():
        att = model.bert.encoder.layer[i].attention
        d = att.self.attention_head_size
        idx = [h * d + j for h in heads for j in range(d)]
        plan[f"bert.encoder.layer.{i}.attention.self"] = {"q": idx, "k": idx, "v": idx}
        plan[f"bert.encoder.layer.{i}.attention.output.dense"] = {"in": idx, "out": list(range(32))}
    return plan


def _prune_heads(model, ids, kept):
    plan = _head_plan(model, kept)
    reference = zero_plan(copy.deepcopy(model), plan)
    apply_plan(model, plan, record=True)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), reference(ids), atol=1e-5, rtol=1e-5)


def test_uneven_bert_head_pruning_is_recorded_in_original_head_numbers():
    model, ids = prune_nets.tiny_bert().eval(), torch.randint(0, 50, (2, 7))
    _prune_heads(model, ids, {0: [1, 2], 1: [0, 1, 3]})
    cfg = model.bert.config
    assert [layer.attention.self.num_attention_heads for layer in model.bert.encoder.layer] == [2, 3]
    assert cfg.pruned_heads == {0: [0, 3], 1: [2]}
    assert cfg.num_attention_heads == 4  # the original count: head size and pruned_heads are read against it
    _prune_heads(model, ids, {0: [1]})  # position 1 of layer 0 is now original head 2
    assert cfg.pruned_heads == {0: [0, 1, 3], 1: [2]}
    assert model.bert.encoder.layer[0].attention.self.num_attention_heads == 1


def test_pruned_bert_round_trips_through_st_save_and_writes_pruned_heads_to_config_json(tmp_path):
    model, ids = prune_nets.tiny_bert().eval(), torch.randint(0, 50, (2, 7))
    _prune_heads(model, ids, {0: [1, 2], 1: [0, 1, 3]})
    with torch.no_grad():
        out = model(ids)
    st.save(model, tmp_path / "st")
    loaded = st.load(tmp_path / "st", trust_factory=True).eval()  # tiny_bert is built by a test factory
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), out)
    assert loaded.bert.config.pruned_heads == {0: [0, 3], 1: [2]}
    model.bert.save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["pruned_heads"] == {"0": [0, 3], "1": [2]} and config["num_attention_heads"] == 4
