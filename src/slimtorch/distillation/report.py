"""The report ``st.distill`` stores on the model it returns: what it kept and why."""

from __future__ import annotations

from typing import Any

from torch import nn

ATTR = "_slimtorch_distill_report"


def attach(model: nn.Module, report: dict[str, Any]) -> None:
    """Store ``report`` on the model (read back with :func:`distill_report`)."""
    object.__setattr__(model, ATTR, report)


def distill_report(model: nn.Module) -> dict[str, Any]:
    """What ``st.distill`` did to ``model``.

    Without labels: ``{"mode": "label_free", "kind", "loss", "kept_epoch", "stopped_early", "val_rows",
    "train_rows", "val_fidelity": [{"epoch": 0, "agreement_top1", "kl", ...}, ...]}`` (epoch 0 is the model as
    given; encoders have ``cosine_mean``, ``cosine_min``, ``nn_agreement``). With labels: ``{"mode": "compare",
    "choice": "distill" | "alone", "val_accuracy": {"alone", "distill"}, ...}``.

    Raises:
        ValueError: ``model`` did not come from ``st.distill``.

    Example:
        >>> st.distillation.distill_report(student)["kept_epoch"]  # doctest: +SKIP
        3
    """
    report = getattr(model, ATTR, None)
    if report is None:
        raise ValueError("this model has no distillation report; it did not come from st.distill")
    return report
