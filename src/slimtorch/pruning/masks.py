"""Weight masks for unstructured sparsity, kept exactly zero through optimizer steps.

Masks live beside the model (no ``weight_orig``/``weight_mask`` parametrizations): the model
always holds plain tensors with zeros, so it saves, measures and exports as is.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..hooks import Hook, State
from ..layers import prunable  # re-exported: slimtorch.pruning.masks.prunable keeps working


class Masks:
    """Boolean keep-masks by parameter name; ``apply`` zeros, ``zero_grads``/``zero_state`` keep zeros zero."""

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = masks

    @classmethod
    def from_zeros(cls, model: nn.Module, ignore: Iterable[str] = ()) -> Masks:
        """Masks that keep the currently nonzero weights (what one-shot pruning left)."""
        return cls({n: p.detach() != 0 for n, p in prunable(model, ignore).items()})

    def _params(self, model: nn.Module):
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            yield params[name], mask

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        for p, mask in self._params(model):
            p.mul_(mask.to(p.device, p.dtype))

    @torch.no_grad()
    def zero_grads(self, model: nn.Module) -> None:
        for p, mask in self._params(model):
            if p.grad is not None:
                p.grad.mul_(mask.to(p.grad.device, p.grad.dtype))

    @torch.no_grad()
    def zero_state(self, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
        """Zero momentum / Adam moments of masked weights so a later step cannot revive them."""
        if optimizer is None:
            return
        for p, mask in self._params(model):
            for value in optimizer.state.get(p, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    value.mul_(mask.to(value.device, value.dtype))

    def sparsity(self) -> float:
        total = sum(m.numel() for m in self.masks.values())
        return 1.0 - sum(int(m.sum()) for m in self.masks.values()) / total if total else 0.0

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.masks.items()}


class KeepMasks(Hook):
    """Keep the zeros of a pruned model zero while it is fine-tuned (SGD momentum, Adam, weight decay).

    The masks are taken from the model's zeros at ``on_fit_start`` unless given.
    """

    def __init__(self, masks: Masks | None = None, ignore: Iterable[str] = ()):
        self.masks, self.ignore = masks, tuple(ignore)

    def on_fit_start(self, state: State) -> None:
        if self.masks is None:
            self.masks = Masks.from_zeros(state.model, self.ignore)

    def after_backward(self, state: State) -> None:
        self.masks.zero_grads(state.model)

    def on_step_end(self, state: State) -> None:
        self.masks.apply(state.model)
        self.masks.zero_state(state.model, state.optimizer)

    def finalize(self, state: State) -> None:
        self.masks.apply(state.model)

    def state_dict(self) -> dict:
        return {"masks": self.masks.state_dict() if self.masks else {}}

    def load_state_dict(self, state: dict) -> None:
        if state.get("masks"):
            self.masks = Masks(dict(state["masks"]))
