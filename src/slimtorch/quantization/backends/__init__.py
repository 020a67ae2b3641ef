"""Engines that execute a QuantizedModel: ``make_engine(qmodel, name)`` returns a callable x -> y."""

from __future__ import annotations

from collections.abc import Callable

import torch


def make_engine(qm, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build the engine ``name`` for ``qm`` (one of "torch", "onnxruntime", "integer", "simulate").

    Raises:
        ValueError: unknown backend name.
    """
    if name == "integer":
        from .integer import make
    elif name == "torch":
        from .torch import make
    elif name == "onnxruntime":
        from .onnxruntime import make
    elif name == "simulate":
        return qm.simulate
    else:
        raise ValueError(f"backend {name!r} unknown; allowed: torch, onnxruntime, integer, simulate")
    return make(qm)
