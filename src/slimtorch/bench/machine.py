"""How busy the machine is and how many torch threads to time with: stated next to every latency.

A timing taken while other processes compete for the CPUs (or with more torch threads than idle
CPUs) is dominated by scheduling, not by the model: one such run showed torch eager at 25.9 ms
against 0.16 ms for onnxruntime. So the thread count is chosen from the CPUs this process may use
minus those others are using now, and a measurement on an oversubscribed machine is flagged.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass

import torch


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; cgroup quotas are not seen)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def others_running(samples: int = 5, interval: float = 0.01) -> float:
    """Runnable tasks of *other* processes right now: median of ``/proc/loadavg``'s running count
    minus this reader; the 1-minute load average where that file does not exist.

    The instantaneous count is preferred: the load average still remembers this very process's
    own training from the last minute and would make a quiet machine look busy.
    """
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        counts.append(max(running - 1, 0))
        if i + 1 < samples:
            time.sleep(interval)
    return float(statistics.median(counts))


@dataclass(frozen=True)
class MachineLoad:
    """A snapshot of the CPUs available, what others run on them, and the threads we time with."""

    cpus: int
    others_running: float
    load_1min: float
    threads: int

    @property
    def oversubscribed(self) -> bool:
        """More runnable threads (ours plus others') than CPUs: timings measure waiting, not work."""
        return self.others_running + self.threads > self.cpus

    def describe(self) -> str:
        return (f"{self.cpus} CPUs available, {self.others_running:g} busy with other processes "
                f"(1-min load {self.load_1min:.2f}), torch threads={self.threads}")

    def to_dict(self) -> dict:
        return {**asdict(self), "oversubscribed": self.oversubscribed}


def machine_load(threads: int | None = None) -> MachineLoad:
    """The machine now, for ``threads`` torch threads (default: torch's current setting)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return MachineLoad(available_cpus(), others_running(), round(load, 2), threads or torch.get_num_threads())


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """The torch thread count to time with, and why.

    ``requested`` wins; otherwise the CPUs that are idle now (available minus busy), at least 1 and
    at most torch's default, so that ours and others' threads do not share cores.

    Example:
        >>> n, why = choose_threads()
        >>> n >= 1
        True
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads: got {requested}; allowed: 1 or more")
        return requested, f"threads={requested} (requested)"
    cpus, busy = available_cpus(), others_running()
    idle = max(1, int(cpus - busy))
    n = min(idle, torch.get_num_threads()) if torch.get_num_threads() > 0 else idle
    return n, f"threads={n} (chosen: {cpus} CPUs available, {busy:g} busy with other processes)"
