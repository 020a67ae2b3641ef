"""Inputs for commands that run a model without a dataset: a seeded random batch of ``--input-shape``."""

from __future__ import annotations

import math
from typing import Any

from ..bench.limits import MAX_BATCH_VALUES as MAX_VALUES
from . import UsageError


def random_batch(shape: str | None, rows: int, missing: str):
    """``rows`` seeded random samples of the per-sample ``shape`` ("C,H,W" or "features").

    Args:
        shape: comma-separated integers, or None/empty when nothing gave one.
        rows: the batch size.
        missing: what to advise when ``shape`` is missing (after "--input-shape: ").

    Raises:
        UsageError: no shape, one that is not comma-separated positive integers, or a batch over
            ``MAX_VALUES`` values.

    Example:
        >>> random_batch("1,28,28", 2, "give one").shape
        torch.Size([2, 1, 28, 28])
    """
    import torch

    if not shape:
        raise UsageError(f"--input-shape: {missing}")
    allowed = "allowed: comma-separated positive integers like 3,32,32"
    try:
        dims = [int(s) for s in str(shape).split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--input-shape: got {shape!r}; {allowed}") from None
    if not dims or any(d < 1 for d in dims):
        raise UsageError(f"--input-shape: got {shape!r}; {allowed}")
    if rows * math.prod(dims) > MAX_VALUES:  # checked before allocating: a typo must not take the machine's memory
        raise UsageError(f"--input-shape: {shape} makes {rows * math.prod(dims):,} values for a batch of {rows}; "
                         f"allowed: at most {MAX_VALUES:,} ({MAX_VALUES * 4 >> 20} MiB of float32)")
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


def key_values(items: list[str], flag: str, example: str) -> dict[str, Any]:
    """``FLAG KEY=VALUE`` items as a dict, values parsed as YAML (``example`` shows the form in the error).

    Raises:
        UsageError: an item that is not KEY=VALUE with an identifier KEY, or a value YAML cannot read.
    """
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"{flag}: got {item!r}; allowed: KEY=VALUE, e.g. {example}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UsageError(f"{flag} {key}: cannot parse {value!r} (YAML: a number, list or string)") from None
    return out


def data_options(items: list[str]) -> dict:
    """``--data-option KEY=VALUE`` flags as the loader's keyword options (values parsed as YAML).

    Example:
        >>> data_options(["size=96"])
        {'size': 96}
    """
    return key_values(items, "--data-option", "size=96")


def data_flag(message: str, options: dict) -> str:
    """``--data-option`` when a data loader's error is about the options given (by name), else ``--data``."""
    about = "option" in message or any(f"{k}=" in message or repr(k) in message for k in options)
    return "--data-option" if options and about else "--data"
