"""Sizes a model holds as constants: split sizes and slice bounds on a channel dim.

A pruned model still runs ``x.split(64, dim=1)`` or ``y[:, :c]`` with the original numbers. So:
``chunk`` pieces (sizes derived from the input) are coupled position by position, which keeps them
equal; an int split size is rewritten when the calling module holds it in an attribute (an
``"attr:NAME"`` slot, as GPT-2's ``split_size``), else left to the verifier; a list of sizes held in an
attribute lets each piece prune on its own, its entries rewritten (``"attr:NAME:I"`` slots), while a list
written in the code is kept (the pruned model would still pass it); a slice with constant bounds
keeps every channel before its end (its offsets stay right) and may lose the ones after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

SPLITS = {"split", "chunk", "tensor_split"}


def _attr_holding(tr, value: int) -> tuple[str, str] | None:
    """The innermost calling module's int attribute equal to ``value`` (names with "split" first)."""
    for name in reversed(tr.where):
        mod = tr.model.get_submodule(name)
        hits = [k for k, v in vars(mod).items() if type(v) is int and v == value and not k.startswith("_")]
        named = [k for k in hits if "split" in k]
        if named or len(hits) == 1:
            return name, (named or hits)[0]
        if hits:
            return None
    return None


def _list_holding(tr, sizes: list | tuple) -> tuple[str, str] | None:
    """The innermost calling module's attribute that *is* ``sizes`` (an equal list may be a literal in the code)."""
    for name in reversed(tr.where):
        mod = tr.model.get_submodule(name)
        for k, v in vars(mod).items():
            if v is sizes and not k.startswith("_"):
                return name, k
    return None


def after_split(tr, name: str, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
    """Couple or block the pieces of a split along a channel dim (labels are already replayed)."""
    x = args[0]
    dim = kwargs.get("dim", args[2] if len(args) > 2 else (0 if name != "chunk" else 0))
    lab = tr.get(x).get(dim % x.dim())
    if lab is None or len(outs) < 2:
        return
    size = args[1] if len(args) > 1 else next((v for k, v in kwargs.items() if k != "dim"), None)
    pieces = [tr.channels(o, dim) for o in outs]
    lengths = [len(p) for p in pieces]
    holder = _list_holding(tr, size) if name == "split" and isinstance(size, (list, tuple)) else None
    if holder is not None:  # the model reads its sizes from an attribute: each piece prunes alone, entry rewritten
        for i, p in enumerate(pieces):
            tr.slot(holder[0], f"attr:{holder[1]}:{i}", p)
        return
    if len(set(lengths)) != 1:  # removing channel i of every piece alike would change their proportions
        tr.block(lab, f"{name!r} into pieces of unequal sizes {lengths} on a channel dim")
        return
    if not isinstance(size, int):  # no attribute holds the list for the pruned model to read its new sizes from
        shown = list(size) if isinstance(size, (list, tuple)) else size
        tr.block(lab, f"{name!r} with a constant list of sizes or indices ({shown}) on a channel dim, which the "
                 "pruned model would still pass (chunk, or split by one int size held in an attribute, prunes)")
        return
    # a size no attribute holds may still follow the input (``x.split(x.shape[1] // 2)``): the verifier decides
    holder = _attr_holding(tr, size) if name == "split" else None
    for p in pieces[1:]:
        tr.union(pieces[0], p, f"{name!r} pieces do not line up")
    if holder is not None:
        tr.slot(holder[0], "attr:" + holder[1], pieces[0])


def after_getitem(tr, args: tuple, out: Any) -> None:
    """Keep the channels before a constant slice end (``y[:, :c]``, ``y[:, c:]``, ``y[:, i]``)."""
    x, idx = args[0], args[1]
    labels = tr.get(x)
    if not labels:
        return
    idx = idx if isinstance(idx, tuple) else (idx,)
    used = sum(1 for i in idx if i is not None and i is not Ellipsis)
    d = 0
    for i in idx:
        if i is Ellipsis:
            d += x.dim() - used
            continue
        if i is None:
            continue
        lab = labels.get(d)
        if lab is not None:
            _slice_rule(tr, lab, i)
        d += 1


def _slice_rule(tr, lab: np.ndarray, i: Any) -> None:
    n = len(lab)
    if isinstance(i, slice):
        start, stop, step = i.start or 0, i.stop, i.step or 1
        if i == slice(None):
            return
        if step != 1 or not isinstance(start, int) or start < 0 or (stop is not None and not isinstance(stop, int)):
            tr.block(lab, "a strided or end-relative slice of a channel dim")
        elif stop is None or stop >= n:
            tr.block(lab[:start], "a slice of a channel dim starts at a constant offset")
        elif stop < 0:
            tr.block(lab, "an end-relative slice of a channel dim")
        else:
            tr.block(lab[:stop], "a slice of a channel dim ends at a constant offset")
    elif isinstance(i, int):
        tr.block(lab if i < 0 else lab[: i + 1], "a constant index into a channel dim")
    else:
        tr.block(lab, "a tensor index into a channel dim")


def after_narrow(tr, args: tuple, kwargs: dict) -> None:
    """``narrow(dim, start, length)``: a slice with constant bounds."""
    x = args[0]
    dim, start, length = (list(args[1:]) + [kwargs.get(k) for k in ("dim", "start", "length")][len(args) - 1 :])[:3]
    lab = tr.get(x).get(dim % x.dim()) if isinstance(dim, int) else None
    if lab is not None:
        bounds = slice(start, start + length) if isinstance(start, int) and isinstance(length, int) else None
        _slice_rule(tr, lab, bounds)


def after_index_select(tr, args: tuple, kwargs: dict) -> None:
    """``index_select`` with an index tensor: the picked positions are constants."""
    x, dim = args[0], args[1] if len(args) > 1 else kwargs.get("dim")
    lab = tr.get(x).get(dim % x.dim()) if isinstance(dim, int) else None
    if lab is not None:
        tr.block(lab, "an index tensor into a channel dim")
