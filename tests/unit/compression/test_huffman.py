"""Huffman and the per-stream coder: round trips, optimal lengths (Kraft, entropy bound), corrupt streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slimtorch.compression import entropy, huffman


def _entropy_bits(symbols: np.ndarray) -> float:
    p = np.bincount(symbols) / symbols.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum() * symbols.size)


@pytest.mark.parametrize("n, seed", [(1, 0), (7, 1), (1000, 2), (20000, 3)])
def test_round_trip_and_size_within_one_bit_per_symbol_of_the_entropy(n, seed):
    symbols = np.random.default_rng(seed).geometric(0.15, size=n).clip(0, 255).astype(np.uint8)
    data = huffman.encode(symbols)
    assert np.array_equal(huffman.decode(data, n), symbols)
    payload_bits = (len(data) - 1 - data[0]) * 8
    assert _entropy_bits(symbols) <= payload_bits <= _entropy_bits(symbols) + n + 8


def test_lengths_by_hand_form_a_complete_prefix_code():
    lengths = huffman.code_lengths(np.array([5, 9, 12, 13, 16, 45]))  # the textbook example (CLRS 16.3)
    assert lengths.tolist() == [4, 4, 3, 3, 3, 1]
    codes = huffman.canonical_codes(lengths)
    assert [format(int(c), f"0{int(n)}b") for c, n in zip(codes, lengths)] == ["1110", "1111", "100", "101",
                                                                              "110", "0"]


def test_very_skewed_counts_stay_within_the_length_limit():
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])  # Fibonacci counts: unlimited Huffman would need 29-bit codes
    lengths = huffman.code_lengths(np.array(fib))
    assert lengths.max() <= huffman.MAX_LEN
    assert math.isclose(sum(2.0 ** -int(n) for n in lengths), 1.0)
    symbols = np.repeat(np.arange(30, dtype=np.uint8), np.minimum(fib, 500))
    assert np.array_equal(huffman.decode(huffman.encode(symbols), symbols.size), symbols)


def test_corrupt_or_short_huffman_streams_raise():
    data = huffman.encode(np.arange(10, dtype=np.uint8).repeat(5))
    with pytest.raises(ValueError, match="ends after"):
        huffman.decode(data[:8], 50)
    bad = bytes([data[0]]) + bytes([0xFF] * data[0]) + data[1 + data[0]:]
    with pytest.raises(ValueError, match="corrupt Huffman code-length table"):
        huffman.decode(bad, 50)


def test_stream_keeps_the_smallest_method():
    rng = np.random.default_rng(0)
    cases = {"skewed": rng.geometric(0.3, 5000).clip(0, 255).astype(np.uint8),
             "repeating": np.tile(rng.integers(0, 256, 64, dtype=np.uint8), 100),
             "tiny": np.array([3, 200], dtype=np.uint8)}
    for name, symbols in cases.items():
        sizes = entropy.candidates(symbols)
        stream = entropy.encode(symbols)
        assert len(stream) == 9 + min(sizes.values()), name
        assert entropy.method_of(stream) == min(sizes, key=sizes.get), name
        out, end = entropy.decode(stream, 0, symbols.size)
        assert np.array_equal(out, symbols) and end == len(stream)
    assert entropy.method_of(entropy.encode(cases["repeating"])) == "lzma"  # matches beat order-0 coding


def test_stream_refuses_more_symbols_than_allowed():
    stream = entropy.encode(np.zeros(100, dtype=np.uint8))
    with pytest.raises(ValueError, match="corrupt stream header"):
        entropy.decode(stream, 0, 99)
    with pytest.raises(ValueError, match="truncated stream header"):
        entropy.decode(stream[:5], 0, 100)
