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

    def soft(self, model: nn.Module) -> float:
        """Expected score in points: the mean probability the model gives each row's target (the label, or the
        reference's top-1 class), i.e. accuracy with every 0/1 replaced by a probability. A ranking of cuts
        from a few hundred rows: at 99% accuracy a mild cut flips one or two of 512 argmaxes (0.2-point steps) but
        lowers the right class's probability on many rows (ResNet-20 on MNIST, 24 single-group cuts on 512 rows:
        rank correlation with the accuracy drop on 5,000 rows 0.94-0.96, against 0.82-0.91 for the 512 rows'
        own accuracy drop). Logits and log-probabilities go through a softmax; outputs that are probabilities
        already (a model ending in softmax) are read as they are: a softmax of probabilities squeezes every row
        towards uniform (1,000 classes: a row sure of its class at 0.0027) and shrinks every drop under the
        greedy path's ``MIN_LOSS``. Falls back to the score where rows are not argmaxes (``rows`` is None)."""
        out = outputs(model, self.data, self.batch_size)
        target = self._target(out)
        if target is None:
            return self(model)
        sums_to_one = torch.allclose(out.sum(1), torch.ones(len(out)), atol=1e-3)
        probs = out if bool((out >= 0).all()) and sums_to_one else out.softmax(1)
        return 100.0 * float(probs.gather(1, target.reshape(-1, 1)).mean())

    def rows(self, model: nn.Module) -> torch.Tensor | None:
        """Per row 1.0 where ``model`` is right (labelled) or agrees with the reference (unlabeled), else 0.0;
        None where a row's result is not an argmax (one output column: ``evaluate`` thresholds it)."""
        out = outputs(model, self.data, self.batch_size)
        target = self._target(out)
        return None if target is None else (out.argmax(1) == target).double()

    def _target(self, out: torch.Tensor) -> torch.Tensor | None:
        """Each row's target class (the label, or the reference's top-1); None where ``out`` is not read by argmax
        (one column, or float labels)."""
        if out.shape[1] < 2 or (self.labelled and self.data.y.is_floating_point()):
            return None
        return self.data.y.reshape(-1) if self.labelled else self._ref.argmax(1)

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
