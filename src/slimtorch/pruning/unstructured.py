"""Unstructured magnitude pruning: zero the smallest weights, per layer or over the whole model."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, check_choice, check_range
from ..registry import HandlerContext, handler, register
from .masks import Masks, prunable


@register("magnitude_prune", kind="prune")
@dataclass(frozen=True)
class MagnitudePrune(Config):
    """Zero the fraction ``sparsity`` of conv/linear weights with the smallest magnitude.

    Args:
        sparsity: fraction of weights set to zero, in [0, 1).
        scope: "layer" (every layer gets ``sparsity``) or "global" (one threshold over all layers).
        importance: "l1" (|w|) or "random" (a baseline).
        ignore: names or regexes of layers left dense.
        seed: for ``importance="random"``.
    """

    sparsity: float = 0.5
    scope: str = "layer"
    importance: str = "l1"
    ignore: tuple[str, ...] = ()
    seed: int = 0

    def validate(self) -> None:
        check_range("sparsity", self.sparsity, 0.0, 1.0, hi_open=True)
        check_choice("scope", self.scope, ("layer", "global"))
        check_choice("importance", self.importance, ("l1", "random"))


def _scores(params: dict[str, nn.Parameter], importance: str, seed: int, current: Masks | None) -> dict:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, p in params.items():
        s = p.detach().abs().float().cpu() if importance == "l1" else torch.rand(p.shape, generator=gen)
        if current is not None and name in current.masks:
            s = torch.where(current.masks[name].cpu(), s, torch.full_like(s, -1.0))  # pruned stays pruned
        out[name] = s
    return out


def _lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep-mask with exactly the ``k`` lowest scores removed (ties broken by position)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if k > 0:
        keep[torch.topk(scores.reshape(-1), k, largest=False, sorted=False).indices] = False
    return keep.view(scores.shape)


def magnitude_masks(
    model: nn.Module,
    sparsity: float,
    scope: str = "layer",
    importance: str = "l1",
    ignore: Iterable[str] = (),
    seed: int = 0,
    current: Masks | None = None,
) -> Masks:
    """Masks that remove ``sparsity`` of the prunable weights (masked weights of ``current`` first)."""
    params = prunable(model, ignore)
    scores = _scores(params, importance, seed, current)
    if scope == "layer":
        return Masks({n: _lowest(s, math.floor(sparsity * s.numel())).to(params[n].device) for n, s in scores.items()})
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    keep = _lowest(flat, math.floor(sparsity * flat.numel()))
    masks, i = {}, 0
    for n, s in scores.items():
        masks[n] = keep[i : i + s.numel()].view(s.shape).to(params[n].device)
        i += s.numel()
    return Masks(masks)


@handler(MagnitudePrune)
def _magnitude_prune(model: nn.Module, cfg: MagnitudePrune, ctx: HandlerContext) -> nn.Module:
    magnitude_masks(model, cfg.sparsity, cfg.scope, cfg.importance, cfg.ignore, cfg.seed).apply(model)
    return model
