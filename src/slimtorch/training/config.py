"""TrainConfig: every knob of ``st.fit`` in one frozen, validated dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config, ConfigError, check_choice, check_range

OPTIMIZERS = ("gd", "sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "linear", "one_cycle", "plateau")
LOSSES = ("cross_entropy", "bce", "mse")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig(Config):
    """How to train: optimizer, schedule, clipping, batching, loss, checkpoints.

    Epoch-based fields (``warmup_epochs``, ``step_size``, ``milestones``) are converted to optimizer
    steps by the trainer, so a schedule is the same whatever the batch size.

    Example:
        >>> cfg = TrainConfig(epochs=3, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True,
        ...                   clip_norm=1.0, schedule="cosine", warmup_epochs=0.5)
    """

    epochs: int = 10
    batch_size: int = 128  # per process under torchrun; "gd" uses it only as the chunk size of one full-batch step
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0  # never applied to biases and normalisation parameters
    betas: tuple[float, float] = (0.9, 0.999)  # adam / adamw
    clip_norm: float | None = None
    clip_value: float | None = None
    clip_adaptive: float | None = None  # max ratio ||grad|| / max(||param||, 1e-3), per parameter tensor
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    min_lr: float = 0.0  # floor of cosine / linear decay
    gamma: float = 0.1  # step / multistep: factor per drop; exponential: factor per epoch
    step_size: float = 1.0  # step schedule: epochs between drops
    milestones: tuple[float, ...] = ()  # multistep schedule: epochs at which lr drops
    plateau_patience: int = 2  # plateau schedule: epochs without improvement before lr *= gamma
    shuffle: bool = True
    seed: int = 0
    loss: Any = "cross_entropy"  # "cross_entropy" | "bce" | "mse" | callable(outputs, targets) -> mean loss
    label_smoothing: float = 0.0
    grad_accum: int = 1
    bf16: bool = False
    early_stopping: int | None = None  # patience in epochs on eval loss (train loss without eval data)
    device: str = "auto"
    num_workers: int = 0  # DataLoader workers for datasets that are not in-memory arrays
    quiet: bool = False
    out: str | None = None  # run directory: checkpoints + metrics.jsonl
    resume: bool = False  # continue from the checkpoint in out when there is one (a fresh start otherwise)
    eval_batch_size: int = 512

    def validate(self) -> None:
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_range("lr", self.lr, 0.0, lo_open=True)
        check_range("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        if self.nesterov and (self.optimizer not in ("sgd", "gd") or self.momentum <= 0):
            raise ConfigError("nesterov", "needs optimizer 'sgd' or 'gd' with momentum > 0")
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
