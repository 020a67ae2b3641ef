"""Errors the trainer raises on purpose."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""

    def __init__(self, epoch: int, step: int, value: float, checkpoint: str | None = None):
        self.epoch, self.step, self.value = epoch, step, value
        where = f"the last good checkpoint is in {checkpoint}" if checkpoint else "no checkpoint was written (out=None)"
        super().__init__(f"loss is {value} at epoch {epoch}, step {step}: training stopped; {where}. "
                         "Try a lower lr, gradient clipping (clip_norm) or checking the data for NaN/Inf.")
