"""Optimizer steps against hand-computed updates (least squares, closed-form gradients)."""

import torch
from torch import nn
from train_helpers import least_squares, ls_grad

from slimtorch.training import TrainConfig, fit
from slimtorch.training.optim import build_optimizer, param_groups


def _cfg(**kw):
    base = {"epochs": 1, "loss": "mse", "quiet": True, "device": "cpu"}
    return TrainConfig(**{**base, **kw})


def test_one_gd_step_is_theta_minus_eta_grad():
    data, model = least_squares(n=8)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    gw, gb = ls_grad(model, data)
    # batch_size 3: the full-batch gradient is accumulated over chunks of 3, 3 and 2 rows
    fit(model, data, _cfg(optimizer="gd", lr=0.05, batch_size=3))
    torch.testing.assert_close(model.weight.detach(), w0 - 0.05 * gw)
    torch.testing.assert_close(model.bias.detach(), b0 - 0.05 * gb)


def test_gd_takes_one_step_per_epoch():
    data, model = least_squares(n=8)
    expected = nn.Linear(3, 1)
    expected.load_state_dict(model.state_dict())
    for _ in range(3):
        gw, gb = ls_grad(expected, data)
        with torch.no_grad():
            expected.weight -= 0.1 * gw
            expected.bias -= 0.1 * gb
    fit(model, data, _cfg(optimizer="gd", lr=0.1, batch_size=5, epochs=3))
    torch.testing.assert_close(model.weight.detach(), expected.weight.detach())
    torch.testing.assert_close(model.bias.detach(), expected.bias.detach())


def _hand_momentum(model, data, lr, mu, nesterov, steps):
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    vw, vb = torch.zeros_like(w), torch.zeros_like(b)
    probe = nn.Linear(3, 1)
    for t in range(steps):
        probe.weight.data, probe.bias.data = w.clone(), b.clone()
        gw, gb = ls_grad(probe, data)
        vw, vb = (gw, gb) if t == 0 else (mu * vw + gw, mu * vb + gb)
        dw, db = (gw + mu * vw, gb + mu * vb) if nesterov else (vw, vb)
        w, b = w - lr * dw, b - lr * db
    return w, b


def test_momentum_and_nesterov_match_hand_velocity_updates():
    for nesterov in (False, True):
        data, model = least_squares(n=8)
        w, b = _hand_momentum(model, data, lr=0.05, mu=0.9, nesterov=nesterov, steps=4)
        # batch_size = n: every step sees the full batch, so the gradient is order-free
        fit(model, data, _cfg(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=nesterov, batch_size=8, epochs=4))
        torch.testing.assert_close(model.weight.detach(), w)
        torch.testing.assert_close(model.bias.detach(), b)


def test_no_weight_decay_on_biases_and_norm_params():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.LayerNorm(8), nn.Linear(8, 2))
    groups = param_groups(model, weight_decay=0.1)
    decayed = {id(p) for p in groups[0]["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert decayed == {id(model[0].weight), id(model[3].weight)}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_weight_decay_shrinks_weights_not_bias():
    data, model = least_squares(n=8)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    gw, gb = ls_grad(model, data)
    fit(model, data, _cfg(optimizer="gd", lr=0.1, weight_decay=0.5))
    torch.testing.assert_close(model.weight.detach(), w0 - 0.1 * (gw + 0.5 * w0))
    torch.testing.assert_close(model.bias.detach(), b0 - 0.1 * gb)


def test_adam_and_adamw_are_torch_optimizers():
    model = nn.Linear(3, 1)
    assert isinstance(build_optimizer(model, TrainConfig(optimizer="adam", lr=1e-3)), torch.optim.Adam)
    opt = build_optimizer(model, TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=0.01))
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.01
    assert opt.defaults["fused"]  # CPU float parameters: the fused kernel is used


def test_adam_step_matches_torch_default_implementation():
    data, model = least_squares()
    reference = nn.Linear(3, 1)
    reference.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(reference.parameters(), lr=0.01, foreach=False)
    for _ in range(3):
        opt.zero_grad()
        x, y = data.tensors
        nn.functional.mse_loss(reference(x), y).backward()
        opt.step()
    fit(model, data, _cfg(optimizer="adam", lr=0.01, batch_size=8, epochs=3))
    torch.testing.assert_close(model.weight.detach(), reference.weight.detach())
