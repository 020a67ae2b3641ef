"""Channel padding of the ONNX graph: conv widths onnxruntime's int8 kernels run fast, without changing a result.

A pruned network has hidden widths such as 68, 101 or 135. onnxruntime's uint8 depthwise and 1x1 conv
kernels work on blocks of 16 channels and run such widths markedly slower per channel than a multiple of 16
(measured on an AVX2 CPU: a 68-channel stride-2 depthwise conv took 1.8x the time of an 80-channel one,
a 24->68 1x1 conv 1.5x the time of 24->80). So the exported graph carries zero channels up to a better
width: a padded output channel has zero weights and zero bias (it holds the zero point, i.e. the value 0),
and every consumer gives it zero weights, so no real channel's integer result changes.

Only values produced by a conv and consumed by convs alone are padded; a depthwise consumer carries the
padding through to its own output, which then must obey the same rule. An RGB input read by convs alone
runs as 4 channels in the int8 graph (a Pad of its uint8 codes with the zero point; the stem conv's
16x112x112 output took 26 ms from 3 channels, 20 ms from 4, medians of the onnxruntime profiler).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PAD_MULTIPLES = (16, 8)  # kernel block widths tried in order
INPUT_MULTIPLE = 4  # u8 conv kernels take input channels in groups of 4: an RGB stem ran 1.3-1.9x slower as 3
MAX_GROWTH = 1.25  # padding that adds more than a quarter of the channels is not worth its extra work


def padded_width(channels: int, multiples: tuple[int, ...] = PAD_MULTIPLES, max_growth: float = MAX_GROWTH) -> int:
    """The width to run ``channels`` at: the first multiple in ``multiples`` within ``max_growth``, else itself.

    Example:
        >>> padded_width(101), padded_width(68), padded_width(24), padded_width(5)
        (112, 80, 24, 5)
    """
    for m in multiples:
        p = -(-channels // m) * m
        if p <= channels * max_growth:
            return p
    return channels


def _out_channels(qm: Any, op: dict) -> int:
    key = "wf" if op.get("float") else "wq"
    return int(getattr(qm, f"{op['name']}_{key}").shape[0])


def _is_depthwise(op: dict, channels: int) -> bool:
    return op["op"] == "conv" and op["groups"] > 1 and op["groups"] == channels


def plan(qm: Any, enabled: bool = True, pad_input: bool = False) -> dict[str, int]:
    """{value name: width it runs at in the graph} for every conv output that gets zero channels, and with
    ``pad_input`` for an image input that only convs read (3 channels run as 4: ``INPUT_MULTIPLE``)."""
    if not enabled:
        return {}
    consumers: dict[str, list[dict]] = {}
    for op in qm.ops:
        for v in op["in"]:
            consumers.setdefault(v, []).append(op)
    producer = {op["out"]: op for op in qm.ops if op["op"] == "conv"}

    def chain(value: str, channels: int) -> list[str] | None:
        """``value`` and the depthwise outputs behind it, when all of them may carry padding."""
        if value not in producer or not consumers.get(value):
            return None
        out = [value]
        for c in consumers[value]:
            if c["op"] != "conv":
                return None
            if _is_depthwise(c, channels):
                rest = chain(c["out"], channels)
                if rest is None:
                    return None
                out += rest
            elif c["groups"] != 1:
                return None
        return out

    widths: dict[str, int] = {}
    for value, op in producer.items():
        channels = _out_channels(qm, op)
        wide = padded_width(channels)
        if value in widths or wide == channels or op["groups"] > 1:
            continue  # a depthwise conv's channels are its input's: padded (or not) with the layer feeding it
        for v in chain(value, channels) or []:
            widths[v] = wide
    if pad_input:
        widths.update(_input_width(qm, consumers))
    return widths


def _input_width(qm: Any, consumers: dict[str, list[dict]]) -> dict[str, int]:
    """The input's padded channels when it is an NCHW image read by ungrouped convs only (else nothing)."""
    op = qm.ops[0]
    shape = op.get("shape", [])
    if op["op"] != "input" or len(shape) != 3 or not consumers.get(op["out"]):
        return {}
    if any(c["op"] != "conv" or c["groups"] != 1 for c in consumers[op["out"]]):
        return {}
    wide = -(-shape[0] // INPUT_MULTIPLE) * INPUT_MULTIPLE
    # 3 -> 4 pays; a grey 1 -> 4 would quadruple the stem's work
    return {op["out"]: wide} if shape[0] < wide <= shape[0] * 4 / 3 else {}


def pad_layer(op: dict, w: np.ndarray, b: np.ndarray, ws: np.ndarray | None, widths: dict[str, int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """``op``'s weight, bias and weight scales with its padded output / input channels, and its groups.

    Padded weights and biases are zero; padded weight scales are 1 (any positive scale: the codes are 0).
    """
    groups = op.get("groups", 1)
    if op["out"] not in widths and op["in"][0] not in widths:
        return w, b, ws, groups
    cout = w.shape[0]
    new_out = widths.get(op["out"], cout)
    if groups > 1:  # depthwise: input and output are the same channels (``plan`` pads them together)
        groups = new_out
        pad_in = 0
    else:
        pad_in = widths.get(op["in"][0], w.shape[1]) - w.shape[1]
    pads = [(0, new_out - cout), (0, pad_in)] + [(0, 0)] * (w.ndim - 2)
    w = np.pad(w, pads)
    b = np.pad(b, (0, new_out - cout))
    if ws is not None:
        ws = np.pad(ws, (0, new_out - cout), constant_values=1)
    return w, b, ws, groups
