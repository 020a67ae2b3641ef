"""Encoder reconstruction: block-wise least squares of the output projections against the residual stream."""

import copy
import warnings

import pytest
import torch

import slimtorch as st

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # importing transformers alone takes several seconds on 2 shared cores


def _tiny(seed: int = 0):
    from transformers import BertConfig

    from slimtorch.models.minilm import MiniLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=40, pad_token_id=0, attn_implementation="sdpa",
                     initializer_range=0.2)  # weights large enough that a cut matters
    return MiniLM(cfg).eval()


def _ids(n: int, width: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 60, (n, width), generator=g)
    lengths = torch.randint(3, width + 1, (n,), generator=g)
    ids[torch.arange(width)[None] >= lengths[:, None]] = 0  # padded ends, as text:FILE gives
    return ids


def _pruned(model, ratio, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=ratio), example_inputs=x[:4])


def test_blocks_found_in_order_and_plan_coverage():
    from slimtorch.pruning.encoder_reconstruct import blocks, covers

    model = _tiny()
    assert blocks(model) == ["bert.encoder.layer.0", "bert.encoder.layer.1"]
    assert covers(model, {"bert.encoder.layer.1.output.dense": {}})
    assert not covers(model, {"bert.embeddings.word_embeddings": {}})
    assert blocks(torch.nn.Linear(2, 2)) == []


def test_reconstruction_brings_pruned_embeddings_closer_to_the_original():
    from slimtorch.pruning.encoder_reconstruct import reconstruct_encoder

    model, x = _tiny(), _ids(96, 12)
    pruned = _pruned(model, 0.5, x)
    with torch.no_grad():
        ref, before = model(x), pruned(x)
    report = reconstruct_encoder(model, pruned, [x[:48], x[48:]])
    with torch.no_grad():
        after = pruned(x)
    assert report["solved"] == 4 and all(r["after"] <= r["before"] for r in report["layers"])
    assert (after - ref).norm() < 0.7 * (before - ref).norm()
    assert pruned.bert.encoder.layer[0].output.dense.in_features == 32  # still the pruned width


def test_unpruned_model_is_left_as_it_is():
    from slimtorch.pruning.encoder_reconstruct import reconstruct_encoder

    model, x = _tiny(), _ids(64, 10)
    copy_ = copy.deepcopy(model)
    reconstruct_encoder(model, copy_, [x])  # the original's weights already solve it exactly
    for (name, a), b in zip(model.state_dict().items(), copy_.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4, msg=name)


def test_padding_positions_do_not_enter_the_fit():
    from slimtorch.pruning.encoder_reconstruct import reconstruct_encoder

    model, x = _tiny(), _ids(64, 10)
    wider = torch.cat([x, torch.zeros(len(x), 6, dtype=x.dtype)], 1)  # same sentences, more padding
    a, b = _pruned(model, 0.5, x), _pruned(model, 0.5, x)
    reconstruct_encoder(model, a, [x])
    reconstruct_encoder(model, b, [wider])
    torch.testing.assert_close(b.bert.encoder.layer[1].output.dense.weight, a.bert.encoder.layer[1].output.dense.weight,
                               atol=1e-4, rtol=1e-4)


def test_model_without_blocks_is_refused():
    from slimtorch.pruning.encoder_reconstruct import reconstruct_encoder

    with pytest.raises(ValueError, match="BERT-style blocks"):
        reconstruct_encoder(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), [torch.randn(3, 2)])


def test_channel_prune_with_reconstruct_takes_the_encoder_path():
    model, x = _tiny(), _ids(96, 12)
    plain = _pruned(model, 0.5, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solved = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=0.5, reconstruct=True), example_inputs=x[:4],
                          calib_data=x)
    with torch.no_grad():
        ref, a, b = model(x), plain(x), solved(x)
    assert solved.bert.encoder.layer[0].intermediate.dense.out_features == 32
    assert (b - ref).norm() < 0.7 * (a - ref).norm()


def test_auto_ridge_is_picked_on_held_out_batches_and_generalises():
    from slimtorch.pruning.encoder_reconstruct import reconstruct_encoder
    from slimtorch.pruning.layer_solve import RIDGES

    model, x = _tiny(), _ids(128, 12)
    pruned = _pruned(model, 0.5, x)
    cut = copy.deepcopy(pruned)
    report = reconstruct_encoder(model, pruned, [x[i:i + 16] for i in range(0, 128, 16)])  # 8 batches: 2 held out
    now, before = dict(pruned.named_modules()), dict(cut.named_modules())
    for row in report["layers"]:
        assert row["ridge"] is None or row["ridge"] in RIDGES
        if not row["solved"]:  # no ridge fitted the held-out rows better: the cut weights stay
            torch.testing.assert_close(now[row["name"]].weight, before[row["name"]].weight)
    held = _ids(64, 12, seed=7)  # sentences no solve saw
    with torch.no_grad():
        ref, a, b = model(held), cut(held), pruned(held)
    assert (b - ref).norm() < (a - ref).norm()


@pytest.mark.parametrize("calib_rows, solved_on", [(None, 600), (100, 100)])
def test_the_encoder_solve_reads_every_calibration_row_unless_calib_rows_caps_it(monkeypatch, calib_rows, solved_on):
    import slimtorch.pruning.encoder_reconstruct as er

    seen, real = [], er.reconstruct_encoder

    def counting(original, pruned, batches, **kw):
        seen.append(sum(len(b) for b in batches))  # it was capped at 512 rows whatever the data held
        return real(original, pruned, batches, **kw)

    monkeypatch.setattr(er, "reconstruct_encoder", counting)
    model, x = _tiny(), _ids(600, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st.prune(model, st.ChannelPrune(ratio=0.25, reconstruct=True, calib_rows=calib_rows), example_inputs=x[:4],
                 calib_data=x)
    assert seen == [solved_on]


def test_a_bert_cut_outside_its_blocks_is_solved_layer_by_layer_without_crashing():
    """The plan changes a layer outside the blocks (the pooler, which the wrapper never reads), so the per-layer path
    runs; a layer whose outputs the plan records under another module (the query/key/value of pruned heads: under
    'attention.self') is left as cut (it crashed: 'size of tensor a (24) must match the size of tensor b (32)')."""
    from transformers import BertConfig, BertModel

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = BertModel(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=64, max_position_embeddings=40))

        def forward(self, ids):
            return self.m(input_ids=ids).last_hidden_state.mean(1)

    torch.manual_seed(0)
    model, x = Pooled().eval(), _ids(200, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=0.25, reconstruct=True), example_inputs=x[:2],
                          calib_data=x)
    assert pruned.m.encoder.layer[1].attention.self.query.out_features == 24 and pruned(x[:3]).shape == (3, 32)
