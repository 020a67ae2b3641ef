"""The int8 QDQ ONNX graph of a QuantizedModel, written directly from its codes and scales.

onnxruntime fuses DequantizeLinear -> op -> QuantizeLinear into int8 kernels. This module reads a
quantized model through its attributes only (``ops``, ``act``, the ``*_wq``/``*_ws`` tensors), so the
onnxruntime backend can use it without importing the model class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .channel_pad import pad_layer, plan
from .graph import float_values, qpoint_of

OPSET = 17


class _Builder:
    def __init__(self, int8: bool = True):
        self.int8 = int8
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def const(self, name: str, array: np.ndarray) -> str:
        # ascontiguousarray turns a 0-d array into shape (1,): onnxruntime then leaves DQ -> Add -> Q unfused
        # (its QLinearAdd wants scalar scales), so the shape is put back
        array = np.asarray(array)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array).reshape(array.shape), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.n += 1
        out = f"{name}__{op.lower()}{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def qdq(self, x: str, value: str, s: float, z: int, widen: int = 0) -> Callable[[], str]:
        """Quantize ``x`` to uint8; returns a function that makes a fresh DequantizeLinear for each consumer
        (onnxruntime fuses DQ -> op -> Q into an int8 kernel only when each DQ has a single consumer).

        ``widen``: channels of zero point codes (the value 0) appended to the codes of an NCHW ``x``."""
        if not self.int8:
            return lambda: x
        sc = self.const(f"{value}__s", np.array(s, dtype=np.float32))
        zp = self.const(f"{value}__z", np.array(z, dtype=np.uint8))
        q = self.node("QuantizeLinear", [x, sc, zp], value)
        if widen:
            pads = self.const(f"{value}__pads", np.array([0, 0, 0, 0, 0, widen, 0, 0], np.int64))
            q = self.node("Pad", [q, pads, zp], value)
        return lambda: self.node("DequantizeLinear", [q, sc, zp], value)


def qdq_model(qm: Any, int8: bool = True, pad_channels: bool = True) -> onnx.ModelProto:
    """The int8 QDQ ONNX graph of ``qm`` (weights int8 per channel, biases int32, activations uint8).

    With ``int8=False`` the same network in fp32 (dequantized weights, no Q/DQ): the fp32
    onnxruntime baseline the int8 speed is compared with. With ``pad_channels`` hidden conv widths
    that onnxruntime's kernels run slowly (a pruned 101) carry zero channels up to a fast width
    (:mod:`.channel_pad`), and an RGB input runs as 4 channels in the int8 graph: every output is the same.

    Raises:
        ValueError: an adaptive average pool to a size other than 1x1 (needs static shapes).
    """
    b, src = _Builder(int8), qpoint_of(qm.ops)
    floats = float_values(qm.ops) if int8 else set()  # values of float regions: no Q/DQ around them
    widths = plan(qm, pad_channels, pad_input=int8 and not any(op["op"] == "input" for op in qm.ops
                                                                 if op["out"] in floats))
    env: dict[str, Callable[[], str]] = {}
    for op in qm.ops:
        kind, name = op["op"], op["name"]
        int8_op = (kind in ("conv", "linear") and not op.get("float")) or (kind == "add" and op["out"] not in floats)
        xs = [b.qdq(env[v](), f"{name}_in{i}", *qm.act(src[v]))() if int8_op and v in floats else env[v]()
              for i, v in enumerate(op["in"])]  # an int8 op after a float region quantizes its input
        if kind == "input":
            widen = widths.get(op["out"], 0) and widths[op["out"]] - op["shape"][0]
            env[op["out"]] = ((lambda: "input") if op["out"] in floats
                              else b.qdq("input", name, *qm.act(name), widen=widen))
            continue
        if kind == "output":
            b.nodes.append(helper.make_node("Identity", xs, ["output"], name="output"))
            break
        if kind in ("conv", "linear"):
            y = _layer(b, qm, op, xs[0], qm.act(src[op["in"][0]])[0], widths)
        elif kind == "add":
            y = b.node("Add", xs, name)
        elif kind in ("relu", "relu6"):
            y = xs[0]
        elif kind == "maxpool":
            k, s, p, d = op["kernel"], op["stride"], op["padding"], op["dilation"]
            y = b.node("MaxPool", xs, name, kernel_shape=k, strides=s, pads=p + p, dilations=d,
                       ceil_mode=int(op["ceil_mode"]))
        elif kind == "avgpool":
            y = b.node("AveragePool", xs, name, kernel_shape=op["kernel"], strides=op["stride"])
        elif kind == "adaptive_avgpool":
            if list(op["output_size"]) != [1, 1]:
                raise ValueError(f"export_onnx: adaptive avg pool {name!r} to {op['output_size']} is not supported "
                                 "(only 1x1)")
            y = b.node("GlobalAveragePool", xs, name)
        elif kind == "flatten":
            y = b.node("Flatten", xs, name, axis=op["start_dim"])
        else:
            raise ValueError(f"export_onnx: op {kind!r} has no ONNX form")
        act = op.get("act") if kind in ("conv", "linear", "add") else kind if kind in ("relu", "relu6") else None
        if b.int8 and op["out"] not in floats and _clamp_is_implied(act, *qm.act(src[op["out"]]), qm.act_range):
            act = None  # the uint8 Q clamps exactly like the activation: onnxruntime then fuses the layer
        if act == "relu":
            y = b.node("Relu", [y], name)
        elif act == "relu6":
            y = b.node("Clip", [y, b.const(f"{name}__lo", np.array(0, np.float32)),
                                b.const(f"{name}__hi", np.array(6, np.float32))], name)
        env[op["out"]] = (lambda y=y: y) if op["out"] in floats else b.qdq(y, f"{name}_out", *qm.act(src[op["out"]]))
    shapes = {op["op"]: ["batch"] + [d if d is not None else f"{op['op']}_dim{i}" for i, d in
                                     enumerate(op.get("shape", []), 1)]  # None: sizes that varied in calibration
              for op in qm.ops if op["op"] in ("input", "output")}
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, shapes["input"])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, shapes["output"])
    graph = helper.make_graph(b.nodes, "slimtorch_int8", [inp], [out], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="slimtorch")
    onnx.checker.check_model(model)
    return model


def _clamp_is_implied(act: str | None, scale: float, zp: int, act_range: tuple[int, int]) -> bool:
    """Whether quantizing to [qmin, qmax] already applies ReLU (Z == qmin) or ReLU6 (also 6 >= the top code)."""
    if act is None or zp != act_range[0]:
        return False
    return act == "relu" or zp + round(6.0 / scale) >= act_range[1]


def _weights(b: _Builder, qm: Any, op: dict, s_in: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(weight, bias, weight scales) as the graph stores them: int8/int32 codes with their scales, or float
    (layers kept in float, and every layer of the fp32 graph) with None."""
    n = op["name"]
    if op.get("float"):
        return getattr(qm, f"{n}_wf").numpy(), getattr(qm, f"{n}_bf").numpy(), None
    ws = getattr(qm, f"{n}_ws").double()
    wq, bq = getattr(qm, f"{n}_wq"), getattr(qm, f"{n}_bq")
    if not b.int8:
        w = (wq.double() * ws.reshape((-1,) + (1,) * (wq.dim() - 1))).float().numpy()
        return w, (bq.double() * ws * s_in).float().numpy(), None
    return wq.numpy(), bq.numpy(), ws.numpy()


def _layer(b: _Builder, qm: Any, op: dict, x: str, s_in: float, widths: dict[str, int]) -> str:
    n = op["name"]
    w, bias, ws, groups = pad_layer(op, *_weights(b, qm, op, s_in), widths)
    if ws is None:
        w, bias = b.const(f"{n}__w", w), b.const(f"{n}__b", bias)
    else:
        zeros = np.zeros(ws.shape, np.int8)
        w = b.node("DequantizeLinear", [b.const(f"{n}__wq", w), b.const(f"{n}__ws", ws.astype(np.float32)),
                                        b.const(f"{n}__wz", zeros)], n, axis=0)
        bias = b.node("DequantizeLinear", [b.const(f"{n}__bq", bias),
                                           b.const(f"{n}__bs", (ws.astype(np.float64) * s_in).astype(np.float32)),
                                           b.const(f"{n}__bz", zeros.astype(np.int32))], n, axis=0)
    if op["op"] == "conv":
        p = op["padding"]
        return b.node("Conv", [x, w, bias], n, strides=op["stride"], pads=p + p, dilations=op["dilation"],
                      group=groups)
    return b.node("Gemm", [x, w, bias], n, transB=1)
