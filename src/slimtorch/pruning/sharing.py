"""Shared parameters: one Parameter held by several layers (a tied embedding and output projection).

At trace time the layers that share a tensor have the channels of each shared dim united, so a plan
cuts the tensor the same way in every holder; a holder that never ran, or that indexes the dim
differently, blocks those channels instead (kept, with a warning). After the cut, :func:`retie`
makes the holders share one (smaller) Parameter again: never silently untied.
"""

from __future__ import annotations

from torch import nn

from .surgery import lookup, param_specs


def holders(model: nn.Module) -> dict[int, list[tuple[str, str]]]:
    """``id(tensor) -> [(layer name, parameter path), ...]`` for tensors held by two or more surgery layers."""
    seen: dict[int, list[tuple[str, str]]] = {}
    leaves: list[str] = []
    for name, mod in model.named_modules():
        if not name or lookup(type(mod)) is None:
            continue
        if any(name.startswith(leaf + ".") for leaf in leaves):
            continue  # inside a layer whose surgery owns it (MultiheadAttention's out_proj)
        leaves.append(name)
        for path in param_specs(mod):
            t = _get(mod, path)
            if isinstance(t, nn.Parameter):
                seen.setdefault(id(t), []).append((name, path))
    return {k: v for k, v in seen.items() if len({n for n, _ in v}) > 1}


def _get(mod: nn.Module, path: str):
    owner, _, leaf = path.rpartition(".")
    return getattr(mod.get_submodule(owner) if owner else mod, leaf, None)


def unite(tr) -> None:
    """Couple (or block) the channels of every shared dim of every shared tensor (called by the tracer)."""
    for owners in holders(tr.model).values():
        per_dim: dict[int, list] = {}
        missing = []
        for name, path in owners:
            spec = dict(param_specs(tr.model.get_submodule(name)).get(path, []))
            if name not in tr.slots:
                missing.append(name)
                continue
            for dim, roles in spec.items():
                per_dim.setdefault(dim, []).append((name, roles))
        names = ", ".join(repr(n) for n, _ in owners)
        for users in per_dim.values():
            arrs = [tr.slots[n].get(r[0]) for n, r in users if len(r) == 1]
            reason = None
            if missing:
                reason = f"shares a weight with {', '.join(map(repr, missing))}, which never ran"
            elif len(users) != len(owners) or len(arrs) != len(users) or any(a is None for a in arrs):
                reason = "holders index the shared weight differently"
            if reason is None:
                for other in arrs[1:]:
                    tr.union(arrs[0], other, "holders of a shared weight see different channel counts")
                continue
            tr.where.append(users[0][0])
            for n, roles in users:
                for r in roles:
                    if r in tr.slots[n]:  # reported, not warned: often the dim is the network output anyway
                        tr.block(tr.slots[n][r], f"weight shared by {names}: {reason}", warn=missing != [])
            tr.where.pop()


def retie(model: nn.Module, shared: dict[int, list[tuple[str, str]]]) -> None:
    """After a cut, point every holder of a formerly shared tensor at one Parameter (the first holder's)."""
    for owners in shared.values():
        name0, path0 = owners[0]
        first = _get(model.get_submodule(name0), path0)
        for name, path in owners[1:]:
            mod = model.get_submodule(name)
            t = _get(mod, path)
            if t is first:
                continue
            if t.shape != first.shape:
                raise RuntimeError(f"shared weight of {name0!r} and {name!r} was cut to different shapes")
            owner, _, leaf = path.rpartition(".")
            setattr(mod.get_submodule(owner) if owner else mod, leaf, first)
