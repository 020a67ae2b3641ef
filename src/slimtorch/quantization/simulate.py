"""Fake-quant simulation of a QuantizedModel in float64: the reference the engines are tested against.

It dequantizes each int8 weight, computes each layer in float and fake-quantizes its output with
the layer's activation scale, rounding half up like the integer engine. Layers kept in float (the
fallback) and what follows them up to the next int8 layer run in float (``graph.float_values``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .graph import float_values, qpoint_of
from .interp import flatten, maxpool, pool_windows, run_ops, window_sum
from .qparams import round_half_up


def act_bounds(op_act: str | None, scale: float, zp: int, qmin: int, qmax: int) -> tuple[int, int]:
    """Integer clamp range of a fused activation: ReLU clamps at Z, ReLU6 also at Z + round(6/S)."""
    lo, hi = qmin, qmax
    if op_act in ("relu", "relu6"):
        lo = max(qmin, zp)
    if op_act == "relu6":
        hi = min(qmax, zp + int(round_half_up(torch.tensor(6.0 / scale, dtype=torch.float64))))
    return lo, hi


def float_act(y: torch.Tensor, act: str | None) -> torch.Tensor:
    """A fused activation applied in float (a value that stays float: ``graph.float_values``)."""
    return F.relu(y) if act == "relu" else torch.clamp(y, 0.0, 6.0) if act == "relu6" else y


def simulate(qm, x: torch.Tensor) -> torch.Tensor:
    """Run ``qm`` (a QuantizedModel) as float64 fake-quant; returns float32. Values of float regions
    (``graph.float_values``) are not fake-quantized; an int8 layer quantizes such an input first."""
    src, fl = qpoint_of(qm.ops), float_values(qm.ops)
    qmin, qmax = qm.act_range

    def fq(v, value, act=None):
        s, z = qm.act(value)
        lo, hi = act_bounds(act, s, z, qmin, qmax)
        return (torch.clamp(round_half_up(v / s) + z, lo, hi) - z) * s

    def out(op, y):  # a float value keeps its activation in float; a quantized one is fake-quantized
        return float_act(y, op["act"]) if op["out"] in fl else fq(y, op["out"], op["act"])

    def layer(op, xs):
        n, x_in = op["name"], xs[0]
        if op.get("float"):
            w, b = getattr(qm, f"{n}_wf").double(), getattr(qm, f"{n}_bf").double()
        else:
            if op["in"][0] in fl:
                x_in = fq(x_in, src[op["in"][0]])
            ws = getattr(qm, f"{n}_ws").double()
            w = getattr(qm, f"{n}_wq").double() * ws.reshape(-1, *[1] * (getattr(qm, f"{n}_wq").dim() - 1))
            b = getattr(qm, f"{n}_bq").double() * ws * qm.act(src[op["in"][0]])[0]
        if op["op"] == "conv":
            y = F.conv2d(x_in, w, b, op["stride"], op["padding"], op["dilation"], op["groups"])
        else:
            y = F.linear(x_in, w, b)
        return out(op, y)

    def avg(op, xs):
        k, st = pool_windows(op, xs[0].shape)
        if op["in"][0] in fl:
            return window_sum(xs[0], k, st) / (k[0] * k[1])
        s, z = qm.act(src[op["in"][0]])
        q = round_half_up(xs[0] / s)  # the integer codes (minus Z)
        return round_half_up(window_sum(q, k, st) / (k[0] * k[1])) * s

    def clamp_act(kind):
        def f(op, xs):
            if op["in"][0] in fl:
                return float_act(xs[0], kind)
            s, z = qm.act(src[op["in"][0]])
            lo, hi = act_bounds(kind, s, z, qmin, qmax)
            return torch.clamp(xs[0], (lo - z) * s, (hi - z) * s)
        return f

    impl = {
        "input": lambda op, xs: xs[0].double() if op["out"] in fl else fq(xs[0].double(), op["out"]),
        "output": lambda op, xs: xs[0].float(),
        "conv": layer, "linear": layer,
        "add": lambda op, xs: out(op, xs[0] + xs[1]),
        "relu": clamp_act("relu"), "relu6": clamp_act("relu6"),
        "maxpool": lambda op, xs: maxpool(op, xs[0]),
        "avgpool": avg, "adaptive_avgpool": avg,
        "flatten": lambda op, xs: flatten(op, xs[0]),
    }
    with torch.no_grad():
        return run_ops(qm.ops, x, impl)
