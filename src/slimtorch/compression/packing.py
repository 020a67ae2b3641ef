"""``pack``: save a weight-shared model in the entropy-coded format (a codec of ``st.save``), verified.

Packing records a ``pack`` transform that names the ``packed`` codec; ``st.save`` then tries that
codec first for every tensor and ``st.load`` decodes it back to the same dense tensors. The model
itself does not change: it runs through every backend like any other. Tensors with more than 256
distinct nonzero values (biases, BN statistics, unshared layers) are saved as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

import slimtorch.compression.codec as codec

from .. import io
from ..config import Config
from ..layers import prunable
from ..registry import handler, register

KIND = "pack"

if TYPE_CHECKING:
    from ..registry import HandlerContext


@register("pack", kind="transform")
@dataclass(frozen=True)
class PackConfig(Config):
    """Save the model from here on as codebooks + entropy-coded indices and sparse gaps (Deep Compression).

    Run it after ``share_weights``; the saved bytes then drop by the index width over 32 bits and
    more (pruned zeros cost only their gaps). Example (recipe): ``- pack``.
    """


def pack(model: nn.Module) -> nn.Module:
    """Mark ``model`` to be saved packed, after checking that every packable tensor round-trips exactly.

    Args:
        model: a model whose layers were shared by :func:`share_weights` (any model is accepted; only
            tensors with at most 256 distinct nonzero values are packed).

    Returns:
        The same model (``st.save`` now writes the packed format for it).

    Raises:
        ValueError: no conv/linear weight has at most 256 distinct nonzero values (share it first).
        RuntimeError: a tensor did not decode to the identical tensor (a bug: nothing is marked).

    Example:
        >>> st.save(st.pack(st.share_weights(model, bits=5)), "out/model")
    """
    layers = prunable(model)
    if not any(codec.encode_tensor(w.detach().cpu()) is not None for w in layers.values()):
        raise ValueError(f"pack: none of the {len(layers)} conv/linear weights has at most {codec.MAX_CODEBOOK} "
                         "distinct nonzero values; share them first with st.share_weights(model, bits=...)")
    for name, t in model.state_dict().items():
        blob = codec.encode_tensor(t.detach().cpu())
        if blob is not None and not torch.equal(codec.decode_tensor(blob, list(t.shape), t.dtype), t.cpu()):
            raise RuntimeError(f"packing {name} does not round-trip; the model was left unpacked")
    if not any(tr["kind"] == KIND for tr in io.transforms(model)):
        io.record_transform(model, KIND, {"codec": codec.NAME})
    return model


def packed_bytes(model: nn.Module) -> dict[str, Any]:
    """Bytes of the packed tensors by part, and of the tensors saved as they are.

    Returns:
        ``{"codebook", "indices", "positions", "header", "other": bytes, "methods": {tensor: {stream:
        method}}}``; ``other`` counts the raw bytes of tensors that are not packed (biases, ...).
    """
    out: dict[str, Any] = {"codebook": 0, "indices": 0, "positions": 0, "header": 0, "other": 0, "methods": {}}
    for name, t in model.state_dict().items():
        parts = codec.encode(t.detach().cpu())
        if parts is None:
            out["other"] += t.numel() * t.element_size()
            continue
        blob = parts[0]["blob"].numpy().tobytes()
        for part, size in codec.sizes(blob, t.element_size()).items():
            out[part] += size
        out["methods"][name] = codec.methods(blob, t.element_size())
    return out


def _replay(model: nn.Module, record: dict[str, Any]) -> nn.Module:
    """Loading: nothing to rebuild (the record itself keeps the model packed when saved again)."""
    return model


@handler(PackConfig)
def _pack(model: nn.Module, cfg: PackConfig, ctx: HandlerContext) -> nn.Module:
    return pack(model)


io.register_rebuilder(KIND, _replay)
io.register_codec(codec.NAME, codec.encode, codec.decode, codec.shape, opt_in=True)  # only after pack()
