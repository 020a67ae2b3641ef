"""The Hook protocol: how compression, distillation and logging plug into any training loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch


@dataclass
class State:
    """What the trainer shares with hooks at each call; hooks may read every field."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None = None
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    inputs: Any = None
    targets: Any = None
    indices: torch.Tensor | None = None  # dataset rows of the current batch (lets hooks cache per-sample data)
    outputs: Any = None
    loss: torch.Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class Hook:
    """Base hook with no-op defaults. The trainer calls these in this order:

    on_fit_start (before the optimizer exists: ``state.optimizer`` is None there and the hook may
    change the model's structure; ``state.optimizer`` is set from on_step_start on)
    -> per step: on_step_start, extra_loss (added to the loss), after_backward
    (before the optimizer step), on_step_end (after it) -> on_epoch_end -> finalize.
    A hand-written loop calls the same methods at the same points.

    ``task_loss_weight`` scales the task loss (e.g. 1 - alpha for distillation); the trainer
    minimises  prod(task_loss_weight) * task_loss + sum(extra_loss).
    """

    task_loss_weight: float = 1.0
    stop_training: bool = False  # set in on_epoch_end to end training after this epoch (st.fit checks it)

    def on_fit_start(self, state: State) -> None: ...

    def on_step_start(self, state: State) -> None: ...

    def extra_loss(self, state: State) -> torch.Tensor | None:
        return None

    def after_backward(self, state: State) -> None: ...

    def on_step_end(self, state: State) -> None: ...

    def on_epoch_end(self, state: State) -> None: ...

    def finalize(self, state: State) -> torch.nn.Module | None:
        """Return a replacement model (e.g. a converted quantized one), or None to keep it."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


C = TypeVar("C")


def hook_config(cls: type[C], cfg: Any, fields: dict[str, Any]) -> C:
    """A hook's settings: its config ``cfg`` as given, or ``cls(**fields)`` built (and checked) once.

    Args:
        cls: the hook's config class (e.g. ``DistillConfig``).
        cfg: an instance of ``cls`` or None.
        fields: the settings by name (used when ``cfg`` is None).

    Returns:
        The config.

    Raises:
        TypeError: ``cfg`` of another class, or both ``cfg`` and fields.

    Example:
        >>> self.cfg = hook_config(DistillConfig, cfg, fields)  # doctest: +SKIP
    """
    if cfg is not None and not isinstance(cfg, cls):
        raise TypeError(f"cfg must be a {cls.__name__}, got {type(cfg).__name__} {cfg!r}; "
                        "or give the settings by name")
    if cfg is not None and fields:
        raise TypeError(f"give a {cls.__name__} or settings by name, not both (got {', '.join(fields)})")
    return cfg if cfg is not None else cls(**fields)
