"""Sparsity schedules as pure functions of the step (or round)."""

from __future__ import annotations


def cubic_sparsity(step: int, final: float, start: int, end: int, frequency: int = 1, initial: float = 0.0) -> float:
    """Zhu & Gupta (2017) gradual pruning: s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n dt))^3.

    The target changes only every ``frequency`` steps (t is ``step`` rounded down to the grid
    ``start + k * frequency``); before ``start`` nothing is pruned, from ``end`` on it is ``final``.

    Args:
        step: the training step (number of optimizer steps done).
        final: the final sparsity s_f.
        start: the first pruning step t0.
        end: the step t0 + n dt at which ``final`` is reached.
        frequency: dt, steps between pruning updates.
        initial: s_i, the sparsity applied at ``start``.

    Returns:
        The target sparsity in [0, 1].

    Example:
        >>> cubic_sparsity(50, final=0.8, start=0, end=100, frequency=10)
        0.7
    """
    if step < start:
        return 0.0
    if step >= end:
        return final
    t = start + ((step - start) // frequency) * frequency
    return final + (initial - final) * (1.0 - (t - start) / (end - start)) ** 3


def iterative_sparsity(round_: int, rounds: int, final: float) -> float:
    """Sparsity after ``round_`` of ``rounds`` prune-retrain rounds (Han et al. 2015).

    Each round keeps the same fraction of the surviving weights: 1 - (1 - final)^(round / rounds).
    """
    if round_ <= 0:
        return 0.0
    return 1.0 - (1.0 - final) ** (min(round_, rounds) / rounds)
