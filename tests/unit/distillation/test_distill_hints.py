"""Hidden-state hints of encoders: block pairs by name, padding left out of the MSE, checked against hand sums."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import slimtorch as st
from slimtorch.bench.fidelity import encoder_fidelity
from slimtorch.config import ConfigError
from slimtorch.distillation import Distill, DistillConfig, distill_report
from slimtorch.distillation.hints import hint_pairs, token_mask
from slimtorch.distillation.losses import hint_loss, masked_hint_loss
from slimtorch.encoders import pad_id as pad_id_of
from slimtorch.hooks import State


class Out(nn.Module):
    """LayerNorm(dense(x) + residual): the end of both BERT sub-layers."""

    def __init__(self, d_in, d):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(d_in, d), nn.LayerNorm(d)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.value, self.output = nn.Linear(d, d), Out(d, d)

    def forward(self, h):
        return self.output(self.value(h), h)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attention, self.intermediate, self.output = Attention(d), nn.Linear(d, 2 * d), Out(2 * d, d)

    def forward(self, h):
        a = self.attention(h)
        return self.output(torch.relu(self.intermediate(a)), a)


class TinyEncoder(nn.Module):
    """Token ids (pad 0) -> unit-norm mean-pooled embeddings, with BERT-style block names."""

    pad_id = 0

    def __init__(self, d=8, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(20, d)
        self.layer = nn.ModuleList([Block(d), Block(d)])

    def states(self, ids):
        out, h = [], self.emb(ids)
        for b in self.layer:
            h = b(h)
            out.append(h)
        return out

    def forward(self, ids):
        w = (ids != self.pad_id).unsqueeze(-1).float()
        return F.normalize((self.states(ids)[-1] * w).sum(1) / w.sum(1).clamp_min(1), dim=-1)


def _ids(n=64, width=7, seed=3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 20, (n, width), generator=g)
    ids[torch.arange(width)[None] >= torch.randint(2, width + 1, (n,), generator=g)[:, None]] = 0
    return ids


def _noisy(model, scale=0.3, seed=5):
    student = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in student.named_parameters():
            if "layer" in name:
                p.add_(scale * torch.randn(p.shape, generator=g))
    return student


def test_masked_hint_loss_is_the_mean_over_real_tokens():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    hand = sum(((s[i, j] - t[i, j]) ** 2).sum() for i in range(3) for j in range(4) if mask[i, j]) / (7 * 5)
    assert torch.allclose(masked_hint_loss(s, t, mask), hand)
    s2 = s.clone()
    s2[~mask] = 100.0  # what padding holds does not matter
    assert torch.allclose(masked_hint_loss(s2, t, mask), hand)
    assert torch.equal(masked_hint_loss(s, t, None), hint_loss(s, t))
    assert float(masked_hint_loss(s, t, torch.zeros(3, 4, dtype=torch.bool))) == 0.0
    with pytest.raises(ValueError, match="mask"):
        masked_hint_loss(s, t, mask[:, :3])


def test_token_mask_only_for_padded_token_ids_of_the_feature():
    ids, feat = _ids(4, 6), torch.zeros(4, 6, 8)
    assert torch.equal(token_mask(ids, feat, 0), ids != 0)
    assert token_mask(ids.float(), feat, 0) is None  # not token ids
    assert token_mask(ids, torch.zeros(4, 8), 0) is None  # not a sequence feature
    assert token_mask(ids[:, :5], feat, 0) is None and token_mask(ids, feat, None) is None
    assert pad_id_of(TinyEncoder()) == 0 and pad_id_of(nn.Linear(2, 2)) is None


def test_hint_pairs_name_every_block_or_every_sublayer():
    model = TinyEncoder()
    assert hint_pairs(model, "blocks") == {"layer.0": "layer.0", "layer.1": "layer.1"}
    assert list(hint_pairs(model, "sublayers")) == [
        "layer.0.attention.output",
        "layer.0",
        "layer.1.attention.output",
        "layer.1",
    ]
    with pytest.raises(ConfigError, match="hints.*no BERT-style"):
        Distill(nn.Linear(3, 3), hints="blocks")
    with pytest.raises(ConfigError, match="hints.*allowed: 'blocks', 'sublayers'"):
        DistillConfig(hints="all")
    with pytest.raises(ConfigError, match="feature_loss.*mse"):
        DistillConfig(hints="blocks", feature_loss="attention")


@pytest.mark.parametrize("mask_padding", [True, False])
def test_hook_loss_is_cosine_plus_weighted_block_mse(mask_padding):
    teacher = TinyEncoder()
    student, ids = _noisy(teacher), _ids(16)
    kd = Distill(teacher, alpha=1.0, hints="blocks", feature_weight=0.5, mask_padding=mask_padding)
    state = State(model=student, inputs=ids)
    kd.on_fit_start(state)
    state.outputs = student(ids)
    got = kd.extra_loss(state)
    with torch.no_grad():
        s_states, t_states, t_out = student.states(ids), teacher.states(ids), teacher(ids)
    real = ids != 0 if mask_padding else torch.ones_like(ids, dtype=torch.bool)
    hints = sum(((s - t)[real] ** 2).mean() for s, t in zip(s_states, t_states))
    hand = (1 - F.cosine_similarity(state.outputs, t_out, dim=-1)).mean() + 0.5 * hints
    assert torch.allclose(got, hand, atol=1e-6)
    assert kd.hints_report()["padding_masked"] is mask_padding


def test_label_free_recovery_with_hints_reports_them_and_follows_the_teacher():
    teacher = TinyEncoder()
    student, held_out = _noisy(teacher), _ids(128, seed=9)
    before = encoder_fidelity(student(held_out).detach(), teacher(held_out).detach())["cosine_mean"]
    cfg = st.TrainConfig(epochs=2, batch_size=32, lr=0.02, optimizer="adam", quiet=True, seed=0)
    out = st.distill(student, _ids(200, seed=1), Distill(teacher, alpha=1.0, hints="sublayers"), cfg)
    after = encoder_fidelity(out(held_out).detach(), teacher(held_out).detach())["cosine_mean"]
    report = distill_report(out)
    assert report["hints"] == "sublayers" and report["hint_layers"] == 4 and report["padding_masked"]
    terms = report["train_terms"]
    assert len(terms) == 2 and terms[-1]["hints"] < terms[0]["hints"] and "output" in terms[0]
    assert after > before + 0.02


def test_skip_rows_leaves_the_first_rows_out_of_training_and_validation():
    teacher = TinyEncoder()
    x = torch.cat([torch.full((40, 7), 25), _ids(60, seed=2)])  # id 25 is outside the vocabulary: would raise
    cfg = st.TrainConfig(epochs=1, batch_size=16, lr=0.01, optimizer="adam", quiet=True, seed=0)
    out = st.distill(_noisy(teacher), x, Distill(teacher, alpha=1.0, skip_rows=40), cfg)
    report = distill_report(out)
    assert report["skipped_rows"] == 40 and report["train_rows"] + report["val_rows"] == 60
    with pytest.raises(IndexError):
        st.distill(_noisy(teacher), x, Distill(teacher, alpha=1.0, skip_rows=39), cfg)
    with pytest.raises(ConfigError, match="skip_rows.*fewer than 2"):
        st.distill(_noisy(teacher), x, Distill(teacher, alpha=1.0, skip_rows=99), cfg)
    with pytest.raises(ConfigError, match="skip_rows"):
        DistillConfig(skip_rows=-1)
