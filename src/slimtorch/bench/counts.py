"""Size and work of a model: parameters, nonzeros, MACs (torch's FLOP counter), bytes on disk."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def module_tensor(module: nn.Module, attr: str) -> torch.Tensor | None:
    """``module.weight``/``.bias`` as a tensor: a parameter, a buffer, or the result of an accessor method
    (quantized modules expose ``weight()``); quantized tensors are dequantized so zeros stay zeros."""
    v = getattr(module, attr, None)
    if callable(v) and not isinstance(v, torch.Tensor):
        try:
            v = v()
        except Exception:  # an accessor that needs arguments or state we do not have: not a weight
            return None
    if not isinstance(v, torch.Tensor):
        return None
    return v.dequantize() if v.is_quantized else v


def weight_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Every parameter once, plus weights/biases held outside parameters (int8 buffers, packed kernels)."""
    seen: set[int] = set()
    out = []
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    for module in model.modules():
        # a module that stores its weights in its own layout (quantized models) lists them itself
        own = getattr(module, "weight_tensors", None)
        found = own() if callable(own) else [module_tensor(module, attr) for attr in ("weight", "bias")]
        for t in found:
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    return out


def count_params(model: nn.Module) -> int:
    """Number of weight elements: parameters (shared ones once) plus weights stored outside parameters,
    as quantized models do (int8 buffers or packed kernels)."""
    return sum(t.numel() for t in weight_tensors(model))


def count_nonzero(model: nn.Module) -> int:
    """Number of nonzero weight elements (what unstructured pruning reduces)."""
    return int(sum(int(torch.count_nonzero(t.detach())) for t in weight_tensors(model)))


def count_macs(model: nn.Module, example_inputs: Any) -> int:
    """Multiply-accumulates of one forward pass on ``example_inputs``, from torch's FLOP counter.

    torch counts a multiply-add as two FLOPs, so MACs = FLOPs / 2. Operations without a FLOP
    formula (activations, pooling, quantized kernels) are not counted.

    Args:
        model: the module.
        example_inputs: a tensor, a tuple of positional inputs or a dict of keyword inputs.

    Returns:
        MACs for that batch (scale with batch size).

    Example:
        >>> count_macs(nn.Linear(4, 3), torch.zeros(1, 4))
        12
    """
    kwargs = example_inputs if isinstance(example_inputs, dict) else {}
    args = () if kwargs else example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(*args, **kwargs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def saved_bytes(model: nn.Module) -> int:
    """Bytes that ``slimtorch.io.save`` writes for the model (weights + JSON), measured on disk.

    A model without a build spec (not from the zoo) is sized with its class path as the spec,
    which is what a user would pass to ``save(..., spec=...)``.
    """
    from .. import io

    spec = io.get_spec(model) or {"factory": f"{type(model).__module__}:{type(model).__qualname__}", "kwargs": {}}
    with tempfile.TemporaryDirectory(prefix="slimtorch-size-") as tmp:
        path = io.save(model, Path(tmp) / "m", spec=spec)
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
