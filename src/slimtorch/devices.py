"""Where a model lives, and moving models and data there on purpose at every stage boundary.

The rule each verb follows (so a model trained on a GPU flows through the CPU-only int8 engines):

| step                         | runs on                 | what moves                                        |
| ---------------------------- | ----------------------- | ------------------------------------------------- |
| ``st.fit``                   | ``TrainConfig.device``  | the model, then every batch                       |
| ``st.prune`` (trace, verify) | the model's device      | example inputs and labelled batches, to the model |
| ``st.quantize`` (calibrate)  | the CPU (int8 kernels)  | a CPU copy of the model; calibration batches      |
| ``st.measure``, export       | the CPU (deployment)    | a CPU copy of the model; inputs                   |

Moving a model to the CPU for quantizing or measuring never moves the caller's model: it gets a copy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

CPU = torch.device("cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (else first buffer; the CPU for a model with neither)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return CPU


def to_device(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with every tensor in it (inside tuples, lists and dicts too) on ``device``; other values as they are."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def scalar_like(value: float, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a 0-dim tensor of ``like``'s dtype and device, to scale a loss by.

    ``loss * 0.5`` is the same number, but backends that trace a Python scalar as a float64 constant
    (torch's lazy-tensor backend) then make float64 gradient products, and the gradient norm fails
    ("expected scalar type Double but found Float").

    Example:
        >>> scalar_like(0.5, torch.ones(2)).dtype
        torch.float32
    """
    return torch.full((), value, dtype=like.dtype, device=like.device)


def on_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself when it is on the CPU, else a CPU copy (the caller's model stays where it is)."""
    if device_of(model).type == "cpu":
        return model
    return copy.deepcopy(model).cpu()


class MovedBatches:
    """An iterable of batches (re-iterable when the source is) whose tensors arrive on ``device``."""

    def __init__(self, batches: Iterable[Any], device: torch.device):
        self.batches, self.device = batches, device

    def __iter__(self) -> Iterator[Any]:
        return (to_device(b, self.device) for b in self.batches)
