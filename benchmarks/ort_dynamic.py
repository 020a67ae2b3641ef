"""onnxruntime's own dynamic int8 for a token-id encoder: export (st.export_onnx), quantize_dynamic, a session.

A module wrapper lets fidelity and timing treat the ORT session like the torch models beside it. Sessions
run with non-spinning threads (``slimtorch.quantization.backends.onnxruntime.session``): spinning ORT
workers slow the torch rounds interleaved with them.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization.backends.onnxruntime import session


class OrtEncoder(nn.Module):
    """Token ids (N, L) -> the ONNX graph's output, run by onnxruntime (torch tensors in and out)."""

    def __init__(self, proto: onnx.ModelProto, threads: int):
        super().__init__()
        self.sess = session(proto, threads)
        self.input = self.sess.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.sess.run(None, {self.input: np.ascontiguousarray(x.numpy())})[0])


def ort_models(model: nn.Module, example: torch.Tensor, threads: int, per_channel: bool = True
               ) -> dict[str, OrtEncoder]:
    """``{"fp32": ..., "int8": ...}``: ``model`` exported to ONNX, and that file through ``quantize_dynamic``.

    ``per_channel=True``: one weight scale per output row. With one scale per tensor the u8 x s8 kernels of a
    CPU without VNNI lose precision (cosine to fp32 0.968 against 0.993 on MiniLM).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" advice
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
        st.export_onnx(model, fp32, example)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=per_channel)
        return {"fp32": OrtEncoder(onnx.load(str(fp32)), threads), "int8": OrtEncoder(onnx.load(str(int8)), threads)}
