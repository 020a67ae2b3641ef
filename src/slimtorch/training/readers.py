"""Which optimizers, schedules and losses read which TrainConfig fields (read by ``config`` and ``unused``)."""

from __future__ import annotations

# field -> (the field that chooses, the choices that read it); what optim.py, schedules.py, losses.py and
# run.py (gd accumulates the whole epoch) read
READ_BY: dict[str, tuple[str, tuple[str, ...]]] = {
    "momentum": ("optimizer", ("sgd", "gd")),
    "betas": ("optimizer", ("adam", "adamw")),
    "grad_accum": ("optimizer", ("sgd", "adam", "adamw")),
    "step_size": ("schedule", ("step",)),
    "milestones": ("schedule", ("multistep",)),
    "gamma": ("schedule", ("step", "multistep", "exponential", "plateau")),
    "min_lr": ("schedule", ("cosine", "linear")),
    "plateau_patience": ("schedule", ("plateau",)),
    "label_smoothing": ("loss", ("cross_entropy", "bce")),
}
