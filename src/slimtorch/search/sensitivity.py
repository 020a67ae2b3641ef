"""Sensitivity per prune group: the score lost when only that group is cut to each rung of its ladder.

Measured once, without recovery training, on the validation split: cheap, and good enough to rank
groups (a group whose channels the model barely uses loses almost nothing). The greedy search
adds these losses up as its estimate of a candidate's cost in accuracy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .space import Space, apply


def sensitivity(model: nn.Module, space: Space, ladders: list[list[int]], example: torch.Tensor,
                score: Callable[[nn.Module], float], prepare: Callable[[nn.Module], nn.Module] = lambda m: m,
                ) -> list[dict[int, float]]:
    """For each group, ``{kept count: points lost}`` with every other group kept whole.

    Args:
        model: the original model (unchanged).
        space: its groups.
        ladders: the kept counts tried per group (the first is the full size).
        example: one input batch (traced by the pruning).
        score: model -> points (accuracy or agreement) on the validation split.
        prepare: applied after each cut (e.g. re-estimating BatchNorm statistics).

    Returns:
        One dict per group; the full size maps to 0.0.
    """
    base = score(model)
    out = []
    for g, counts in enumerate(ladders):
        lost = {counts[0]: 0.0}
        for k in counts[1:]:
            keep = tuple(k if i == g else n for i, n in enumerate(space.full))
            lost[k] = base - score(prepare(apply(copy.deepcopy(model), space, keep, example)))
        out.append(lost)
    return out
