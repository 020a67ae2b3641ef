"""Train the distillation adapters with a copy of the student's optimizer, stepped from ``after_backward``.

Why not put the adapters in the trainer's optimizer: ``st.fit`` builds its optimizer after
``on_fit_start`` from the student's parameters, while adapter shapes are only known at the first
step; a param group added then would make a resumed run's ``optimizer.load_state_dict`` see a
different number of groups. Attaching the adapters to the student instead would put them in the
student's state_dict and expose them to other hooks (QAT would fake-quantize them, pruning would
prune them). So the hook owns a second optimizer of the same class and hyper-parameters, follows the
student's learning rate (and so its schedule) at every step, and checkpoints it in ``state_dict``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn


class AdapterOptimizer:
    """One param group per adapter (in creation order), same optimizer class as the student's."""

    def __init__(self) -> None:
        self.optimizer: torch.optim.Optimizer | None = None
        self._keys: list[str] = []
        self._pending: dict[str, Any] | None = None
        self._warned = False

    def step(self, adapters: nn.ModuleDict, like: torch.optim.Optimizer | None) -> None:
        """Apply one update to every adapter that has parameters, then clear their gradients.

        Args:
            adapters: the hook's adapters.
            like: the student's optimizer: its class, defaults and current learning rate are copied.
        """
        keys = [k for k, m in adapters.items() if any(True for _ in m.parameters())]
        if not keys:
            return
        if like is None:
            if not self._warned:
                warnings.warn(
                    "Distill: state.optimizer is None at after_backward, so the feature adapters are not "
                    "trained; put the student's optimizer in state.optimizer",
                    stacklevel=3,
                )
                self._warned = True
            return
        for key in keys:
            if key not in self._keys:
                self._add(key, list(adapters[key].parameters()), like)
        if self._pending is not None and len(self._pending.get("param_groups", [])) == len(self._keys):
            self.optimizer.load_state_dict(self._pending)  # restored from a checkpoint
            self._pending = None
        lr = like.param_groups[0]["lr"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        if self.optimizer is None:
            return dict(self._pending or {})
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Keep the saved state until the same adapters have joined the optimizer again."""
        self._pending = dict(state) if state else None

    def _add(self, key: str, params: list[nn.Parameter], like: torch.optim.Optimizer) -> None:
        if self.optimizer is None:
            try:
                self.optimizer = type(like)([{"params": params}], **like.defaults)
            except TypeError:  # an optimizer whose defaults are not constructor arguments
                self.optimizer = torch.optim.SGD([{"params": params}], lr=like.param_groups[0]["lr"])
        else:
            self.optimizer.add_param_group({"params": params})
        self._keys.append(key)
