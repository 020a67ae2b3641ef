"""``fit``: the training loop, as named steps. It composes torch's optimizers, clipping and autocast with
seeded batching, schedules, checkpoints and hooks; it holds no compression code (that lives in hooks).

The steps: build (run.py: device, ``on_fit_start``, optimizer, schedule, resume), epoch and step
(epoch.py), evaluate and end of epoch (here: schedule, history, early stopping), checkpoint (run.py),
finalize (here)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import slimtorch.training.distributed as dist_

from ..data.arrays import ArrayDataset, in_memory_tensors
from ..data.labels import check_labels
from ..hooks import Hook
from .config import TrainConfig
from .epoch import train_epoch
from .history import History
from .losses import eval_loss_fn
from .reporting import epoch_line
from .run import Run, build_run, checkpoint
from .unused import warn_ignored


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

    A setting that ``cfg``'s optimizer, schedule or loss never reads (``momentum`` with adam, ``min_lr`` with the
    step schedule) is named in one UserWarning.

    Args:
        model: the model to train (in place).
        train_data: an ArrayDataset (sliced directly, fastest), a map-style dataset of ``(x, y)``, or an
            ``(x, y)`` pair of tensors.
        cfg: the training config (default ``TrainConfig()``).
        eval_data: evaluated after each epoch (accuracy and loss) when given.
        hooks: compression / distillation / logging hooks.

    Returns:
        The History; ``history.model`` is the model to use afterwards.

    Raises:
        NonFiniteLossError: the loss became NaN/Inf (message names epoch and step).
        TypeError: data that is not a dataset nor an ``(x, y)`` pair (a tensor alone, a DataLoader).
        ValueError: empty dataset, no trainable parameters, or labels of in-memory data (ArrayDataset,
            two-tensor TensorDataset) that do not suit the loss, e.g. negative class ids (checked before training).

    Example:
        >>> history = fit(model, train, TrainConfig(epochs=3, lr=0.1, momentum=0.9), eval_data=test)  # doctest: +SKIP
        >>> history.last()["eval_accuracy"]  # doctest: +SKIP
    """
    cfg = cfg or TrainConfig()
    warn_ignored(cfg)  # here, not in TrainConfig: a recipe stage may inherit a base setting its optimizer ignores
    train_data = as_dataset(train_data, "train_data")
    eval_data = None if eval_data is None else as_dataset(eval_data, "eval_data")
    _check_labels(cfg, train_data, eval_data)
    run = build_run(model, train_data, cfg, list(hooks))
    run.net.train()  # once: hooks may then put parts in eval mode (e.g. frozen BN statistics) and it stays so
    for epoch in range(run.start_epoch, cfg.epochs):
        if run.history.stopped_early:
            break
        metrics = train_epoch(run, epoch)
        if eval_data is not None:
            ev = _evaluate(run.model, eval_data, cfg)
            metrics["eval_loss"], metrics["eval_accuracy"] = ev["loss"], ev["accuracy"]
        _end_epoch(run, epoch, metrics, monitored=metrics["eval_loss"] if eval_data is not None else metrics["loss"])
    return _finalize(run)


def as_dataset(data: object, name: str) -> Dataset:
    """``data`` as a dataset of ``(x, y)`` rows: a dataset as it is, an ``(x, y)`` pair of tensors as an
    ArrayDataset (as ``st.distill`` takes it); anything else is one line naming what is allowed.

    Raises:
        TypeError: a tensor alone (no labels), a DataLoader, or another object.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return ArrayDataset(data[0], data[1], name)  # its own check: one label per row
    if isinstance(data, Dataset):
        return data
    allowed = "allowed: a dataset of (x, y) rows (st.data.load gives them) or an (x, y) pair of tensors"
    if isinstance(data, torch.Tensor):
        raise TypeError(f"{name}: a tensor of inputs alone has no labels; {allowed} (to recover a pruned model "
                        "from the original without labels: st.distill)")
    if isinstance(data, DataLoader):
        raise TypeError(f"{name}: got a DataLoader; st.fit batches and shuffles itself (TrainConfig.batch_size, "
                        f"shuffle, num_workers): pass its dataset; {allowed}")
    raise TypeError(f"{name}: got {type(data).__name__}; {allowed}")


def _check_labels(cfg: TrainConfig, train_data: Dataset, eval_data: Dataset | None) -> None:
    """Labels that do not suit the loss fail here in one line, not mid-epoch; only in-memory labels are
    read (one pass over a tensor), a dataset that would have to be iterated is left to the run."""
    for name, data in (("train_data", train_data), ("eval_data", eval_data)):
        tensors = in_memory_tensors(data) if data is not None else None
        if tensors is not None:
            check_labels(tensors[1], cfg.loss, name)


def _end_epoch(run: Run, epoch: int, metrics: dict[str, float], monitored: float) -> None:
    """Schedule, history, ``on_epoch_end``, early stopping, the epoch line and the checkpoint."""
    cfg = run.cfg
    run.schedule.epoch_end(monitored)
    run.history.append(epoch + 1, **metrics)
    run.state.metrics = dict(metrics)
    for h in run.hooks:
        h.on_epoch_end(run.state)
    if cfg.early_stopping is not None:
        run.early = _early_stop(run.early, monitored)
        run.history.stopped_early = run.early["bad"] >= cfg.early_stopping
    if any(getattr(h, "stop_training", False) for h in run.hooks):  # a hook's own criterion (e.g. best epoch)
        run.history.stopped_early = True
    if run.info.is_main and not cfg.quiet:
        print(epoch_line(epoch + 1, cfg.epochs, metrics), flush=True)
    checkpoint(run, epoch + 1)
    dist_.barrier(run.info)


def _finalize(run: Run) -> History:
    """Call every hook's ``finalize`` (one may return a replacement model) and return the history."""
    model = run.state.model = run.model
    for h in run.hooks:
        replacement = h.finalize(run.state)
        if replacement is not None:
            model = run.state.model = replacement
    run.history.model = model
    return run.history


def _early_stop(early: dict, monitored: float) -> dict:
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
