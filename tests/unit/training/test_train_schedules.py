"""Every schedule against a (step, expected lr) table, and against torch's schedulers where they exist."""

import math

import pytest
import torch

from slimtorch.training import TrainConfig
from slimtorch.training.schedules import ReduceOnPlateau, Schedule, lr_at, one_cycle_lr, warmup_lr

TABLE = [
    # schedule, kwargs, [(step, expected)]   base_lr 1.0, total 10 steps, no warmup
    ("constant", {}, [(0, 1.0), (5, 1.0), (9, 1.0)]),
    ("step", {"step_size": 3, "gamma": 0.5}, [(0, 1.0), (2, 1.0), (3, 0.5), (6, 0.25), (9, 0.125)]),
    ("multistep", {"milestones": [2, 7], "gamma": 0.1}, [(0, 1.0), (1, 1.0), (2, 0.1), (6, 0.1), (7, 0.01)]),
    ("exponential", {"gamma": 0.5}, [(0, 1.0), (1, 0.5), (3, 0.125)]),
    ("cosine", {}, [(0, 1.0), (5, 0.5), (10, 0.0), (12, 0.0)]),
    ("cosine", {"min_lr": 0.2}, [(0, 1.0), (5, 0.6), (10, 0.2)]),
    ("linear", {}, [(0, 1.0), (4, 0.6), (10, 0.0)]),
    ("linear", {"min_lr": 0.5}, [(0, 1.0), (5, 0.75), (10, 0.5)]),
    ("one_cycle", {}, [(0, 0.04), (2, 1.0), (9, 0.04 / 1e4)]),
    ("plateau", {}, [(0, 1.0), (9, 1.0)]),
]


@pytest.mark.parametrize("schedule, kw, table", TABLE)
def test_schedule_table(schedule, kw, table):
    for step, expected in table:
        assert lr_at(step, schedule, 1.0, total_steps=10, **kw) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_warmup_table_then_decay_over_remaining_steps():
    # 4 warmup steps: lr * (s+1)/5, then cosine over the other 10 - 4 = 6 steps
    table = [(0, 0.2), (1, 0.4), (3, 0.8), (4, 1.0), (7, 0.5), (10, 0.0)]
    for step, expected in table:
        assert lr_at(step, "cosine", 1.0, total_steps=10, warmup_steps=4) == pytest.approx(expected, abs=1e-12)
    assert warmup_lr(10, 4, 0.3) == 0.3


def test_one_cycle_matches_torch():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=50)
    for step in range(50):
        assert one_cycle_lr(step, 50, 0.1) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


@pytest.mark.parametrize("name, make", [
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
    ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)),
    ("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
])
def test_matches_torch_schedulers(name, make):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    kw = {"step_size": 4, "gamma": 0.5} if name == "step" else {"gamma": 0.9} if name == "exponential" else {}
    for step in range(20):
        assert lr_at(step, name, 0.1, total_steps=20, **kw) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-6)
        opt.step()
        sched.step()


def test_config_epochs_convert_to_steps():
    cfg = TrainConfig(epochs=4, lr=1.0, schedule="multistep", milestones=(1, 3), gamma=0.1, warmup_epochs=0.5)
    s = Schedule(cfg, steps_per_epoch=10)
    assert s.warmup_steps == 5 and s.total_steps == 40
    assert s.lr(0) == pytest.approx(1 / 6)
    assert s.lr(14) == pytest.approx(1.0)  # milestone 1 epoch = 10 steps, counted after the 5 warmup steps
    assert s.lr(15) == pytest.approx(0.1)
    exp = Schedule(TrainConfig(epochs=3, lr=1.0, schedule="exponential", gamma=0.5), steps_per_epoch=4)
    assert exp.lr(4) == pytest.approx(0.5) and exp.lr(8) == pytest.approx(0.25)  # gamma is per epoch


def test_reduce_on_plateau_table():
    r = ReduceOnPlateau(factor=0.5, patience=1)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.8, 0.85, 0.85]
    scales = [r.step(m) for m in metrics]
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]
    r2 = ReduceOnPlateau()
    r2.load_state_dict(r.state_dict())
    assert r2.state_dict() == r.state_dict()
    assert math.isinf(ReduceOnPlateau().state_dict()["best"])


def test_plateau_schedule_scales_lr():
    s = Schedule(TrainConfig(epochs=5, lr=0.4, schedule="plateau", plateau_patience=0, gamma=0.5), steps_per_epoch=2)
    s.epoch_end(1.0)
    s.epoch_end(1.0)  # no improvement, patience 0 -> halve
    assert s.lr(5) == pytest.approx(0.2)


def test_unknown_schedule_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown schedule 'poly'; allowed: constant, step, multistep"):
        lr_at(0, "poly", 0.1, total_steps=10)
