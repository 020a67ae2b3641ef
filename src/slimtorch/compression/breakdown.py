"""What the bytes of a saved model folder are: weights, masks, codebooks, indices, gaps, biases, metadata.

Read from the files themselves (the safetensors header and ``model.json``), so the parts add up to the
folder's bytes exactly, whatever codec each tensor got. A packed blob is split with the same
:func:`.codec.sizes` that :func:`.packing.packed_bytes` uses on a model in memory.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from ..untrusted import read_header
from . import codec

# in drawing order: the parts of the weights first, then what every model carries
PARTS = ("weights", "masks", "codebooks", "indices", "gaps", "blob_headers", "biases_other", "metadata")
LABELS = {"weights": "weights / values", "masks": "sparsity masks", "codebooks": "codebooks",
          "indices": "cluster indices", "gaps": "sparse gaps", "blob_headers": "packed headers",
          "biases_other": "biases, BN, scales", "metadata": "file headers + model.json"}


def _blob(path: Path, start: int, end: int) -> bytes:
    """Bytes ``start:end`` of the tensor data of a safetensors file (after its 8-byte length and header)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n + start)
        return f.read(end - start)


def saved_breakdown(directory: str | Path) -> dict[str, int]:
    """Bytes of a folder written by ``st.save``, by part.

    A tensor with two or more dimensions counts as weights (dense, or the nonzero values of a bitmask
    encoding), one with fewer as biases/other; a packed blob splits into codebook, indices, gaps and
    its header + checksum; ``metadata`` is the safetensors header plus ``model.json``.

    Args:
        directory: the saved model folder (``model.safetensors`` + ``model.json``).

    Returns:
        ``{part: bytes}`` for every part in :data:`PARTS`; the values sum to the two files' sizes, and
        all but ``metadata`` to the safetensors file's tensor bytes.

    Raises:
        slimtorch.io.ModelFileError: the safetensors file is damaged (one line).

    Example:
        >>> saved_breakdown(st.save(st.pack(model), "out/m"))["indices"]  # doctest: +SKIP
        1093
    """
    directory = Path(directory)
    weights_path, meta_path = directory / "model.safetensors", directory / "model.json"
    header = read_header(weights_path)
    encodings = json.loads(meta_path.read_text()).get("encodings", {})
    out = dict.fromkeys(PARTS, 0)
    for name, info in header.items():
        start, end = (int(o) for o in info["data_offsets"])
        base, _, part = name.partition("::")
        enc = encodings.get(base) or {}
        dims = len((enc.get("meta") or {}).get("shape", info["shape"])) if part else len(info["shape"])
        if enc.get("codec") == codec.NAME and part == "blob":
            item = torch.empty(0, dtype=codec.DTYPES[enc["meta"]["dtype"]]).element_size()
            sizes = codec.sizes(_blob(weights_path, start, end), item)
            for key, sub in (("codebooks", "codebook"), ("indices", "indices"), ("gaps", "positions"),
                             ("blob_headers", "header")):
                out[key] += sizes[sub]
        elif part == "mask":
            out["masks"] += end - start
        else:
            out["weights" if dims >= 2 else "biases_other"] += end - start
    tensor_bytes = sum(out.values())
    out["metadata"] = weights_path.stat().st_size - tensor_bytes + meta_path.stat().st_size
    return out
