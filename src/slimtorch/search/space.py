"""The search space: one kept-channel count per prune group, expressed as verified ChannelPrune stages.

A *group* is a set of coupled channels that must be removed together (a conv and its BN, or every
conv that feeds one residual sum). A candidate is a tuple of kept counts, one per group. It is
applied with ordinary ``ChannelPrune`` configs - one per distinct ratio, the other groups' layers in
``ignore`` - so the recipe that reproduces a candidate is a list of plain ``channel_prune`` stages and
every cut is verified against the masked original like any other prune.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..pruning import ChannelPrune
from ..pruning.channels import groups_of
from ..registry import HandlerContext, get_handler

Keep = tuple[int, ...]


@dataclass(frozen=True)
class Group:
    """One prune group: the layers whose outputs hold its channels, and how many channels it has."""

    layers: tuple[str, ...]
    size: int

    @property
    def name(self) -> str:
        return self.layers[0] + (f" (+{len(self.layers) - 1})" if len(self.layers) > 1 else "")


@dataclass(frozen=True)
class Layer:
    """A conv/linear layer and where its input and output channels come from.

    ``fixed_in``/``fixed_out`` positions never change; ``per_group_in[g]`` positions belong to group g
    (a Linear after ``flatten`` holds several positions per channel).
    """

    name: str
    fixed_in: int
    fixed_out: int
    per_group_in: dict[int, int]
    per_group_out: dict[int, int]

    def dims(self, groups: list[Group], keep: Keep) -> tuple[int, int]:
        """Input and output channels (features) of this layer when each group keeps ``keep[g]``."""
        c_in = self.fixed_in + sum(n * keep[g] // groups[g].size for g, n in self.per_group_in.items())
        c_out = self.fixed_out + sum(n * keep[g] // groups[g].size for g, n in self.per_group_out.items())
        return c_in, c_out


@dataclass
class Space:
    """The prunable groups of a model and its conv/linear layers (how their sizes follow the groups)."""

    groups: list[Group]
    layers: list[Layer]

    @property
    def full(self) -> Keep:
        return tuple(g.size for g in self.groups)

    def stages(self, keep: Keep) -> list[ChannelPrune]:
        """The ChannelPrune configs that cut every group to ``keep`` (one per distinct ratio)."""
        by_ratio: dict[float, list[int]] = {}
        for g, (group, k) in enumerate(zip(self.groups, keep)):
            if k < group.size:
                by_ratio.setdefault(ratio_for(group.size, k), []).append(g)
        cfgs = []
        for ratio, members in sorted(by_ratio.items()):
            others = [layer for g, group in enumerate(self.groups) if g not in members for layer in group.layers]
            cfgs.append(ChannelPrune(ratio=ratio, ignore=tuple(re.escape(n) for n in others)))
        return cfgs


def ratio_for(n: int, k: int) -> float:
    """A ratio whose ``floor(ratio * n)`` removes exactly ``n - k`` of ``n`` channels (halfway, so
    rounding the printed value cannot move it across an integer)."""
    return round((n - k + 0.5) / n, 6)


def space_of(model: nn.Module, example: torch.Tensor) -> Space:
    """Trace ``model`` once and list its prune groups and conv/linear layers.

    Raises:
        ValueError: the model has no prunable group.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the coverage report says what the trace keeps; the search just skips it
        graph, found = groups_of(model, ChannelPrune(ratio=0.0), example)
    groups, unit_group = [], {}
    for gr in found:
        if len(gr.units) < 2:
            continue  # a single channel cannot lose anything
        layers = tuple(dict.fromkeys(s.rpartition(".")[0] for s in gr.layers(graph)))
        for u in gr.units:
            unit_group[u] = len(groups)
        groups.append(Group(layers, len(gr.units)))
    if not groups:
        raise ValueError("the model has no channel group that can be pruned (see `slimtorch prune MODEL --explain`)")
    unit_to_group = np.full(int(graph.root.max()) + 1, -1, dtype=np.int64)
    for u, g in unit_group.items():
        unit_to_group[u] = g
    lookup = unit_to_group[graph.root]  # channel element -> its group (-1: never pruned)
    layers = []
    for name, roles in graph.slots.items():
        if not isinstance(model.get_submodule(name), (nn.Conv1d, nn.Conv2d, nn.Linear)):
            continue
        counts = {}
        for role in ("in", "out"):
            lab = roles.get(role, np.array([], dtype=np.int64))
            gid = np.where(lab >= 0, lookup[np.maximum(lab, 0)], -1)
            ids, n = np.unique(gid, return_counts=True)
            per = {int(i): int(c) for i, c in zip(ids, n)}
            counts[role] = (per.pop(-1, 0), per)
        layers.append(Layer(name, counts["in"][0], counts["out"][0], counts["in"][1], counts["out"][1]))
    return Space(groups, layers)


def apply(model: nn.Module, space: Space, keep: Keep, example: torch.Tensor) -> nn.Module:
    """Prune ``model`` in place to ``keep`` with :meth:`Space.stages` (each verified) and return it.

    Raises:
        ValueError: verification rolled a group back, so the model does not have the asked widths.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cfg in space.stages(keep):  # what st.prune runs (the search sits below the api: no import cycle)
            model = get_handler(cfg)(model, cfg, HandlerContext(example_inputs=example))
    got = widths(model, space)
    if got != tuple(keep):
        raise ValueError(f"pruning gave widths {got}, not {tuple(keep)} (verification kept a group)")
    return model


def widths(model: nn.Module, space: Space) -> Keep:
    """The kept channels of every group, read from its first layer's weight."""
    out = []
    for g in space.groups:
        mod = model.get_submodule(g.layers[0])
        out.append(int(mod.weight.shape[0]) if getattr(mod, "weight", None) is not None else g.size)
    return tuple(out)
