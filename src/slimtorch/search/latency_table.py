"""A measured per-layer latency table: each conv/linear layer timed alone at the widths a candidate gives it.

The search ranks its steps by *predicted* latency: the sum of the table's entries for a candidate's
layer widths plus a residual (what the rest of the network costs: activations, pooling, residual adds,
layout reorders), fitted once so the full model's prediction equals its measured time. The residual
shrinks with the activations: it is scaled by the candidate's activation volume (the conv/linear
inputs' elements) over the full model's. Held constant, it made ResNet-20 at half of every group look
1.6x faster than the full one where it measured 2.5x (the residual was 53% of its ONNX Runtime time).
Every candidate the search keeps is then timed end to end, and :func:`prediction_error` reports how
far the table was off.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..bench.latency import compare_timings
from .space import Keep, Space

# onnxruntime-bc: ORT fp32 with the first one-channel convolution run with the batch as channels (batch_channels.py)
BACKENDS = ("eager", "onnxruntime", "onnxruntime-bc")


def runner(model: nn.Module, x: torch.Tensor, backend: str) -> Callable[[], Any]:
    """A zero-argument callable that runs ``model`` on ``x`` with ``backend``: eager torch fp32, ORT fp32, or
    ORT fp32 with the batch-as-channels first convolution (the plain graph where it does not apply).

    Raises:
        ValueError: unknown backend.
    """
    model = model.eval()
    if backend == "eager":
        return lambda: model(x)
    if backend in ("onnxruntime", "onnxruntime-bc"):
        from ..quantization.onnx_export import fp32_model

        proto = fp32_model(model, x[:1])
        sess = ort_session(proto, x) if backend == "onnxruntime" else ort_session(proto, x, regroup=True)
        name, arr = sess.get_inputs()[0].name, x.numpy()
        return lambda: sess.run(None, {name: arr})
    raise ValueError(f"backend {backend!r} unknown; allowed: {', '.join(BACKENDS)}")


def ort_session(proto: Any, x: torch.Tensor, regroup: bool = False) -> Any:
    """An ORT session of ``proto``; with ``regroup``, of its batch-as-channels rewrite where that applies and gives
    the plain graph's outputs (``batch_channels.verified``), else of the plain graph."""
    from ..quantization.backends.onnxruntime import session
    from .batch_channels import verified

    fast = verified(proto, x) if regroup else None
    return session(fast if fast is not None else proto)  # non-spinning workers (see session())


def input_shapes(model: nn.Module, space: Space, example: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Per-sample input shape of every layer of ``space`` (recorded by forward hooks on one run) and of the
    model itself (key ``__input__``)."""
    shapes: dict[str, tuple[int, ...]] = {"__input__": tuple(example.shape[1:])}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:  # None: the output is left as it is
            shapes.setdefault(name, tuple(args[0].shape[1:]))
        return hook

    hooks = [model.get_submodule(layer.name).register_forward_hook(record(layer.name)) for layer in space.layers]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in hooks:
            h.remove()
    return shapes


def standalone(layer: nn.Module, shape: tuple[int, ...], c_in: int, c_out: int, batch: int) -> tuple[nn.Module, Any]:
    """A copy of ``layer`` resized to ``c_in`` -> ``c_out`` (random weights) and an input batch for it."""
    if isinstance(layer, nn.Linear):
        mod = nn.Linear(c_in, c_out, bias=layer.bias is not None)
        return mod, torch.randn(batch, *shape[:-1], c_in)
    depthwise = layer.groups > 1 and layer.groups == layer.in_channels == layer.out_channels
    groups = c_in if depthwise else layer.groups
    mod = type(layer)(c_in, c_out, layer.kernel_size, layer.stride, layer.padding, layer.dilation, groups,
                      layer.bias is not None, layer.padding_mode)
    return mod, torch.randn(batch, c_in, *shape[1:])


@dataclass
class LatencyTable:
    """Seconds per call of each layer at given widths, on one backend and batch size, measured on demand."""

    model: nn.Module
    space: Space
    shapes: dict[str, tuple[int, ...]]
    backend: str
    batch: int
    repeats: int = 15
    entries: dict[tuple[str, int, int], float] = field(default_factory=dict)
    residual: float = 0.0
    expired: Callable[[], bool] = lambda: False  # the time budget: past it, missing entries are estimated
    estimated: set[tuple[str, int, int]] = field(default_factory=set)

    def keys(self, keep: Keep) -> list[tuple[str, int, int]]:
        """The (layer, c_in, c_out) entries a candidate needs."""
        return [(layer.name, *layer.dims(self.space.groups, keep)) for layer in self.space.layers]

    def fill(self, keys: list[tuple[str, int, int]]) -> None:
        """Measure the entries not in the table yet, interleaved in one round-robin (estimated from the layer's
        measured entries instead once ``expired()``: the time budget is spent)."""
        todo = [k for k in dict.fromkeys(keys) if k not in self.entries]
        if not todo:
            return
        if self.expired() and all(any(e[0] == k[0] for e in self.entries) for k in todo):
            for k in todo:
                self.entries[k] = self._scaled(k)
                self.estimated.add(k)
            return
        fns = {}
        for name, c_in, c_out in todo:
            mod, x = standalone(self.model.get_submodule(name), self.shapes[name], c_in, c_out, self.batch)
            fns[f"{name}|{c_in}|{c_out}"] = runner(mod, x, self.backend)
        for key, t in compare_timings(fns, repeats=self.repeats, warmup=2).items():
            name, c_in, c_out = key.rsplit("|", 2)
            self.entries[(name, int(c_in), int(c_out))] = t.min  # the least disturbed round: other jobs only add

    def _scaled(self, key: tuple[str, int, int]) -> float:
        """A layer's time at other widths from its nearest measured entry, in proportion to its multiply-adds
        (a depthwise layer's cost follows its channels alone)."""
        name, c_in, c_out = key
        measured = [e for e in self.entries if e[0] == name and e not in self.estimated] or \
            [e for e in self.entries if e[0] == name]
        _, m_in, m_out = min(measured, key=lambda e: abs(e[1] - c_in) + abs(e[2] - c_out))
        layer = self.model.get_submodule(name)
        depthwise = getattr(layer, "groups", 1) > 1 and layer.groups == layer.in_channels
        scale = c_out / m_out if depthwise else (c_in * c_out) / (m_in * m_out)
        return self.entries[(name, m_in, m_out)] * scale

    def volume(self, keep: Keep) -> float:
        """Elements per sample of every conv/linear layer's input at ``keep``: what the glue between layers
        (activations, adds, pooling, reorders) reads and writes."""
        total = 0.0
        for layer in self.space.layers:
            shape = self.shapes.get(layer.name, ())
            spatial = math.prod(shape[1:]) if len(shape) > 1 else 1
            total += layer.dims(self.space.groups, keep)[0] * spatial
        return total

    def layers_time(self, keep: Keep) -> float:
        """Sum of the layer entries of ``keep`` (measured first where missing)."""
        keys = self.keys(keep)
        self.fill(keys)
        return sum(self.entries[k] for k in keys)

    def calibrate(self, measured_full: float | None = None) -> None:
        """Fit the residual so the unpruned model's prediction equals its end-to-end time (measured here,
        fastest of ``repeats`` rounds, unless given)."""
        if measured_full is None:
            x = torch.randn(self.batch, *self.shapes.get("__input__", ()))
            fn = runner(self.model, x, self.backend)
            measured_full = compare_timings({"full": fn}, repeats=self.repeats, warmup=2)["full"].min
        self.residual = measured_full - self.layers_time(self.space.full)

    def predict(self, keep: Keep) -> float:
        """Predicted seconds per call of the model pruned to ``keep``: its layers' entries plus the residual in
        proportion to its activation volume."""
        full = self.volume(self.space.full)
        glue = self.residual * (self.volume(keep) / full if full > 0 else 1.0)
        return max(self.layers_time(keep) + glue, 1e-9)


def build_table(model: nn.Module, space: Space, example: torch.Tensor, backend: str, batch: int) -> LatencyTable:
    """An empty table for ``model`` (entries are measured when a prediction first needs them)."""
    return LatencyTable(copy.deepcopy(model), space, input_shapes(model, space, example), backend, batch)


def prediction_error(pairs: list[tuple[float, float]]) -> dict[str, float] | None:
    """Mean and worst relative error |predicted - measured| / measured over (predicted, measured) pairs."""
    errs = [abs(p - m) / m for p, m in pairs if m > 0]
    if not errs:
        return None
    return {"mean": sum(errs) / len(errs), "max": max(errs), "candidates": len(errs)}
