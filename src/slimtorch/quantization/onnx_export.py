"""ONNX export: fp32 models via torch's exporter (keyword inputs: :mod:`.onnx_inputs`), quantized models as int8
QDQ graphs (see :mod:`.qdq`); both loadable by the installed onnxruntime (:mod:`.onnx_compat`)."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import onnx
import torch
from torch import nn

from ..devices import CPU, on_cpu
from ..io import atomic_write
from .errors import UnsupportedModelError, one_line
from .onnx_compat import make_loadable, runtime_opset
from .onnx_inputs import Exported, Inputs, as_examples, input_axes, main_output, other_shape, output_axes
from .qdq import OPSET, qdq_model
from .qmodel import QuantizedModel

__all__ = ["OPSET", "export_onnx", "fp32_model", "qdq_model"]


def fp32_model(model: nn.Module, example_inputs: Inputs | list[Inputs]) -> onnx.ModelProto:
    """Export a float model with torch's TorchScript-based exporter, at an opset and IR version the installed
    onnxruntime loads.

    ``example_inputs`` is one tensor (graph input ``input``) or a dict of named tensors (Hugging Face keyword
    inputs such as ``input_ids``, ``attention_mask``), or a list of them with different sizes. Dim 0 of every
    input and output is a dynamic batch; dim 1 of 2-D integer inputs (token ids, masks) and of the token states it
    yields is a dynamic sequence; with several examples, every dim whose size differs between them is dynamic
    too (image sides, float sequences). The graph is traced on the first example. The output is the model's main
    one, named as the model names it (see :func:`.onnx_inputs.main_output`).

    Raises:
        UnsupportedModelError: torch's exporter cannot convert the model (an op without an ONNX conversion).
    """
    examples = [{k: v.to(CPU) for k, v in e.items()} for e in as_examples(example_inputs)]
    named = examples[0]
    wrapped = Exported(model, list(named))
    was_training = model.training
    wrapped.eval()  # the exporter restores the wrapper's mode afterwards, and with it the model's
    try:
        with torch.no_grad():
            out_name, out = main_output(wrapped.raw(*named.values()))
            others = [wrapped(*e.values()) for e in examples] if len(examples) > 1 else []
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), _quiet_exporter():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapped,
                    tuple(named.values()),
                    buf,
                    dynamo=False,
                    input_names=list(named),
                    output_names=[out_name],
                    dynamic_axes={**input_axes(named, examples), out_name: output_axes(out, named, others)},
                    opset_version=runtime_opset(OPSET),
                )
        except Exception as err:  # the exporter raises many types (UnsupportedOperatorError, AssertionError, ...)
            raise UnsupportedModelError("export_onnx", f"torch's ONNX exporter cannot convert "
                                        f"{type(model).__name__}: {type(err).__name__}: {one_line(str(err))}"
                                        f"{_mask_advice(wrapped, named)}") from None
    finally:
        model.train(was_training)
    return make_loadable(onnx.load_from_string(buf.getvalue()))


def _mask_advice(wrapped: Exported, named: dict[str, torch.Tensor]) -> str:
    """Advice for a model that takes an attention mask exported without one: Hugging Face decoders then look for
    packed sequences with ``torch.diff``, which the exporter cannot convert; with a mask they export."""
    if "attention_mask" in named or "attention_mask" not in wrapped.params:
        return ""
    return "; the model takes an attention_mask: export with {'input_ids': ids, 'attention_mask': mask}"


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep torch's exporter from printing the whole TorchScript graph to stdout when it fails (torch 2.13 turns
    its ONNX log on whatever ``verbose`` says: ``setup_onnx_logging`` tests a function object for truth)."""
    log = getattr(torch._C, "_jit_onnx_log", None)
    if log is None:
        yield
        return
    torch._C._jit_onnx_log = lambda *args: None
    try:
        yield
    finally:
        torch._C._jit_onnx_log = log


def _check(model: nn.Module, proto: onnx.ModelProto, examples: list[dict[str, torch.Tensor]]) -> None:
    """Run ``proto`` in onnxruntime at a batch size and sequence length other than the first example's, and on
    every other example, and compare with torch: a size the tracer froze into the graph fails here instead of in
    deployment."""
    from .backends.onnxruntime import session

    try:
        sess = session(proto)
    except Exception as err:  # onnxruntime's own error classes: a type its CPU kernels lack (bfloat16 convs)
        odd = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()} - {"float32"})
        advice = f"; the model holds {', '.join(odd)} weights: export a float32 copy (model.float())" if odd else ""
        raise UnsupportedModelError("export_onnx", f"onnxruntime cannot load the exported graph "
                                    f"({one_line(str(err), 200)}){advice}") from None
    feeds = [("at another shape", other_shape(examples[0]), "")]
    feeds += [(f"on example_inputs[{i}]", e, "; examples of one shape export it with those sizes fixed")
              for i, e in enumerate(examples) if i]
    for where, named, advice in feeds:
        why = _differs(model, sess, named)
        if why:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in named.items())
            raise UnsupportedModelError(
                "export_onnx", f"the exported graph does not follow the model {where} ({shapes}): {why}; the "
                f"model's forward fixes a size while tracing (Python ints from tensor shapes){advice}")


def _differs(model: nn.Module, sess, named: dict[str, torch.Tensor]) -> str:
    """Why the onnxruntime session's output on ``named`` is not torch's, or "" when it is (within 1e-3 of scale)."""
    was_training = model.training
    with torch.no_grad():
        want = Exported(model, list(named)).eval()(*named.values()).float()
    model.train(was_training)
    try:
        got = torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in named.items()})[0]).float()
    except Exception as err:  # onnxruntime's own error classes: a reshape to a frozen size fails to run
        return one_line(str(err), 160)
    if got.shape != want.shape:
        return f"output shape {tuple(got.shape)}, torch gives {tuple(want.shape)}"
    diff = (got - want).abs().max().item()
    return "" if diff <= 1e-3 * max(1.0, want.abs().max().item()) else f"outputs differ by {diff:.3g}"


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    example_inputs: Inputs | list[Inputs] | None = None,
    dynamic_int8: bool = False,
) -> Path:
    """Write ``model`` as ONNX: an int8 QDQ graph for a QuantizedModel, fp32 otherwise (or onnxruntime's dynamic
    int8 of the fp32 graph with ``dynamic_int8=True``).

    Args:
        model: a float model or the result of ``st.quantize(..., st.Int8())``.
        path: output .onnx file.
        example_inputs: an input batch (required for float models, used to trace): a tensor (graph input
            ``input``) or a dict of named tensors, e.g. ``{"input_ids": ids, "attention_mask": mask}`` for a
            Hugging Face model, or a list of them with different sizes (``[x_a, x_b]``): the axes that differ
            become dynamic and onnxruntime is checked against torch on each. Batch and sequence axes stay dynamic
            (see :func:`fp32_model`). The model is traced on the CPU (a CPU copy of a model on another device),
            where the file will run.
        dynamic_int8: for a float model: write onnxruntime's dynamic int8 of the exported graph (int8 weights,
            one scale per output row; activations quantized per batch at run time: :mod:`.ort_dynamic`), the
            fastest int8 measured here for transformer encoders. It is checked against the fp32 graph on
            ``example_inputs`` (worst row cosine >= :data:`.ort_dynamic.MIN_COSINE`).

    Returns:
        The path written.

    Raises:
        UnsupportedModelError: (a ValueError) torch's exporter cannot convert the model, or the graph's outputs
            differ from the model's at another batch size and sequence length (a size frozen while tracing) or
            on one of the examples.
        ValueError: a float model without example_inputs, or a dynamic-int8 model (export the float one);
            example_inputs neither a tensor nor a dict of tensors (nor a list of them); ``dynamic_int8``
            for a quantized model, or a dynamic-int8 graph far from the float one (cosine below the bound).

    Example:
        >>> st.export_onnx(bert, "bert.onnx", {"input_ids": ids, "attention_mask": mask})  # doctest: +SKIP
    """
    from .dynamic import is_dynamic

    if is_dynamic(model):
        raise ValueError(
            "export_onnx: dynamic-int8 models are not exported; export the float model with "
            "dynamic_int8=True (onnxruntime's dynamic int8 of its graph)"
        )
    if isinstance(model, QuantizedModel):
        if dynamic_int8:
            raise ValueError("export_onnx: dynamic_int8=True needs a float model; this one is already int8 (QDQ)")
        proto = make_loadable(qdq_model(model))
    else:
        if example_inputs is None:
            raise ValueError("export_onnx: example_inputs is required to export a float model")
        examples = [{k: v.to(CPU) for k, v in e.items()} for e in as_examples(example_inputs)]
        cpu_model = on_cpu(model)
        proto = fp32_model(cpu_model, examples)
        _check(cpu_model, proto, examples)
        if dynamic_int8:
            from .ort_dynamic import dynamic_int8 as quantize

            proto = quantize(proto, examples[0])
    path = Path(path)
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))  # a kill mid-write keeps the previous file whole
    return path
