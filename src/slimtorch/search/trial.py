"""One candidate, tried for real: pruned, recovered, scored on validation data and timed end to end.

A trial's latency is measured, never estimated: the candidate on every backend and the original in
torch eager fp32 run in one interleaved round-robin, so the speedup is a ratio taken in one go.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..bench.counts import count_params, saved_bytes
from ..bench.latency import compare_timings
from .latency_table import runner
from .margin import judged
from .space import Keep, Space, apply


@dataclass
class Trial:
    """What one candidate measured (``model`` is kept in memory, not written to JSON)."""

    index: int
    keep: Keep
    val: float
    params: int
    bytes: int
    ms: dict[str, float]  # backend -> median ms per call at the search's batch size
    baseline_ms: float  # the original in torch eager fp32, timed in the same round-robin
    min_ms: dict[str, float] = field(default_factory=dict)  # backend -> fastest round (what the table predicts)
    predicted_ms: float | None = None
    seconds: float = 0.0
    test: float | None = None
    int8: dict[str, Any] | None = None  # the int8 stage's settings when this candidate is the int8 model
    share: dict[str, Any] | None = None  # the weight-sharing settings when this candidate is shared and packed
    se: float = 0.0  # standard error (points) of the validation drop, test rows included (``margin``)
    spread: float | None = None  # IQR/median of the best backend's rounds (over MAX_SPREAD: not a stable timing)
    # recovery epochs when not the search's own (``longer``: a near miss trained longer); an int8 or shared trial
    # carries its fp32 model's, which optimized.yaml's distill stage repeats
    epochs: int | None = None
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def backend(self) -> str:
        return min(self.ms, key=self.ms.get)

    @property
    def best_ms(self) -> float:
        return self.ms[self.backend]

    @property
    def speedup(self) -> float:
        return self.baseline_ms / self.best_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row of the candidates table."""
        return {"index": self.index, "keep": list(self.keep), "val": round(self.val, 3),
                "test": None if self.test is None else round(self.test, 3), "params": self.params,
                "bytes": self.bytes, "ms": {k: round(v, 4) for k, v in self.ms.items()}, "backend": self.backend,
                "baseline_ms": round(self.baseline_ms, 4), "speedup": round(self.speedup, 3),
                "predicted_ms": None if self.predicted_ms is None else round(self.predicted_ms, 4),
                "seconds": round(self.seconds, 1), "int8": self.int8,
                "share": self.share, "se": round(self.se, 3),
                "spread": None if self.spread is None else round(self.spread, 3), "epochs": self.epochs}


def time_models(models: dict[str, nn.Module], baseline: nn.Module, x: torch.Tensor, backends: tuple[str, ...],
                repeats: int = 20, stat: str = "median", spreads: dict[str, float] | None = None,
                ) -> tuple[dict[str, dict[str, float]], float]:
    """ms (``stat``: "median" or "min" over rounds) of every model on every backend and of ``baseline`` in
    eager fp32, one interleaved run; ``spreads`` (when given) receives each ``"name|backend"``'s IQR/median."""
    fns = {"baseline|eager": runner(baseline, x, "eager")}
    for name, model in models.items():
        for b in backends:
            fns[f"{name}|{b}"] = runner(model, x, b)
    t = compare_timings(fns, repeats=repeats, warmup=3)
    if spreads is not None:
        spreads.update({key: timing.spread for key, timing in t.items()})
    out: dict[str, dict[str, float]] = {name: {} for name in models}
    for key, timing in t.items():
        name, backend = key.split("|")
        if name in out:
            out[name][backend] = 1e3 * getattr(timing, stat)
    return out, 1e3 * getattr(t["baseline|eager"], stat)


def run_trial(index: int, keep: Keep, base: nn.Module, space: Space, example: torch.Tensor,
              finish: Callable[[nn.Module], nn.Module], score: Callable[[nn.Module], float], x: torch.Tensor,
              backends: tuple[str, ...]) -> Trial:
    """Prune a copy of ``base`` to ``keep``, ``finish`` it (BN re-estimate, recovery), score and time it
    (``score.judge`` where the scorer has it: the score and the standard error of its drop)."""
    t0 = time.perf_counter()
    model = finish(apply(copy.deepcopy(base), space, keep, example)).eval()
    val, se = judged(score, model)
    spreads: dict[str, float] = {}
    ms, base_ms = time_models({"c": model}, base, x, backends, spreads=spreads)
    fastest, _ = time_models({"c": model}, base, x, backends, repeats=10, stat="min")
    best = min(ms["c"], key=ms["c"].get)
    return Trial(index, tuple(keep), val, count_params(model), saved_bytes(model), ms["c"], base_ms,
                 min_ms=fastest["c"], seconds=time.perf_counter() - t0, se=se, spread=spreads[f"c|{best}"],
                 model=model)
