"""The onnxruntime backend: the QDQ graph of a QuantizedModel run by onnxruntime's int8 kernels."""

from __future__ import annotations

import os
import tempfile
from collections import Counter

import numpy as np
import onnx
import torch


def session(model: onnx.ModelProto | bytes, threads: int | None = None):
    """An onnxruntime CPU session with non-spinning worker threads.

    ORT's spinning threads slow torch code running in the same process 1.6-5x, so spinning is off.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: the optimizer's notes on unused initializers are noise
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def optimized_ops(model: onnx.ModelProto | bytes) -> Counter:
    """Op types of ``model`` after onnxruntime's graph optimizations on this machine: what actually runs.

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
        ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
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
