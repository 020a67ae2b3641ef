"""Interleaved latency comparison: the only honest way to compare speeds on a shared, drifting CPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def threads() -> int:
    """The number of intra-op threads torch uses now (state it next to every timing)."""
    return torch.get_num_threads()


def threads_note() -> str:
    """A one-line statement of the thread setting, for tables and JSON."""
    return f"torch threads={torch.get_num_threads()} (interop={torch.get_num_interop_threads()})"


def compare(fns: dict[str, Callable[[], Any]], repeats: int = 20, warmup: int = 3,
            inner: int = 1) -> dict[str, float]:
    """Median wall time per call of each zero-argument callable, measured round-robin.

    Each repeat runs every candidate once (in turn), so slow drifts of the machine hit all
    candidates alike; the median over repeats discards outliers.

    Args:
        fns: name -> zero-argument callable (e.g. ``lambda: model(x)``).
        repeats: timed rounds (>= 1).
        warmup: untimed rounds first (lazy init, caches, allocator).
        inner: calls per timing (for very fast functions); the result is divided by it.

    Returns:
        name -> median seconds per call.

    Raises:
        ValueError: no candidates, or repeats/inner < 1.

    Example:
        >>> t = compare({"fp32": lambda: model(x), "int8": lambda: qmodel(x)})  # doctest: +SKIP
        >>> t["fp32"] / t["int8"]  # speedup  # doctest: +SKIP
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
    return {name: statistics.median(ts) for name, ts in times.items()}
