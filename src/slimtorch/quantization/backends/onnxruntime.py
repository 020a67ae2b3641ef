"""The onnxruntime backend: the QDQ graph of a QuantizedModel run by onnxruntime's int8 kernels."""

from __future__ import annotations

import os
import tempfile
from collections import Counter

import numpy as np
import onnx
import torch

# onnxruntime graph fusions whose fused kernel is slower than the ops it replaces on the CPUs measured here
# (onnxruntime 1.32, AVX2): SkipLayerNormalization took 1.31 ms against 0.48 ms for Add + LayerNormalization on
# (32, 15, 384), 1 thread (2.3x at 2 threads); MiniLM's dynamic-int8 graph ran 1.07-1.08x faster without it
SLOW_FUSIONS = ("SkipLayerNormFusion",)


def _options(threads: int | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: the optimizer's notes on unused initializers are noise
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so


def session(model: onnx.ModelProto | bytes, threads: int | None = None, disabled: tuple[str, ...] = SLOW_FUSIONS):
    """An onnxruntime CPU session with non-spinning worker threads and without the fusions in ``disabled``.

    ORT's spinning threads slow torch code running in the same process 1.6-5x, so spinning is off.
    ``disabled``: onnxruntime graph transformers not to run (default :data:`SLOW_FUSIONS`; ``()``: onnxruntime's
    own default graph, what a plain ``InferenceSession`` runs).
    """
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(
        data, _options(threads), providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled)
    )


def optimized_ops(model: onnx.ModelProto | bytes, disabled: tuple[str, ...] = SLOW_FUSIONS) -> Counter:
    """Op types of ``model`` after onnxruntime's graph optimizations on this machine (as :func:`session` runs it,
    without the fusions in ``disabled``): what actually runs.

    A QDQ graph that onnxruntime fuses fully runs as QLinearConv/QLinearAdd/QGemm with one QuantizeLinear
    (the input) and one DequantizeLinear (the output); any other float op left between them is a layer
    that runs in fp32 behind its own Q/DQ pair.
    """
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else model.SerializeToString()
    so = ort.SessionOptions()
    so.log_severity_level = 3  # its warning that the saved graph is machine-specific is expected here
    with tempfile.TemporaryDirectory() as tmp:
        so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(data, so, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled))
        return Counter(node.op_type for node in onnx.load(so.optimized_model_filepath).graph.node)


class OrtEngine:
    """Runs an ONNX model on float tensors: torch in, torch out."""

    def __init__(self, proto: onnx.ModelProto):
        self.sess = session(proto)
        self.input = self.sess.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().cpu().float().numpy())
        return torch.from_numpy(self.sess.run(None, {self.input: arr})[0])


def make(qm) -> OrtEngine:
    """Session of ``qm``'s int8 QDQ graph, rebuilt from the saved int8 tensors whenever needed."""
    from ..qdq import qdq_model

    return OrtEngine(qdq_model(qm))
