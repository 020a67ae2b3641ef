"""One ``fit`` call's working set (:class:`Run`) and the steps around the epochs: build it, resume it
from a checkpoint, checkpoint it after an epoch."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

import slimtorch.training.distributed as dist_

from ..config import ConfigError
from ..hooks import Hook, State
from .batching import Batches, num_batches
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .history import History
from .losses import make_loss
from .optim import build_optimizer
from .reporting import Progress, write_metrics
from .schedules import Schedule


@dataclass(eq=False)
class Run:
    """Everything one ``fit`` call carries from epoch to epoch (built once by :func:`build_run`)."""

    cfg: TrainConfig
    hooks: list[Hook]
    state: State
    model: nn.Module  # the model being trained (a hook may have swapped it in on_fit_start)
    net: nn.Module  # ``model``, wrapped in DDP under torchrun
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    batches: Batches
    info: dist_.DistInfo
    device: torch.device
    out: Path | None
    rows: int  # rows of the training data
    micro_per_epoch: int  # micro-batches per epoch on this process
    accum: int  # micro-batches per optimizer step
    steps_per_epoch: int
    weights: list[float] | None  # loss weight of each micro-batch when accumulating
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    loss_name: str | None  # None for a user's callable loss (no accuracy then)
    autocast: Callable[[], Any]
    progress: Progress
    history: History = field(default_factory=History)
    start_epoch: int = 0
    step: int = 0  # optimizer steps taken so far
    early: dict = field(default_factory=lambda: {"best": math.inf, "bad": 0})
    checkpoint_epoch: int | None = None  # epoch of the last checkpoint on disk (written or resumed from)
    params: list[nn.Parameter] = field(default_factory=list)  # the optimizer's, for clipping and the norm
    # Read every step's loss at once (CPU, where .item() is free) or check windows of steps (accelerators)
    loss_item_per_step: bool = True


def seed_all(seed: int) -> None:
    """Seed every RNG a checkpoint stores (torch, numpy, Python), so identical runs write identical files."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def build_run(model: nn.Module, train_data: Dataset, cfg: TrainConfig, hooks: list[Hook]) -> Run:
    """Place the model, size the epoch, call ``on_fit_start``, build optimizer and schedule, resume if asked."""
    if len(train_data) == 0:
        raise ValueError("train_data is empty")
    device = dist_.pick_device(cfg.device)
    info = dist_.setup(device)
    seed_all(cfg.seed)  # dropout & co.; a resumed run restores the saved RNG states instead
    model.to(device)
    rows_per_rank = -(-len(train_data) // info.world_size)
    micro_per_epoch = num_batches(rows_per_rank, cfg.batch_size)
    accum = micro_per_epoch if cfg.optimizer == "gd" else min(cfg.grad_accum, micro_per_epoch)
    steps_per_epoch = -(-micro_per_epoch // accum)
    state = State(model=model, epoch=0, step=0, steps_per_epoch=steps_per_epoch,
                  total_steps=cfg.epochs * steps_per_epoch, device=device)
    for h in hooks:
        h.on_fit_start(state)
    model = state.model.to(device)  # a hook may have swapped it in on_fit_start
    optimizer = build_optimizer(model, cfg)
    state.optimizer = optimizer
    run = Run(cfg=cfg, hooks=hooks, state=state, model=model, net=model, optimizer=optimizer,
              schedule=Schedule(cfg, steps_per_epoch), batches=Batches(train_data, cfg.batch_size, device,
                                                                       cfg.num_workers),
              info=info, device=device, out=Path(cfg.out) if cfg.out else None, rows=len(train_data),
              micro_per_epoch=micro_per_epoch, accum=accum, steps_per_epoch=steps_per_epoch,
              weights=micro_weights(rows_per_rank, cfg.batch_size, accum) if accum > 1 else None,
              loss_fn=make_loss(cfg.loss, cfg.label_smoothing),
              loss_name=cfg.loss if isinstance(cfg.loss, str) else None,
              autocast=(lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.bf16
              else contextlib.nullcontext,
              progress=Progress(info.is_main and not cfg.quiet))
    if cfg.resume and run.out is not None:
        resume(run)
    run.step = run.start_epoch * steps_per_epoch
    run.net = dist_.wrap(model, info, device)
    run.params = [p for g in optimizer.param_groups for p in g["params"]]
    run.loss_item_per_step = device.type == "cpu"
    return run


def micro_weights(rows: int, batch_size: int, accum: int) -> list[float]:
    """Loss weight of each micro-batch of an epoch: its rows over its accumulation group's rows, so a
    group's gradient is the mean over the group (exact for ``gd``'s full-batch step and for a last,
    smaller chunk or group)."""
    sizes = [min(batch_size, rows - start) for start in range(0, rows, batch_size)]
    weights = []
    for g in range(0, len(sizes), accum):
        group = sizes[g:g + accum]
        weights += [size / sum(group) for size in group]
    return weights


def resume(run: Run) -> None:
    """Restore model, optimizer, schedule, hooks, history and RNG states from ``run.out``'s checkpoint
    (a fresh start when there is none)."""
    ckpt = load_checkpoint(run.out)
    if ckpt is None:
        return
    s = ckpt["state"]
    _check_resumable(s.get("config", {}), run.cfg)
    _check_same_model(s["model"], run.model, run.cfg.out)
    run.model.load_state_dict(s["model"])
    run.optimizer.load_state_dict(s["optimizer"])
    run.schedule.load_state_dict(s["schedule"])
    for h, hs in zip(run.hooks, s["hooks"]):
        h.load_state_dict(hs)
    run.history, run.start_epoch, run.early = History.from_dict(s["history"]), int(s["epoch"]), dict(s["early"])
    run.checkpoint_epoch = run.start_epoch
    set_rng_state(s["rng"])


def checkpoint(run: Run, epochs_done: int) -> None:
    """Write the checkpoint after ``epochs_done`` epochs and the metrics file (main process only)."""
    if run.out is None:
        return
    if run.info.is_main:
        save_checkpoint(run.out, epochs_done, {
            "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "schedule": run.schedule.state_dict(), "rng": rng_state(), "epoch": epochs_done, "step": run.step,
            "history": run.history.to_dict(), "hooks": [h.state_dict() for h in run.hooks], "early": run.early,
            "config": run.cfg.to_dict()})
        write_metrics(run.out / "metrics.jsonl", run.history.rows())
    run.checkpoint_epoch = epochs_done


# Fields that may differ between a run and its resumption: they do not change the trajectory.
_RESUME_FREE = {"epochs", "resume", "quiet", "out", "device", "num_workers", "eval_batch_size", "early_stopping"}


def _check_resumable(saved: dict, cfg: TrainConfig) -> None:
    """Refuse to resume with settings that would silently change the run (seed, lr, batch size, ...)."""
    now = cfg.to_dict()
    changed = sorted(k for k in now if k not in _RESUME_FREE and k in saved and saved[k] != now[k])
    if changed:
        diffs = ", ".join(f"{k}: checkpoint {saved[k]!r} vs now {now[k]!r}" for k in changed)
        raise ConfigError("resume", f"the checkpoint in {cfg.out} was trained with other settings ({diffs}); "
                                    "use the same settings or a new output folder (out=; --out on the CLI)")


def _check_same_model(saved: dict, model: nn.Module, out: str | None) -> None:
    """Refuse a checkpoint of another architecture (other data sized the model: 2 classes then, 10 now) in one
    line, before load_state_dict's multi-line size-mismatch error."""
    now = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    then = {k: tuple(v.shape) for k, v in saved.items()}
    diffs = [f"{k} {list(then[k])} vs now {list(now[k])}" for k in now if k in then and then[k] != now[k]]
    diffs += [f"{k} only in the {where}" for keys, other, where in ((now, then, "model now"), (then, now, "checkpoint"))
              for k in keys if k not in other]
    if diffs:
        shown = "; ".join(diffs[:2]) + (f" and {len(diffs) - 2} more" if len(diffs) > 2 else "")
        raise ConfigError("resume", f"the checkpoint in {out} holds another model ({shown}); resume with the model "
                                    "and data it was trained with, or use a new output folder (out=; --out on the CLI)")
