"""Interleaved latency comparison: the only honest way to compare speeds on a shared, drifting CPU.

Every timing keeps its dispersion (min, median, IQR over the rounds). A comparison whose spread is
too large or that ran on an oversubscribed machine is re-measured once and, if still doubtful,
carries flags that reports print instead of a headline ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .machine import MachineLoad, machine_load

MAX_SPREAD = 0.25  # IQR / median above this: the rounds disagree too much for a ratio to mean anything


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the timed rounds of one candidate."""

    min: float
    median: float
    q1: float
    q3: float
    rounds: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def spread(self) -> float:
        """IQR relative to the median (0 for a perfectly steady candidate)."""
        return self.iqr / self.median if self.median > 0 else 0.0

    def to_ms(self) -> dict[str, float]:
        """JSON form in milliseconds: min, median, iqr and the relative spread."""
        return {"min": self.min * 1e3, "median": self.median * 1e3, "iqr": self.iqr * 1e3,
                "spread": round(self.spread, 4), "rounds": self.rounds}


def summarize(samples: list[float]) -> Timing:
    """Min, median and quartiles of ``samples`` (quartiles by linear interpolation, as numpy's default).

    Example:
        >>> summarize([1.0, 2.0, 3.0, 4.0, 5.0]).iqr
        2.0
    """
    if not samples:
        raise ValueError("summarize: no samples")
    xs = sorted(samples)
    if len(xs) == 1:
        return Timing(xs[0], xs[0], xs[0], xs[0], 1)
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Timing(xs[0], q2, q1, q3, len(xs))


def threads() -> int:
    """The number of intra-op threads torch uses now (state it next to every timing)."""
    return torch.get_num_threads()


def threads_note() -> str:
    """A one-line statement of the thread setting, for tables and JSON."""
    return f"torch threads={torch.get_num_threads()} (interop={torch.get_num_interop_threads()})"


def compare(fns: dict[str, Callable[[], Any]], repeats: int = 20, warmup: int = 3,
            inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each callable, measured round-robin (see :func:`compare_timings`)."""
    return {name: t.median for name, t in compare_timings(fns, repeats, warmup, inner).items()}


def compare_timings(fns: dict[str, Callable[[], Any]], repeats: int = 20, warmup: int = 3,
                    inner: int = 1) -> dict[str, Timing]:
    """Wall time per call of each zero-argument callable, measured round-robin, with its dispersion.

    Each repeat runs every candidate once (in turn), so slow drifts of the machine hit all
    candidates alike; the median over repeats discards outliers.

    Args:
        fns: name -> zero-argument callable (e.g. ``lambda: model(x)``).
        repeats: timed rounds (>= 1).
        warmup: untimed rounds first (lazy init, caches, allocator).
        inner: calls per timing (for very fast functions); the result is divided by it.

    Returns:
        name -> :class:`Timing` (seconds per call: min, median, quartiles).

    Raises:
        ValueError: no candidates, or repeats/inner < 1.

    Example:
        >>> t = compare_timings({"fp32": lambda: model(x), "int8": lambda: qmodel(x)})  # doctest: +SKIP
        >>> t["fp32"].median / t["int8"].median  # speedup  # doctest: +SKIP
    """
    if not fns:
        raise ValueError("compare: give at least one callable")
    if repeats < 1 or inner < 1 or warmup < 0:
        raise ValueError(f"compare: repeats and inner must be >= 1 and warmup >= 0 "
                         f"(got repeats={repeats}, inner={inner}, warmup={warmup})")
    # GPU work is asynchronous: wait for it so each timing covers the candidate's own kernels
    sync = torch.cuda.synchronize if torch.cuda.is_available() and torch.cuda.is_initialized() else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(repeats):
            for name, fn in fns.items():
                sync()
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                sync()
                times[name].append((time.perf_counter() - t0) / inner)
    return {name: summarize(ts) for name, ts in times.items()}


def doubts(timings: dict[str, Timing], load: MachineLoad, max_spread: float = MAX_SPREAD) -> list[str]:
    """Reasons not to trust a comparison: a candidate's spread above ``max_spread``, an oversubscribed machine."""
    flags = [f"{name}: IQR/median {t.spread:.2f} > {max_spread:g}" for name, t in timings.items()
             if t.spread > max_spread]
    if load.oversubscribed:
        flags.append(f"machine oversubscribed: {load.describe()}")
    return flags


def trusted_timings(fns: dict[str, Callable[[], Any]], repeats: int = 20, warmup: int = 3, inner: int = 1,
                    max_spread: float = MAX_SPREAD) -> tuple[dict[str, Timing], list[str]]:
    """:func:`compare_timings`, measured again once when the first try is doubtful.

    Returns:
        ``(timings, flags)``: the last measurement and what still makes it doubtful (empty: trust it).
    """
    timings = compare_timings(fns, repeats, warmup, inner)
    flags = doubts(timings, machine_load(), max_spread)
    if flags:
        timings = compare_timings(fns, repeats, warmup, inner)
        flags = doubts(timings, machine_load(), max_spread)
    return timings, flags
