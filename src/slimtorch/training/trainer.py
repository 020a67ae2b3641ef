"""``fit``: the training loop. It composes torch's optimizers, clipping and autocast with seeded
batching, schedules, checkpoints and hooks; it holds no compression code (that lives in hooks)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import ConfigError
from ..hooks import Hook, State
from . import distributed as dist_
from .batching import Batches, epoch_order, num_batches, shard
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .clip import clip_gradients, grad_norm
from .config import TrainConfig
from .errors import NonFiniteLossError
from .history import History
from .losses import count_correct, eval_loss_fn, make_loss
from .optim import build_optimizer
from .reporting import Progress, epoch_line, write_metrics
from .schedules import Schedule


def fit(model: nn.Module, train_data: Dataset, cfg: TrainConfig | None = None, eval_data: Dataset | None = None,
        hooks: Sequence[Hook] = ()) -> History:
    """Train ``model`` on ``train_data`` as ``cfg`` says; returns the per-epoch :class:`History`.

    Each epoch visits the rows in a permutation seeded by ``(cfg.seed, epoch)``; ``gd`` takes one
    full-batch step per epoch (gradients accumulated over chunks of ``batch_size``). The loss
    minimised is ``prod(h.task_loss_weight) * task_loss + sum(h.extra_loss(state))``. With
    ``cfg.out`` a checkpoint is written atomically after every epoch and ``cfg.resume`` continues
    from it bit-identically (CPU). Under torchrun the model is wrapped in DDP; only rank 0 prints
    and writes.

    Hook calls: ``on_fit_start`` (before the optimizer is built, so it may change the model's
    structure), then per optimizer step ``on_step_start``, ``extra_loss``, ``after_backward``
    (before clipping and the step), ``on_step_end``; ``on_epoch_end``; ``finalize`` (may return a
    replacement model, found in ``History.model``).

    Args:
        model: the model to train (in place).
        train_data: an ArrayDataset (sliced directly, fastest) or a map-style dataset of ``(x, y)``.
        cfg: the training config (default ``TrainConfig()``).
        eval_data: evaluated after each epoch (accuracy and loss) when given.
        hooks: compression / distillation / logging hooks.

    Returns:
        The History; ``history.model`` is the model to use afterwards.

    Raises:
        NonFiniteLossError: the loss became NaN/Inf (message names epoch and step).
        ValueError: empty dataset or no trainable parameters.

    Example:
        >>> history = fit(model, train, TrainConfig(epochs=3, lr=0.1, momentum=0.9), eval_data=test)  # doctest: +SKIP
        >>> history.last()["eval_accuracy"]  # doctest: +SKIP
    """
    cfg = cfg or TrainConfig()
    hooks = list(hooks)
    if len(train_data) == 0:
        raise ValueError("train_data is empty")
    device = dist_.pick_device(cfg.device)
    info = dist_.setup(device)
    out = Path(cfg.out) if cfg.out else None
    torch.manual_seed(cfg.seed)  # dropout & co.; a resumed run restores the saved RNG states instead
    model.to(device)

    n = len(train_data)
    rows_per_rank = -(-n // info.world_size)
    micro_per_epoch = num_batches(rows_per_rank, cfg.batch_size)
    accum = micro_per_epoch if cfg.optimizer == "gd" else min(cfg.grad_accum, micro_per_epoch)
    steps_per_epoch = -(-micro_per_epoch // accum)
    weights = _micro_weights(rows_per_rank, cfg.batch_size, accum) if accum > 1 else None

    state = State(model=model, epoch=0, step=0, steps_per_epoch=steps_per_epoch,
                  total_steps=cfg.epochs * steps_per_epoch, device=device)
    for h in hooks:
        h.on_fit_start(state)
    model = state.model  # a hook may have swapped it in on_fit_start
    model.to(device)
    optimizer = build_optimizer(model, cfg)
    schedule = Schedule(cfg, steps_per_epoch)
    history, start_epoch, early = History(), 0, {"best": math.inf, "bad": 0}

    if cfg.resume and out is not None and (ckpt := load_checkpoint(out)) is not None:
        s = ckpt["state"]
        _check_resumable(s.get("config", {}), cfg)
        model.load_state_dict(s["model"])
        optimizer.load_state_dict(s["optimizer"])
        schedule.load_state_dict(s["schedule"])
        for h, hs in zip(hooks, s["hooks"]):
            h.load_state_dict(hs)
        history, start_epoch, early = History.from_dict(s["history"]), int(s["epoch"]), dict(s["early"])
        set_rng_state(s["rng"])

    net = dist_.wrap(model, info, device)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    loss_fn = make_loss(cfg.loss, cfg.label_smoothing)
    loss_name = cfg.loss if isinstance(cfg.loss, str) else None
    batches = Batches(train_data, cfg.batch_size, device, cfg.num_workers)
    progress = Progress(info.is_main and not cfg.quiet)
    clipping = (cfg.clip_norm, cfg.clip_value, cfg.clip_adaptive)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.bf16 else contextlib.nullcontext
    on_cpu = device.type == "cpu"
    state.optimizer, state.model = optimizer, model
    step = start_epoch * steps_per_epoch
    net.train()  # once: hooks may then put parts in eval mode (e.g. frozen BN statistics) and it stays so

    for epoch in range(start_epoch, cfg.epochs):
        if history.stopped_early:
            break
        state.epoch = epoch
        rows = shard(epoch_order(n, epoch, cfg.seed, cfg.shuffle), info.rank, info.world_size)
        # running sums stay tensors of their natural dtype (no per-step conversions or host syncs)
        loss_acc = torch.zeros((), device=device)
        correct_acc = torch.zeros((), dtype=torch.long, device=device)
        norm_acc = torch.zeros((), device=device)
        has_acc, pending, seen, loss_sum = loss_name is not None, [], 0, 0.0
        progress.start(epoch + 1, cfg.epochs, micro_per_epoch)
        t0 = time.perf_counter()
        lr = schedule.lr(step)
        for b, (idx, x, y) in enumerate(batches.epoch(rows, in_order=not cfg.shuffle and info.world_size == 1)):
            first, last = b % accum == 0, b % accum == accum - 1 or b == micro_per_epoch - 1
            if first:
                lr = schedule.lr(step)
                for g in optimizer.param_groups:
                    g["lr"] = lr
            if hooks:
                state.step, state.inputs, state.targets, state.indices = step, x, y, idx
                if first:
                    for h in hooks:
                        h.on_step_start(state)
            sync = contextlib.nullcontext() if last or not info.enabled else net.no_sync()
            with sync:
                with autocast():
                    outputs = net(x)
                    loss = loss_fn(outputs, y)
                    if hooks:
                        loss = _hooked_loss(hooks, state, outputs, loss)
                (loss * weights[b] if weights is not None else loss).backward()
            rows_b = y.shape[0]
            seen += rows_b
            if on_cpu:  # .item() costs nothing on CPU: check every step, sum in Python
                value = loss.item()
                if not math.isfinite(value):
                    raise NonFiniteLossError(epoch + 1, step + 1, value, str(out) if out is not None else None)
                loss_sum += value * rows_b
            else:  # on an accelerator, avoid a host sync per step: check a window of steps at once
                detached = loss.detach()
                loss_acc += detached.float() * rows_b
                pending.append((step, detached))
                if len(pending) >= 32 or last:
                    _check_finite(pending, epoch, out)
                    pending = []
            correct = count_correct(loss_name, outputs.detach(), y) if has_acc else None
            if correct is None:
                has_acc = False
            else:
                correct_acc += correct
            if last:
                if hooks:
                    for h in hooks:
                        h.after_backward(state)
                norm = clip_gradients(params, *clipping) if any(c is not None for c in clipping) else grad_norm(params)
                norm_acc += norm
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if hooks:
                    state.step = step
                    for h in hooks:
                        h.on_step_end(state)
            progress.update()
        seconds = time.perf_counter() - t0
        progress.close()

        totals = torch.stack([loss_acc.double(), correct_acc.double(), norm_acc.double()])
        totals = torch.cat([totals, totals.new_tensor([float(seen)])])
        if on_cpu:
            totals[0] = loss_sum
        sums = dist_.all_reduce_sum(totals, info).tolist()
        metrics = {"loss": sums[0] / sums[3], "accuracy": sums[1] / sums[3] if has_acc else math.nan,
                   "lr": lr, "seconds": seconds, "samples_per_s": sums[3] / max(seconds, 1e-9),
                   "grad_norm": sums[2] / info.world_size / steps_per_epoch,
                   "eval_loss": math.nan, "eval_accuracy": math.nan}
        if eval_data is not None:
            ev = _evaluate(model, eval_data, cfg)
            metrics["eval_loss"], metrics["eval_accuracy"] = ev["loss"], ev["accuracy"]
        monitored = metrics["eval_loss"] if eval_data is not None else metrics["loss"]
        schedule.epoch_end(monitored)
        history.append(epoch + 1, **metrics)
        state.metrics = dict(metrics)
        for h in hooks:
            h.on_epoch_end(state)
        if cfg.early_stopping is not None:
            early = _early_stop(early, monitored, cfg.early_stopping)
            history.stopped_early = early["bad"] >= cfg.early_stopping
        if info.is_main:
            if not cfg.quiet:
                print(epoch_line(epoch + 1, cfg.epochs, metrics), flush=True)
            if out is not None:
                save_checkpoint(out, epoch + 1, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "rng": rng_state(), "epoch": epoch + 1, "step": step,
                    "history": history.to_dict(), "hooks": [h.state_dict() for h in hooks], "early": early,
                    "config": cfg.to_dict()})
                write_metrics(out / "metrics.jsonl", history.rows())
        dist_.barrier(info)

    state.model = model
    for h in hooks:
        replacement = h.finalize(state)
        if replacement is not None:
            model = state.model = replacement
    history.model = model
    return history


def _micro_weights(rows: int, batch_size: int, accum: int) -> list[float]:
    """Loss weight of each micro-batch of an epoch: its rows over its accumulation group's rows, so a
    group's gradient is the mean over the group (exact for ``gd``'s full-batch step and for a last,
    smaller chunk or group)."""
    sizes = [min(batch_size, rows - start) for start in range(0, rows, batch_size)]
    weights = []
    for g in range(0, len(sizes), accum):
        group = sizes[g:g + accum]
        weights += [size / sum(group) for size in group]
    return weights


def _hooked_loss(hooks: list[Hook], state: State, outputs: torch.Tensor, task_loss: torch.Tensor) -> torch.Tensor:
    state.outputs = outputs
    weight = math.prod(getattr(h, "task_loss_weight", 1.0) for h in hooks)
    loss = task_loss * weight if weight != 1.0 else task_loss
    for h in hooks:
        extra = h.extra_loss(state)
        if extra is not None:
            loss = loss + extra
    state.loss = loss
    return loss


def _check_finite(pending: list[tuple[int, torch.Tensor]], epoch: int, out: Path | None) -> None:
    """Raise on the first NaN/Inf among the pending (step, loss) pairs (one host sync for all)."""
    values = torch.stack([loss for _, loss in pending])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    first_bad = int((~finite).nonzero()[0, 0])
    raise NonFiniteLossError(epoch + 1, pending[first_bad][0] + 1, float(values[first_bad]),
                             str(out) if out is not None else None)


def _early_stop(early: dict, monitored: float, patience: int) -> dict:
    if monitored < early["best"]:
        return {"best": monitored, "bad": 0}
    return {"best": early["best"], "bad": early["bad"] + 1}


def _evaluate(model: nn.Module, data: Dataset, cfg: TrainConfig) -> dict[str, float]:
    """Evaluate, then restore every module's own train/eval flag (not just the root's), so modes
    that hooks set on submodules survive evaluation."""
    from ..bench import evaluate

    modes = [(m, m.training) for m in model.modules()]
    try:
        return evaluate(model, data, batch_size=cfg.eval_batch_size, loss_fn=eval_loss_fn(cfg.loss))
    finally:
        for m, training in modes:
            m.training = training


# Fields that may differ between a run and its resumption: they do not change the trajectory.
_RESUME_FREE = {"epochs", "resume", "quiet", "out", "device", "num_workers", "eval_batch_size", "early_stopping"}


def _check_resumable(saved: dict, cfg: TrainConfig) -> None:
    """Refuse to resume with settings that would silently change the run (seed, lr, batch size, ...)."""
    now = cfg.to_dict()
    changed = sorted(k for k in now if k not in _RESUME_FREE and k in saved and saved[k] != now[k])
    if changed:
        diffs = ", ".join(f"{k}: checkpoint {saved[k]!r} vs now {now[k]!r}" for k in changed)
        raise ConfigError("resume", f"the checkpoint in {cfg.out} was trained with other settings ({diffs}); "
                                    "use the same settings or a new out= directory")
