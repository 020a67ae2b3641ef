"""Inputs for commands that run a model without a dataset: a seeded random batch of ``--input-shape``."""

from __future__ import annotations

from . import UsageError


def random_batch(shape: str | None, rows: int, missing: str):
    """``rows`` seeded random samples of the per-sample ``shape`` ("C,H,W" or "features").

    Args:
        shape: comma-separated integers, or None/empty when nothing gave one.
        rows: the batch size.
        missing: what to advise when ``shape`` is missing (after "--input-shape: ").

    Raises:
        UsageError: no shape, or one that is not comma-separated integers.

    Example:
        >>> random_batch("1,28,28", 2, "give one").shape
        torch.Size([2, 1, 28, 28])
    """
    import torch

    if not shape:
        raise UsageError(f"--input-shape: {missing}")
    try:
        dims = [int(s) for s in str(shape).split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--input-shape: got {shape!r}; allowed: comma-separated integers like 3,32,32") from None
    return torch.randn(rows, *dims, generator=torch.Generator().manual_seed(0))


# the zoo models whose inputs are token ids (random floats cannot index their embedding)
TEXT_MODELS = ("minilm",)
_SENTENCES = ("a new user prunes a sentence encoder", "two sentences of different lengths are traced")


def sentence_batch(rows: int):
    """``rows`` token-id rows (two sample sentences, repeated) for a zoo text encoder, padded to one length.

    Example:
        >>> sentence_batch(4).shape[0]
        4
    """
    from ..data.text import encode

    return encode([_SENTENCES[i % len(_SENTENCES)] for i in range(rows)])
