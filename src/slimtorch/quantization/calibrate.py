"""Calibration: run the float op list on sample batches and observe every quantization point."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .interp import flatten, maxpool, run_ops
from .observers import Observer, make_observer


def iter_batches(data: Any, batches: int, batch_size: int = 32) -> Iterator[torch.Tensor]:
    """Up to ``batches`` input tensors from a tensor, an ArrayDataset-like object (``.x``), an ``(x, y)`` pair of
    tensors, a DataLoader or any iterable of tensors / (x, y) pairs, on the CPU (where quantization calibrates).

    Raises:
        ValueError: no calibration data, an item that holds no tensor, or a float batch holding NaN or inf.
    """
    if data is None:
        raise ValueError("calib_data is required for static int8 quantization: pass a tensor, dataset or loader")
    if _xy_pair(data):  # (inputs, labels), not two batches: the labels would run through the model
        data = data[0]
    if isinstance(data, torch.Tensor) or hasattr(data, "x"):
        x = data if isinstance(data, torch.Tensor) else data.x
        for i in range(min(batches, -(-len(x) // batch_size))):
            yield _finite(x[i * batch_size:(i + 1) * batch_size].cpu(), "row", i * batch_size)
        return
    for i, item in enumerate(data if isinstance(data, Iterable) else []):
        if i >= batches:
            return
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"calib_data item {i} holds {type(x).__name__}, expected a tensor or (x, y)")
        yield _finite(x.cpu(), f"item {i}, row", 0)


def _xy_pair(data: Any) -> bool:
    """``(x, y)``: two tensors of as many rows, the second one value per row (labels); two input batches have
    the same per-row shape instead."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        return False
    x, y = data
    return x.dim() >= 2 and len(x) == len(y) and y.dim() <= 1 and x.shape[1:] != y.shape[1:]


def _finite(x: torch.Tensor, where: str, first_row: int) -> torch.Tensor:
    """``x``, unless a float ``x`` holds NaN or inf: its ranges would be NaN and every engine's zero point
    garbage (the model still came back)."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        row = first_row + int(torch.nonzero(~torch.isfinite(x.reshape(len(x), -1)).all(1))[0])
        raise ValueError(f"calib_data: {where} {row} holds NaN or inf; allowed: finite inputs")
    return x


def float_impl(model: nn.Module, post=None) -> dict:
    """Interpreter functions that run the float model's ops; ``post(op, y)`` sees each op output."""
    post = post or (lambda op, y: y)

    def layer(op, xs):
        m = model.get_submodule(op["module"])
        y = m(xs[0])
        if op["act"] == "relu":
            y = F.relu(y)
        elif op["act"] == "relu6":
            y = F.relu6(y)
        return post(op, y)

    def add(op, xs):
        y = xs[0] + xs[1]
        y = F.relu(y) if op["act"] == "relu" else F.relu6(y) if op["act"] == "relu6" else y
        return post(op, y)

    def shaped(op, xs):  # record the per-sample shape: ONNX graphs declare their input/output ranks and sizes
        shape, seen = list(xs[0].shape[1:]), op.get("shape")
        if seen is not None and len(seen) == len(shape):  # a size that varied between batches is dynamic (None)
            shape = [a if a == b else None for a, b in zip(seen, shape)]
        op["shape"] = shape
        return xs[0]

    return {
        "input": lambda op, xs: post(op, shaped(op, xs)),
        "output": shaped,
        "conv": layer, "linear": layer, "add": add,
        "relu": lambda op, xs: F.relu(xs[0]), "relu6": lambda op, xs: F.relu6(xs[0]),
        "maxpool": lambda op, xs: maxpool(op, xs[0]),
        "avgpool": lambda op, xs: F.avg_pool2d(xs[0], op["kernel"], op["stride"]),
        "adaptive_avgpool": lambda op, xs: F.adaptive_avg_pool2d(xs[0], op["output_size"]),
        "flatten": lambda op, xs: flatten(op, xs[0]),
    }


def calibrate(model: nn.Module, ops: list[dict], data: Any, batches: int, observer: str,
              percentile: float = 99.99) -> dict[str, Observer]:
    """Observe the output of every quantization point (input, conv, linear, add) on ``batches`` batches.

    Returns:
        {value name: observer}.

    Raises:
        ValueError: calib_data yields no batch.
    """
    return calibrate_many(model, ops, data, batches, (observer,), percentile)[observer]


def calibrate_many(model: nn.Module, ops: list[dict], data: Any, batches: int, observers: tuple[str, ...],
                   percentile: float = 99.99) -> dict[str, dict[str, Observer]]:
    """``calibrate`` with several observer kinds fed in one pass: {observer kind: {value name: observer}}."""
    obs: dict[str, dict[str, Observer]] = {name: {} for name in observers}

    def post(op, y):
        if op["op"] in ("input", "conv", "linear", "add"):
            for name in observers:
                obs[name].setdefault(op["out"], make_observer(name, None, percentile)).observe(y)
        return y

    impl = float_impl(model, post)
    n = 0
    with torch.no_grad():
        for x in iter_batches(data, batches):
            run_ops(ops, x, impl)
            n += 1
    if n == 0:
        raise ValueError("calib_data yielded no batch")
    return obs
