"""The candidate search: a greedy path from the full model down, a bisection along it, then refinement.

Greedy removal: from the full widths, repeatedly take the cut (one group, one or more rungs down its
ladder) that saves the most cost (predicted latency, or parameters) per point of sensitivity lost.
A cut may skip rungs: a width between two fast ones (12 channels where ONNX Runtime computes blocks of
8) can cost more than the wider one, and a one-rung walk would have to pass through it.
This orders every cut from "free" to "expensive" and yields a path of ever cheaper candidates.
Accuracy after recovery training falls roughly monotonically along the path, so a bisection finds
the cheapest candidate within the budget with log2(path length) trained candidates. Uniform ratios
(on the same ladders) are tried as seeds too, and the best passing candidate is refined by coordinate
descent: one more rung of one group at a time, kept when it still passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .space import Keep

MIN_LOSS = 0.05  # points: a cut that costs "nothing" is ranked by its savings, not divided by zero


def greedy_path(ladders: list[list[int]], lost: list[dict[int, float]], cost: Callable[[Keep], float],
                prefetch: Callable[[list[Keep]], None] | None = None) -> list[Keep]:
    """Candidates from the full widths to every group at its last rung, cheapest cut first.

    Args:
        ladders: kept counts per group, largest first.
        lost: sensitivity per group (kept count -> points lost).
        cost: the objective of a candidate (seconds or parameters); lower is better.
        prefetch: called with each step's candidates before ``cost`` (to measure their table entries in one go).

    Returns:
        The path, starting with the full widths.
    """
    rank = gain_per_point(cost, lost)
    keep = tuple(lad[0] for lad in ladders)
    path = [keep]
    while True:
        steps = [keep[:g] + (k,) + keep[g + 1:] for g, lad in enumerate(ladders) for k in lad[lad.index(keep[g]) + 1:]]
        if not steps:
            return path
        if prefetch:
            prefetch(steps)
        keep = max(steps, key=lambda s: rank(keep, s))
        path.append(keep)


def bisect(n: int, passes: Callable[[int], bool | None]) -> int:
    """The last index of a path (0..n-1) whose candidate passes, assuming index 0 passes and passing is
    monotone; ``passes`` returning None (out of time) stops the search with the best found so far."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ok = passes(mid)
        if ok is None:
            break
        lo, hi = (mid, hi) if ok else (lo, mid - 1)
    return lo


def uniform_keep(sizes: Keep, ratio: float) -> Keep:
    """The widths ``ChannelPrune(ratio)`` leaves in groups of ``sizes`` (it removes ``floor(ratio * n)``)."""
    return tuple(n - math.floor(ratio * n) for n in sizes)


def uniform_seed(ladders: list[list[int]], ratio: float) -> Keep:
    """The rung of each ladder nearest to removing ``ratio`` of its channels (a uniform recipe on the ladders)."""
    return tuple(min(lad, key=lambda k: (abs(k - lad[0] * (1 - ratio)), k)) for lad in ladders)


def refine(keep: Keep, ladders: list[list[int]], rank: Callable[[Keep, Keep], float],
           passes: Callable[[Keep], bool | None]) -> Keep:
    """Coordinate descent from a passing candidate: try one more cut of each group (highest ``rank`` first),
    move to the first that passes, repeat until none passes or ``passes`` says the time is up (None).
    ``rank(current, step)`` orders the steps (the greedy path's savings per point lost); a group's cut is its
    next rung that saves anything (``rank`` > 0), so a width that costs more than the wider one is skipped."""
    tried: set[Keep] = set()
    while True:
        steps = []
        for g, lad in enumerate(ladders):
            lower = [keep[:g] + (k,) + keep[g + 1:] for k in lad[lad.index(keep[g]) + 1:]]
            saving = [s for s in lower if rank(keep, s) > 0]
            if saving:
                steps.append(saving[0])
        moved = False
        for step in sorted((s for s in steps if s not in tried), key=lambda s: rank(keep, s), reverse=True):
            tried.add(step)
            ok = passes(step)
            if ok is None:
                return keep
            if ok:
                keep, moved = step, True
                break
        if not moved:
            return keep


def gain_per_point(cost: Callable[[Keep], float], lost: list[dict[int, float]]) -> Callable[[Keep, Keep], float]:
    """``rank(current, step)``: cost saved by ``step`` per point of sensitivity it adds (one group changed)."""
    def rank(current: Keep, step: Keep) -> float:
        g = next(i for i, (a, b) in enumerate(zip(current, step)) if a != b)
        return (cost(current) - cost(step)) / max(lost[g][step[g]] - lost[g][current[g]], MIN_LOSS)

    return rank
