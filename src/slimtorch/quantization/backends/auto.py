"""backend="auto": measure the int8 backends (and fp32 onnxruntime) on this machine, pick the fastest.

The choice and the measured times are kept on the model (``backend_note``, ``backend_times``), and
the note says plainly when int8 is slower than fp32 onnxruntime here (tiny convolutions on AVX2
CPUs without VNNI often are).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from ...bench.latency import compare
from ..calibrate import iter_batches

log = logging.getLogger("slimtorch.quantization")
CANDIDATES = ("torch:onednn", "torch:x86", "onnxruntime")


def _fp32_ort(qm, x: torch.Tensor):
    """fp32 onnxruntime of the same network: the QDQ graph with every layer in float and no Q/DQ."""
    from ..onnx_export import qdq_model
    from .onnxruntime import OrtEngine

    return OrtEngine(qdq_model(qm, int8=False))


def choose(qm, calib_data: Any, batch_size: int = 32) -> str:
    """Set ``qm``'s backend to the fastest measured int8 backend and return its name."""
    x = next(iter(iter_batches(calib_data, 1, batch_size)))
    fns: dict[str, Callable[[], Any]] = {}
    for name in CANDIDATES:
        backend, _, torch_engine = name.partition(":")
        try:
            qm.set_backend(backend, torch_engine or None)
            engine = qm.engine()
            engine(x)
            fns[name] = lambda e=engine: e(x)
        except Exception as err:  # a backend missing on this machine is skipped, and said
            log.warning("backend %s unavailable: %s", name, err)
    if not fns:
        qm.set_backend("integer")
        qm.backend_note = "auto: no fast int8 backend available; using the integer reference engine"
        return "integer"
    try:
        fp32 = _fp32_ort(qm, x)
        fns["onnxruntime_fp32"] = lambda: fp32(x)
    except Exception as err:
        log.warning("fp32 onnxruntime not measured: %s", err)
    times = compare(fns, repeats=7, warmup=2)
    best = min((k for k in times if k in CANDIDATES), key=times.get)
    backend, _, torch_engine = best.partition(":")
    qm.set_backend(backend, torch_engine or None)
    qm.backend_times = {k: v * 1e3 for k, v in times.items()}
    note = f"auto: {best} int8 is the fastest here ({times[best] * 1e3:.2f} ms at batch {len(x)})"
    fp = times.get("onnxruntime_fp32")
    if fp is not None and fp < times[best]:
        note += (f"; int8 is SLOWER than fp32 onnxruntime on this machine ({fp * 1e3:.2f} ms, "
                 f"{times[best] / fp:.2f}x its time): deploy the fp32 ONNX model for speed")
    elif fp is not None:
        note += f"; {fp / times[best]:.2f}x faster than fp32 onnxruntime ({fp * 1e3:.2f} ms)"
    qm.backend_note = note
    log.info(note)
    return best
