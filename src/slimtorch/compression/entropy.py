"""Entropy coding of a stream of byte symbols: the smallest of raw, Huffman (ours) and LZMA (stdlib).

Huffman codes each symbol alone at its order-0 entropy (rounded up to whole bits per symbol);
LZMA is an adaptive range coder with context models and matches, which wins where neighbouring
symbols are related (e.g. sparse positions that repeat row after row). Each stream keeps whichever
is smaller and says so in its first byte, so the choice is measured per stream, never assumed.

Stream layout: ``[u8 method][u32 symbol count][u32 payload bytes][payload]`` (little-endian).
"""

from __future__ import annotations

import lzma
import struct

import numpy as np

import slimtorch.compression.huffman as huffman

METHODS = ("raw", "huffman", "lzma")
_HEAD = struct.Struct("<BII")
# Raw LZMA2 (no .xz container: the method byte and counts above replace its headers). lc=0/lp=0/pb=0:
# byte symbols with no alignment to exploit. A 1 MiB window: preset 9's 64 MiB costs 6x the time
# (allocation) for the same size on layer-sized streams.
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": 0, "pb": 0,
             "dict_size": 1 << 20}]


def _payload(method: str, symbols: np.ndarray) -> bytes:
    if method == "raw":
        return symbols.tobytes()
    if method == "huffman":
        return huffman.encode(symbols)
    return lzma.compress(symbols.tobytes(), format=lzma.FORMAT_RAW, filters=_FILTERS)


def candidates(symbols: np.ndarray) -> dict[str, int]:
    """Payload bytes of each method for these symbols (what :func:`encode` chooses from)."""
    symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
    return {m: len(_payload(m, symbols)) for m in METHODS}


def encode(symbols: np.ndarray, methods: tuple[str, ...] = METHODS) -> bytes:
    """The smallest encoding of uint8 ``symbols`` among ``methods``, with its stream header."""
    symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
    best = min(((m, _payload(m, symbols)) for m in methods), key=lambda mp: len(mp[1]))
    return _HEAD.pack(METHODS.index(best[0]), symbols.size, len(best[1])) + best[1]


def method_of(stream: bytes) -> str:
    """The method a stream written by :func:`encode` uses."""
    return METHODS[stream[0]]


def decode(buf: bytes, offset: int, max_count: int) -> tuple[np.ndarray, int]:
    """Read one stream at ``offset``; returns (symbols, offset past the stream).

    Raises:
        ValueError: a truncated or corrupt stream, or more than ``max_count`` symbols (what the
            tensor's shape allows: a file never makes us allocate more).
    """
    if offset + _HEAD.size > len(buf):
        raise ValueError("truncated stream header")
    method, count, size = _HEAD.unpack_from(buf, offset)
    start, end = offset + _HEAD.size, offset + _HEAD.size + size
    if method >= len(METHODS) or count > max_count or end > len(buf):
        raise ValueError(f"corrupt stream header (method {method}, {count} symbols, {size} bytes)")
    payload = bytes(buf[start:end])
    if METHODS[method] == "raw":
        out = np.frombuffer(payload, dtype=np.uint8)
    elif METHODS[method] == "huffman":
        out = huffman.decode(payload, count)
    else:
        try:
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_FILTERS)
            out = np.frombuffer(dec.decompress(payload, max_length=count), dtype=np.uint8)
        except lzma.LZMAError as err:
            raise ValueError(f"corrupt LZMA stream ({err})") from None
    if out.size != count:
        raise ValueError(f"stream holds {out.size} symbols, its header says {count}")
    return out, end
