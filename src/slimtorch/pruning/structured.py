"""Structural pruning: remove whole channels, neurons and heads so tensors get physically smaller."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ..config import Config, check_choice, check_range
from ..registry import HandlerContext, handler, register
from . import attention, layers  # noqa: F401  (register the built-in surgery entries)
from .graph import Graph, trace
from .importance import KINDS, taylor_grads, unit_scores
from .plan import apply_plan


class PruneWarning(UserWarning):
    """A part of the model was left unpruned (the message names the layer and the reason)."""


@register("channel_prune", kind="prune")
@dataclass(frozen=True)
class ChannelPrune(Config):
    """Remove a fraction of the channels of every dependency group.

    Args:
        ratio: fraction of each group's channels (neurons, heads) removed, in [0, 1).
        importance: "l1" | "l2" | "bn_scale" | "taylor" | "random".
        scope: "layer" (the ratio in every group) or "global" (one ranking over all groups,
            scores normalised by their group mean).
        round_to: keep a multiple of this many channels per group (SIMD-friendly widths).
        ignore: names or regexes of layers whose output size is kept.
        seed: for ``importance="random"``.
    """

    ratio: float = 0.5
    importance: str = "l2"
    scope: str = "layer"
    round_to: int | None = None
    ignore: tuple[str, ...] = ()
    seed: int = 0

    @property
    def needs_labels(self) -> bool:  # taylor scores are gradients of the loss on labelled batches
        return self.importance == "taylor"

    def validate(self) -> None:
        check_range("ratio", self.ratio, 0.0, 1.0, hi_open=True)
        check_choice("importance", self.importance, KINDS)
        check_choice("scope", self.scope, ("layer", "global"))
        if self.round_to is not None:
            check_range("round_to", self.round_to, 1)


def _kept(n: int, n_keep: int, round_to: int | None) -> int:
    if round_to:
        n_keep = min(n, max(round_to, int(round(n_keep / round_to)) * round_to))
    return max(1, min(n, n_keep))


def select(graph: Graph, scores: dict[int, float], units: dict[int, np.ndarray], cfg: ChannelPrune) -> set[int]:
    """Units to remove: per group (units that touch the same layers) or ranked globally."""
    groups: dict[tuple, list[int]] = {}
    for u, elems in units.items():
        groups.setdefault(tuple(np.unique(graph.space_of[elems])), []).append(u)
    removed: set[int] = set()
    if cfg.scope == "layer":
        for members in groups.values():
            n_keep = _kept(len(members), len(members) - math.floor(cfg.ratio * len(members)), cfg.round_to)
            removed.update(sorted(members, key=lambda u: scores[u])[: len(members) - n_keep])
        return removed
    ranked = []
    for members in groups.values():
        mean = float(np.mean([scores[u] for u in members])) or 1.0
        ranked += [(scores[u] / mean, u) for u in members]
    cut = {u for _, u in sorted(ranked)[: math.floor(cfg.ratio * len(ranked))]}
    for members in groups.values():
        n_keep = _kept(len(members), sum(u not in cut for u in members), cfg.round_to)
        removed.update(sorted(members, key=lambda u: scores[u])[: len(members) - n_keep])
    return removed


def plan_channels(
    model: nn.Module,
    cfg: ChannelPrune,
    example_inputs: Any,
    data: Iterable | None = None,
    loss_fn: Callable | None = None,
) -> dict[str, dict[str, list[int]]]:
    """Trace, score and select; return the plan ``{layer: {role: kept indices}}`` without changing the model.

    Raises:
        ValueError: no example inputs, or taylor importance without gradients or data.
    """
    if example_inputs is None:
        raise ValueError("ChannelPrune needs example_inputs=... (one batch) to trace the model's dependency graph")
    graph = trace(model, example_inputs, cfg.ignore)
    for msg in graph.warnings:
        warnings.warn(msg, PruneWarning, stacklevel=3)
    if cfg.importance == "taylor" and data is not None:
        taylor_grads(model, data, loss_fn)
    units = graph.units()
    removed = select(graph, unit_scores(model, graph, units, cfg.importance, cfg.seed), units, cfg)
    removed_arr = np.fromiter(removed, dtype=np.int64) if removed else np.zeros(0, dtype=np.int64)
    plan: dict[str, dict[str, list[int]]] = {}
    for name, roles in graph.slots.items():
        keep, changed = {}, False
        for role, lab in roles.items():
            gone = (lab >= 0) & np.isin(graph.root[np.maximum(lab, 0)], removed_arr)
            keep[role] = [int(i) for i in np.nonzero(~gone)[0]]
            changed = changed or bool(gone.any())
        if changed:
            plan[name] = keep
    return plan


@handler(ChannelPrune)
def _channel_prune(model: nn.Module, cfg: ChannelPrune, ctx: HandlerContext) -> nn.Module:
    plan = plan_channels(model, cfg, ctx.example_inputs, ctx.data, ctx.loss_fn)
    return apply_plan(model, plan, record=True)
