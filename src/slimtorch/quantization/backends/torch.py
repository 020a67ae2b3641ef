"""The torch int8 backend: oneDNN or x86/fbgemm quantized kernels called directly (``torch.ops.quantized``).

This is the ONLY module of slimtorch that touches torch's quantized tensors and ops. torch 2.13
marks quantized tensors and the torch.ao workflow deprecated (pytorch issue 184982) but still ships
the kernels, which remain the fastest in-process int8 convolutions on AVX2 CPUs (3-4x over fp32
here; torchao and PT2E measured slower than fp32). We use no torch.ao API: weights are built from
our own int8 codes and scales and prepacked once, activations are quint8 tensors.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ..graph import float_values, qpoint_of
from ..interp import run_ops
from ..simulate import float_act

warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
ENGINE = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
# oneDNN's int8 convolutions measured 1.1-1.8x faster than x86/fbgemm here and do not saturate on AVX2
KERNELS = tuple(e for e in ("onednn", ENGINE) if e in torch.backends.quantized.supported_engines)


@contextlib.contextmanager
def quantized_engine(name: str) -> Iterator[None]:
    """Set ``torch.backends.quantized.engine`` to ``name`` for the block and restore the caller's after.

    torch keeps one process-wide engine; prepacked weights belong to the engine they were packed
    with, so each call selects ours, and leaves the user's own setting as it found it.
    """
    before = torch.backends.quantized.engine
    if before != name:
        torch.backends.quantized.engine = name
    try:
        yield
    finally:
        if torch.backends.quantized.engine != before:
            torch.backends.quantized.engine = before


def available(engine: str = ENGINE) -> bool:
    """Whether this torch build has the ``engine`` quantized kernels."""
    return engine in torch.backends.quantized.supported_engines


class TorchInt8Engine:
    """Prepacked quantized conv/linear kernels run in graph order on quint8 activations."""

    def __init__(self, qm, engine: str | None = None):
        self.engine = engine or getattr(qm, "torch_engine", None) or (KERNELS[0] if KERNELS else ENGINE)
        if not available(self.engine):
            raise RuntimeError(f"backend 'torch': this torch build has no {self.engine} quantized kernels; "
                               f"available: {', '.join(torch.backends.quantized.supported_engines)}")
        self.qm, self.src, self.floats = qm, qpoint_of(qm.ops), float_values(qm.ops)
        self.packed: dict[str, object] = {}
        with quantized_engine(self.engine):
            for op in qm.layer_ops():
                if not op.get("float"):
                    self.packed[op["name"]] = self._prepack(op)

    def _prepack(self, op: dict):
        qm, n = self.qm, op["name"]
        wq, ws = getattr(qm, f"{n}_wq"), getattr(qm, f"{n}_ws").double()
        qw = torch._make_per_channel_quantized_tensor(wq, ws, torch.zeros_like(ws, dtype=torch.int64), 0)
        s_in = qm.act(self.src[op["in"][0]])[0]
        bias = (getattr(qm, f"{n}_bq").double() * ws * s_in).float()
        if op["op"] == "conv":
            return torch.ops.quantized.conv2d_prepack(qw, bias, op["stride"], op["padding"], op["dilation"],
                                                      op["groups"])
        return torch.ops.quantized.linear_prepack(qw, bias)

    def _relu6(self, op: dict, y):
        s, z = self.qm.act(op["out"])
        if round(6.0 / s) + z < self.qm.act_range[1]:  # the code range reaches past 6: clamp it
            y = F.hardtanh(y, 0.0, 6.0)
        return y

    def _layer(self, op: dict, xs):
        x = xs[0]
        if op.get("float"):  # a float layer's output stays float (graph.float_values)
            return self._float_layer(op, x.dequantize() if x.is_quantized else x)
        if not x.is_quantized:  # an int8 layer after a float region
            x = torch.quantize_per_tensor(x, *self.qm.act(self.src[op["in"][0]]), torch.quint8)
        s, z = self.qm.act(op["out"])
        if op["op"] == "conv":
            fn = torch.ops.quantized.conv2d_relu if op["act"] else torch.ops.quantized.conv2d
            y = fn(x, self.packed[op["name"]], s, z)
        else:
            fn = torch.ops.quantized.linear_relu if op["act"] else torch.ops.quantized.linear
            y = fn(x, self.packed[op["name"]], s, z)
        return self._relu6(op, y) if op["act"] == "relu6" else y

    def _float_layer(self, op: dict, x: torch.Tensor) -> torch.Tensor:
        n = op["name"]
        w, b = getattr(self.qm, f"{n}_wf"), getattr(self.qm, f"{n}_bf")
        if op["op"] == "conv":
            y = F.conv2d(x, w, b, op["stride"], op["padding"], op["dilation"], op["groups"])
        else:
            y = F.linear(x, w, b)
        return float_act(y, op["act"])

    def _add(self, op: dict, xs):
        if op["out"] in self.floats:  # a float input: the add runs in float
            a, b = (t.dequantize() if t.is_quantized else t for t in xs)
            return float_act(a + b, op["act"])
        s, z = self.qm.act(op["out"])
        fn = torch.ops.quantized.add_relu if op["act"] else torch.ops.quantized.add
        y = fn(xs[0], xs[1], s, z)
        return self._relu6(op, y) if op["act"] == "relu6" else y

    def _input(self, op, xs):
        if op["out"] in self.floats:
            return xs[0].float()
        s, z = self.qm.act(op["out"])
        return torch.quantize_per_tensor(xs[0].float(), s, z, torch.quint8)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        impl = {
            "input": self._input,
            "output": lambda op, xs: xs[0].dequantize() if xs[0].is_quantized else xs[0],
            "conv": self._layer, "linear": self._layer, "add": self._add,
            "relu": lambda op, xs: F.relu(xs[0]),
            "relu6": lambda op, xs: F.hardtanh(xs[0], 0.0, 6.0),
            "maxpool": lambda op, xs: F.max_pool2d(xs[0], op["kernel"], op["stride"], op["padding"],
                                                   op["dilation"], op["ceil_mode"]),
            "avgpool": lambda op, xs: F.avg_pool2d(xs[0], op["kernel"], op["stride"]),
            "adaptive_avgpool": lambda op, xs: F.adaptive_avg_pool2d(xs[0], op["output_size"]),
            "flatten": lambda op, xs: torch.flatten(xs[0], op["start_dim"], op["end_dim"]),
        }
        with quantized_engine(self.engine), torch.no_grad():  # packed weights belong to one engine
            return run_ops(self.qm.ops, x, impl)


def make(qm) -> TorchInt8Engine:
    """Prepack ``qm``'s int8 weights for its torch engine (``qm.torch_engine``: onednn or x86)."""
    return TorchInt8Engine(qm)


def dynamic_linear_prepack(wq: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None):
    """Prepack per-channel int8 weights for ``dynamic_linear`` (int8 weights, per-batch activations)."""
    with quantized_engine(ENGINE):
        qw = torch._make_per_channel_quantized_tensor(wq, scales.double(), torch.zeros_like(scales, dtype=torch.int64),
                                                      0)
        return torch.ops.quantized.linear_prepack(qw, bias)


def dynamic_linear(x: torch.Tensor, packed, reduce_range: bool = True) -> torch.Tensor:
    """y = x W^T + b with W int8 and x quantized per call to uint8 (7 bits with ``reduce_range``,
    which avoids the u8*s8 int16 saturation on CPUs without VNNI when weights use 8 bits)."""
    return torch.ops.quantized.linear_dynamic(x, packed, reduce_range)
