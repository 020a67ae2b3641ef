"""The packed tensor format of Deep Compression: codebook + entropy-coded cluster indices and sparse gaps.

A tensor with at most 256 distinct nonzero values (a shared layer) is stored as one byte blob::

    u8 version | u8 order | u8 cap | u32 nonzeros | u16 k | codebook (k values, the tensor's dtype)
    | indices stream | gaps stream | u32 CRC-32 of everything before

``order`` 1 walks a (rows, rest) weight column by column, which turns a dead input (a border pixel
of MNIST, pruned in every row) into one long gap. Positions are coded as gaps between nonzeros
(Han et al.'s relative indexing): gap ``g < cap`` means "skip g zeros, then a weight", the symbol
``cap`` means "skip cap zeros, no weight". Both streams go through :mod:`.entropy`. Decoding
rebuilds exactly the same dense tensor (-0.0 reads back as 0.0); a damaged blob fails its CRC.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import torch

import slimtorch.compression.entropy as entropy
import slimtorch.compression.huffman as huffman

from .sharing import clusters

NAME = "packed"
VERSION = 1
CAPS = (15, 31, 63, 127, 255)  # gap symbol meaning "skip this many zeros", chosen per tensor
MAX_CODEBOOK = 256
_HEAD = struct.Struct("<BBBIH")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _walk(t: torch.Tensor, order: int) -> torch.Tensor:
    """The tensor's elements in storage order (0) or column by column of its (rows, rest) view (1)."""
    return t.reshape(t.shape[0], -1).t().reshape(-1) if order else t.reshape(-1)


def _gaps(positions: np.ndarray, cap: int) -> np.ndarray:
    """Gap symbols for sorted ``positions``: a run longer than ``cap - 1`` emits ``cap`` fillers first."""
    runs = np.diff(positions, prepend=-1) - 1
    fillers = runs // cap
    out = np.full(int((fillers + 1).sum()), cap, dtype=np.uint8)
    out[np.cumsum(fillers + 1) - 1] = runs % cap
    return out


def _positions(gaps: np.ndarray, cap: int) -> np.ndarray:
    step = np.where(gaps == cap, cap, gaps.astype(np.int64) + 1)
    return (np.cumsum(step) - 1)[gaps != cap]


def _huffman_bits(symbols: np.ndarray) -> int:
    """Order-0 Huffman size estimate in bits (picks the cap before the full encode)."""
    counts = np.bincount(symbols, minlength=256)
    return int((counts * huffman.code_lengths(counts)).sum())


def encode_tensor(t: torch.Tensor, methods: tuple[str, ...] = entropy.METHODS) -> bytes | None:
    """The packed blob of ``t``, or None when it has more than 256 distinct nonzero values.

    ``methods`` limits the entropy coders tried per stream (the benchmark compares them this way).
    """
    if not t.is_floating_point() or t.numel() == 0 or not bool(torch.isfinite(t).all()):
        return None
    codebook, index = clusters(t.detach().cpu())
    if codebook.numel() > MAX_CODEBOOK:
        return None
    best = None
    for order in (0, 1) if t.dim() > 1 else (0,):
        idx = _walk(index, order).numpy()
        pos = np.flatnonzero(idx >= 0)
        cap = min(CAPS, key=lambda c: _huffman_bits(_gaps(pos, c)))
        streams = entropy.encode(idx[pos].astype(np.uint8), methods) + entropy.encode(_gaps(pos, cap), methods)
        if best is None or len(streams) < len(best[2]):
            best = (order, cap, streams)
    order, cap, streams = best
    head = _HEAD.pack(VERSION, order, cap, int((index >= 0).sum()), codebook.numel())
    body = head + codebook.contiguous().view(torch.uint8).numpy().tobytes() + streams
    return body + struct.pack("<I", zlib.crc32(body))


def decode_tensor(blob: bytes, shape: list[int], dtype: torch.dtype) -> torch.Tensor:
    """The dense tensor of a blob written by :func:`encode_tensor`.

    Raises:
        ValueError: a corrupt, truncated or inconsistent blob (one line).
    """
    numel = int(np.prod(shape)) if shape else 1
    if len(blob) < _HEAD.size + 4 or zlib.crc32(blob[:-4]) != struct.unpack("<I", blob[-4:])[0]:
        raise ValueError("packed tensor is corrupt or truncated (checksum mismatch)")
    version, order, cap, nnz, k = _HEAD.unpack_from(blob)
    item = torch.empty(0, dtype=dtype).element_size()
    start = _HEAD.size + k * item
    if version != VERSION or cap not in CAPS or order > 1 or nnz > numel or k > MAX_CODEBOOK or start > len(blob):
        raise ValueError(f"packed tensor header is invalid (version {version}, {nnz} nonzeros, {k} values)")
    codebook = torch.tensor(bytearray(blob[_HEAD.size:start]), dtype=torch.uint8).view(dtype)
    idx, off = entropy.decode(blob, start, nnz)
    gaps, off = entropy.decode(blob, off, nnz + numel // cap + 1)
    pos = _positions(gaps, cap)
    if off != len(blob) - 4 or pos.size != nnz or (nnz and (pos[-1] >= numel or idx.max() >= k)):
        raise ValueError("packed tensor streams do not match its header")
    flat = torch.zeros(numel, dtype=dtype)
    flat[torch.from_numpy(pos)] = codebook[torch.from_numpy(idx.astype(np.int64))]
    if order:
        rows = shape[0]
        return flat.view(numel // rows, rows).t().contiguous().view(shape)
    return flat.view(shape)


def sizes(blob: bytes, itemsize: int) -> dict[str, int]:
    """Bytes of each part of a blob: codebook, indices, positions (gaps) and header (+ checksum)."""
    _, _, _, _, k = _HEAD.unpack_from(blob)
    start = _HEAD.size + k * itemsize
    idx_end = start + 9 + struct.unpack_from("<I", blob, start + 5)[0]
    return {"codebook": k * itemsize, "indices": idx_end - start, "positions": len(blob) - 4 - idx_end,
            "header": _HEAD.size + 4}


def methods(blob: bytes, itemsize: int) -> dict[str, str]:
    """Which entropy coder each stream of a blob uses (raw, huffman or lzma)."""
    _, _, _, _, k = _HEAD.unpack_from(blob)
    start = _HEAD.size + k * itemsize
    idx_end = start + 9 + struct.unpack_from("<I", blob, start + 5)[0]
    return {"indices": entropy.method_of(blob[start:]), "positions": entropy.method_of(blob[idx_end:])}


# ---- the st.save codec ---------------------------------------------------------------------------
def encode(t: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    blob = encode_tensor(t)
    if blob is None or len(blob) >= t.numel() * t.element_size():
        return None
    meta = {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
    return {"blob": torch.frombuffer(bytearray(blob), dtype=torch.uint8)}, meta


def decode(parts: dict[str, torch.Tensor], meta: dict[str, Any]) -> torch.Tensor:
    return decode_tensor(parts["blob"].cpu().numpy().tobytes(), list(meta["shape"]), DTYPES[meta["dtype"]])


def shape(parts: dict[str, list[int]], meta: dict[str, Any]) -> list[int]:
    """The decoded shape, checked before anything is allocated: a 1-D byte blob and a float dtype."""
    dims = [int(d) for d in meta["shape"]]
    if min(dims, default=0) < 0 or meta.get("dtype") not in DTYPES or len(parts["blob"]) != 1:
        raise ValueError(f"packed tensor of shape {dims} and dtype {meta.get('dtype')!r} is malformed")
    return dims
