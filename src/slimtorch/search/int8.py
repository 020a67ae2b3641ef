"""The int8 step of the search: post-training int8 of the chosen candidate, per layer with fp32 fallback.

After the channel search, the chosen model is quantized with ``Int8(max_accuracy_drop=...)``: the most
sensitive layers stay in float until the calibration rows lose at most the budget, and ``backend="auto"``
times the int8 engines (torch oneDNN/x86, ONNX Runtime QDQ) at the search's batch size. The int8 model
is a new candidate, scored on the validation set like any other; it replaces the chosen one
when it passes validation (with the safety margin) and is better on the objective: fewer bytes (size), or a faster
measured time than the fp32 candidate on its best backend, timed in the same round-robin (latency).
On AVX2 CPUs without VNNI int8 often loses on time to ONNX Runtime fp32: then the note says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..bench.counts import count_params, saved_bytes
from ..bench.latency import compare_timings
from .latency_table import runner
from .margin import judged
from .trial import Trial

CALIB_BATCHES = 16
SIMULATE_COST = 3  # a row through the float64 fake-quant simulation costs about 3 eager forward rows


def int8_rows(n_layers: int, n_rows: int) -> float:
    """Eager-forward rows the int8 step costs (``sensitivity.fallback_until_budget``): a one-layer-at-a-time scan
    on up to ``SCAN_BATCHES`` x 256 rows, then ~log2(layers) + 2 simulated checks on up to ``CHECK_BATCHES`` x 256."""
    from ..quantization.sensitivity import CHECK_BATCHES, SCAN_BATCHES

    scan = min(n_rows, 256 * SCAN_BATCHES) * (n_layers + 1)
    checks = SIMULATE_COST * min(n_rows, 256 * CHECK_BATCHES) * (math.ceil(math.log2(n_layers + 1)) + 2)
    return float(scan + checks)


def int8_config(max_drop: float) -> dict[str, Any]:
    """The recipe's int8 stage: the activation observer closest to the float model (``observer="auto"``), then
    fallback to float per layer until the calibration rows lose <= ``max_drop`` points (Int8 takes the budget as
    a fraction)."""
    return {"calib_batches": CALIB_BATCHES, "observer": "auto", "max_accuracy_drop": round(max_drop / 100, 6)}


def quantize_candidate(model: nn.Module, calib: Any, max_drop: float, batch: int) -> nn.Module:
    """``model`` in int8 (per-layer fallback to fp32 within ``max_drop`` points, fastest int8 engine at ``batch``)."""
    from ..quantization import Int8, quantize
    from ..quantization.backends.auto import deploy_batch_sizes

    with deploy_batch_sizes((batch,)):
        return quantize(model, Int8(**int8_config(max_drop)), calib_data=calib)


def time_against(qm: nn.Module, fp32: Trial, baseline: nn.Module, x: torch.Tensor,
                 repeats: int = 30) -> tuple[float, float, float]:
    """Median ms of the int8 model, of the fp32 candidate on its best backend and of the original in eager
    fp32, one interleaved round-robin."""
    fns = {"int8": lambda: qm(x), "fp32": runner(fp32.model, x, fp32.backend), "base": runner(baseline, x, "eager")}
    t = compare_timings(fns, repeats=repeats, warmup=3)
    return 1e3 * t["int8"].median, 1e3 * t["fp32"].median, 1e3 * t["base"].median


def int8_trial(res: Any, chosen: Trial, calib: Any, val_score: Callable, x: torch.Tensor,
               say: Callable[[str], None]) -> tuple[Trial, float] | None:
    """Quantize ``chosen``, score it on validation (``val_score.judge`` where it has it: with the standard error
    of its drop) and time it: the Trial (``int8`` set) and the fp32 candidate's ms of the same round-robin, or
    None when the int8 path cannot handle the model (said in the notes)."""
    t0 = time.perf_counter()
    try:
        qm = quantize_candidate(chosen.model, calib, res.max_drop, len(x))
    except (ValueError, RuntimeError, TypeError) as err:  # a model the int8 path cannot trace or run
        res.notes.append(f"int8 not tried: {type(err).__name__}: {str(err).splitlines()[0][:160]}")
        return None
    ms, fp32_ms, base_ms = time_against(qm, chosen, res.baseline.model, x)
    val, se = judged(val_score, qm)
    trial = Trial(len(res.trials) + 1, chosen.keep, val, count_params(qm), saved_bytes(qm),
                  {f"int8-{qm.backend}": ms}, base_ms, int8=int8_config(res.max_drop),
                  seconds=time.perf_counter() - t0, se=se, model=qm, epochs=chosen.epochs)
    floats = [op["name"] for op in qm.layer_ops() if op.get("float")]
    say(f"  #{trial.index} int8 of #{chosen.index} on {qm.backend} (float layers: {floats or 'none'}): val "
        f"{trial.val:.2f} (se {se:.2f}), {ms:.3f} ms vs fp32 {fp32_ms:.3f} ms on {chosen.backend}, "
        f"{trial.bytes:,} bytes")
    return trial, fp32_ms
