"""A tiny interpreter over the op list: each engine supplies one function per op kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

Impl = dict[str, Callable[[dict, list[Any]], Any]]


def run_ops(ops: list[dict], x: Any, impl: Impl) -> Any:
    """Run ``ops`` on input ``x``; ``impl[op_kind](op, inputs)`` computes one op's output."""
    env: dict[str, Any] = {}
    for op in ops:
        kind = op["op"]
        if kind == "input":
            env[op["out"]] = impl["input"](op, [x])
        elif kind == "output":
            return impl["output"](op, [env[v] for v in op["in"]])
        else:
            env[op["out"]] = impl[kind](op, [env[v] for v in op["in"]])
    raise ValueError("op list has no output")


def maxpool(op: dict, x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, op["kernel"], op["stride"], op["padding"], op["dilation"], op["ceil_mode"])


def flatten(op: dict, x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x, op["start_dim"], op["end_dim"])


def pool_windows(op: dict, shape: torch.Size) -> tuple[list[int], list[int]]:
    """(kernel, stride) of an avg / adaptive avg pool on an input of ``shape`` (N, C, H, W).

    Raises:
        ValueError: an adaptive pool whose output size does not divide the input size.
    """
    if op["op"] == "avgpool":
        return op["kernel"], op["stride"]
    h, w = shape[-2:]
    oh, ow = (o if o is not None else s for o, s in zip(op["output_size"], (h, w)))
    if h % oh or w % ow:
        raise ValueError(f"adaptive avg pool {op['name']!r}: input {h}x{w} is not a multiple of output {oh}x{ow}")
    return [h // oh, w // ow], [h // oh, w // ow]


def window_sum(x: torch.Tensor, kernel: list[int], stride: list[int]) -> torch.Tensor:
    """Sum over pooling windows, exact for integer tensors (no float)."""
    return x.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1]).sum((-1, -2))
