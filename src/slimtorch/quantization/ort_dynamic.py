"""onnxruntime dynamic int8 of an exported float graph: int8 weights (one scale per output row), activations
quantized per batch at run time, checked against the float graph before it is returned.

The fastest int8 measured here for transformer encoders (MiniLM, batch 32, 2 threads, AVX2 without VNNI): the
weight MatMuls run as onnxruntime's DynamicQuantizeMatMul / MatMulIntegerToFloat kernels, attention's
activation-by-activation MatMuls stay float (onnxruntime's ``MatMulConstBOnly`` default). Per-tensor weight
scales lose precision on CPUs without VNNI (u8 x s8 kernels: cosine to fp32 0.968 against 0.993 on MiniLM).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from .errors import UnsupportedModelError, one_line

MIN_COSINE = 0.9  # int8 rows against the float graph's: below this the int8 graph is refused, not returned


def quantize_graph(fp32: onnx.ModelProto, per_channel: bool = True) -> onnx.ModelProto:
    """``fp32`` through ``onnxruntime.quantization.quantize_dynamic`` (s8 weights; MatMul/Gemm/Attention...).

    Raises:
        UnsupportedModelError: onnxruntime's quantizer fails on the graph (a conv weight computed in the graph).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .onnx_compat import make_loadable

    quiet = logging.getLogger()
    level, quiet.level = quiet.level, logging.ERROR  # its "consider pre-processing" advice is noise here
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
            onnx.save(fp32, str(src))
            # DefaultTensorType: graphs with contrib ops (BiasGelu...) leave some MatMul outputs untyped
            try:
                quantize_dynamic(
                    str(src),
                    str(dst),
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            except Exception as err:  # its own asserts on graphs it does not expect (a weight computed in-graph)
                raise UnsupportedModelError(
                    "export_onnx", f"onnxruntime's quantize_dynamic cannot quantize this graph ({type(err).__name__}: "
                    f"{one_line(str(err), 160)}); export the float model, or st.DynamicInt8 for int8 in torch"
                ) from None
            return make_loadable(onnx.load(str(dst)))
    finally:
        quiet.level = level


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of every row (dim 0) of ``a`` with the same row of ``b``, the rest of each row flattened."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(norms, 1e-30)


def check_int8(
    fp32: onnx.ModelProto, int8: onnx.ModelProto, feeds: dict[str, np.ndarray], min_cosine: float = MIN_COSINE
) -> float:
    """The worst row cosine of ``int8``'s output against ``fp32``'s on ``feeds`` (both run by onnxruntime).

    Raises:
        ValueError: the worst cosine is below ``min_cosine`` (or not a number).
    """
    from .backends.onnxruntime import session

    want, got = (session(m).run(None, feeds)[0] for m in (fp32, int8))
    worst = float(row_cosines(got, want).min())
    if not worst >= min_cosine:
        raise ValueError(
            f"export_onnx: the dynamic-int8 graph's outputs have cosine {worst:.4f} to the float "
            f"graph's (< {min_cosine}) on the example inputs; export the float model instead"
        )
    return worst


def dynamic_int8(fp32: onnx.ModelProto, example: dict[str, torch.Tensor], per_channel: bool = True) -> onnx.ModelProto:
    """``fp32`` quantized by onnxruntime's dynamic int8, verified on ``example`` (see :func:`check_int8`)."""
    int8 = quantize_graph(fp32, per_channel)
    check_int8(fp32, int8, {k: v.numpy() for k, v in example.items()})
    return int8


__all__ = ["MIN_COSINE", "check_int8", "dynamic_int8", "quantize_graph", "row_cosines"]
