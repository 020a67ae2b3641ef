"""backend="auto": measure the int8 backends (and fp32 onnxruntime) on this machine, pick the fastest.

The choice and the measured times are kept on the model (``backend_note``, ``backend_times``), and
the note says plainly when int8 is slower than fp32 onnxruntime here (tiny convolutions on AVX2
CPUs without VNNI often are).

The decision is taken at the batch sizes the model will be deployed at (``deploy_batch_sizes``:
those the run measures), never at the calibration batch size: the fastest backend at batch 24 is
often not the fastest at batch 1. Both are recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ...bench.latency import compare
from ..calibrate import iter_batches
from . import auto_candidates

log = logging.getLogger("slimtorch.quantization")
CANDIDATES = auto_candidates()  # ("torch:onednn", "torch:x86", "onnxruntime"), from the one ENGINES table
DEPLOY_BATCH_SIZES = (1, 64)  # what st.measure and the measure stage time unless told otherwise
_deploy: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("deploy", default=DEPLOY_BATCH_SIZES)


@contextlib.contextmanager
def deploy_batch_sizes(sizes: tuple[int, ...]) -> Iterator[None]:
    """Within the block, ``backend="auto"`` decides at these batch sizes (the pipeline passes its measured ones)."""
    token = _deploy.set(tuple(int(b) for b in sizes) or DEPLOY_BATCH_SIZES)
    try:
        yield
    finally:
        _deploy.reset(token)


def _rows(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``batch`` rows of ``x``, cycling through its rows when it has fewer."""
    return x[torch.arange(batch) % len(x)].contiguous()


def _rank(per_batch: dict[int, dict[str, float]], names: list[str]) -> dict[str, float]:
    """Geometric mean over batch sizes of each candidate's time relative to the fastest at that size."""
    return {n: math.exp(sum(math.log(t[n] / min(t[c] for c in names)) for t in per_batch.values()) / len(per_batch))
            for n in names}


def _fp32_ort(qm, x: torch.Tensor):
    """fp32 onnxruntime of the same network: the QDQ graph with every layer in float and no Q/DQ."""
    from ..onnx_export import qdq_model
    from .onnxruntime import OrtEngine

    return OrtEngine(qdq_model(qm, int8=False))


def choose(qm, calib_data: Any, batch_size: int = 32, batch_sizes: tuple[int, ...] | None = None) -> str:
    """Set ``qm``'s backend to the fastest measured int8 backend at the deploy batch sizes; return its name.

    Args:
        qm: the quantized model.
        calib_data: inputs (rows are cycled to fill each batch size).
        batch_size: rows taken from the calibration data.
        batch_sizes: deploy batch sizes to decide at (default: :func:`deploy_batch_sizes`, else (1, 64)).
    """
    x = next(iter(iter_batches(calib_data, 1, batch_size)))
    sizes = tuple(batch_sizes or _deploy.get())
    engines: dict[str, Callable[[torch.Tensor], Any]] = {}
    for name in CANDIDATES:
        backend, _, torch_engine = name.partition(":")
        try:
            qm.set_backend(backend, torch_engine or None)
            engine = qm.engine()
            engine(x)
            engines[name] = engine
        except Exception as err:  # a backend missing on this machine is skipped, and said
            log.warning("backend %s unavailable: %s", name, err)
    if not engines:
        qm.set_backend("integer")
        qm.backend_note = "auto: no fast int8 backend available; using the integer reference engine"
        return "integer"
    try:
        engines["onnxruntime_fp32"] = _fp32_ort(qm, x)
    except Exception as err:
        log.warning("fp32 onnxruntime not measured: %s", err)
    per_batch = {}
    for b in sizes:
        xb = _rows(x, b)
        per_batch[b] = compare({k: (lambda e=e, xb=xb: e(xb)) for k, e in engines.items()}, repeats=7, warmup=2)
    int8 = [k for k in engines if k in CANDIDATES]
    score = _rank(per_batch, int8)
    best = min(int8, key=score.get)
    backend, _, torch_engine = best.partition(":")
    qm.set_backend(backend, torch_engine or None)
    qm.backend_times = {k: {b: t[k] * 1e3 for b, t in per_batch.items()} for k in engines}
    qm.backend_batches = {"decided_at": list(sizes), "calibration": len(x)}
    at = ", ".join(f"{per_batch[b][best] * 1e3:.2f} ms at batch {b}" for b in sizes)
    note = (f"auto: {best} int8 is the fastest here ({at}; decided at the deploy batch sizes "
            f"{', '.join(map(str, sizes))}, not the calibration batch of {len(x)})")
    if "onnxruntime_fp32" in engines:
        ratio = _rank(per_batch, [best, "onnxruntime_fp32"])  # geometric mean of time ratios, per batch size
        if ratio[best] > 1:
            note += (f"; int8 is SLOWER than fp32 onnxruntime on this machine ({ratio[best]:.2f}x its time, "
                     "geometric mean over those sizes): deploy the fp32 ONNX model for speed")
        else:
            note += f"; {ratio['onnxruntime_fp32']:.2f}x faster than fp32 onnxruntime (geometric mean over those sizes)"
    qm.backend_note = note
    log.info(note)
    return best
