"""Sparse tensors on disk: a packed bitmask of nonzeros plus the nonzero values (used by ``st.save``).

A tensor is stored this way only when it is smaller than dense: numel/8 bytes of mask plus the
values must beat numel * itemsize. ``st.load`` rebuilds the identical tensor (-0.0 reads back as 0.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import io

NAME = "bitmask"


def encode(t: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    if not t.is_floating_point() or t.numel() < 64:
        return None
    nz = t != 0
    nnz = int(nz.sum())
    if (t.numel() + 7) // 8 + nnz * t.element_size() >= t.numel() * t.element_size():
        return None
    bits = torch.from_numpy(np.packbits(nz.reshape(-1).numpy()))
    return {"mask": bits, "values": t[nz].contiguous()}, {"shape": list(t.shape)}


def decode(parts: dict[str, torch.Tensor], meta: dict[str, Any]) -> torch.Tensor:
    shape = meta["shape"]
    numel = int(np.prod(shape)) if shape else 1
    mask = torch.from_numpy(np.unpackbits(parts["mask"].numpy(), count=numel).astype(bool))
    values = parts["values"]
    out = torch.zeros(numel, dtype=values.dtype)
    out[mask] = values
    return out.view(shape)


def shape(parts: dict[str, list[int]], meta: dict[str, Any]) -> list[int]:
    """The decoded shape, checked against the parts' sizes: a mask bit per element, at most one value each."""
    dims = [int(d) for d in meta["shape"]]
    numel = int(np.prod(dims)) if dims else 1
    if min(dims, default=0) < 0 or parts["mask"] != [(numel + 7) // 8] or len(parts["values"]) != 1 \
            or parts["values"][0] > numel:
        raise ValueError(f"bitmask of {parts['mask']} bytes and {parts['values']} values cannot hold shape {dims}")
    return dims


io.register_codec(NAME, encode, decode, shape)
