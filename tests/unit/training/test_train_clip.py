"""Gradient clipping: bounds hold, the pre-clip norm is reported."""

import torch
from torch import nn

from slimtorch.training.clip import clip_gradients, grad_norm


def _model_with_grads(scale: float = 10.0) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * scale
    return list(model.parameters())


def _norm(params):
    return torch.sqrt(sum((p.grad**2).sum() for p in params))


def test_global_norm_clip_bounds_and_reports_pre_clip_norm():
    params = _model_with_grads()
    before = _norm(params)
    pre = clip_gradients(params, clip_norm=1.0)
    torch.testing.assert_close(pre, before)
    assert _norm(params) <= 1.0 + 1e-5
    assert before > 1.0


def test_value_clip_bounds_every_element():
    params = _model_with_grads()
    clip_gradients(params, clip_value=0.5)
    assert max(p.grad.abs().max() for p in params) <= 0.5


def test_adaptive_clip_bounds_ratio_per_tensor():
    params = _model_with_grads()
    clip_gradients(params, clip_adaptive=0.01)
    for p in params:
        assert p.grad.norm() <= 0.01 * max(p.detach().norm(), 1e-3) * (1 + 1e-5)


def test_all_three_combined_still_respect_global_bound():
    params = _model_with_grads()
    clip_gradients(params, clip_norm=0.3, clip_value=2.0, clip_adaptive=1.0)
    assert _norm(params) <= 0.3 + 1e-5


def test_small_gradients_untouched():
    params = _model_with_grads(scale=1e-3)
    before = [p.grad.clone() for p in params]
    clip_gradients(params, clip_norm=1.0)
    for b, p in zip(before, params):
        torch.testing.assert_close(p.grad, b)
    torch.testing.assert_close(grad_norm(params), _norm(params))
