"""Hidden-state hints for transformer encoders: which layers, and which token positions count.

A pruned encoder (heads and FFN neurons cut inside its blocks) keeps every block's output width, so each
block's hidden states can be matched to the original's one to one, no adapter (TinyBERT's hidden-state
loss, Jiao et al. 2020). ``hints="blocks"`` pairs every BERT-style block's output; ``"sublayers"`` adds
each block's attention sub-layer output (``attention.output``: LayerNorm of projection + residual).

Padded token ids make positions that attention and mean pooling never read; their states are whatever
the padding gives, so matching them spends the fit on values no one uses. :func:`token_mask` marks the
real tokens (inputs that are integer token ids whose shape is the feature's first two dims, and a
model that names its pad id); :func:`slimtorch.distillation.losses.masked_hint_loss` averages over them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..encoders import blocks

HINTS = ("blocks", "sublayers")


def hint_pairs(teacher: nn.Module, which: str) -> dict[str, str]:
    """``{"student.layer": "teacher.layer"}`` for ``which`` ("blocks" or "sublayers") of ``teacher``'s blocks.

    The student is taken to keep the teacher's module names (structured pruning keeps them).

    Raises:
        ValueError: ``which`` is unknown or ``teacher`` has no BERT-style blocks.
    """
    if which not in HINTS:
        raise ValueError(f"hints: got {which!r}; allowed: {', '.join(HINTS)}")
    names = blocks(teacher)
    if not names:
        raise ValueError(
            "hints: the teacher has no BERT-style encoder blocks (attention.output.dense + LayerNorm, "
            "output.dense + LayerNorm); name the layers with features={...} instead"
        )
    layers = [n for b in names for n in ([f"{b}.attention.output", b] if which == "sublayers" else [b])]
    return {n: n for n in layers}


def token_mask(inputs: object, feature: torch.Tensor, pad: int | None) -> torch.Tensor | None:
    """(N, L) bool of the real tokens, or None when ``inputs`` are not padded token ids of ``feature``'s rows."""
    if pad is None or not isinstance(inputs, torch.Tensor) or inputs.is_floating_point() or inputs.dim() != 2:
        return None
    if feature.dim() < 3 or tuple(inputs.shape) != tuple(feature.shape[:2]):
        return None
    return (inputs != pad).to(feature.device)
