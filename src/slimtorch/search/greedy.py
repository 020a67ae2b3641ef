"""The candidate search: a greedy path from the full model down, then a bisection along it.

Greedy removal: from the full widths, repeatedly take the one-rung cut (one group, one step down its
ladder) that saves the most cost (predicted latency, or parameters) per point of sensitivity lost.
This orders every cut from "free" to "expensive" and yields a path of ever cheaper candidates.
Accuracy after recovery training falls roughly monotonically along the path, so a bisection finds
the cheapest candidate within the budget with log2(path length) trained candidates.
"""

from __future__ import annotations

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
    rung = [0] * len(ladders)
    keep = tuple(lad[0] for lad in ladders)
    path = [keep]
    current = cost(keep)
    while True:
        best = None
        steps = {g: keep[:g] + (lad[rung[g] + 1],) + keep[g + 1:]
                 for g, lad in enumerate(ladders) if rung[g] + 1 < len(lad)}
        if prefetch and steps:
            prefetch(list(steps.values()))
        for g, nxt in steps.items():
            c = cost(nxt)
            loss = max(lost[g][nxt[g]] - lost[g][keep[g]], MIN_LOSS)
            score = (current - c) / loss
            if best is None or score > best[0]:
                best = (score, g, nxt, c)
        if best is None:
            return path
        _, g, keep, current = best
        rung[g] += 1
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
