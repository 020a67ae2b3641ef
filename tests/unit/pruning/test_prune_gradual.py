"""Gradual (Zhu & Gupta) and iterative (Han et al.) pruning hooks, driven by a hand loop and by st.fit."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from slimtorch.data.arrays import ArrayDataset
from slimtorch.hooks import State
from slimtorch.pruning import GradualPrune, IterativePrune, cubic_sparsity, iterative_sparsity
from slimtorch.pruning.gradual import GradualPruneConfig, IterativePruneConfig
from slimtorch.pruning.masks import prunable


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.0),
        (9, 0.0),  # before start
        (10, 0.1),
        (19, 0.1),  # initial sparsity at start, held until the next update
        (20, 0.9 + (0.1 - 0.9) * (1 - 10 / 40) ** 3),
        (35, 0.9 + (0.1 - 0.9) * (1 - 20 / 40) ** 3),  # rounded down to the update grid
        (49, 0.9 + (0.1 - 0.9) * (1 - 30 / 40) ** 3),
        (50, 0.9),
        (1000, 0.9),
    ],
)
def test_cubic_schedule_table(step, expected):
    assert cubic_sparsity(step, final=0.9, start=10, end=50, frequency=10, initial=0.1) == pytest.approx(expected)


@pytest.mark.parametrize("round_, expected", [(0, 0.0), (1, 1 - 0.1 ** (1 / 3)), (2, 1 - 0.1 ** (2 / 3)), (3, 0.9)])
def test_iterative_schedule_table(round_, expected):
    assert iterative_sparsity(round_, rounds=3, final=0.9) == pytest.approx(expected)


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 40), nn.ReLU(), nn.Linear(40, 25), nn.ReLU(), nn.Linear(25, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt, torch.randn(16, 10), torch.randint(0, 3, (16,))


def _sparsity(model):
    ps = list(prunable(model).values())
    return sum(int((p == 0).sum()) for p in ps) / sum(p.numel() for p in ps), ps


def test_gradual_hook_follows_the_schedule_step_by_step():
    model, opt, x, y = _setup()
    hook = GradualPrune(final_sparsity=0.8, start_step=2, end_step=12, frequency=2)
    state = State(model=model, optimizer=opt)
    hook.on_fit_start(state)
    for step in range(1, 16):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        hook.after_backward(state)
        opt.step()
        hook.on_step_end(state)
        want = cubic_sparsity(step, 0.8, 2, 12, 2)
        _, ps = _sparsity(model)
        for p in ps:  # layer scope: every layer holds floor(s * n) zeros
            assert int((p == 0).sum()) == math.floor(want * p.numel())
    hook.finalize(state)
    assert _sparsity(model)[0] == pytest.approx(0.8, abs=0.01)
    assert not any("mask" in k or "orig" in k for k in model.state_dict())


def test_gradual_state_dict_round_trip():
    model, opt, x, y = _setup()
    hook = GradualPrune(final_sparsity=0.5, start_step=0, end_step=4, frequency=1)
    state = State(model=model, optimizer=opt)
    hook.on_fit_start(state)
    for _ in range(2):
        hook.on_step_end(state)
    other = GradualPrune(hook.cfg)
    other.load_state_dict(hook.state_dict())
    assert other.steps == 2 and other.sparsity == hook.sparsity
    assert all(torch.equal(a, b) for a, b in zip(other.masks.masks.values(), hook.masks.masks.values()))


def test_iterative_rounds_prune_then_retrain():
    model, opt, x, y = _setup()
    hook = IterativePrune(final_sparsity=0.9, rounds=3, epochs_per_round=2, scope="global")
    state = State(model=model, optimizer=opt)
    hook.on_fit_start(state)
    seen = [_sparsity(model)[0]]
    for _epoch in range(6):
        for _ in range(2):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            hook.after_backward(state)
            opt.step()
            hook.on_step_end(state)
        hook.on_epoch_end(state)
        seen.append(_sparsity(model)[0])
    want = [iterative_sparsity(r, 3, 0.9) for r in (1, 1, 2, 2, 3, 3, 3)]
    assert seen == pytest.approx(want, abs=1e-3)


def test_hooks_work_inside_fit():
    from slimtorch.training import TrainConfig, fit

    torch.manual_seed(0)
    x = torch.randn(64, 10)
    data = ArrayDataset(x, (x[:, 0] > 0).long())
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer="sgd", lr=0.1, momentum=0.9, quiet=True)
    fit(model, data, cfg, hooks=[IterativePrune(final_sparsity=0.75, rounds=3, epochs_per_round=1)])
    assert _sparsity(model)[0] == pytest.approx(0.75, abs=0.01)


@pytest.mark.parametrize("make", [lambda: GradualPrune(IterativePruneConfig(final_sparsity=0.5)),
                                  lambda: IterativePrune(GradualPruneConfig(final_sparsity=0.5, end_step=10)),
                                  lambda: GradualPrune(0.9),
                                  lambda: GradualPrune(GradualPruneConfig(final_sparsity=0.5, end_step=10),
                                                       final_sparsity=0.9)])
def test_a_config_of_another_hook_or_a_config_and_fields_is_refused(make):
    """Before the hooks shared hooks.hook_config, these were accepted and ran another schedule (or ignored
    the fields given by name)."""
    with pytest.raises(TypeError, match="settings by name"):
        make()
