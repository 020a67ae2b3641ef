"""QuantizedModel: the int8 layout of a traced model (int8 weights, int32 biases, scales) plus the
backend that runs it. Called like the float model: float tensors in, float tensors out."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..io import SPEC_ATTR, TRANSFORMS_ATTR, record_transform, register_rebuilder
from .backends import ENGINES, make_engine
from .qparams import quantize_multiplier


class QuantizedModel(nn.Module):
    """A statically quantized model.

    Attributes:
        ops: the op list (see ``graph.lower``); conv/linear ops carry ``float: True`` when they
            were kept in float (sensitive layers).
        act_range: (qmin, qmax) of activation codes (uint8: 0..255).
        backend: name of the engine used by ``forward``.
    """

    def __init__(self, ops: list[dict], shapes: dict[str, list[int]], act_range: tuple[int, int],
                 backend: str = "integer", weight_bits: int = 8, points: list[str] = ()):
        super().__init__()
        self.points = {v: i for i, v in enumerate(points)}  # row of each quantization point in act_s/act_z
        self.ops = copy.deepcopy(ops)
        self.act_range = tuple(act_range)
        self.weight_bits = weight_bits
        self._shapes = dict(shapes)
        dtypes = {"wq": torch.int8, "bq": torch.int32, "ws": torch.float32, "wf": torch.float32,
                  "bf": torch.float32, "s": torch.float32, "z": torch.int64}
        for key, shape in shapes.items():
            self.register_buffer(key, torch.zeros(shape, dtype=dtypes[key.rsplit("_", 1)[1]]))
        self._engine = None
        self.backend = backend
        self.torch_engine: str | None = None  # None: the fastest measured default (onednn where present)
        self.backend_note = ""
        self.backend_times: dict[str, float] = {}

    # ---- parameters -------------------------------------------------------------------------
    def act(self, value: str) -> tuple[float, int]:
        """(scale, zero point) of the quantization point ``value``."""
        i = self.points[value]
        return float(self.act_s[i]), int(self.act_z[i])

    def weight_tensors(self) -> list[torch.Tensor]:
        """The weights and biases (int8/int32 codes, or float for layers kept in float): what
        ``st.measure`` counts as parameters."""
        return [getattr(self, k) for k in self._shapes if k.rsplit("_", 1)[1] in ("wq", "bq", "wf", "bf")]

    def layer_ops(self) -> list[dict]:
        return [op for op in self.ops if op["op"] in ("conv", "linear")]

    def requant(self, op: dict, value_of: dict[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(M0, p) per output channel of a conv/linear op: M = S_in * S_w / S_out = M0 * 2^-p."""
        s_in, _ = self.act(value_of[op["in"][0]])
        s_out, _ = self.act(op["out"])
        m = s_in * getattr(self, f"{op['name']}_ws").double() / s_out
        return quantize_multiplier(m)

    def multipliers(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{layer name: (M0, p)} of every integer conv/linear layer."""
        from .graph import qpoint_of

        src = qpoint_of(self.ops)
        return {op["name"]: self.requant(op, src) for op in self.layer_ops() if not op.get("float")}

    # ---- execution --------------------------------------------------------------------------
    def set_backend(self, backend: str, torch_engine: str | None = None) -> QuantizedModel:
        """Run ``forward`` on ``backend`` (a key of ``backends.ENGINES``); engines are built lazily.

        ``torch_engine`` picks torch's quantized kernels for backend "torch" ("onednn" or "x86").
        """
        if backend not in ENGINES:
            raise ValueError(f"backend {backend!r} unknown; allowed: {', '.join(ENGINES)}")
        self.backend, self._engine = backend, None
        if torch_engine is not None:
            self.torch_engine = torch_engine
        return self

    def engine(self):
        if self._engine is None:
            self._engine = make_engine(self, self.backend)
        return self._engine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.engine()(x)

    def simulate(self, x: torch.Tensor) -> torch.Tensor:
        """The float64 fake-quant simulation of this exact integer model (the reference of the engines)."""
        from .simulate import simulate

        return simulate(self, x)

    def _apply(self, fn, recurse=True):  # buffers moved or cast: the built engine is stale
        self._engine = None
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        n_float = sum(1 for op in self.layer_ops() if op.get("float"))
        return f"backend={self.backend}, layers={len(self.layer_ops())} (float: {n_float})"

    def record(self, source: nn.Module | None) -> None:
        """Carry the source model's spec and history, and record this layout for st.save/st.load."""
        if source is not None:
            if getattr(source, SPEC_ATTR, None) is not None:
                object.__setattr__(self, SPEC_ATTR, getattr(source, SPEC_ATTR))
            object.__setattr__(self, TRANSFORMS_ATTR, list(getattr(source, TRANSFORMS_ATTR, [])))
        record_transform(self, "quantize_int8", self.layout())

    def layout(self) -> dict[str, Any]:
        return {"ops": self.ops, "shapes": self._shapes, "act_range": list(self.act_range), "points": list(self.points),
                "backend": self.backend, "weight_bits": self.weight_bits, "torch_engine": self.torch_engine}


def _rebuild(model: nn.Module, data: dict) -> nn.Module:
    q = QuantizedModel(data["ops"], data["shapes"], tuple(data["act_range"]), data["backend"],
                       data.get("weight_bits", 8), data["points"])
    q.torch_engine = data.get("torch_engine")
    for attr in (SPEC_ATTR, TRANSFORMS_ATTR):
        if getattr(model, attr, None) is not None:
            object.__setattr__(q, attr, getattr(model, attr))
    return q


register_rebuilder("quantize_int8", _rebuild)
