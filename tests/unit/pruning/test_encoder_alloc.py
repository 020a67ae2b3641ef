"""Sensitivity-allocated encoder cuts: every (block, kind) measured alone, then one ratio each within a budget."""

import pytest
import torch

from slimtorch.bench.counts import count_params

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # importing transformers alone takes several seconds on 2 shared cores


def _tiny():
    from transformers import BertConfig

    from slimtorch.models.minilm import MiniLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=40, pad_token_id=0, attn_implementation="sdpa", initializer_range=0.2)
    return MiniLM(cfg).eval()


def _ids(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 60, (n, 10), generator=g)
    ids[torch.arange(10)[None] >= torch.randint(3, 11, (n,), generator=g)[:, None]] = 0
    return ids


def test_sensitivity_table_then_an_allocation_that_meets_the_parameter_budget():
    from slimtorch.pruning.encoder_alloc import allocate_encoder, cut, encoder_sensitivity, unit_groups

    model, x, val = _tiny(), _ids(64, 1), _ids(32, 2)
    solve = [x[:32], x[32:]]
    groups = unit_groups(model)
    assert list(groups) == [f"bert.encoder.layer.{i}.{k}" for i in (0, 1) for k in ("heads", "ffn")]
    errors, saved = encoder_sensitivity(model, {"heads": (0.25, 0.5), "ffn": (0.25, 0.5)}, x[:4], x, solve, val)
    for key in groups:
        assert set(errors[key]) == set(saved[key]) == {0.25, 0.5}
        assert 0 < saved[key][0.25] < saved[key][0.5]  # cutting more removes more
        assert all(e > 0 for e in errors[key].values())  # every cut moves the embeddings
    head = 32 // 4 * 32 * 4 + 3 * 32 // 4  # q, k, v columns + biases and the output projection's inputs
    assert saved["bert.encoder.layer.0.heads"][0.25] == head
    need = sum(saved[k][0.25] for k in groups)  # what a uniform 25% removes
    ratios = allocate_encoder(model, errors, saved, need)
    assert set(ratios) == set(groups.values())
    chosen = {k: ratios[groups[k]] for k in groups}
    assert sum(saved[k][r] for k, r in chosen.items() if r) >= need
    assert sum(errors[k][r] for k, r in chosen.items() if r) <= sum(errors[k][0.25] for k in groups) + 1e-12
    pruned = cut(model, ratios, x[:4], x, solve)  # the cuts add up: the pruned model removes what the table said
    assert count_params(model) - count_params(pruned) == sum(saved[k][r] for k, r in chosen.items() if r)
