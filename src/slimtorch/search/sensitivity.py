"""Sensitivity per prune group: the score lost when only that group is cut to each rung of its ladder.

Measured once, without recovery training, on the validation split: cheap, and good enough to rank
groups (a group whose channels the model barely uses loses almost nothing). The greedy search
adds these losses up as its estimate of a candidate's cost in accuracy.

The scan goes rung by rung across all groups (every group's first cut, then every group's second, ...),
so a scan cut short by the time budget still knows every group's mildest cuts; the caller then keeps
each ladder to its measured rungs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .space import Space, apply


def sensitivity(model: nn.Module, space: Space, ladders: list[list[int]], example: torch.Tensor,
                score: Callable[[nn.Module], float], prepare: Callable[[nn.Module], nn.Module] = lambda m: m,
                expired: Callable[[], bool] = lambda: False) -> list[dict[int, float]]:
    """For each group, ``{kept count: points lost}`` with every other group kept whole.

    Args:
        model: the original model (unchanged).
        space: its groups.
        ladders: the kept counts tried per group (the first is the full size).
        example: one input batch (traced by the pruning).
        score: model -> points on the validation split (the search passes ``Scorer.soft``: the expected
            accuracy or agreement, which ranks mild cuts better than the 0/1 score on a few hundred rows).
        prepare: applied after each cut (e.g. re-estimating BatchNorm statistics).
        expired: True once the time budget of the scan is spent: the remaining rungs are not measured.

    Returns:
        One dict per group; the full size maps to 0.0; a rung the scan did not reach is absent.
    """
    base = score(model)
    out = [{counts[0]: 0.0} for counts in ladders]
    for depth in range(1, max(len(c) for c in ladders)):
        for g, counts in enumerate(ladders):
            if depth >= len(counts):
                continue
            if expired():
                return out
            keep = tuple(counts[depth] if i == g else n for i, n in enumerate(space.full))
            out[g][counts[depth]] = base - score(prepare(apply(copy.deepcopy(model), space, keep, example)))
    return out
