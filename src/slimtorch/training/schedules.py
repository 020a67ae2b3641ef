"""Learning-rate schedules as pure ``step -> lr`` functions, plus warmup and reduce-on-plateau.

Every function takes the optimizer step (0-based) and returns the learning rate for that step, so
a schedule can be read, plotted and tested as a table. Only reduce-on-plateau needs state (it reacts
to a metric); it is a small wrapper that scales the pure schedule.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from .config import TrainConfig


def constant_lr(step: int, base_lr: float) -> float:
    """The same learning rate at every step."""
    return base_lr


def step_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Multiply by ``gamma`` every ``step_size`` steps."""
    return base_lr * gamma ** (step // step_size)


def multistep_lr(step: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """Multiply by ``gamma`` at each milestone step (from that step on)."""
    return base_lr * gamma ** bisect.bisect_right(list(milestones), step)


def exponential_lr(step: int, base_lr: float, gamma: float) -> float:
    """Multiply by ``gamma`` every step."""
    return base_lr * gamma**step


def cosine_lr(step: int, total_steps: int, base_lr: float, min_lr: float = 0.0) -> float:
    """Half a cosine from ``base_lr`` at step 0 to ``min_lr`` at ``total_steps`` (held after)."""
    t = min(step, total_steps) / max(1, total_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


def linear_lr(step: int, total_steps: int, base_lr: float, min_lr: float = 0.0) -> float:
    """A straight line from ``base_lr`` at step 0 to ``min_lr`` at ``total_steps`` (held after)."""
    t = min(step, total_steps) / max(1, total_steps)
    return base_lr + (min_lr - base_lr) * t


def one_cycle_lr(step: int, total_steps: int, max_lr: float, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """Smith's one-cycle policy, cosine phases, as ``torch.optim.lr_scheduler.OneCycleLR``:
    up from ``max_lr / div_factor`` to ``max_lr`` over ``pct_start`` of the run, then down to
    ``max_lr / div_factor / final_div_factor`` at the last step."""
    initial = max_lr / div_factor
    final = initial / final_div_factor
    peak_step = float(pct_start * total_steps) - 1
    last_step = float(total_steps) - 1
    if step <= peak_step:
        start, end, pct = initial, max_lr, step / max(peak_step, 1e-12)
    else:
        start, end, pct = max_lr, final, (step - peak_step) / max(last_step - peak_step, 1e-12)
    pct = min(pct, 1.0)
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def warmup_lr(step: int, warmup_steps: int, lr: float) -> float:
    """Linear warmup: ``lr * (step + 1) / (warmup_steps + 1)`` during the first ``warmup_steps`` steps
    (never exactly zero), then ``lr`` unchanged."""
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    return lr


def lr_at(step: int, schedule: str, base_lr: float, total_steps: int, warmup_steps: int = 0, **kw: Any) -> float:
    """The learning rate of ``schedule`` at ``step``, after ``warmup_steps`` of linear warmup.

    The decay runs over the steps after warmup, so warmup does not shift where the decay ends.

    Args:
        step: optimizer step, 0-based.
        schedule: one of ``constant, step, multistep, exponential, cosine, linear, one_cycle, plateau``
            (``plateau`` is constant here; :class:`ReduceOnPlateau` scales it).
        base_lr: the peak learning rate.
        total_steps: steps of the whole run.
        warmup_steps: steps of linear warmup before the schedule starts.
        **kw: the schedule's own arguments (``step_size``, ``milestones``, ``gamma``, ``min_lr``).

    Returns:
        The learning rate.

    Example:
        >>> lr_at(50, "cosine", 0.1, total_steps=100)
        0.05
    """
    s = max(0, step - warmup_steps)
    decay_steps = max(1, total_steps - warmup_steps)
    if schedule in ("constant", "plateau"):
        lr = constant_lr(s, base_lr)
    elif schedule == "step":
        lr = step_lr(s, base_lr, kw["step_size"], kw.get("gamma", 0.1))
    elif schedule == "multistep":
        lr = multistep_lr(s, base_lr, kw["milestones"], kw.get("gamma", 0.1))
    elif schedule == "exponential":
        lr = exponential_lr(s, base_lr, kw["gamma"])
    elif schedule == "cosine":
        lr = cosine_lr(s, decay_steps, base_lr, kw.get("min_lr", 0.0))
    elif schedule == "linear":
        lr = linear_lr(s, decay_steps, base_lr, kw.get("min_lr", 0.0))
    elif schedule == "one_cycle":
        lr = one_cycle_lr(s, decay_steps, base_lr)
    else:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULE_NAMES)}")
    return warmup_lr(step, warmup_steps, lr)


SCHEDULE_NAMES = ("constant", "step", "multistep", "exponential", "cosine", "linear", "one_cycle", "plateau")


class ReduceOnPlateau:
    """Scale the learning rate by ``factor`` after ``patience`` epochs without improvement of a metric
    (lower is better) by more than ``threshold`` (relative), never below ``min_scale``."""

    def __init__(self, factor: float = 0.1, patience: int = 2, threshold: float = 1e-4, min_scale: float = 0.0):
        self.factor, self.patience, self.threshold, self.min_scale = factor, patience, threshold, min_scale
        self.scale, self.best, self.bad_epochs = 1.0, math.inf, 0

    def step(self, metric: float) -> float:
        """Record one epoch's metric; returns the current scale."""
        if math.isinf(self.best) or metric < self.best - self.threshold * abs(self.best):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.scale = max(self.min_scale, self.scale * self.factor)
                self.bad_epochs = 0
        return self.scale

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.scale, self.best, self.bad_epochs = float(state["scale"]), float(state["best"]), int(state["bad_epochs"])


class Schedule:
    """The schedule of one run: ``TrainConfig`` epochs converted to steps, plus the plateau state."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int):
        self.cfg, self.steps_per_epoch = cfg, steps_per_epoch
        self.total_steps = cfg.epochs * steps_per_epoch
        self.warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
        spe = steps_per_epoch
        self.kw = {"step_size": max(1, int(round(cfg.step_size * spe))),
                   "milestones": [int(round(m * spe)) for m in cfg.milestones],
                   "gamma": cfg.gamma ** (1.0 / spe) if cfg.schedule == "exponential" else cfg.gamma,
                   "min_lr": cfg.min_lr}
        self.plateau = ReduceOnPlateau(cfg.gamma, cfg.plateau_patience) if cfg.schedule == "plateau" else None

    def lr(self, step: int) -> float:
        """Learning rate for optimizer step ``step``."""
        lr = lr_at(step, self.cfg.schedule, self.cfg.lr, self.total_steps, self.warmup_steps, **self.kw)
        return lr * self.plateau.scale if self.plateau is not None else lr

    def epoch_end(self, metric: float) -> None:
        """Feed the epoch's monitored metric to reduce-on-plateau (no-op for pure schedules)."""
        if self.plateau is not None:
            self.plateau.step(metric)

    def state_dict(self) -> dict[str, Any]:
        return {"plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])
