"""Engines that execute a QuantizedModel: one table, ``ENGINES``, and ``make_engine(qmodel, name)``.

Every backend name used anywhere (``Int8(backend=...)``, ``QuantizedModel.set_backend``, the
``backend="auto"`` candidates) comes from this table. An engine module is imported only when its
engine is built, so onnxruntime loads only for models that run on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


def _integer(qm):
    from .integer import make

    return make(qm)


def _torch(qm):
    from .torch import make

    return make(qm)


def _onnxruntime(qm):
    from .onnxruntime import make

    return make(qm)


def _simulate(qm):
    return qm.simulate


@dataclass(frozen=True)
class Engine:
    """One way to run a QuantizedModel."""

    make: Callable  # qmodel -> callable x -> y
    summary: str
    selectable: bool = True  # may be named by ``Int8(backend=...)`` (else internal: tests, references)
    variants: tuple[str, ...] = ()  # kernel families ``backend="auto"`` times separately ("torch:onednn")
    fast: bool = False  # a candidate of ``backend="auto"``


ENGINES: dict[str, Engine] = {
    "torch": Engine(_torch, "torch's quantized kernels (oneDNN or x86/fbgemm), prepacked once", fast=True,
                    variants=("onednn", "x86")),
    "onnxruntime": Engine(_onnxruntime, "onnxruntime's int8 kernels on the model's QDQ graph", fast=True),
    "integer": Engine(_integer, "the integer-only reference engine (exact, slow)"),
    "simulate": Engine(_simulate, "float64 fake-quant simulation of the integer model", selectable=False),
}

BACKEND_CHOICES = ("auto", *(name for name, e in ENGINES.items() if e.selectable))  # Int8(backend=...)


def auto_candidates() -> tuple[str, ...]:
    """What ``backend="auto"`` times: "engine" or "engine:variant" for every fast engine."""
    out: list[str] = []
    for name, engine in ENGINES.items():
        if engine.fast:
            out += [f"{name}:{v}" for v in engine.variants] or [name]
    return tuple(out)


def make_engine(qm, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build the engine ``name`` (a key of :data:`ENGINES`) for ``qm``.

    Raises:
        ValueError: unknown backend name (the message lists the known ones).
    """
    if name not in ENGINES:
        raise ValueError(f"backend {name!r} unknown; allowed: {', '.join(ENGINES)}")
    return ENGINES[name].make(qm)
