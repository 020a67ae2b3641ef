"""N:M semi-structured sparsity: in every block of M consecutive input weights, N are kept."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, ConfigError, check_range
from ..registry import HandlerContext, handler, register
from .masks import Masks, prunable


@register("nm_prune", kind="prune")
@dataclass(frozen=True)
class NMPrune(Config):
    """Keep the ``n`` largest of every ``m`` consecutive weights along the input-channel dim (2:4 by default).

    Layers whose input size is not a multiple of ``m`` are left dense with a warning.
    """

    n: int = 2
    m: int = 4
    ignore: tuple[str, ...] = ()

    def validate(self) -> None:
        check_range("m", self.m, 1)
        check_range("n", self.n, 1)
        if self.n > self.m:
            raise ConfigError("n", f"got {self.n}; must be at most m={self.m}")


def blocks(w: torch.Tensor, m: int) -> torch.Tensor:
    """View a weight as (out, blocks, m), blocks running along input channels (conv: per kernel position)."""
    rows = w.movedim(1, -1).reshape(w.shape[0], -1) if w.dim() > 2 else w
    return rows.reshape(w.shape[0], -1, m)


def nm_mask(w: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep-mask of the ``n`` largest |w| in every block of ``m`` (same shape as ``w``)."""
    b = blocks(w.detach().abs(), m)
    keep = torch.zeros_like(b, dtype=torch.bool).scatter_(-1, b.topk(n, dim=-1).indices, True)
    if w.dim() > 2:
        shape = (w.shape[0], *w.shape[2:], w.shape[1])
        return keep.reshape(shape).movedim(-1, 1)
    return keep.reshape(w.shape)


@handler(NMPrune)
def _nm_prune(model: nn.Module, cfg: NMPrune, ctx: HandlerContext) -> nn.Module:
    masks = {}
    for name, p in prunable(model, cfg.ignore).items():
        if p.shape[1] % cfg.m:
            warnings.warn(
                f"layer {name!r}: input size {p.shape[1]} is not a multiple of m={cfg.m}; left dense",
                UserWarning,
                stacklevel=2,
            )
            continue
        masks[name] = nm_mask(p, cfg.n, cfg.m)
    Masks(masks).apply(model)
    return model
