"""One training epoch: micro-batch forward/backward, optimizer steps with hooks and clipping, and the
epoch's averaged metrics. The per-step path stays free of host syncs on accelerators."""

from __future__ import annotations

import contextlib
import math
import time

import torch

import slimtorch.training.distributed as dist_

from ..devices import scalar_like
from ..hooks import Hook, State
from .batching import epoch_order, shard
from .clip import clip_gradients, grad_norm
from .errors import NonFiniteLossError
from .losses import count_correct
from .run import Run


class _Sums:
    """An epoch's running sums. They stay tensors of their natural dtype on the device (no per-step
    conversion or host sync); on CPU the loss is summed in Python, where ``.item()`` costs nothing."""

    def __init__(self, device: torch.device, has_acc: bool):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.norm = torch.zeros((), device=device)
        self.has_acc, self.pending, self.seen, self.loss_py = has_acc, [], 0, 0.0


def train_epoch(run: Run, epoch: int) -> dict[str, float]:
    """Train one epoch (0-based ``epoch``); returns its metrics (loss, accuracy, lr, timings, grad_norm)."""
    cfg, info = run.cfg, run.info
    run.state.epoch = epoch
    rows = shard(epoch_order(run.rows, epoch, cfg.seed, cfg.shuffle), info.rank, info.world_size)
    sums = _Sums(run.device, run.loss_name is not None)
    run.progress.start(epoch + 1, cfg.epochs, run.micro_per_epoch)
    t0 = time.perf_counter()
    lr = run.schedule.lr(run.step)
    for b, (idx, x, y) in enumerate(run.batches.epoch(rows, in_order=not cfg.shuffle and info.world_size == 1)):
        first = b % run.accum == 0
        last = b % run.accum == run.accum - 1 or b == run.micro_per_epoch - 1
        if first:
            lr = _start_step(run, x, y, idx)
        elif run.hooks:
            _share_batch(run.state, run.step, x, y, idx)
        _micro_step(run, b, x, y, last, sums, epoch)
        if last:
            sums.norm += _optimizer_step(run)
        run.progress.update()
    seconds = time.perf_counter() - t0
    run.progress.close()
    return _epoch_metrics(run, sums, lr, seconds)


def _share_batch(state: State, step: int, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
    state.step, state.inputs, state.targets, state.indices = step, x, y, idx


def _start_step(run: Run, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> float:
    """Set this optimizer step's learning rate and call ``on_step_start``; returns the lr."""
    lr = run.schedule.lr(run.step)
    for g in run.optimizer.param_groups:
        g["lr"] = lr
    if run.hooks:
        _share_batch(run.state, run.step, x, y, idx)
        for h in run.hooks:
            h.on_step_start(run.state)
    return lr


def _micro_step(run: Run, b: int, x: torch.Tensor, y: torch.Tensor, last: bool, sums: _Sums, epoch: int) -> None:
    """Forward, loss (with the hooks' terms), backward of micro-batch ``b``; add to the epoch's sums."""
    # under DDP, gradients are all-reduced only on the micro-batch that ends an accumulation group
    sync = contextlib.nullcontext() if last or not run.info.enabled else run.net.no_sync()
    with sync:
        with run.autocast():
            outputs = run.net(x)
            loss = run.loss_fn(outputs, y)
            if run.hooks:
                loss = _hooked_loss(run.hooks, run.state, outputs, loss)
        (_times(loss, run.weights[b]) if run.weights is not None else loss).backward()
    rows_b = y.shape[0]
    sums.seen += rows_b
    if run.loss_item_per_step:  # .item() costs nothing on CPU: check every step, sum in Python
        value = loss.item()
        if not math.isfinite(value):
            raise _nonfinite(run, epoch, run.step, value)
        sums.loss_py += value * rows_b
    else:  # on an accelerator, avoid a host sync per step: check a window of steps at once
        detached = loss.detach()
        sums.loss += detached.float() * rows_b
        sums.pending.append((run.step, detached))
        if len(sums.pending) >= 32 or b == run.micro_per_epoch - 1:  # at the latest before the epoch's checkpoint
            _check_finite(run, sums.pending, epoch)
            sums.pending = []
    if sums.has_acc:
        correct = count_correct(run.loss_name, outputs.detach(), y)
        if correct is None:
            sums.has_acc = False
        else:
            sums.correct += correct


def _optimizer_step(run: Run) -> torch.Tensor:
    """``after_backward``, clip (or just measure) the gradient norm, step, ``on_step_end``; returns the norm."""
    cfg = run.cfg
    for h in run.hooks:
        h.after_backward(run.state)
    clipping = (cfg.clip_norm, cfg.clip_value, cfg.clip_adaptive)
    params = run.params
    norm = clip_gradients(params, *clipping) if any(c is not None for c in clipping) else grad_norm(params)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    if run.hooks:
        run.state.step = run.step
        for h in run.hooks:
            h.on_step_end(run.state)
    return norm


def _epoch_metrics(run: Run, sums: _Sums, lr: float, seconds: float) -> dict[str, float]:
    """Average the epoch's sums over every process's rows."""
    totals = torch.stack([sums.loss.double(), sums.correct.double(), sums.norm.double()])
    totals = torch.cat([totals, totals.new_tensor([float(sums.seen)])])
    if run.loss_item_per_step:
        totals[0] = sums.loss_py
    loss, correct, norm, seen = dist_.all_reduce_sum(totals, run.info).tolist()
    return {"loss": loss / seen, "accuracy": correct / seen if sums.has_acc else math.nan,
            "lr": lr, "seconds": seconds, "samples_per_s": seen / max(seconds, 1e-9),
            "grad_norm": norm / run.info.world_size / run.steps_per_epoch,
            "eval_loss": math.nan, "eval_accuracy": math.nan}


def _times(loss: torch.Tensor, weight: float) -> torch.Tensor:
    """``loss * weight``, the weight a tensor like the loss (see ``devices.scalar_like``: a Python float
    failed the gradient norm on torch's lazy-tensor backend)."""
    return loss * scalar_like(weight, loss)


def _hooked_loss(hooks: list[Hook], state: State, outputs: torch.Tensor, task_loss: torch.Tensor) -> torch.Tensor:
    state.outputs = outputs
    weight = math.prod(getattr(h, "task_loss_weight", 1.0) for h in hooks)
    loss = _times(task_loss, weight) if weight != 1.0 else task_loss
    for h in hooks:
        extra = h.extra_loss(state)
        if extra is not None:
            loss = loss + extra
    state.loss = loss
    return loss


def _check_finite(run: Run, pending: list[tuple[int, torch.Tensor]], epoch: int) -> None:
    """Raise on the first NaN/Inf among the pending (step, loss) pairs (one host sync for all)."""
    values = torch.stack([loss for _, loss in pending])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    first_bad = int((~finite).nonzero()[0, 0])
    raise _nonfinite(run, epoch, pending[first_bad][0], float(values[first_bad]))


def _nonfinite(run: Run, epoch: int, step: int, value: float) -> NonFiniteLossError:
    """The error for a NaN/Inf loss; it names a checkpoint only when one is on disk."""
    where = str(run.out) if run.checkpoint_epoch is not None else None
    return NonFiniteLossError(epoch + 1, step + 1, value, where, run.checkpoint_epoch)
