"""Per-block cuts of a transformer encoder's heads and FFN neurons, from measured reconstruction-aware sensitivity.

A uniform ratio cuts every block's heads and feed-forward neurons alike, and channel scores of different
blocks are not comparable (all-MiniLM-L6-v2: one global ranking by activation energy cut 45% of the FFN of
blocks 1-2 and held worse than the uniform cut). Here every (block, kind) is cut *alone* at a few ratios,
the encoder's output projections are re-solved (:func:`encoder_reconstruct.reconstruct_encoder`), and the
embedding's cosine to the original is measured on inputs neither the scores nor the solve read; the
multiple-choice knapsack of :func:`allocate.allocate` then picks one ratio per (block, kind) that removes at
least the parameters asked for with the least summed cosine loss (each cut's parameters are also its
per-token multiply-accumulates of the linear layers). Cost: one cut + reconstruction per (block, kind, ratio).
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..bench.counts import count_params
from ..encoders import blocks
from .allocate import allocate
from .channels import prune_channels
from .encoder_reconstruct import reconstruct_encoder
from .structured import ChannelPrune


def unit_groups(model: nn.Module) -> dict[str, str]:
    """``{"<block>.heads" | "<block>.ffn": regex}`` for every BERT-style block: the ``ChannelPrune(ratios=...)``
    pattern that selects the block's attention heads or its feed-forward neurons."""
    out = {}
    for name in blocks(model):
        out[f"{name}.heads"] = re.escape(f"{name}.attention.self")
        out[f"{name}.ffn"] = re.escape(f"{name}.intermediate.dense")
    return out


def _embed(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(b).flatten(1) for b in x.split(batch_size)])


def cut(original: nn.Module, ratios: dict[str, float], example_inputs: Any, calib: Any, solve: list[torch.Tensor],
        importance: str = "activation") -> nn.Module:
    """A copy of ``original`` with ``ratios`` (``{regex: ratio}``; every other group kept) cut, scored on
    ``calib``, then every block's output projections re-solved on the batches ``solve``."""
    cfg = ChannelPrune(ratio=0.0, importance=importance, ratios=dict(ratios))
    model = copy.deepcopy(original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the trace's notes on the parts it keeps: the same for every cut
        model = prune_channels(model, cfg, example_inputs, calib)
    reconstruct_encoder(original, model, solve)
    return model.eval()


def encoder_sensitivity(original: nn.Module, ratios: dict[str, tuple[float, ...]], example_inputs: Any, calib: Any,
                        solve: list[torch.Tensor], val_x: torch.Tensor, importance: str = "activation",
                        batch_size: int = 32) -> tuple[dict, dict]:
    """Cosine loss and parameters removed of every (block, kind) cut alone, with reconstruction.

    Args:
        original: a BERT-style encoder (embeddings out); left unchanged.
        ratios: ``{"heads": (...), "ffn": (...)}``: the shares of each block's heads / FFN neurons to try.
        example_inputs: a batch to trace the model on.
        calib: inputs that score the units (``ChannelPrune``'s calibration data).
        solve: batches the output projections are re-solved on.
        val_x: other inputs: the loss is ``1 - mean cosine`` of the embeddings to the original's there.

    Returns:
        ``({key: {ratio: cosine loss}}, {key: {ratio: parameters removed}})`` with the keys of :func:`unit_groups`.

    Example:
        >>> errors, saved = encoder_sensitivity(model, {"heads": (0.25,), "ffn": (0.25, 0.5)}, x[:4], calib,
        ...                                     solve, val_x)                                 # doctest: +SKIP
    """
    ref, base = _embed(original, val_x, batch_size), count_params(original)
    errors: dict[str, dict[float, float]] = {}
    saved: dict[str, dict[float, float]] = {}
    for key, pattern in unit_groups(original).items():
        errors[key], saved[key] = {}, {}
        for r in ratios[key.rpartition(".")[2]]:
            model = cut(original, {pattern: r}, example_inputs, calib, solve, importance)
            cos = F.cosine_similarity(_embed(model, val_x, batch_size), ref)
            errors[key][r] = float(1 - cos.mean())
            saved[key][r] = float(base - count_params(model))
    return errors, saved


def allocate_encoder(model: nn.Module, errors: dict, saved: dict, need: float) -> dict[str, float]:
    """``{regex: ratio}`` for ``ChannelPrune(ratios=...)``: at least ``need`` parameters removed with the least
    summed cosine loss of the table :func:`encoder_sensitivity` measured (ratio 0 where a group is kept)."""
    groups = unit_groups(model)
    return {groups[k]: r for k, r in allocate(errors, saved, need).items()}
