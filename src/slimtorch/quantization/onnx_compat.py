"""ONNX files the installed onnxruntime accepts: the opset and IR version are read from the runtime itself.

A newer ``onnx`` package stamps models with an IR version an older onnxruntime refuses
(``Unsupported model IR version: 14, max supported IR version: 13``), although the graph uses nothing
newer than its opset needs. The runtime's limits are asked by loading a one-node model and reading
its refusal, so no version table has to be kept up to date.
"""

from __future__ import annotations

import re

import onnx
from onnx import TensorProto, helper

_IR_LIMIT = re.compile(r"max supported IR version: (\d+)")
_OPSET_LIMIT = re.compile(r"support for domain ai\.onnx is till opset (\d+)")


def min_ir_for_opset(opset: int) -> int:
    """The lowest IR version that may carry ``opset`` of the default domain (from onnx's release table)."""
    for _release, ir, ai_onnx, *_ in helper.VERSION_TABLE:
        if ai_onnx >= opset:
            return ir
    return onnx.IR_VERSION


def _probe(ir: int, opset: int) -> str | None:
    """None when onnxruntime loads a one-node model stamped (ir, opset), else its error message."""
    import onnxruntime as ort

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own pybind classes (Fail, InvalidGraph, ...)
        return str(err)
    return None


def runtime_opset(wanted: int) -> int:
    """``wanted``, or the newest default-domain opset the installed onnxruntime supports if lower."""
    err = _probe(min_ir_for_opset(wanted), wanted)
    limit = _OPSET_LIMIT.search(err or "")
    return min(wanted, int(limit.group(1))) if limit else wanted


def runtime_ir_version(ir: int, opset: int) -> int:
    """``ir``, or the newest IR version the installed onnxruntime loads if lower.

    Raises:
        ValueError: onnxruntime's newest IR version is older than ``opset`` needs.
    """
    limit = _IR_LIMIT.search(_probe(ir, opset) or "")
    if limit is None or int(limit.group(1)) >= ir:
        return ir
    best, need = int(limit.group(1)), min_ir_for_opset(opset)
    if best < need:
        raise ValueError(f"export_onnx: the installed onnxruntime loads IR version <= {best}, but opset {opset} "
                         f"needs IR version {need}; upgrade onnxruntime")
    return best


def make_loadable(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Lower ``proto.ir_version`` (in place) to one the installed onnxruntime loads; returns ``proto``.

    Only the stamp changes: the graphs written here use no type or feature newer than their opset's IR.
    """
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=1)
    proto.ir_version = runtime_ir_version(proto.ir_version, opset)
    return proto


__all__ = ["make_loadable", "min_ir_for_opset", "runtime_ir_version", "runtime_opset"]
