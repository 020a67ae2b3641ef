"""Gradient clipping by global norm, by value, and adaptively relative to each parameter's norm."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm of all gradients, as a tensor (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def clip_adaptive_(params: Iterable[torch.Tensor], ratio: float, eps: float = 1e-3) -> None:
    """Adaptive gradient clipping (Brock et al. 2021, per tensor): scale each gradient so that
    ``||g|| <= ratio * max(||w||, eps)``; small weights are protected by ``eps``."""
    params = [p for p in params if p.grad is not None]
    if not params:
        return
    w_norms = torch._foreach_norm([p.detach() for p in params])
    g_norms = torch._foreach_norm([p.grad for p in params])
    for p, wn, gn in zip(params, w_norms, g_norms):
        max_norm = ratio * wn.clamp(min=eps)
        p.grad.mul_(torch.clamp(max_norm / gn.clamp(min=1e-6), max=1.0))


def clip_gradients(params: list[torch.Tensor], clip_norm: float | None = None, clip_value: float | None = None,
                   clip_adaptive: float | None = None) -> torch.Tensor:
    """Clip gradients in place and return the global gradient norm measured *before* clipping.

    Order: adaptive (per tensor), then by value, then by global norm, so the final global norm is
    always ``<= clip_norm``.

    Args:
        params: the parameters whose ``.grad`` to clip.
        clip_norm: bound on the global L2 norm (``torch.nn.utils.clip_grad_norm_``).
        clip_value: bound on each gradient element's magnitude.
        clip_adaptive: bound on ``||grad|| / max(||param||, 1e-3)`` per tensor.

    Returns:
        The pre-clip global gradient norm (a 0-dim tensor, no host sync).

    Example:
        >>> norm = clip_gradients(list(model.parameters()), clip_norm=1.0)  # doctest: +SKIP
    """
    if clip_adaptive is None and clip_value is None and clip_norm is not None:
        return torch.nn.utils.clip_grad_norm_(params, clip_norm)  # returns the pre-clip norm: one pass, not two
    pre = grad_norm(params)
    if clip_adaptive is not None:
        clip_adaptive_(params, clip_adaptive)
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
    return pre
