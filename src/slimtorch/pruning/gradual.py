"""Pruning during training, as hooks: the Zhu & Gupta cubic schedule and Han et al.'s prune-retrain rounds.

Both keep masked weights exactly zero through every optimizer step (gradients are masked after
backward; weights and optimizer moments are masked after the step) and leave plain modules with
zeros at ``finalize``. A hand-written loop calls the same methods as ``st.fit``::

    hook.on_fit_start(state)
    for batch in data:
        loss.backward(); hook.after_backward(state); opt.step(); hook.on_step_end(state)
        # ... at each epoch end: hook.on_epoch_end(state)
    hook.finalize(state)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..config import Config, ConfigError, check_choice, check_range
from ..hooks import Hook, State, hook_config
from ..registry import HandlerContext, handler, register
from .masks import Masks
from .schedules import cubic_sparsity, iterative_sparsity
from .unstructured import magnitude_masks


@dataclass(frozen=True)
class _MaskedBase(Config):
    final_sparsity: float = 0.9
    scope: str = "layer"
    importance: str = "l1"
    ignore: tuple[str, ...] = ()

    def validate(self) -> None:
        check_range("final_sparsity", self.final_sparsity, 0.0, 1.0, hi_open=True)
        check_choice("scope", self.scope, ("layer", "global"))
        check_choice("importance", self.importance, ("l1", "random"))


@register("gradual_prune", kind="hook")
@dataclass(frozen=True)
class GradualPruneConfig(_MaskedBase):
    """Cubic schedule: sparsity rises from ``initial_sparsity`` at ``start_step`` to ``final_sparsity`` at
    ``end_step``, updated every ``frequency`` steps."""

    start_step: int = 0
    end_step: int = 1000
    frequency: int = 100
    initial_sparsity: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_range("frequency", self.frequency, 1)
        check_range("initial_sparsity", self.initial_sparsity, 0.0, self.final_sparsity)
        if self.end_step <= self.start_step:
            raise ConfigError("end_step", f"got {self.end_step}; must be greater than start_step={self.start_step}")


@register("iterative_prune", kind="hook")
@dataclass(frozen=True)
class IterativePruneConfig(_MaskedBase):
    """``rounds`` prune-then-retrain rounds, one every ``epochs_per_round`` epochs; the first at fit start."""

    rounds: int = 3
    epochs_per_round: int = 1
    scope: str = "global"

    def validate(self) -> None:
        super().validate()
        check_range("rounds", self.rounds, 1)
        check_range("epochs_per_round", self.epochs_per_round, 1)


class _MaskedHook(Hook):
    cfg: _MaskedBase

    def __init__(self, cfg_cls: type, cfg: Config | None, kwargs: dict[str, Any]):
        self.cfg = hook_config(cfg_cls, cfg, kwargs)  # a config of another hook, or both, is a TypeError
        self.masks: Masks | None = None
        self.sparsity = 0.0
        self.model: nn.Module | None = None

    def _prune_to(self, model: nn.Module, target: float) -> None:
        if target > self.sparsity + 1e-12:
            c = self.cfg
            self.masks = magnitude_masks(model, target, c.scope, c.importance, c.ignore, current=self.masks)
            self.sparsity = target
        if self.masks is not None:
            self.masks.apply(model)

    def after_backward(self, state: State) -> None:
        if self.masks is not None:
            self.masks.zero_grads(state.model)

    def _keep(self, state: State) -> None:
        if self.masks is not None:
            self.masks.apply(state.model)
            self.masks.zero_state(state.model, state.optimizer)

    def finalize(self, state: State) -> None:
        if self.masks is not None:
            self.masks.apply(state.model)  # plain modules with zeros: nothing to strip

    def _base_state(self) -> dict[str, Any]:
        return {"sparsity": self.sparsity, "masks": self.masks.state_dict() if self.masks else {}}

    def _load_base(self, state: dict[str, Any]) -> None:
        self.sparsity = float(state.get("sparsity", 0.0))
        self.masks = Masks(dict(state["masks"])) if state.get("masks") else None


class GradualPrune(_MaskedHook):
    """Gradual magnitude pruning on the Zhu & Gupta cubic schedule (counted in optimizer steps).

    Example:
        >>> hook = GradualPrune(final_sparsity=0.9, start_step=0, end_step=2000, frequency=100)
        >>> st.fit(model, train, cfg, hooks=[hook])
    """

    def __init__(self, cfg: GradualPruneConfig | None = None, **kwargs: Any):
        super().__init__(GradualPruneConfig, cfg, kwargs)
        self.steps = 0

    def target(self, step: int) -> float:
        c = self.cfg
        return cubic_sparsity(step, c.final_sparsity, c.start_step, c.end_step, c.frequency, c.initial_sparsity)

    def on_fit_start(self, state: State) -> None:
        self._prune_to(state.model, self.target(self.steps))

    def on_step_end(self, state: State) -> None:
        self.steps += 1
        self._prune_to(state.model, self.target(self.steps))
        self._keep(state)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, **self._base_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))
        self._load_base(state)


class IterativePrune(_MaskedHook):
    """Han et al. (2015): prune, retrain, prune more. Round k reaches 1 - (1 - final)^(k / rounds).

    The first round prunes the model given at fit start (train it first), later rounds follow every
    ``epochs_per_round`` epochs; train ``rounds * epochs_per_round`` epochs in all.
    """

    def __init__(self, cfg: IterativePruneConfig | None = None, **kwargs: Any):
        super().__init__(IterativePruneConfig, cfg, kwargs)
        self.round = 0
        self.epochs = 0

    def _next_round(self, model: nn.Module) -> None:
        self.round += 1
        self._prune_to(model, iterative_sparsity(self.round, self.cfg.rounds, self.cfg.final_sparsity))

    def on_fit_start(self, state: State) -> None:
        if self.round == 0:
            self._next_round(state.model)

    def on_step_end(self, state: State) -> None:
        self._keep(state)

    def on_epoch_end(self, state: State) -> None:
        self.epochs += 1
        if self.epochs % self.cfg.epochs_per_round == 0 and self.round < self.cfg.rounds:
            self._next_round(state.model)
            self._keep(state)

    def state_dict(self) -> dict[str, Any]:
        return {"round": self.round, "epochs": self.epochs, **self._base_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round, self.epochs = int(state.get("round", 0)), int(state.get("epochs", 0))
        self._load_base(state)


@handler(GradualPruneConfig)
def _gradual(model: nn.Module, cfg: GradualPruneConfig, ctx: HandlerContext) -> GradualPrune:
    return GradualPrune(cfg)


@handler(IterativePruneConfig)
def _iterative(model: nn.Module, cfg: IterativePruneConfig, ctx: HandlerContext) -> IterativePrune:
    return IterativePrune(cfg)
