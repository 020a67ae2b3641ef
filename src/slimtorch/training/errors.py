"""Errors the trainer raises on purpose."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint (if any) was kept.

    Args:
        epoch: the epoch (1-based) in which it happened.
        step: the optimizer step (1-based, counted over the whole run) in which it happened.
        value: the loss value.
        checkpoint: the run directory holding the last good checkpoint, or None when none is on disk.
        checkpoint_epoch: the epoch that checkpoint was written after.

    ``stage`` (None here) names the pipeline stage that was training; the runner sets it and the
    message then starts with it.
    """

    stage: str | None = None

    def __init__(self, epoch: int, step: int, value: float, checkpoint: str | None = None,
                 checkpoint_epoch: int | None = None):
        self.epoch, self.step, self.value = epoch, step, value
        self.checkpoint, self.checkpoint_epoch = checkpoint, checkpoint_epoch
        if checkpoint:
            after = f" (written after epoch {checkpoint_epoch})" if checkpoint_epoch is not None else ""
            where = f"the last good checkpoint is in {checkpoint}{after}"
        else:
            where = "no checkpoint was written before it"
        super().__init__(f"loss is {value} at epoch {epoch}, step {step}: training stopped; {where}. "
                         "Try a lower lr, gradient clipping (clip_norm) or checking the data for NaN/Inf.")

    def __str__(self) -> str:
        return f"stage {self.stage}: {super().__str__()}" if self.stage else super().__str__()
