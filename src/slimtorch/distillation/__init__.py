"""Knowledge distillation: a student learns from a frozen teacher (soft targets, hints, attention).

Example:
    >>> import slimtorch as st
    >>> kd = st.Distill(teacher, temperature=4.0, alpha=0.9)                  # doctest: +SKIP
    >>> st.fit(student, train, st.TrainConfig(epochs=3), hooks=[kd])           # doctest: +SKIP

Label-free recovery of a pruned model (no labels: a tensor of inputs, images:DIR, text:FILE), keeping the
epoch of best validation fidelity to the original::

    >>> photos, _ = st.data.load("images:photos/")                            # doctest: +SKIP
    >>> small = st.distill(small, photos, st.Distill(original, alpha=1.0),    # doctest: +SKIP
    ...                    st.TrainConfig(epochs=10, lr=1e-3, optimizer="adam"))
    >>> st.distill_report(small)["kept_epoch"]                                 # doctest: +SKIP
"""

from .adapters import adapter_spec, build_adapter, make_adapter
from .cache import TeacherCache
from .config import DistillConfig
from .distiller import Distill, make_distill
from .features import FeatureTap, primary_tensor
from .losses import (
    attention_map,
    attention_transfer_loss,
    auto_output_loss,
    embedding_loss,
    hint_loss,
    kd_loss,
    soft_target_loss,
)
from .recovery import BestEpoch
from .report import distill_report
from .teacher import resolve_teacher

__all__ = [
    "BestEpoch",
    "Distill",
    "DistillConfig",
    "FeatureTap",
    "TeacherCache",
    "adapter_spec",
    "attention_map",
    "attention_transfer_loss",
    "auto_output_loss",
    "build_adapter",
    "distill_report",
    "embedding_loss",
    "hint_loss",
    "kd_loss",
    "make_adapter",
    "make_distill",
    "primary_tensor",
    "resolve_teacher",
    "soft_target_loss",
]
