"""Reconstruction for transformer encoders: each block's output projections re-solved against the residual stream.

In a BERT-style block both sub-layers end the same way, ``LayerNorm(dense(x) + r)``: the attention
output projection and the feed-forward output projection write into a residual sum. After heads and
neurons are cut, the pruned block's residual ``r`` has already drifted from the original's, so each
``dense`` is solved (ridge least squares, as :func:`slimtorch.pruning.layer_solve.solve`) so that
``dense(x_pruned) + r_pruned`` matches the original's ``dense(x) + r`` on calibration tokens - it
takes out the drift of everything before it, not only its own cut. Blocks run in order, each fed the
hidden states of the pruned, already solved blocks before it (one pass per block, not per layer).
Rows are real tokens only: padding positions are masked out of attention and pooling, so fitting
them would spend the fit on values no one reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..encoders import PAIRS, blocks
from ..encoders import pad_id as _pad_id
from .layer_solve import objective as _objective
from .layer_solve import pick_ridge, solve
from .reconstruct import _Stop, calib_batches, reconstruct, run_until_stop


def covers(model: nn.Module, plan: dict[str, Any]) -> bool:
    """True when ``model`` has encoder blocks and every layer the plan changes lies inside one of them."""
    names = blocks(model)
    return bool(names) and all(any(layer.startswith(b + ".") for b in names) for layer in plan)


def _real(x: torch.Tensor, hidden: torch.Tensor, pad: int | None) -> torch.Tensor:
    """(N, L) bool: the token positions that count (all of them unless ``x`` is padded token ids)."""
    if pad is not None and not x.is_floating_point() and x.shape == hidden.shape[:2]:
        return x != pad
    return torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)


def _entries(model: nn.Module, first: str, batches: list[torch.Tensor]) -> list[tuple]:
    """Per batch: (hidden states entering block ``first``, its other args, its kwargs)."""
    out: list[tuple] = []

    def pre(_m, args, kwargs):
        out.append((args[0].detach(), args[1:], kwargs))
        raise _Stop

    h = model.get_submodule(first).register_forward_pre_hook(pre, with_kwargs=True)
    try:
        for x in batches:
            run_until_stop(model, x)
    finally:
        h.remove()
    return out


def _run(block: nn.Module, entry: tuple, names: tuple[str, ...]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The block's output on ``entry`` and the inputs of its submodules ``names``."""
    box: dict[str, torch.Tensor] = {}
    hooks = [block.get_submodule(n).register_forward_pre_hook(lambda _m, a, n=n: box.__setitem__(n, a[0].detach()))
             for n in names]
    try:
        with torch.no_grad():
            out = block(entry[0], *entry[1], **entry[2])
    finally:
        for h in hooks:
            h.remove()
    return (out[0] if isinstance(out, tuple) else out), box


@torch.no_grad()
def _solve_pair(block: nn.Module, entries: list[tuple], targets: list[torch.Tensor], reals: list[torch.Tensor],
                pair: tuple[str, str], ridge: float | str) -> dict[str, Any]:
    """Re-solve ``pair``'s projection so projection + residual meets the original's LayerNorm input.

    ``ridge="auto"``: the last quarter of the batches is held out to pick the ridge (:func:`pick_ridge`), then
    the solve uses every batch; when no solve fits the held-out rows better than the cut weights, they stay.
    """
    dense_name, norm_name = pair
    dense = block.get_submodule(dense_name)
    held_from = len(entries) - len(entries) // 4 if ridge == "auto" and len(entries) >= 4 else len(entries)
    sums: list[torch.Tensor | None] = [None, None, None, None]  # gram, cross of the fit rows, then the held rows
    for i, (entry, target, real) in enumerate(zip(entries, targets, reals)):
        _, box = _run(block, entry, pair)
        x, ln_in = box[dense_name][real].double(), box[norm_name][real].double()
        residual = ln_in - nn.functional.linear(x, dense.weight.double(), dense.bias.double())
        a = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
        t = target[real].double() - residual
        k = 0 if i < held_from else 2
        sums[k] = a.T @ a if sums[k] is None else sums[k] + a.T @ a
        sums[k + 1] = a.T @ t if sums[k + 1] is None else sums[k + 1] + a.T @ t
    prior = torch.cat([dense.weight.detach().double().T, dense.bias.detach().double()[None]], 0)
    chosen: float | None = ridge if ridge != "auto" else 1e-2
    gram, cross = sums[0], sums[1]
    if sums[2] is not None:
        chosen = pick_ridge((gram[None], cross[None]), (sums[2][None], sums[3][None]), prior[None])
        gram, cross = gram + sums[2], cross + sums[3]
    fitted = prior if chosen is None else solve(gram[None], cross[None], prior[None], chosen)[0]
    before, after = _objective(gram, cross, prior), _objective(gram, cross, fitted)
    ok = chosen is not None and bool(torch.isfinite(fitted).all()) and after <= before
    if ok:
        dense.weight.copy_(fitted[:-1].T.to(dense.weight.dtype))
        dense.bias.copy_(fitted[-1].to(dense.bias.dtype))
    return {"name": dense_name, "before": before, "after": after, "solved": ok, "ridge": chosen}


def reconstruct_encoder(original: nn.Module, pruned: nn.Module, batches: list[torch.Tensor],
                        ridge: float | str = "auto") -> dict[str, Any]:
    """Re-solve every block's two output projections of ``pruned`` (in place), block after block.

    Args:
        original: the unpruned model (same block names as ``pruned``).
        pruned: the model after heads/neurons were cut inside its blocks.
        batches: calibration inputs (token ids: padding positions are left out of the fit).
        ridge: pull towards the current weights (times the mean diagonal of the Gram matrix); "auto" (the
            default) picks it per projection on the last quarter of the batches (with 4 or more batches; else
            1e-2): with few calibration tokens per weight a fixed small ridge overfits them.

    Returns:
        ``{"layers": [{name, before, after, solved}], "solved": n}`` with the least-squares objective
        (up to a constant) before and after each solve; a solve that does not lower it is not applied.

    Raises:
        ValueError: the model has no BERT-style blocks.
    """
    names = blocks(pruned)
    if not names:
        raise ValueError("reconstruct_encoder needs BERT-style blocks (attention.output.dense + LayerNorm, "
                         "output.dense + LayerNorm)")
    pad = _pad_id(pruned)
    h_orig, h_pruned = _entries(original, names[0], batches), _entries(pruned, names[0], batches)
    reals = [_real(x, e[0], pad) for x, e in zip(batches, h_orig)]
    norms = tuple(n for _, n in PAIRS)
    rows = []
    for name in names:
        block_o, block_p = original.get_submodule(name), pruned.get_submodule(name)
        targets: dict[str, list[torch.Tensor]] = {n: [] for n in norms}
        for i, entry in enumerate(h_orig):  # the original's LayerNorm inputs, then its next hidden states
            out, box = _run(block_o, entry, norms)
            for n in norms:
                targets[n].append(box[n])
            h_orig[i] = (out, *entry[1:])
        for pair in PAIRS:
            row = _solve_pair(block_p, h_pruned, targets[pair[1]], reals, pair, ridge)
            rows.append({**row, "name": f"{name}.{row['name']}"})
        h_pruned = [(_run(block_p, e, ())[0], *e[1:]) for e in h_pruned]
    return {"layers": rows, "solved": sum(r["solved"] for r in rows)}


def reconstruct_any(original: nn.Module, pruned: nn.Module, plan: dict[str, Any], calib: Any,
                    **options: Any) -> dict[str, Any]:
    """Encoder blocks (every cut inside BERT-style blocks): :func:`reconstruct_encoder`; else the per-layer solve.

    ``options`` go to :func:`slimtorch.pruning.reconstruct.reconstruct`; the encoder path reads ``ridge``
    ("auto" by default) and ``batch_size``/``limit`` only through the batches.
    """
    if covers(pruned, plan):
        # every calibration row, as the per-layer path reads (a cap of 512 rows left MiniLM's 1152-wide FFN
        # projections data-limited: 3092 sentences gave held-out cosine 0.943 where the first 512 gave 0.932)
        batches = calib_batches(calib, options.get("batch_size", 32), options.get("limit"))
        return reconstruct_encoder(original, pruned, batches, ridge=options.get("ridge", "auto"))
    return reconstruct(original, pruned, plan, calib, **options)
