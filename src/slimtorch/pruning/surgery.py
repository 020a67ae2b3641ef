"""Layer surgery: a table keyed by layer type that says how a layer's channels are traced and removed.

An entry (:class:`Surgery`) has three parts:

* ``trace(tracer, name, module, args, kwargs, output)`` - read the input channel labels, create new
  output channels (conv, linear) or pass them on (BN), and record *slots*: for each role
  (``"in"``, ``"out"``, ...) which channel element each position of the layer's parameters holds;
* ``params(module)`` - ``{parameter or buffer path: [(dim, roles), ...]}``: which tensor dims are
  indexed by which roles (several roles on one dim = their blocks laid end to end, as q|k|v);
* ``update(module, keep)`` - fix attributes (``out_channels``, ``num_heads``) after slicing; may
  return a replacement module.

Users add their own layer with :func:`register_surgery`.

Two kinds of roles need no entry, so any module can hold them: ``"param:PATH:DIM"`` (a Parameter used
directly by an elementwise op, as a layer-scale vector: dim DIM of PATH is indexed by the channels) and
``"attr:NAME"`` (an int attribute such as a split size: set to the number of kept positions) and
``"attr:NAME:I"`` (entry I of a list or tuple of split sizes held in an attribute, likewise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

ParamSpec = dict[str, list[tuple[int, tuple[str, ...]]]]


@dataclass(frozen=True)
class Surgery:
    """How one layer type is traced and cut; see the module docstring."""

    trace: Callable[..., None]
    params: Callable[[nn.Module], ParamSpec]
    consumes: tuple[str, ...] = ("in",)  # roles that *read* channels (zeroed by the zero-then-remove check)
    update: Callable[[nn.Module, dict[str, list[int]]], nn.Module | None] | None = None
    # for layers linear in their input: which input dim the "in" role indexes (masking that input equals
    # zeroing the weights that read it, and is cheaper: the verifier's reference masks activations)
    in_dim: Callable[[nn.Module, torch.Tensor], int] | None = None


_TABLE: dict[type, Surgery] = {}
_BY_NAME: dict[str, Surgery] = {}  # for optional libraries (transformers) that we do not import


def lookup(cls: type) -> Surgery | None:
    """The surgery for a layer type (its own entry, else its nearest registered base class)."""
    for base in cls.__mro__:
        if base in _TABLE:
            return _TABLE[base]
    if cls.__name__ in _BY_NAME and cls.__module__.startswith("transformers."):
        return _BY_NAME[cls.__name__]
    return None


def register_surgery(
    layer_type: type,
    fn: Callable[[nn.Module], dict[str, list[tuple[int, str]]]] | Surgery,
    *,
    channel_dim: int = -1,
    update: Callable[[nn.Module, dict[str, list[int]]], Any] | None = None,
) -> None:
    """Teach structural pruning a layer type.

    Args:
        layer_type: the module class.
        fn: ``fn(module) -> {param_name: [(dim, role), ...]}`` with roles ``"in"`` (input channels) and
            ``"out"`` (output channels). A layer whose spec has no ``"out"`` role is *channelwise*
            (its output has the input's channels, like BatchNorm). A full :class:`Surgery` is also accepted.
        channel_dim: the channel dim of the layer's input and output activations (1 for NCHW, -1 for NLC).
        update: optional ``update(module, keep)`` called after slicing (``keep[role]`` = kept indices),
            e.g. to set ``module.out_features``.

    Example:
        >>> class Scale(nn.Module):  # y = x * w per channel
        ...     def __init__(self, c): super().__init__(); self.w = nn.Parameter(torch.ones(c))
        ...     def forward(self, x): return x * self.w.view(1, -1, 1, 1)
        >>> register_surgery(Scale, lambda m: {"w": [(0, "in")]}, channel_dim=1)
    """
    if isinstance(fn, Surgery):
        _TABLE[layer_type] = fn
        return

    def params(m: nn.Module) -> ParamSpec:
        return {p: [(d, (r,)) for d, r in dims] for p, dims in fn(m).items() if _tensor(m, p) is not None}

    def trace(tr, name, m, args, kwargs, out):
        x = args[0] if args else next(iter(kwargs.values()))
        roles = {r for dims in fn(m).values() for _, r in dims}
        lab_in = tr.channels(x, channel_dim)
        tr.slot(name, "in", lab_in)
        if "out" in roles:
            lab_out = tr.new(out.shape[channel_dim], name)
            tr.slot(name, "out", lab_out)
        else:
            lab_out = lab_in
        tr.set(out, {channel_dim % out.dim(): lab_out})

    _TABLE[layer_type] = Surgery(trace, params, ("in",), update)


def _tensor(module: nn.Module, path: str) -> torch.Tensor | None:
    owner_path, _, leaf = path.rpartition(".")
    owner = module.get_submodule(owner_path) if owner_path else module
    return getattr(owner, leaf, None)


def param_specs(module: nn.Module, roles=()) -> ParamSpec:
    """The module's tensors and the roles indexing their dims: its surgery's spec plus any ``param:`` roles."""
    surgery = lookup(type(module))
    spec = {k: list(v) for k, v in surgery.params(module).items()} if surgery is not None else {}
    for role in roles:
        if role.startswith("param:"):
            _, path, dim = role.split(":")
            spec.setdefault(path, []).append((int(dim), (role,)))
    return spec


def _index(t: torch.Tensor, specs: list[tuple[int, tuple[str, ...]]], keep: dict[str, list[int]]) -> list:
    """Per dim, the kept indices of ``t`` (None = dim untouched)."""
    out = []
    for dim, roles in specs:
        if not all(r in keep for r in roles):
            out.append((dim, None))
            continue
        block = t.shape[dim] // len(roles)
        idx = np.concatenate([np.asarray(keep[r], dtype=np.int64) + i * block for i, r in enumerate(roles)])
        out.append((dim, torch.as_tensor(idx, dtype=torch.long, device=t.device)))
    return out


def cut(module: nn.Module, keep: dict[str, list[int]]) -> nn.Module:
    """Physically remove the channels not in ``keep`` from ``module``; returns the module to use."""
    surgery = lookup(type(module))
    generic = all(r.startswith(("param:", "attr:")) for r in keep)
    if surgery is None and not generic:
        raise TypeError(f"no surgery registered for {type(module).__name__}; use st.register_surgery")
    for role, kept in keep.items():
        if role.startswith("attr:"):
            _set_size(module, role[5:], len(kept))
    for path, specs in param_specs(module, keep).items():
        t = _tensor(module, path)
        if t is None:
            continue
        new = t.detach()
        for dim, idx in _index(t, specs, keep):
            if idx is not None:
                new = new.index_select(dim, idx)
        owner_path, _, leaf = path.rpartition(".")
        owner = module.get_submodule(owner_path) if owner_path else module
        if isinstance(t, nn.Parameter):
            setattr(owner, leaf, nn.Parameter(new.clone(), requires_grad=t.requires_grad))
        else:
            owner._buffers[leaf] = new.clone()
    if surgery is not None and surgery.update is not None and not generic:
        return surgery.update(module, keep) or module
    return module


def _set_size(module: nn.Module, spec: str, n: int) -> None:
    """Attribute ``NAME`` (an int) or entry ``I`` of ``NAME:I`` (a list or tuple of sizes) becomes ``n``.

    A list is replaced, never changed in place: the verifier restores the module's old attribute table.
    """
    name, _, i = spec.partition(":")
    if not i:
        setattr(module, name, n)
        return
    old = getattr(module, name)
    new = list(old)
    new[int(i)] = n
    setattr(module, name, type(old)(new))


def read_positions(module: nn.Module, keep: dict[str, list[int]]) -> list[tuple[str, int, torch.Tensor]]:
    """``(tensor path, dim, positions)`` of the weights that *read* the channels ``keep`` drops."""
    surgery = lookup(type(module))
    if surgery is None:  # only param:/attr: roles: they read no channels
        return []
    out = []
    for path, specs in surgery.params(module).items():
        t = _tensor(module, path)
        if t is None:
            continue
        for dim, roles in specs:
            block = t.shape[dim] // len(roles)
            for i, r in enumerate(roles):
                if r in surgery.consumes and r in keep and len(keep[r]) < block:
                    gone = np.ones(block, dtype=bool)
                    gone[np.asarray(keep[r], dtype=np.int64)] = False
                    drop = np.nonzero(gone)[0] + i * block
                    if len(drop):
                        out.append((path, dim, torch.as_tensor(drop, dtype=torch.long, device=t.device)))
    return out


def zero_dropped(module: nn.Module, keep: dict[str, list[int]]) -> None:
    """Zero the weights that *read* the channels ``keep`` drops (the zero-then-remove check's first half)."""
    with torch.no_grad():
        for path, dim, idx in read_positions(module, keep):
            _tensor(module, path).index_fill_(dim, idx, 0.0)


def removed_params(module: nn.Module, keep: dict[str, list[int]], seen: set[int] | None = None) -> int:
    """How many parameter elements :func:`cut` will remove (computed from shapes alone).

    ``seen`` holds ids of tensors already counted (a weight tied between layers is cut once).
    """
    n = 0
    seen = set() if seen is None else seen
    for path, specs in param_specs(module, keep).items():
        t = _tensor(module, path)
        if not isinstance(t, nn.Parameter) or id(t) in seen:
            continue
        seen.add(id(t))
        shape = list(t.shape)
        for dim, roles in specs:
            if all(r in keep for r in roles):
                shape[dim] = sum(len(keep[r]) for r in roles)
        n += t.numel() - int(np.prod(shape))
    return n
