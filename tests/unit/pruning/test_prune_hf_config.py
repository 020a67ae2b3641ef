"""Hugging Face configs follow a channel prune: rebuilt from config.json, the model has the pruned shapes."""

from __future__ import annotations

import warnings

import pytest
import torch

import slimtorch as st
from slimtorch.pruning import report

transformers = pytest.importorskip("transformers")


def _ids():
    return [torch.randint(1, 96, (2, 8)), torch.randint(1, 96, (3, 12))]


SMALL = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_hidden_layers=2, hidden_size=32,
             num_attention_heads=4, intermediate_size=64)


def _bert():
    cfg = transformers.BertConfig(vocab_size=96, max_position_embeddings=64, num_labels=3, **SMALL)
    return transformers.BertForSequenceClassification(cfg), _ids()


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4, num_labels=3,
                                  pad_token_id=0, bos_token_id=1, eos_token_id=1,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2ForSequenceClassification(cfg), _ids()


def _vit():
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, num_labels=5, **SMALL)
    return transformers.ViTForImageClassification(cfg), [torch.randn(2, 3, 32, 32), torch.randn(3, 3, 32, 32)]


def _pruned(build, **kw):
    torch.manual_seed(0)
    model, xs = build()
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st.prune(model, st.ChannelPrune(ratio=0.5, **kw), example_inputs=xs)
    return model, xs


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("build", [_gpt2, _vit], ids=["gpt2", "vit"])
def test_uniform_widths_go_into_the_config_and_from_pretrained_reproduces_the_pruned_model(build, tmp_path):
    model, xs = _pruned(build)
    cfg = model.config
    assert cfg.hidden_size < 32 and cfg.num_attention_heads < 4  # the residual and the heads were cut
    assert _shapes(type(model)(cfg)) == _shapes(model)  # a model built from the config has the pruned shapes
    for m in model.modules():  # the attention modules' own copies follow their query width
        if hasattr(m, "head_dim") and isinstance(getattr(m, "num_heads", getattr(m, "num_attention_heads", 0)), int):
            heads = getattr(m, "num_heads", getattr(m, "num_attention_heads", None))
            assert heads == cfg.num_attention_heads
    assert report(model).notes == []
    model.save_pretrained(tmp_path)
    back = type(model).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        for x in xs:
            torch.testing.assert_close(back(x).logits, model(x).logits)


def test_gpt2_attention_attributes_match_the_cut():
    model, _ = _pruned(_gpt2)
    attn = model.transformer.h[0].attn
    q_width = attn.c_attn.weight.shape[1] // 3
    assert (attn.num_heads * attn.head_dim, attn.split_size, attn.embed_dim) == (q_width, q_width, model.config.n_embd)


def test_bert_heads_the_config_cannot_express_are_reported_and_recorded():
    model, _ = _pruned(_bert)
    cfg, layer = model.config, model.bert.encoder.layer[0]
    assert cfg.intermediate_size == layer.intermediate.dense.out_features < 64  # uniform FFN width: written
    assert cfg.num_attention_heads == 4  # BERT derives the head size from it: kept, the cut heads are listed
    kept = layer.attention.self.num_attention_heads
    assert all(len(v) == 4 - kept for v in cfg.pruned_heads.values())
    (note,) = report(model).notes
    assert "BertConfig cannot express" in note and "st.load" in note
    assert "note: config: BertConfig cannot express" in str(report(model))


def test_per_layer_widths_leave_the_config_field_and_say_so():
    model, _ = _pruned(_bert, ignore=["bert.encoder.layer.0.intermediate.dense"])
    widths = [layer.intermediate.dense.out_features for layer in model.bert.encoder.layer]
    assert widths[0] == 64 and widths[1] < 64
    assert model.config.intermediate_size == 64
    assert "feed-forward widths differ across layers" in report(model).notes[0]


def test_a_model_without_a_transformers_config_has_no_notes():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=torch.randn(2, 4))
    assert report(model).notes == []


def _decoder(name, **kw):
    """A tiny grouped-query-attention decoder as benchmarks/prune_zoo.py builds it (4 heads, 2 key/value)."""
    def build():
        cfg = getattr(transformers, f"{name}Config")(vocab_size=96, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=4, num_key_value_heads=2,
                                                     intermediate_size=64, max_position_embeddings=64,
                                                     num_labels=3, pad_token_id=0, **kw)
        return getattr(transformers, f"{name}ForSequenceClassification")(cfg), _ids()

    return build


@pytest.mark.parametrize("name", ["Gemma", "Qwen3", "Mistral"])
def test_grouped_query_attention_widths_go_into_the_config(name):
    model, xs = _pruned(_decoder(name, head_dim=8))
    cfg, attn = model.config, model.model.layers[0].self_attn
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (2, 1, 8)  # whole groups went
    assert attn.q_proj.out_features == 16 and attn.k_proj.out_features == 8
    assert report(model).notes == []
    fresh = type(model)(cfg).eval()  # what from_pretrained builds: the pruned state dict loads strictly
    fresh.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        for x in xs:
            torch.testing.assert_close(fresh(x).logits, model(x).logits)


@pytest.mark.parametrize("build, forwards", [(_decoder("Gemma", head_dim=8), 0), (_bert, 0), (_gpt2, 2)],
                         ids=["gemma", "bert", "gpt2"])
def test_sync_runs_forwards_only_when_an_attention_attribute_is_stale(monkeypatch, build, forwards):
    """Gemma's and BERT's surgery leaves no stale size attribute: no forward; GPT-2's embed_dim/num_heads are
    stale: one forward before and one after setting them (kept only when the outputs stay the same)."""
    from slimtorch.pruning import hf_config

    counted = []
    real_sync = hf_config.sync

    def sync(model, calls, run, compare):
        return real_sync(model, calls, lambda m, c: counted.append(1) or run(m, c), compare)

    monkeypatch.setattr(hf_config, "sync", sync)
    _pruned(build)
    assert len(counted) == forwards


def test_a_stale_attribute_the_forward_reads_differently_is_put_back():
    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head_dim, self.num_heads, self.q_proj = 4, 4, torch.nn.Linear(8, 8)  # q width 8: 2 heads of 4

        def forward(self, x):
            return self.q_proj(x) * self.num_heads  # reads the attribute: 2 would change the outputs

    m = Attn()
    x = torch.randn(2, 8)
    from slimtorch.pruning import hf_config
    from slimtorch.pruning.verify import compare, run

    changes = hf_config._module_changes(hf_config._attention(m), None)
    assert (m, "num_heads", 4, 2) in changes
    hf_config._set_module_attrs(changes, [((x,), {})], lambda c: run(m, c), compare)
    assert m.num_heads == 4
