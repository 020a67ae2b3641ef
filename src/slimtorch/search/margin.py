"""The validation safety margin: a candidate passes only when its validation drop, plus ``z`` standard errors,
is within the budget.

The search judges candidates on a validation split; the budget is then checked on a test set it never saw.
Both are samples, so a candidate that loses 0.44 points on 2,500 validation rows can lose 0.7 on the test
set (measured on ResNet-20/MNIST). The standard error of a drop is taken from the validation rows
themselves, paired: ``d_i = ref_i - cand_i`` (1 where only the original is right, -1 where only the
candidate is, 0 where they agree), whose variance over the rows gives the error of the mean on the
validation rows and on the test rows alike (the same per-row variance, ``n_test`` rows). A candidate then
needs ``drop + z * sqrt(var/n_val + var/n_test) <= budget``: no test row is read to decide anything.
Without per-row results (a one-column output) the binomial error of the original's score stands in,
for both the original's and the candidate's sample (unpaired: larger). Neither error falls under one row's
worth: rows that all agree (or an original right on every row) are not evidence of no error.
"""

from __future__ import annotations

import math
from typing import Any

import torch

Z = 1.0  # standard errors a candidate's validation drop must clear (about 84% one-sided)


def paired_se(ref_rows: torch.Tensor, rows: torch.Tensor, n_test: int = 0) -> float:
    """Standard error (points) of the drop ``mean(ref_rows) - mean(rows)`` measured on these rows, combined with
    the error of the same drop measured on ``n_test`` further rows (0: validation only).

    Example:
        >>> ref = torch.tensor([1, 1, 1, 1.0]); cand = torch.tensor([1, 1, 0, 1.0])
        >>> round(paired_se(ref, cand), 3)  # d = (0, 0, 1, 0): var 0.25 (unbiased), /4 rows
        25.0
        >>> round(paired_se(ref, ref), 3)  # no discordant row: the floor of one (var 1/4)
        25.0
    """
    if ref_rows.shape != rows.shape or ref_rows.numel() < 2:
        raise ValueError(
            f"paired_se: rows of shape {tuple(ref_rows.shape)} and {tuple(rows.shape)}; "
            "allowed: two equal 1-d tensors of at least 2 rows"
        )
    n = ref_rows.numel()
    # at least one discordant row's variance: rows that all agree (3 validation rows, the candidate right wherever
    # the original is) are not evidence of zero error; negligible on thousands of rows
    var = max(float((ref_rows.double() - rows.double()).var()), 1.0 / n)
    return 100.0 * math.sqrt(var / n + (var / n_test if n_test else 0.0))


def binomial_se(score: float, n_val: int, n_test: int = 0) -> float:
    """Unpaired standard error (points) of a drop from the original's ``score`` (points) on ``n_val`` rows, with
    ``n_test`` further rows: the original's and the candidate's sampling errors added (p(1-p) for both). As
    ``paired_se``'s floor, p is taken at least one row from 0 and 1: 3 rows all right do not make the error 0."""
    n = max(n_val, 2)
    p = min(max(score / 100.0, 1.0 / n), 1.0 - 1.0 / n)
    var = 2 * p * (1 - p)
    return 100.0 * math.sqrt(var / max(n_val, 1) + (var / n_test if n_test else 0.0))


def keeps(trial: Any, base_val: float, max_drop: float, z: float = Z) -> bool:
    """Does ``trial`` pass validation: its drop from ``base_val`` plus ``z`` of its standard errors within
    ``max_drop``? (``trial.se`` is 0 for the original and where the score is a plain function: ``judged``.)"""
    return trial.val - z * getattr(trial, "se", 0.0) >= base_val - max_drop


def judged(score: Any, model: Any) -> tuple[float, float]:
    """``(validation score, standard error of its drop)`` of ``model``: ``score.judge`` where the scorer has it
    (``search.score.Scorer``), else ``(score(model), 0.0)`` for a plain scoring function (no margin)."""
    return score.judge(model) if hasattr(score, "judge") else (score(model), 0.0)
