"""Knowledge distillation: a student learns from a frozen teacher (soft targets, hints, attention).

Example:
    >>> import slimtorch as st
    >>> kd = st.Distill(teacher, temperature=4.0, alpha=0.9)                  # doctest: +SKIP
    >>> st.fit(student, train, st.TrainConfig(epochs=3), hooks=[kd])           # doctest: +SKIP
"""

from .adapters import adapter_spec, build_adapter, make_adapter
from .cache import TeacherCache
from .config import DistillConfig
from .distiller import Distill, make_distill
from .features import FeatureTap, primary_tensor
from .losses import (
    attention_map,
    attention_transfer_loss,
    embedding_loss,
    hint_loss,
    kd_loss,
    soft_target_loss,
)
from .teacher import resolve_teacher

__all__ = [
    "Distill",
    "DistillConfig",
    "FeatureTap",
    "TeacherCache",
    "adapter_spec",
    "attention_map",
    "attention_transfer_loss",
    "build_adapter",
    "embedding_loss",
    "hint_loss",
    "kd_loss",
    "make_adapter",
    "make_distill",
    "primary_tensor",
    "resolve_teacher",
    "soft_target_loss",
]
