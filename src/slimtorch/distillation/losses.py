"""Distillation losses as pure functions of tensors (no modules, no state).

The soft-target term follows Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural
Network": both logit vectors are softened by a temperature T and the student matches the teacher's
distribution. The KL divergence's gradient with respect to the student logits shrinks as 1/T², so the
term is multiplied by T² to keep its weight comparable when T changes (paper, §2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..bench.fidelity import kind_of
from ..devices import scalar_like


def _as_rows(logits: torch.Tensor) -> torch.Tensor:
    """(N, C) or (N, ..., C) -> (rows, C) so that sequence logits average per position."""
    return logits.reshape(-1, logits.shape[-1]).float()


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch.

    Args:
        student_logits: (N, C) or (N, ..., C) student logits (gradients flow into these).
        teacher_logits: same shape; treated as constants (detached here).
        temperature: T > 0; larger values soften both distributions.

    Returns:
        A scalar tensor.

    Example:
        >>> s, t = torch.zeros(2, 3), torch.zeros(2, 3)
        >>> float(soft_target_loss(s, t, 4.0))
        0.0
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} "
            "must have the same shape (same number of classes)"
        )
    s_rows = _as_rows(student_logits)
    t = scalar_like(float(temperature), s_rows)  # a tensor: a Python float traces as float64 on lazy backends
    log_p_s = F.log_softmax(s_rows / t, dim=-1)
    log_p_t = F.log_softmax(_as_rows(teacher_logits.detach()) / t, dim=-1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return kl * (t * t)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor | None,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """The full Hinton KD objective: alpha·T²·KL(p_t^T ‖ p_s^T) + (1 − alpha)·CE(student, targets).

    Args:
        student_logits: (N, C) student logits.
        teacher_logits: (N, C) teacher logits (constants).
        targets: (N,) class indices; may be None only when alpha == 1.
        temperature: softening temperature T > 0.
        alpha: weight of the soft-target term in [0, 1]; alpha=0 is plain cross-entropy.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: targets are None while alpha < 1.

    Example:
        >>> s, t, y = torch.randn(4, 10), torch.randn(4, 10), torch.tensor([0, 1, 2, 3])
        >>> loss = kd_loss(s, t, y, temperature=4.0, alpha=0.9)
    """
    soft = soft_target_loss(student_logits, teacher_logits, temperature) if alpha > 0 else student_logits.new_zeros(())
    if alpha >= 1:
        return soft
    if targets is None:
        raise ValueError(f"kd_loss: targets are needed for the hard-label term when alpha < 1 (alpha={alpha})")
    hard = F.cross_entropy(_as_rows(student_logits), targets.reshape(-1))
    return scalar_like(alpha, soft) * soft + scalar_like(1.0 - alpha, hard) * hard


def hint_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
    """FitNets hint loss: mean squared error between (adapted) student and teacher activations."""
    _check_same_shape("hint_loss", student_feature, teacher_feature)
    return F.mse_loss(student_feature.float(), teacher_feature.detach().float())


def attention_map(feature: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention of a (N, C, ...) activation: mean over channels of |a|^p, flattened, L2-normalised.

    Zagoruyko & Komodakis (2017), "Paying More Attention to Attention". The map does not depend on the
    number of channels, so a pruned (narrower) student needs no adapter.
    """
    if feature.dim() < 3:
        raise ValueError(f"attention_map needs a (N, C, ...) activation with spatial dims, got {tuple(feature.shape)}")
    return F.normalize(feature.float().abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_transfer_loss(
    student_feature: torch.Tensor, teacher_feature: torch.Tensor, p: float = 2.0
) -> torch.Tensor:
    """Squared L2 distance between normalised attention maps, averaged over the batch (in [0, 4]).

    This is the reference implementation's ``(at(s) - at(t)).pow(2).mean()`` multiplied by the number of
    spatial positions, so that a weight of about 1 (not 1000) is a sensible default.
    """
    if student_feature.shape[0] != teacher_feature.shape[0] or student_feature.shape[2:] != teacher_feature.shape[2:]:
        raise ValueError(
            f"attention transfer needs the same batch and spatial size; got student {tuple(student_feature.shape)} "
            f"and teacher {tuple(teacher_feature.shape)}"
        )
    diff = attention_map(student_feature, p) - attention_map(teacher_feature.detach(), p)
    return diff.pow(2).sum(dim=1).mean()


def embedding_loss(
    student_embedding: torch.Tensor, teacher_embedding: torch.Tensor, kind: str = "cosine"
) -> torch.Tensor:
    """Loss between embeddings of models without logits (e.g. sentence encoders).

    Args:
        student_embedding: (N, D) or (N, ..., D).
        teacher_embedding: same shape (use an adapter first if D differs).
        kind: "cosine" (mean of 1 − cos along the last dim) or "mse".

    Returns:
        A scalar tensor.
    """
    _check_same_shape("embedding_loss", student_embedding, teacher_embedding)
    s, t = student_embedding.float(), teacher_embedding.detach().float()
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(s, t, dim=-1)).mean()
    if kind == "mse":
        return F.mse_loss(s, t)
    raise ValueError(f"embedding_loss: kind {kind!r} unknown; allowed: 'cosine', 'mse'")


def auto_output_loss(teacher_outputs: torch.Tensor) -> str:
    """The output loss ``loss="auto"`` means: "cosine" for unit-norm embeddings (an encoder), else "kd" (logits).

    Example:
        >>> auto_output_loss(F.normalize(torch.randn(4, 8), dim=1)), auto_output_loss(torch.randn(4, 8))
        ('cosine', 'kd')
    """
    rows = teacher_outputs.detach().float().reshape(-1, teacher_outputs.shape[-1]).cpu()
    return "cosine" if kind_of(rows) == "encoder" else "kd"


def _check_same_shape(what: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{what}: student {tuple(a.shape)} and teacher {tuple(b.shape)} shapes differ; "
            "use an adapter (created automatically by Distill when only the width differs)"
        )


def masked_hint_loss(
    student_feature: torch.Tensor, teacher_feature: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Mean squared error over the positions where ``mask`` is True (all of them when None).

    Args:
        student_feature: (N, L, ...) activation (gradients flow into it).
        teacher_feature: same shape; a constant.
        mask: (N, L) bool, e.g. the real (non-padding) tokens of a batch; None: :func:`hint_loss`.

    Example:
        >>> s, t = torch.zeros(1, 2, 3), torch.ones(1, 2, 3)
        >>> s[0, 1] = 5.0  # a padding position: left out
        >>> float(masked_hint_loss(s, t, torch.tensor([[True, False]])))
        1.0
    """
    if mask is None:
        return hint_loss(student_feature, teacher_feature)
    _check_same_shape("masked_hint_loss", student_feature, teacher_feature)
    if tuple(mask.shape) != tuple(student_feature.shape[: mask.dim()]):
        raise ValueError(
            f"masked_hint_loss: mask {tuple(mask.shape)} does not match the leading dims of "
            f"{tuple(student_feature.shape)}"
        )
    s, t = student_feature.float()[mask], teacher_feature.detach().float()[mask]
    if len(s) == 0:  # a batch of padding only: nothing to match (a zero that keeps the graph)
        out = student_feature.float().sum()
        return out * scalar_like(0.0, out)
    return F.mse_loss(s, t)
