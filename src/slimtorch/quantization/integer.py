"""The integer-only engine: int8/uint8 codes, int32 accumulators and int32 biases, and the
fixed-point requantization ``q_out = clamp(round(M0 * acc / 2^p) + Z_out)`` (rounding right shift).

Floats appear only at the model boundary (the float input is quantized once and the output codes are
dequantized once) and in the float fallback: a layer kept in float and what follows it up to the next
int8 layer (``graph.float_values``). Each conv/linear/add layer exposes its ``m0`` and ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .graph import float_values, qpoint_of
from .interp import flatten, maxpool, pool_windows, run_ops, window_sum
from .qparams import quantize_multiplier, requantize, round_half_up
from .simulate import act_bounds, float_act

ACC_DTYPE = torch.int32


@dataclass
class IntLayer:
    """A conv/linear layer in integers: ``acc = sum((q_in - Z_in) * q_w) + b`` (int32), then requantize."""

    op: dict
    w: torch.Tensor  # int32 codes of the int8 weights
    b: torch.Tensor  # int32 bias at scale S_in * S_w
    z_in: int
    m0: torch.Tensor  # per output channel, 2^30 <= M0 < 2^31
    p: torch.Tensor  # per output channel right shift
    z_out: int
    lo: int
    hi: int

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        x = (q - self.z_in).to(ACC_DTYPE)
        if self.op["op"] == "conv":
            acc = F.conv2d(x, self.w, self.b, self.op["stride"], self.op["padding"], self.op["dilation"],
                           self.op["groups"])
            shape = (-1, 1, 1)
        else:
            acc = F.linear(x, self.w, self.b)
            shape = (-1,)
        return requantize(acc, self.m0.reshape(shape), self.p.reshape(shape), self.z_out, self.lo, self.hi)


@dataclass
class IntAdd:
    """Residual add with its own rescale: both inputs go to the output scale with a common shift."""

    op: dict
    z_a: int
    z_b: int
    m0_a: int
    m0_b: int
    p: int
    z_out: int
    lo: int
    hi: int

    def __call__(self, qa: torch.Tensor, qb: torch.Tensor) -> torch.Tensor:
        acc = (qa - self.z_a) * self.m0_a + (qb - self.z_b) * self.m0_b
        return requantize(acc, torch.tensor(1), torch.tensor(self.p), self.z_out, self.lo, self.hi)


def _add_multipliers(s_a: float, s_b: float, s_out: float) -> tuple[int, int, int]:
    """M_a = S_a/S_out and M_b = S_b/S_out as integers over one common shift p (the larger one's M0)."""
    big = max(s_a, s_b) / s_out
    _, p = quantize_multiplier(big)
    p = int(p) - 1  # one bit of headroom: M_a * q + M_b * q must stay inside int64
    return round(s_a / s_out * 2**p), round(s_b / s_out * 2**p), p


class IntegerEngine:
    """Runs a QuantizedModel with integer arithmetic only (float fallback layers excepted).

    Attributes:
        layers: {name: IntLayer | IntAdd} — each exposes ``m0`` and ``p``.
    """

    def __init__(self, qm):
        self.qm = qm
        self.src, self.floats = qpoint_of(qm.ops), float_values(qm.ops)
        self.qmin, self.qmax = qm.act_range
        self.layers: dict[str, object] = {}
        for op in qm.ops:
            if op["op"] in ("conv", "linear") and not op.get("float"):
                self.layers[op["name"]] = self._layer(op)
            elif op["op"] == "add" and op["out"] not in self.floats:
                self.layers[op["name"]] = self._add(op)

    def _bounds(self, op):
        s, z = self.qm.act(op["out"])
        return z, act_bounds(op["act"], s, z, self.qmin, self.qmax)

    def _layer(self, op: dict) -> IntLayer:
        qm, n = self.qm, op["name"]
        m0, p = qm.requant(op, self.src)
        z_out, (lo, hi) = self._bounds(op)
        return IntLayer(op, getattr(qm, f"{n}_wq").to(ACC_DTYPE), getattr(qm, f"{n}_bq").to(ACC_DTYPE),
                        qm.act(self.src[op["in"][0]])[1], m0, p, z_out, lo, hi)

    def _add(self, op: dict) -> IntAdd:
        (s_a, z_a), (s_b, z_b) = (self.qm.act(self.src[v]) for v in op["in"])
        s_out, _ = self.qm.act(op["out"])
        m_a, m_b, p = _add_multipliers(s_a, s_b, s_out)
        z_out, (lo, hi) = self._bounds(op)
        return IntAdd(op, z_a, z_b, m_a, m_b, p, z_out, lo, hi)

    def _deq(self, v: str, t: torch.Tensor) -> torch.Tensor:
        """Value ``v`` as float: its codes dequantized, or itself where it is a float value."""
        if v in self.floats:
            return t
        s, z = self.qm.act(self.src[v])
        return (t - z).double() * s

    def _float_layer(self, op: dict, x: torch.Tensor) -> torch.Tensor:
        """A sensitive layer kept in float (the only float math inside, with what follows it up to the next int8
        layer: ``graph.float_values``); its output stays float. In float64, as the simulation computes it."""
        qm, n = self.qm, op["name"]
        x = self._deq(op["in"][0], x)
        w, b = getattr(qm, f"{n}_wf").double(), getattr(qm, f"{n}_bf").double()
        if op["op"] == "conv":
            y = F.conv2d(x, w, b, op["stride"], op["padding"], op["dilation"], op["groups"])
        else:
            y = F.linear(x, w, b)
        return float_act(y, op["act"])

    def _avg(self, op: dict, qs: list[torch.Tensor]) -> torch.Tensor:
        q = qs[0]
        k, st = pool_windows(op, q.shape)
        n = k[0] * k[1]
        if op["in"][0] in self.floats:
            return window_sum(q, k, st) / n
        return torch.div(window_sum(q, k, st) + n // 2, n, rounding_mode="floor")

    def _clamp(self, kind: str):
        def f(op, qs):
            if op["in"][0] in self.floats:
                return float_act(qs[0], kind)
            s, z = self.qm.act(self.src[op["in"][0]])
            lo, hi = act_bounds(kind, s, z, self.qmin, self.qmax)
            return qs[0].clamp(lo, hi)
        return f

    def _add_op(self, op: dict, qs: list[torch.Tensor]) -> torch.Tensor:
        if op["out"] in self.floats:  # a float input: the add runs in float
            return float_act(self._deq(op["in"][0], qs[0]) + self._deq(op["in"][1], qs[1]), op["act"])
        return self.layers[op["name"]](qs[0], qs[1])

    def quantize_input(self, x: torch.Tensor, value: str) -> torch.Tensor:
        s, z = self.qm.act(value)
        return torch.clamp(round_half_up(x.double() / s) + z, self.qmin, self.qmax).to(torch.int64)

    def run_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, str]:
        """Integer output codes and the value name whose scale dequantizes them (a float value where the model ends
        in a float region: then the tensor is the float output)."""
        impl = {
            "input": lambda op, xs: (xs[0].double() if op["out"] in self.floats
                                     else self.quantize_input(xs[0], op["out"])),
            "output": lambda op, xs: xs[0],
            "conv": self._conv_or_linear, "linear": self._conv_or_linear,
            "add": self._add_op,
            "relu": self._clamp("relu"), "relu6": self._clamp("relu6"),
            "maxpool": lambda op, qs: maxpool(op, qs[0]),
            "avgpool": self._avg, "adaptive_avgpool": self._avg,
            "flatten": lambda op, qs: flatten(op, qs[0]),
        }
        out_value = next(op for op in self.qm.ops if op["op"] == "output")["in"][0]
        return run_ops(self.qm.ops, x, impl), out_value if out_value in self.floats else self.src[out_value]

    def _conv_or_linear(self, op, qs):
        if op.get("float"):
            return self._float_layer(op, qs[0])
        q = qs[0]
        if op["in"][0] in self.floats:  # an int8 layer after a float region quantizes its input
            q = self.quantize_input(q, self.src[op["in"][0]])
        return self.layers[op["name"]](q)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            q, value = self.run_codes(x)
            if value in self.floats:
                return q.to(torch.float32)
            s, z = self.qm.act(value)
            return ((q - z).float() * s).to(torch.float32)
