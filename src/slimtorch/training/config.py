"""TrainConfig: every knob of ``st.fit`` in one frozen, validated dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config, ConfigError, check_choice, check_range
from .readers import READ_BY

OPTIMIZERS = ("gd", "sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "linear", "one_cycle", "plateau")
LOSSES = ("cross_entropy", "bce", "mse")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig(Config):
    """How to train: optimizer, schedule, clipping, batching, loss, checkpoints.

    Epoch-based fields (``warmup_epochs``, ``step_size``, ``milestones``) are converted to optimizer
    steps by the trainer, so a schedule is the same whatever the batch size.

    Args:
        epochs: passes over the training data.
        batch_size: rows per step, per process under torchrun; "gd" uses it only as the chunk size of
            its one full-batch step.
        optimizer: "gd" (full batch), "sgd" (mini-batch), "adam" or "adamw".
        lr: base learning rate (the schedule scales it).
        momentum: momentum of gd / sgd (0: none).
        nesterov: Nesterov momentum (gd / sgd with momentum > 0).
        weight_decay: L2 penalty (decoupled for adamw); never applied to biases and normalisation parameters.
        betas: adam / adamw moment decay rates.
        clip_norm: clip the global gradient norm to this value.
        clip_value: clip each gradient element to [-value, value].
        clip_adaptive: max ratio ||grad|| / max(||param||, 1e-3), per parameter tensor.
        schedule: learning-rate schedule: constant, step, multistep, exponential, cosine, linear,
            one_cycle or plateau.
        warmup_epochs: linear warmup length in epochs (fractions allowed).
        min_lr: floor of cosine / linear decay.
        gamma: step / multistep / plateau: factor per drop; exponential: factor per epoch.
        step_size: step schedule: epochs between drops.
        milestones: multistep schedule: epochs at which the learning rate drops.
        plateau_patience: plateau schedule: epochs without improvement before lr *= gamma.
        shuffle: visit the rows in a new seeded order every epoch.
        seed: seeds the initial RNG states and every epoch's row order.
        loss: "cross_entropy", "bce", "mse" or (Python only) a callable(outputs, targets) -> mean loss.
        label_smoothing: cross-entropy label smoothing.
        grad_accum: micro-batches accumulated per optimizer step.
        bf16: bfloat16 autocast.
        early_stopping: stop after this many epochs without a better eval loss (train loss without
            eval data).
        device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
        num_workers: DataLoader workers for datasets that are not in-memory arrays.
        quiet: no progress bar or per-epoch lines.
        out: run directory for checkpoints and metrics.jsonl.
        resume: continue from the checkpoint in out when there is one (a fresh start otherwise).
        eval_batch_size: rows per batch when evaluating.

    Example:
        >>> cfg = TrainConfig(epochs=3, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True,
        ...                   clip_norm=1.0, schedule="cosine", warmup_epochs=0.5)
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    clip_norm: float | None = None
    clip_value: float | None = None
    clip_adaptive: float | None = None
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    gamma: float = 0.1
    step_size: float = 1.0
    milestones: tuple[float, ...] = ()
    plateau_patience: int = 2
    shuffle: bool = True
    seed: int = 0
    loss: Any = "cross_entropy"
    label_smoothing: float = 0.0
    grad_accum: int = 1
    bf16: bool = False
    early_stopping: int | None = None
    device: str = "auto"
    num_workers: int = 0
    quiet: bool = False
    out: str | None = None
    resume: bool = False
    eval_batch_size: int = 512

    def validate(self) -> None:
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_range("lr", self.lr, 0.0, lo_open=True)
        check_range("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        readers = READ_BY["momentum"][1]  # nesterov is read with momentum
        if self.nesterov and (self.optimizer not in readers or self.momentum <= 0):
            raise ConfigError("nesterov", f"needs optimizer {' or '.join(map(repr, readers))} with momentum > 0")
        check_range("weight_decay", self.weight_decay, 0.0)
        if len(self.betas) != 2:
            raise ConfigError("betas", f"needs two values, got {list(self.betas)}")
        for i, b in enumerate(self.betas):
            check_range(f"betas[{i}]", b, 0.0, 1.0, hi_open=True)
        for name in ("clip_norm", "clip_value", "clip_adaptive"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_range("warmup_epochs", self.warmup_epochs, 0.0)
        if self.warmup_epochs >= self.epochs:
            raise ConfigError("warmup_epochs", f"got {self.warmup_epochs}; must be below epochs={self.epochs}")
        check_range("min_lr", self.min_lr, 0.0)
        check_range("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        check_range("step_size", self.step_size, 0.0, lo_open=True)
        for i, m in enumerate(self.milestones):
            check_range(f"milestones[{i}]", m, 0.0, lo_open=True)
        if list(self.milestones) != sorted(self.milestones):
            raise ConfigError("milestones", f"must be increasing, got {list(self.milestones)}")
        check_range("plateau_patience", self.plateau_patience, 0)
        check_range("seed", self.seed, 0, 2**32 - 1)  # numpy's limit; torch, numpy and random are all seeded
        if not callable(self.loss):
            check_choice("loss", self.loss, LOSSES)
        check_range("label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        check_range("grad_accum", self.grad_accum, 1)
        if self.early_stopping is not None:
            check_range("early_stopping", self.early_stopping, 1)
        check_choice("device", self.device.split(":")[0], DEVICES)
        check_range("num_workers", self.num_workers, 0)
        check_range("eval_batch_size", self.eval_batch_size, 1)
        if self.resume and not self.out:
            raise ConfigError("resume", "needs out= (the run directory that holds the checkpoint)")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if callable(d["loss"]):  # keep the dict JSON-able: a callable is recorded by name
            d["loss"] = getattr(d["loss"], "__name__", repr(d["loss"]))
        return d
