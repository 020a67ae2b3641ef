"""Canonical Huffman coding of byte symbols, vectorised with numpy (encode) and table-driven (decode).

The stream stores only each used symbol's code length (4 bits each, lengths <= 15); the codes follow
from the lengths (canonical order: by length, then symbol), as in DEFLATE.
"""

from __future__ import annotations

import heapq

import numpy as np

MAX_LEN = 15  # code lengths fit a nibble; the decode table has 2^15 entries
CHUNK_BITS = 1 << 20  # bit positions windowed at once while decoding


def code_lengths(counts: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Huffman code length of each symbol (0 for symbols that do not occur), at most ``max_len``.

    Lengths past ``max_len`` (very skewed counts) are avoided by halving the counts and rebuilding,
    which costs a fraction of a bit per symbol at worst.
    """
    counts = np.asarray(counts, dtype=np.int64).copy()
    while True:
        lengths = _lengths(counts)
        if lengths.max(initial=0) <= max_len:
            return lengths
        counts = np.where(counts > 0, np.maximum(counts >> 1, 1), 0)


def _lengths(counts: np.ndarray) -> np.ndarray:
    lengths = np.zeros(counts.size, dtype=np.int64)
    present = np.flatnonzero(counts)
    if present.size == 1:
        lengths[present] = 1
        return lengths
    # heap of (weight, tie-break, members): merging two nodes deepens every member by one
    heap = [(int(counts[s]), int(s), [int(s)]) for s in present]
    heapq.heapify(heap)
    while len(heap) > 1:
        w1, t1, m1 = heapq.heappop(heap)
        w2, t2, m2 = heapq.heappop(heap)
        lengths[m1 + m2] += 1
        heapq.heappush(heap, (w1 + w2, min(t1, t2), m1 + m2))
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """The canonical code (an integer read MSB first) of each symbol with a nonzero length."""
    codes = np.zeros(lengths.size, dtype=np.int64)
    code, prev = 0, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev
        codes[s], prev = code, int(lengths[s])
        code += 1
    return codes


def encode(symbols: np.ndarray) -> bytes:
    """Huffman-code uint8 ``symbols``: ``[u8 h][h bytes: two 4-bit code lengths each][payload bits]``.

    The table covers symbols 0 .. 2h - 1, the smallest even count past the largest symbol used.
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    half = (int(symbols.max(initial=0)) + 2) // 2
    lengths = code_lengths(np.bincount(symbols, minlength=2 * half))
    codes = canonical_codes(lengths)
    n_bits = lengths[symbols]
    total = int(n_bits.sum())
    start = np.repeat(np.cumsum(n_bits) - n_bits, n_bits)
    width = np.repeat(n_bits, n_bits)
    shift = width - 1 - (np.arange(total) - start)
    bits = (np.repeat(codes[symbols], n_bits) >> shift) & 1
    table = (lengths[0::2] << 4 | lengths[1::2]).astype(np.uint8)
    return bytes([half]) + table.tobytes() + np.packbits(bits.astype(np.uint8)).tobytes()


def decode(data: bytes, count: int) -> np.ndarray:
    """Decode ``count`` symbols written by :func:`encode`.

    Raises:
        ValueError: the code-length table is not a valid prefix code or the payload ends early.
    """
    head = 1 + (data[0] if data else 0)
    if len(data) < head or head == 1:
        raise ValueError("Huffman stream shorter than its code-length table")
    table = np.frombuffer(data[1:head], dtype=np.uint8)
    lengths = np.empty(2 * table.size, dtype=np.int64)
    lengths[0::2], lengths[1::2] = table >> 4, table & 15
    if count == 0:
        return np.zeros(0, dtype=np.uint8)
    present = lengths[lengths > 0]
    kraft = float(np.sum(2.0 ** -present)) if present.size else 0.0
    if present.size == 0 or kraft > 1.0 or (present.size > 1 and kraft < 1.0):
        raise ValueError("corrupt Huffman code-length table")
    sym_of, len_of = _decode_table(lengths)
    bits = np.unpackbits(np.frombuffer(data[head:], dtype=np.uint8))
    out: list[int] = []
    pos, limit = 0, bits.size
    while len(out) < count:  # windows a chunk at a time: memory stays bounded for any layer size
        if pos >= limit:
            raise ValueError(f"Huffman payload ends after {len(out)} of {count} symbols")
        lo, hi = pos, min(pos + CHUNK_BITS, limit)
        window = _windows(bits, lo, hi)
        syms, lens = sym_of[window].tolist(), len_of[window].tolist()
        while len(out) < count and pos < hi:
            out.append(syms[pos - lo])
            pos += lens[pos - lo]
    if pos > limit:
        raise ValueError(f"Huffman payload ends inside symbol {count - 1}")
    return np.array(out, dtype=np.uint8)


def _decode_table(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symbol and code length for every ``MAX_LEN``-bit window that starts with that symbol's code."""
    codes = canonical_codes(lengths)
    sym_of = np.zeros(1 << MAX_LEN, dtype=np.int64)
    len_of = np.full(1 << MAX_LEN, 1 << 30, dtype=np.int64)  # unused windows: jump past the end
    for s in np.flatnonzero(lengths):
        span = MAX_LEN - int(lengths[s])
        lo = int(codes[s]) << span
        sym_of[lo:lo + (1 << span)] = s
        len_of[lo:lo + (1 << span)] = lengths[s]
    return sym_of, len_of


def _windows(bits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The ``MAX_LEN``-bit integer starting at each bit position in [lo, hi) (zeros past the end)."""
    part = bits[lo:hi + MAX_LEN].astype(np.int64)
    padded = np.concatenate([part, np.zeros(hi + MAX_LEN - lo - part.size, dtype=np.int64)])
    window = np.zeros(hi - lo, dtype=np.int64)
    for j in range(MAX_LEN):
        window |= padded[j:j + hi - lo] << (MAX_LEN - 1 - j)
    return window
