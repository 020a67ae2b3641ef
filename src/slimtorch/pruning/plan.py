"""A pruning plan (kept indices per layer and role): applied, recorded, and replayed by ``st.load``."""

from __future__ import annotations

from torch import nn

import slimtorch.pruning.sharing as sharing

from .. import io
from .surgery import cut, removed_params, zero_dropped

KIND = "channel_prune"


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, module)


def apply_plan(model: nn.Module, plan: dict[str, dict[str, list[int]]], record: bool = False) -> nn.Module:
    """Cut every layer of ``plan`` in place; with ``record`` the plan is stored for save/load.

    Args:
        model: the model the plan was made for.
        plan: ``{layer name: {role: kept indices}}`` as made by ``plan_channels``.
        record: append the plan to the model's transforms (``st.save`` writes it).

    Returns:
        The model (same object).
    """
    shared = sharing.holders(model)
    for name, keep in plan.items():
        mod = model.get_submodule(name)
        new = cut(mod, keep)
        if new is not mod:
            _set(model, name, new)
    sharing.retie(model, shared)  # each holder's cut made its own copy: one Parameter again
    if record and plan:
        io.record_transform(model, KIND, {"keep": plan})
    return model


def zero_plan(model: nn.Module, plan: dict[str, dict[str, list[int]]]) -> nn.Module:
    """Zero the weights that read the channels ``plan`` removes (outputs then cannot depend on them)."""
    for name, keep in plan.items():
        zero_dropped(model.get_submodule(name), keep)
    return model


def plan_removed_params(model: nn.Module, plan: dict[str, dict[str, list[int]]]) -> int:
    """Parameter elements the plan removes, from shapes alone (before it is applied)."""
    seen: set[int] = set()
    return sum(removed_params(model.get_submodule(name), keep, seen) for name, keep in plan.items())


def _rebuild(model: nn.Module, transform: dict) -> nn.Module:
    return apply_plan(model, transform["keep"])


io.register_rebuilder(KIND, _rebuild)
