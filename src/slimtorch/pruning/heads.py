"""Attention written by hand: heads made by a reshape, batched matmuls and ``scaled_dot_product_attention``.

A reshape that splits a channel dim into ``(heads, head_dim)`` makes each head one unit (its
``head_dim`` channels live and die together) and labels the heads dim with one element per head;
the head-size dim carries no labels, so ``q @ k^T`` contracts nothing tracked. Batched matmuls and
SDPA couple q, k and v head by head. A pruned model whose reshape reads ``-1`` heads (or sizes
from its input) then simply has fewer heads; one that hard-codes the head count fails the
verification and its heads are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RESHAPES = {"view", "reshape", "unflatten"}


def split_heads(tr, vol: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(dim, labels + 1)`` of the heads dim when ``vol`` (labels + 1) varies over two adjacent dims only."""
    for e in range(vol.ndim - 1):
        h, d = vol.shape[e], vol.shape[e + 1]
        if h < 2 or d < 2:
            continue
        rows = np.moveaxis(vol, (e, e + 1), (0, 1)).reshape(h, d, -1)
        if not (rows == rows[:, :, :1]).all():
            continue
        grid = rows[:, :, 0] - 1
        if (grid < 0).any():
            return None
        for head in grid:
            tr.union_all(head)
        return e, grid[:, 0] + 1
    return None


def batched_dims(tr, name: str, a: Any, b: Any, out: Any) -> dict[int, np.ndarray]:
    """Batch dims of a matmul: equal-size dims of the operands are coupled and passed to the output."""
    result = {}
    n = out.dim()
    for od in range(n - 2):
        ea, eb = od - (n - a.dim()), od - (n - b.dim())
        la = tr.get(a).get(ea) if ea >= 0 else None
        lb = tr.get(b).get(eb) if eb >= 0 else None
        if la is None and lb is None:
            continue
        if ea >= 0 and eb >= 0 and a.shape[ea] == b.shape[eb]:
            tr.union(tr.channels(a, ea), tr.channels(b, eb), f"{name!r} pairs heads with an untracked operand")
            result[od] = la if la is not None else lb
        else:
            tr.block(la if la is not None else lb, f"{name!r} broadcasts a batched channel dim")
    return result


def sdpa(tr, args: tuple, kwargs: dict, out: Any) -> None:
    """``F.scaled_dot_product_attention``: q, k and v heads coupled; the value size passes to the output."""
    q, k, v = (args[i] if len(args) > i else kwargs.get(key) for i, key in enumerate(("query", "key", "value")))
    mask = args[3] if len(args) > 3 else kwargs.get("attn_mask")
    if mask is not None:
        tr.block_tensor(mask, "attention mask over channels")
    for t in (q, k, v):
        for d, arr in tr.get(t).items():
            if d not in (t.dim() - 3, t.dim() - 1) or (d == t.dim() - 1 and t is not v):
                tr.block(arr, "attention mixes this dim")
    result = {}
    if all(t.dim() >= 3 for t in (q, k, v)) and k.shape[-3] == v.shape[-3] and q.shape[-3] % k.shape[-3] == 0:
        # grouped-query attention (enable_gqa): query head h reads key/value head h // group, so one key/value
        # head and its group of query heads leave together (the pruned model keeps the group size)
        heads, group = tr.channels(q, -3), q.shape[-3] // k.shape[-3]
        tr.union(heads, np.repeat(tr.channels(k, -3), group), "attention pairs heads with untracked keys")
        tr.union(heads, np.repeat(tr.channels(v, -3), group), "attention pairs heads with untracked values")
        if (heads >= 0).any():
            result[out.dim() - 3] = heads
    else:
        for t in (q, k, v):
            tr.block_tensor(t, "grouped-query attention (unequal head counts)")
    value = tr.get(v).get(v.dim() - 1)
    if value is not None:
        result[out.dim() - 1] = value
    tr.set(out, result)
