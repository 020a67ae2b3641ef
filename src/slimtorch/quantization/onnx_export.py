"""ONNX export: fp32 models via torch's exporter, quantized models as int8 QDQ graphs (see :mod:`.qdq`)."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ..devices import CPU, on_cpu
from ..io import atomic_write
from .qdq import OPSET, qdq_model
from .qmodel import QuantizedModel

__all__ = ["OPSET", "export_onnx", "fp32_model", "qdq_model"]


def fp32_model(model: nn.Module, example_inputs: torch.Tensor) -> onnx.ModelProto:
    """Export a float model with torch's TorchScript-based exporter (dynamic batch axis)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example_inputs,), buf, dynamo=False, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=OPSET)
    return onnx.load_from_string(buf.getvalue())


def export_onnx(model: nn.Module, path: str | os.PathLike, example_inputs: torch.Tensor | None = None) -> Path:
    """Write ``model`` as ONNX: an int8 QDQ graph for a QuantizedModel, fp32 otherwise.

    Args:
        model: a float model or the result of ``st.quantize(..., st.Int8())``.
        path: output .onnx file.
        example_inputs: an input batch (required for float models, used to trace). The model is traced on
            the CPU (a CPU copy of a model on another device), where the file will run.

    Returns:
        The path written.

    Raises:
        ValueError: a float model without example_inputs, or a dynamic-int8 model (export the float one).
    """
    from .dynamic import is_dynamic

    if is_dynamic(model):
        raise ValueError("export_onnx: dynamic-int8 models are not exported; export the float model and use "
                         "onnxruntime.quantization.quantize_dynamic")
    if isinstance(model, QuantizedModel):
        proto = qdq_model(model)
    else:
        if example_inputs is None:
            raise ValueError("export_onnx: example_inputs is required to export a float model")
        proto = fp32_model(on_cpu(model), example_inputs.to(CPU))
    path = Path(path)
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))  # a kill mid-write keeps the previous file whole
    return path
