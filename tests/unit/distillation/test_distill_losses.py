"""Distillation losses against hand-computed values and PyTorch's own functions."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from slimtorch.distillation import (
    attention_map,
    attention_transfer_loss,
    embedding_loss,
    hint_loss,
    kd_loss,
    soft_target_loss,
)


def test_kd_loss_hand_computed():
    # T=2: student logits [0, 2 ln 3] soften to [0, ln 3] -> p_s = [1/4, 3/4]; teacher [0, 0] -> p_t = [1/2, 1/2].
    # KL(p_t || p_s) = 0.5 ln 2 + 0.5 ln(2/3) = 0.5 ln(4/3); times T² = 4 -> 2 ln(4/3).
    # Hard CE at T=1: p = [1/10, 9/10]; row 0 target 1 -> ln(10/9), row 1 target 0 -> ln 10.
    s = torch.tensor([[0.0, 2 * math.log(3)], [0.0, 2 * math.log(3)]])
    t = torch.zeros(2, 2)
    y = torch.tensor([1, 0])
    expected = 0.75 * 2 * math.log(4 / 3) + 0.25 * (math.log(10 / 9) + math.log(10)) / 2
    assert_close(kd_loss(s, t, y, temperature=2.0, alpha=0.75), torch.tensor(expected))
    assert_close(soft_target_loss(s, t, 2.0), torch.tensor(2 * math.log(4 / 3)))


def test_alpha_zero_is_cross_entropy():
    s, t, y = torch.randn(16, 7), torch.randn(16, 7), torch.randint(0, 7, (16,))
    assert_close(kd_loss(s, t, y, temperature=3.0, alpha=0.0), F.cross_entropy(s, y))


def test_alpha_one_needs_no_targets_and_matches_torch_kl():
    s, t = torch.randn(8, 5), torch.randn(8, 5)
    T = 3.0
    ref = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    assert_close(kd_loss(s, t, None, temperature=T, alpha=1.0), ref)


def test_identical_logits_give_zero_soft_loss():
    s = torch.randn(4, 6)
    assert_close(soft_target_loss(s, s.clone(), 5.0), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_missing_targets_raise():
    with pytest.raises(ValueError, match="targets are needed"):
        kd_loss(torch.randn(2, 3), torch.randn(2, 3), None, alpha=0.5)


def test_class_count_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        soft_target_loss(torch.randn(2, 3), torch.randn(2, 4), 2.0)


def test_gradient_reaches_student_logits_only():
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    kd_loss(s, t, torch.tensor([0, 1, 2, 3]), temperature=4.0, alpha=0.9).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def _soft_grad(s: torch.Tensor, t: torch.Tensor, T: float, scale: bool = True) -> torch.Tensor:
    s = s.clone().requires_grad_(True)
    loss = soft_target_loss(s, t, T)
    (loss if scale else loss / (T * T)).backward()
    return s.grad


def test_soft_gradient_formula():
    # d(T² KL)/ds = T (p_s - p_t) / N  (Hinton et al. 2015, eq. 2 with the T² factor and batch mean).
    s, t, T = torch.randn(6, 10), torch.randn(6, 10), 3.0
    expected = T * (F.softmax(s / T, 1) - F.softmax(t / T, 1)) / 6
    assert_close(_soft_grad(s, t, T), expected)


def test_t_squared_keeps_gradient_magnitude_across_temperatures():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(32, 10, generator=g), torch.randn(32, 10, generator=g)
    s, t = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)  # zero-mean logits, as in the paper's limit
    temps = [2.0, 4.0, 8.0, 20.0]
    scaled = [_soft_grad(s, t, T).norm().item() for T in temps]
    unscaled = [_soft_grad(s, t, T, scale=False).norm().item() for T in temps]
    assert max(scaled) / min(scaled) < 1.6
    assert max(unscaled) / min(unscaled) > 50  # without T² the soft term would fade as 1/T²
    # High-temperature limit: the gradient tends to (s - t) / (C N), the logit-matching gradient.
    assert_close(_soft_grad(s, t, 50.0), (s - t) / (10 * 32), rtol=0.05, atol=1e-4)


def test_hint_loss_is_mse_and_detaches_teacher():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    loss = hint_loss(s, t)
    assert_close(loss, ((s - t) ** 2).mean())
    loss.backward()
    assert t.grad is None
    with pytest.raises(ValueError, match="adapter"):
        hint_loss(torch.randn(3, 4), torch.randn(3, 5))


def test_attention_map_hand_computed():
    # Two channels on a 1x2 map: |a|² averaged over channels = [(1+9)/2, (4+0)/2] = [5, 2] -> / sqrt(29).
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])
    assert_close(attention_map(f), torch.tensor([[5.0, 2.0]]) / math.sqrt(29))


def test_attention_transfer_is_channel_count_free():
    t = torch.randn(2, 8, 5, 5)
    s = torch.cat([t, t], dim=1)  # twice the channels, identical attention
    assert_close(attention_transfer_loss(s, t), torch.tensor(0.0), atol=1e-6, rtol=0)
    other = torch.randn(2, 3, 5, 5)
    value = attention_transfer_loss(other, t)
    assert 0 < value.item() <= 4
    with pytest.raises(ValueError, match="spatial"):
        attention_transfer_loss(torch.randn(2, 3, 4, 4), t)


def test_embedding_losses():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert_close(embedding_loss(s, t, "cosine"), torch.tensor(0.5))  # (1 - 0 + 1 - 1) / 2
    assert_close(embedding_loss(s, t, "mse"), torch.tensor((1 + 1 + 0 + 1) / 4))
    with pytest.raises(ValueError, match="allowed"):
        embedding_loss(s, t, "l1")
