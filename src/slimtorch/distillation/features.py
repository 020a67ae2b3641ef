"""Capture intermediate activations of named submodules with forward hooks.

The student's modules can be swapped while training (QAT wraps layers in fake-quant modules), so the
capture re-resolves each name on every :meth:`FeatureTap.ensure` call and re-hooks a replaced module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def primary_tensor(output: Any) -> torch.Tensor:
    """The main tensor of a module output: the tensor itself, ``.logits`` / ``["logits"]``, or the first item."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, dict):
        if isinstance(output.get("logits"), torch.Tensor):
            return output["logits"]
        output = list(output.values())
    if isinstance(output, (list, tuple)) and output:
        return primary_tensor(output[0])
    raise TypeError(f"cannot find a tensor in a model output of type {type(output).__name__}")


class FeatureTap:
    """Forward hooks that store the latest output of each named submodule of one model.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> tap = FeatureTap(["1"])
        >>> tap.ensure(net); _ = net(torch.zeros(3, 4))
        >>> tap.values["1"].shape
        torch.Size([3, 8])
    """

    def __init__(self, names: list[str], role: str = "model"):
        self.names = list(names)
        self.role = role
        self.values: dict[str, torch.Tensor] = {}
        self._hooked: dict[str, tuple[nn.Module, Any]] = {}

    def ensure(self, model: nn.Module) -> None:
        """Hook every named module of ``model``; re-hook any that was replaced since the last call."""
        for name in self.names:
            module = self.module(model, name)
            current = self._hooked.get(name)
            if current is not None and current[0] is module:
                continue
            if current is not None:
                current[1].remove()
            self._hooked[name] = (module, module.register_forward_hook(self._make_hook(name)))

    def module(self, model: nn.Module, name: str) -> nn.Module:
        try:
            return model.get_submodule(name)
        except AttributeError:
            known = [n for n, _ in model.named_modules() if n]
            raise ValueError(
                f"features: {self.role} has no submodule {name!r}; some names it has: {', '.join(known[:12])}"
            ) from None

    def remove(self) -> None:
        """Remove all hooks and drop stored activations."""
        for _, handle in self._hooked.values():
            handle.remove()
        self._hooked.clear()
        self.values.clear()

    def _make_hook(self, name: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self.values[name] = primary_tensor(output)

        return hook
