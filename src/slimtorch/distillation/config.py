"""DistillConfig: the settings of a :class:`~slimtorch.distillation.Distill` hook, registered as ``distill``.

The hook and its registry handler live in distiller.py, which imports this file (never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config, ConfigError, check_choice, check_range
from ..registry import register
from .hints import HINTS
from .teacher import check_feature_layers, check_teacher_fits, resolve_teacher

OUTPUT_LOSSES = ("auto", "kd", "mse", "cosine", "none")
# alpha="auto": the (alpha, temperature) pairs st.distill tries on labelled data, beside the student alone
AUTO_GRID = ((0.5, 1.0), (0.5, 4.0), (0.9, 1.0), (0.9, 4.0))
FEATURE_LOSSES = ("mse", "attention")


@register("distill", kind="hook")
@dataclass(frozen=True)
class DistillConfig(Config):
    """Distil from a teacher while training: the settings of ``Distill``, a recipe stage, ``slimtorch train --teacher``.

    Args:
        teacher: where a recipe or the CLI finds the teacher: "baseline" (the run's trained model), a
            folder written by st.save, or a zoo name with weights. ``Distill(module, cfg)`` uses the module.
        temperature: softening temperature T of the soft-target term.
        alpha: weight of the teacher's term; the task (hard-label) loss gets 1 - alpha. "auto": on labelled
            data the (alpha, temperature) pairs of AUTO_GRID and the student alone are compared on the
            validation split and the most accurate kept; without labels, 1.
        epochs: epochs of a recipe's distillation stage (default: the recipe's train.epochs).
        features: {"student.layer": "teacher.layer"} pairs for hint losses (module names as in
            named_modules()); an adapter maps the student width to the teacher's when they differ.
        feature_loss: "mse" (FitNets hints, through an adapter) or "attention" (attention transfer, no adapter).
        feature_weight: weight of each feature term.
        hints: hidden-state hints of a transformer encoder, added to ``features``: "blocks" (every BERT-style
            block's output, student and teacher layers of the same name: TinyBERT's hidden-state loss) or
            "sublayers" (also each block's attention sub-layer output); None: only ``features``. Needs
            ``feature_loss="mse"``.
        mask_padding: "mse" hints on token sequences average over the real tokens only (inputs that are
            padded token ids of a model that names its pad id); False: every position, padding included.
        loss: output term: "auto" (the default: "cosine" when the teacher's outputs are unit-norm embeddings,
            else "kd"), "kd" (soft targets on logits), "mse" or "cosine" (embeddings, no logits), or "none".
        cache: keep the teacher's outputs per dataset row so later epochs skip the teacher; only for
            fixed, unaugmented data (a changed input raises).
        val_fraction: the share of the rows held out (seeded by the training seed) to choose the best epoch
            (no labels) or to compare with the student trained alone (labels).
        skip_rows: ``st.distill`` leaves out the data's first rows (0: none): in a recipe, the rows a
            ``channel_prune`` reconstruction just solved on (its first 512 calibration rows), where the student
            already follows the teacher better than on new inputs, so training and choosing the epoch there
            learns little and misjudges the epoch.
        patience: without labels, stop after this many epochs without a better validation fidelity (None:
            train every epoch); the best epoch is kept either way.
        compare: with labels, also train the student alone (alpha=0) and keep whichever is more accurate on
            the validation split, warning when distillation was worse.

    alpha "auto", val_fraction, skip_rows, patience and compare are read by ``st.distill`` (and so by a recipe's distill
    stage and ``slimtorch train --teacher``); a bare hook in ``st.fit`` trains once and refuses "auto".

    Example (recipe)::

        stages:
          - channel_prune: {ratio: 0.5}
          - distill: {teacher: baseline, temperature: 4.0, alpha: 0.9, epochs: 2}
    """

    teacher: str = "baseline"
    temperature: float = 4.0
    alpha: Any = 0.9  # a number in [0, 1] or "auto" (Any: the command line parses it as a number)
    epochs: int | None = None
    features: dict[str, str] | None = None
    feature_loss: str = "mse"
    feature_weight: float = 1.0
    hints: str | None = None
    mask_padding: bool = True
    loss: str = "auto"
    cache: bool = False
    val_fraction: float = 0.1
    skip_rows: int = 0
    patience: int | None = 2
    compare: bool = True

    @property
    def needs_baseline(self) -> bool:  # ``teacher: baseline`` is the run's reference model
        return self.teacher == "baseline"

    @property
    def label_free(self) -> bool:  # alpha 1: only the teacher's outputs train the student, labels are never read
        return self.alpha == 1 or self.alpha == "auto"

    def preflight(self) -> None:
        """A named teacher (saved folder or zoo model) resolves before the run writes anything."""
        if self.teacher != "baseline":
            resolve_teacher(self.teacher)

    def preflight_fit(self, model: Any, inputs: Any) -> None:
        """A named teacher takes the run's inputs and (for an output loss) gives outputs of the student's shape;
        ``features`` names layers of the student and the teacher (the baseline: the run's model)."""
        teacher = model if self.teacher == "baseline" else resolve_teacher(self.teacher)
        if teacher is not model:
            check_teacher_fits(teacher, model, inputs, self.loss)
        check_feature_layers(self.features, model, teacher)

    def validate(self) -> None:
        if not self.teacher:
            raise ConfigError("teacher", "must name 'baseline', a saved model folder or a zoo model")
        check_range("temperature", self.temperature, 0.0, lo_open=True)
        if isinstance(self.alpha, str):
            if self.alpha != "auto":
                raise ConfigError("alpha", f"got {self.alpha!r}; allowed: a number in [0, 1] or 'auto'")
        else:
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
        if self.hints is not None:
            check_choice("hints", self.hints, HINTS)
            if self.feature_loss != "mse":
                raise ConfigError("feature_loss", f"hints compare hidden states with 'mse', got {self.feature_loss!r}")
        check_choice("loss", self.loss, OUTPUT_LOSSES)
        check_range("val_fraction", self.val_fraction, 0.0, 0.5, lo_open=True)
        if isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, int):
            raise ConfigError("skip_rows", f"must be a whole number of rows, got {self.skip_rows!r}")
        check_range("skip_rows", self.skip_rows, 0)
        if self.patience is not None:
            check_range("patience", self.patience, 1)
