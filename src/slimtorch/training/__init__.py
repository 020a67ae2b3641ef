"""Weight and training optimization: ``fit`` with optimizers, schedules, clipping, checkpoints, DDP."""

from .bn import recalibrate_bn
from .config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from .errors import NonFiniteLossError
from .history import History
from .schedules import (
    ReduceOnPlateau,
    constant_lr,
    cosine_lr,
    exponential_lr,
    linear_lr,
    lr_at,
    multistep_lr,
    one_cycle_lr,
    step_lr,
    warmup_lr,
)
from .trainer import fit

__all__ = ["LOSSES", "OPTIMIZERS", "SCHEDULES", "History", "NonFiniteLossError", "ReduceOnPlateau", "TrainConfig",
           "constant_lr", "cosine_lr", "exponential_lr", "fit", "linear_lr", "lr_at", "multistep_lr", "one_cycle_lr",
           "recalibrate_bn", "step_lr", "warmup_lr"]
