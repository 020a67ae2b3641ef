"""Channel pruning end to end: trace, group, score, select, then apply what the verifier accepts.

A *group* is the set of units (channels, neurons, heads) that touch the same layers; the ratio
applies per group (or globally, ranked across groups). Groups are also the unit of rollback: the
verifier (``verify.py``) keeps a failing group whole and prunes the rest. Every group, pruned or
kept, gets a row in the coverage report (``report.py``) that says why.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

import slimtorch.pruning.hf_config as hf_config

from .. import io
from .fisher import global_cut
from .graph import Graph, as_calls, trace
from .importance import CALIBRATED, taylor_grads, unit_scores
from .plan import KIND
from .reconstruct import calib_batches
from .report import Row, attach
from .verify import compare, run, verified

Plan = dict[str, dict[str, list[int]]]


class PruneWarning(UserWarning):
    """A part of the model was left unpruned (the message names the layer and the reason)."""


@dataclass
class Group:
    """Units that touch the same layers; ``removed`` are the ones the selection cuts."""

    spaces: tuple[int, ...]
    units: list[int]
    removed: list[int]

    def layers(self, graph: Graph) -> list[str]:
        """The layer outputs of the group (a layer traced on several inputs is listed once)."""
        return list(dict.fromkeys(graph.space_names[s] for s in self.spaces))


def _kept(n: int, n_keep: int, round_to: int | None) -> int:
    if round_to:
        n_keep = min(n, max(round_to, int(round(n_keep / round_to)) * round_to))
    return max(1, min(n, n_keep))


def select(graph: Graph, scores: dict[int, float], units: dict[int, np.ndarray], cfg: Any) -> list[Group]:
    """Every group with the units it loses: per group (``scope="layer"``) or ranked globally."""
    members: dict[tuple, list[int]] = {}
    for u, spaces in spaces_by_unit(graph, np.fromiter(units, dtype=np.int64)).items():
        members.setdefault(spaces, []).append(u)
    cut: set[int] | None = None
    if cfg.scope == "global" and getattr(cfg, "scoring", None) == "fisher":
        cut = global_cut(members, scores, cfg.ratio)  # one scale for every unit: no per-group normalisation
    elif cfg.scope == "global":
        ranked = []
        for us in members.values():
            mean = float(np.mean([scores[u] for u in us])) or 1.0
            ranked += [(scores[u] / mean, u) for u in us]
        cut = {u for _, u in sorted(ranked)[: math.floor(cfg.ratio * len(ranked))]}
    groups = []
    for key, us in members.items():
        ratio = group_ratio(graph, key, cfg)
        want = len(us) - math.floor(ratio * len(us)) if cut is None else sum(u not in cut for u in us)
        n_keep = _kept(len(us), want, cfg.round_to)
        groups.append(Group(key, us, sorted(us, key=lambda u: scores[u])[: len(us) - n_keep]))
    return groups


def group_ratio(graph: Graph, spaces: tuple[int, ...], cfg: Any) -> float:
    """The ratio of the group over ``spaces``: the first ``cfg.ratios`` regex matching one of its layers, else
    ``cfg.ratio``."""
    names = [graph.space_names[s].rpartition(".")[0] for s in spaces]
    for pattern, ratio in getattr(cfg, "ratios", ()):
        if any(re.fullmatch(pattern, n) for n in names):
            return ratio
    return cfg.ratio


def spaces_by_unit(graph: Graph, roots: np.ndarray) -> dict[int, tuple[int, ...]]:
    """For each unit id in ``roots``, the sorted layer outputs ("spaces") its elements belong to."""
    wanted = np.zeros(len(graph.root) + 1, dtype=bool)
    wanted[roots] = True
    mask = wanted[graph.root]
    n = max(len(graph.space_names), 1)
    codes = np.unique(graph.root[mask] * n + graph.space_of[mask])  # sorted by root, then space
    if not len(codes):
        return {}
    roots, spaces = codes // n, (codes % n).tolist()
    starts = np.flatnonzero(np.r_[True, roots[1:] != roots[:-1]]).tolist()
    ends = starts[1:] + [len(spaces)]
    return {int(roots[a]): tuple(spaces[a:b]) for a, b in zip(starts, ends)}


def plan_of(graph: Graph, removed: Iterable[int]) -> Plan:
    """``{layer: {role: kept indices}}`` for removing these units (layers that lose nothing are left out)."""
    gone_root = np.zeros(len(graph.root) + 1, dtype=bool)
    gone_root[np.fromiter(removed, dtype=np.int64)] = True
    plan: Plan = {}
    for name, roles in graph.slots.items():
        keep, changed = {}, False
        for role, lab in roles.items():
            gone = gone_root[np.where(lab >= 0, graph.root[np.maximum(lab, 0)], -1)]
            keep[role] = [int(i) for i in np.nonzero(~gone)[0]]
            changed = changed or bool(gone.any())
        if changed:
            plan[name] = keep
    return plan


def groups_of(
    model: nn.Module, cfg: Any, example_inputs: Any, data: Iterable | None = None, loss_fn: Callable | None = None
) -> tuple[Graph, list[Group]]:
    """Trace on every example input, score and select; warns once per part the trace keeps.

    Raises:
        ValueError: no example inputs, a model that fails on them, or taylor importance without gradients.
    """
    if example_inputs is None:
        raise ValueError("ChannelPrune needs example_inputs=... (a batch, or a list of batches) to trace the model")
    try:
        graph = trace(model, example_inputs, cfg.ignore)
    except Exception as err:
        raise ValueError(f"example_inputs: the model fails on them ({type(err).__name__}: {err})") from err
    for msg in graph.warnings + unmatched(model, cfg):
        warnings.warn(msg, PruneWarning, stacklevel=4)
    kind = getattr(cfg, "scoring", cfg.importance)  # "auto" resolved by the config
    if kind == "taylor" and data is not None:
        taylor_grads(model, data, loss_fn)
    calib = calib_batches(data, limit=512) if kind in CALIBRATED and data is not None else None
    units = graph.units()
    return graph, select(graph, unit_scores(model, graph, units, kind, cfg.seed, calib=calib), units, cfg)


def unmatched(model: nn.Module, cfg: Any) -> list[str]:
    """One message per ``ignore`` / ``ratios`` pattern that names no layer of ``model`` (a typo does nothing)."""
    names = [n for n, _ in model.named_modules() if n]
    out = []
    for field, patterns in (("ignore", cfg.ignore), ("ratios", [p for p, _ in getattr(cfg, "ratios", ())])):
        for pattern in patterns:
            if not any(re.fullmatch(pattern, n) for n in names):
                close = [n for n in names if pattern in n][:3] or names[:3]
                out.append(f"{field}: {pattern!r} matches no layer (it must match a whole layer name, "
                           f"e.g. {', '.join(map(repr, close))}); it has no effect")
    return out


def plan_channels(
    model: nn.Module, cfg: Any, example_inputs: Any, data: Iterable | None = None, loss_fn: Callable | None = None
) -> Plan:
    """Trace, score and select; return the plan ``{layer: {role: kept indices}}`` without changing the model.

    The plan is not verified: :func:`prune_channels` (what ``st.prune`` runs) is.
    """
    graph, groups = groups_of(model, cfg, example_inputs, data, loss_fn)
    return plan_of(graph, [u for g in groups for u in g.removed])


def prune_channels(
    model: nn.Module, cfg: Any, example_inputs: Any, data: Iterable | None = None, loss_fn: Callable | None = None
) -> nn.Module:
    """Prune ``model`` in place, keep only what the masked-original check accepts, and attach the report.

    Args:
        model: the model.
        cfg: a ``ChannelPrune`` config.
        example_inputs: a batch or a list of batches (every one is traced and verified).
        data: labelled batches for taylor importance (unlabeled inputs for activation importance).
        loss_fn: the loss for ``data``.

    Returns:
        The model (same object), pruned; ``slimtorch.pruning.report(model)`` says what and why.
    """
    graph, groups = groups_of(model, cfg, example_inputs, data, loss_fn)
    todo = [g for g in groups if g.removed]
    plans: dict[tuple, Plan] = {}

    def plan_for(gs: list[Group]) -> Plan:
        key = tuple(id(g) for g in gs)
        if key not in plans:
            plans[key] = plan_of(graph, [u for g in gs for u in g.removed])
        return plans[key]

    calls = as_calls(example_inputs)
    rejected = verified(model, todo, plan_for, calls)
    rolled = {id(g): why for g, why in rejected}
    for g, why in rejected:
        layers = g.layers(graph)
        kind = type(model.get_submodule(layers[0].rpartition(".")[0])).__name__ if layers else "?"
        msg = f"layer {layers[0].rpartition('.')[0]!r} ({kind}, group of {len(g.units)}): {why}; its channels are kept"
        warnings.warn(msg, PruneWarning, stacklevel=3)
    plan = plan_for([g for g in todo if id(g) not in rolled])
    if plan:
        io.record_transform(model, KIND, {"keep": plan})
    notes = hf_config.sync(model, calls, run, compare) if plan else []
    attach(model, _rows(graph, groups, rolled), notes)
    return model


def _rows(graph: Graph, groups: list[Group], rolled: dict[int, str]) -> list[Row]:
    """One report row per group: pruned, rolled back, too small for the ratio, or blocked by the trace."""
    rows = []
    for g in groups:
        layers = g.layers(graph)
        if id(g) in rolled:
            rows.append(Row(layers, len(g.units), 0, "kept", f"rolled back by verification: {rolled[id(g)]}"))
        elif g.removed:
            rows.append(Row(layers, len(g.units), len(g.removed), "pruned", "verified against the masked original"))
        else:
            rows.append(Row(layers, len(g.units), 0, "kept", "the ratio removes no unit from a group this small"))
    blocked: dict[tuple, list[int]] = {}
    for root, spaces in spaces_by_unit(graph, np.fromiter(graph.blocked, dtype=np.int64)).items():
        blocked.setdefault(spaces, []).append(root)
    for key, roots in blocked.items():
        if all(".param:" in graph.space_names[s] or graph.space_names[s].startswith("param:") for s in key):
            continue  # a Parameter's own dims (not channels) are not listed
        why = graph.reasons.get(roots[0], "blocked by the trace")
        rows.append(Row(list(dict.fromkeys(graph.space_names[s] for s in key)), len(roots), 0, "kept", why))
    return rows
