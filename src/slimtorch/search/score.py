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
from .margin import binomial_se, paired_se


def agreement(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Fraction of rows whose argmax matches the reference's (top-1 agreement, as ``st.measure`` reports it)."""
    return classifier_fidelity(out, ref)["agreement_top1"]


@dataclass
class Scorer:
    """Scores a model on one dataset in points: accuracy (labelled) or top-1 agreement with ``reference``."""

    data: Any
    reference: nn.Module
    batch_size: int = 256
    n_test: int = 0  # rows of the test set the budget is checked on (their sampling error joins the margin)

    def __post_init__(self) -> None:
        self.labelled = not unlabeled(self.data)
        self.metric = "accuracy" if self.labelled else "top-1 agreement"
        self._ref = None if self.labelled else outputs(self.reference, self.data, self.batch_size)
        self._ref_rows: torch.Tensor | None = None
        self._ref_score: float | None = None

    def __call__(self, model: nn.Module) -> float:
        if self.labelled:
            return 100.0 * evaluate(model, self.data, batch_size=self.batch_size)["accuracy"]
        return 100.0 * agreement(outputs(model, self.data, self.batch_size), self._ref)

    def rows(self, model: nn.Module) -> torch.Tensor | None:
        """Per row 1.0 where ``model`` is right (labelled) or agrees with the reference (unlabeled), else 0.0;
        None where a row's result is not an argmax (one output column: ``evaluate`` thresholds it)."""
        out = outputs(model, self.data, self.batch_size)
        if out.shape[1] < 2 or (self.labelled and self.data.y.is_floating_point()):
            return None
        target = self.data.y if self.labelled else self._ref.argmax(1)
        return (out.argmax(1) == target.reshape(-1)).double()

    def judge(self, model: nn.Module) -> tuple[float, float]:
        """``(score, standard error of its drop from the reference)`` in points (see ``margin``)."""
        if self._ref_rows is None:
            self._ref_rows = self.rows(self.reference)
        rows = None if self._ref_rows is None else self.rows(model)
        if rows is None:
            if self._ref_score is None:
                self._ref_score = self(self.reference)
            return self(model), binomial_se(self._ref_score, len(self.data), self.n_test)
        return 100.0 * float(rows.mean()), paired_se(self._ref_rows, rows, self.n_test)
