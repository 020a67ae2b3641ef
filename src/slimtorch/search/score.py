"""What the accuracy budget is measured in: accuracy with labels, top-1 agreement with the original without.

Both are in percentage points, so ``max_accuracy_drop=0.5`` means "lose at most half a point of
accuracy" on labelled data and "disagree with the original on at most 0.5% more inputs" (a fidelity
floor of 99.5% top-1 agreement) on unlabeled data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..bench.evaluate import evaluate
from ..bench.fidelity import classifier_fidelity, outputs, unlabeled


def agreement(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Fraction of rows whose argmax matches the reference's (top-1 agreement, as ``st.measure`` reports it)."""
    return classifier_fidelity(out, ref)["agreement_top1"]


@dataclass
class Scorer:
    """Scores a model on one dataset in points: accuracy (labelled) or top-1 agreement with ``reference``."""

    data: Any
    reference: nn.Module
    batch_size: int = 256

    def __post_init__(self) -> None:
        self.labelled = not unlabeled(self.data)
        self.metric = "accuracy" if self.labelled else "top-1 agreement"
        self._ref = None if self.labelled else outputs(self.reference, self.data, self.batch_size)

    def __call__(self, model: nn.Module) -> float:
        if self.labelled:
            return 100.0 * evaluate(model, self.data, batch_size=self.batch_size)["accuracy"]
        return 100.0 * agreement(outputs(model, self.data, self.batch_size), self._ref)
