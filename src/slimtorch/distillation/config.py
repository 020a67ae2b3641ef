"""DistillConfig: the recipe / CLI form of :class:`Distill`, registered as the ``distill`` hook."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, ConfigError, check_choice, check_range
from ..registry import HandlerContext, handler, register
from .distiller import FEATURE_LOSSES, OUTPUT_LOSSES, Distill
from .teacher import resolve_teacher


@register("distill", kind="hook")
@dataclass(frozen=True)
class DistillConfig(Config):
    """Distil from a teacher while training (a recipe stage or ``slimtorch train --teacher``).

    Example (recipe)::

        stages:
          - channel_prune: {ratio: 0.5}
          - distill: {teacher: baseline, temperature: 4.0, alpha: 0.9, epochs: 2}
    """

    teacher: str = "baseline"  # "baseline" | a folder written by st.save | a zoo name with weights
    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int | None = None  # epochs of the distillation stage; None: the recipe's train.epochs
    features: dict[str, str] | None = None  # {"student.layer": "teacher.layer"}
    feature_loss: str = "mse"  # "mse" (hints through adapters) | "attention"
    feature_weight: float = 1.0
    loss: str = "kd"  # "kd" | "mse" | "cosine" | "none"
    cache: bool = False  # cache teacher outputs per dataset row (fixed, unaugmented data only)

    @property
    def needs_baseline(self) -> bool:  # ``teacher: baseline`` is the run's reference model
        return self.teacher == "baseline"

    def preflight(self) -> None:
        """A named teacher (saved folder or zoo model) resolves before the run writes anything."""
        if self.teacher != "baseline":
            resolve_teacher(self.teacher)

    def validate(self) -> None:
        if not self.teacher:
            raise ConfigError("teacher", "must name 'baseline', a saved model folder or a zoo model")
        check_range("temperature", self.temperature, 0.0, lo_open=True)
        check_range("alpha", self.alpha, 0.0, 1.0)
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1)
        for key, value in (self.features or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ConfigError(
                    f"features.{key}", f"must map a student layer name to a teacher layer name, got {key!r}: {value!r}"
                )
        check_choice("feature_loss", self.feature_loss, FEATURE_LOSSES)
        check_range("feature_weight", self.feature_weight, 0.0)
        check_choice("loss", self.loss, OUTPUT_LOSSES)

    def build(self, baseline: nn.Module | None = None) -> Distill:
        """The :class:`Distill` hook this config describes (resolving the teacher name).

        Args:
            baseline: the trained model that ``teacher: baseline`` refers to (deep-copied).
        """
        teacher = resolve_teacher(self.teacher, baseline)
        return Distill(
            teacher,
            temperature=self.temperature,
            alpha=self.alpha,
            features=self.features,
            feature_loss=self.feature_loss,
            feature_weight=self.feature_weight,
            loss=self.loss,
            cache=self.cache,
        )


@handler(DistillConfig)
def make_distill(model: nn.Module | None, cfg: DistillConfig, ctx: HandlerContext) -> Distill:
    """Registry handler: ``make_distill(student, cfg, HandlerContext(baseline=trained_model))`` -> a Distill hook.

    The student is not needed to build the hook; ``ctx.baseline`` is what ``teacher: baseline`` refers to.
    """
    return cfg.build(baseline=ctx.baseline)
