"""History: what happened in each epoch of ``st.fit``, and the model it ended with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

FIELDS = ("loss", "accuracy", "eval_loss", "eval_accuracy", "lr", "seconds", "samples_per_s", "grad_norm")


@dataclass
class History:
    """Per-epoch lists (one entry per finished epoch) plus the final model.

    ``grad_norm`` is the mean global gradient norm before clipping; ``lr`` the learning rate of the
    epoch's last step; ``accuracy`` is NaN when the loss has no notion of it (mse, callables) and
    ``eval_*`` are NaN without eval data. ``model`` is the model to use after training (a hook's
    ``finalize`` may have replaced it, e.g. by a converted quantized model).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    samples_per_s: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    stopped_early: bool = False
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def append(self, epoch: int, **metrics: float) -> None:
        """Record one epoch; every field of :data:`FIELDS` must be given."""
        self.epochs.append(epoch)
        for name in FIELDS:
            getattr(self, name).append(float(metrics[name]))

    def last(self) -> dict[str, float]:
        """The last epoch's metrics as a dict (empty before the first epoch)."""
        if not self.epochs:
            return {}
        return {"epoch": self.epochs[-1], **{name: getattr(self, name)[-1] for name in FIELDS}}

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch (what metrics.jsonl holds)."""
        return [{"epoch": e, **{n: getattr(self, n)[i] for n in FIELDS}} for i, e in enumerate(self.epochs)]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": list(self.epochs), "stopped_early": self.stopped_early,
                **{n: list(getattr(self, n)) for n in FIELDS}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls(epochs=list(d["epochs"]), stopped_early=bool(d.get("stopped_early", False)))
        for n in FIELDS:
            setattr(h, n, [float(v) for v in d[n]])
        return h
