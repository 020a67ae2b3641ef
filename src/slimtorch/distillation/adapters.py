"""Learned adapters that map a student activation to the teacher's width (FitNets' "regressor").

A structurally pruned student has fewer channels than its teacher at the same layer, so a feature
loss needs a map from C_student to C_teacher channels: a 1x1 convolution for conv activations, a
linear layer for vectors and token sequences. Only the width may differ; batch, spatial and sequence
sizes must match. An adapter is described by a small JSON-able spec so that a checkpoint can rebuild it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def adapter_spec(
    student_shape: tuple[int, ...],
    teacher_shape: tuple[int, ...],
    layer: nn.Module | None = None,
    name: str = "feature",
) -> dict[str, Any]:
    """Describe the adapter mapping a student activation to the teacher's shape.

    Args:
        student_shape: shape of the student activation, batch dimension included.
        teacher_shape: shape of the teacher activation, batch dimension included.
        layer: the student module that produced it (a Conv1d output (N, C, L) maps channels on dim 1;
            other 3-D outputs are taken as (N, L, D) token sequences and map the last dim).
        name: used in error messages.

    Returns:
        ``{"kind": "identity" | "conv2d" | "conv1d" | "linear", "in": int, "out": int}``.

    Raises:
        ValueError: the shapes differ in more than the width, or have an unsupported rank.
    """
    s, t = tuple(student_shape), tuple(teacher_shape)
    if s == t:
        return {"kind": "identity", "in": 0, "out": 0}
    if len(s) != len(t) or len(s) < 2 or len(s) > 4:
        raise ValueError(
            f"feature {name!r}: cannot adapt student shape {s} to teacher shape {t} (rank must be 2-4 and equal)"
        )
    if len(s) == 4:
        kind, dim = "conv2d", 1
    elif len(s) == 3 and isinstance(layer, (nn.Conv1d, nn.BatchNorm1d)):
        kind, dim = "conv1d", 1
    else:
        kind, dim = "linear", len(s) - 1
    others_s = s[:dim] + s[dim + 1 :]
    others_t = t[:dim] + t[dim + 1 :]
    if others_s != others_t:
        raise ValueError(
            f"feature {name!r}: student {s} and teacher {t} differ outside the width (dim {dim}); only the "
            "number of channels/features may differ. Pick layers with the same spatial/sequence size."
        )
    return {"kind": kind, "in": int(s[dim]), "out": int(t[dim])}


def build_adapter(spec: dict[str, Any]) -> nn.Module:
    """Build the module described by :func:`adapter_spec` (identity, 1x1 conv or linear)."""
    kind, c_in, c_out = spec["kind"], spec.get("in", 0), spec.get("out", 0)
    if kind == "identity":
        return nn.Identity()
    if kind == "conv2d":
        return nn.Conv2d(c_in, c_out, kernel_size=1)
    if kind == "conv1d":
        return nn.Conv1d(c_in, c_out, kernel_size=1)
    if kind == "linear":
        return nn.Linear(c_in, c_out)
    raise ValueError(f"adapter kind {kind!r} unknown; allowed: identity, conv2d, conv1d, linear")


def make_adapter(
    student_feature: torch.Tensor, teacher_feature: torch.Tensor, layer: nn.Module | None = None
) -> nn.Module:
    """An adapter for these two activations, on the student activation's device and dtype.

    Example:
        >>> a = make_adapter(torch.zeros(2, 8, 5, 5), torch.zeros(2, 16, 5, 5))
        >>> a(torch.zeros(2, 8, 5, 5)).shape
        torch.Size([2, 16, 5, 5])
    """
    spec = adapter_spec(tuple(student_feature.shape), tuple(teacher_feature.shape), layer)
    return build_adapter(spec).to(device=student_feature.device, dtype=torch.float32)
