"""Attention heads: whole heads leave q, k, v and the output projection together.

``nn.MultiheadAttention`` derives its head size from the embedding size, so a module with fewer
heads becomes a :class:`HeadPrunedMHA` (same parameters and state-dict keys, its own forward).
Hugging Face BERT-style self-attention reshapes with ``-1`` heads, so slicing q/k/v and updating
``num_attention_heads`` / ``all_head_size`` is enough; its output projection is an ordinary
``nn.Linear`` (``BertSelfOutput.dense``) that the graph finds as the consumer of the heads.
The embedding (residual) size of attention is never pruned: only heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .surgery import _BY_NAME, _TABLE, Surgery

QKV = ("q", "k", "v")


def _heads(tr, name: str, n: int, head_dim: int):
    lab = tr.new(n, name, "heads")
    for h in range(n // head_dim):
        tr.union_all(lab[h * head_dim : (h + 1) * head_dim])
    return lab


def _arg(args, kwargs, i, key):
    return args[i] if len(args) > i else kwargs.get(key)


# ---- torch.nn.MultiheadAttention ----------------------------------------------------------------
def _mha_trace(tr, name, m, args, kwargs, out):
    q, k, v = (_arg(args, kwargs, i, key) for i, key in enumerate(("query", "key", "value")))
    for t in (q, k, v):
        tr.block(tr.channels(t, -1), "attention embed size", warn=False)
    tr.set(out[0], {out[0].dim() - 1: tr.channels(q, -1)})
    if m.bias_k is not None or m.add_zero_attn or m.in_proj_weight is None:
        tr.warnings.append(f"layer {name!r}: heads of MultiheadAttention with bias_k/add_zero_attn/kdim are kept")
        return
    n = m.in_proj_weight.shape[0] // 3
    lab = _heads(tr, name, n, m.head_dim)
    for role in QKV + ("o",):
        tr.slot(name, role, lab)


def _mha_params(m):
    if m.in_proj_weight is None:
        return {}
    spec = {"in_proj_weight": [(0, QKV)], "out_proj.weight": [(1, ("o",))]}
    if m.in_proj_bias is not None:
        spec["in_proj_bias"] = [(0, QKV)]
    return spec


def _mha_update(m, keep):
    m.num_heads = len(keep["q"]) // m.head_dim
    m.__class__ = HeadPrunedMHA  # same parameters, a forward that does not assume heads * head_dim == embed_dim
    m._qkv_same_embed_dim = False  # also keeps TransformerEncoderLayer off its fused fast path
    return m


class HeadPrunedMHA(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` with some heads removed (``num_heads * head_dim < embed_dim``)."""

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights=True,
        attn_mask=None,
        average_attn_weights=True,
        is_causal=False,
    ):
        if not self.batch_first and query.dim() == 3:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
        n = self.in_proj_weight.shape[0] // 3
        w, b = self.in_proj_weight, self.in_proj_bias
        bs = (None, None, None) if b is None else (b[:n], b[n : 2 * n], b[2 * n :])
        h, d = self.num_heads, self.head_dim
        q, k, v = (F.linear(t, w[i * n : (i + 1) * n], bs[i]) for i, t in enumerate((query, key, value)))
        q, k, v = (t.view(t.shape[0], t.shape[1], h, d).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d)
        scores = scores + _additive(attn_mask, scores, is_causal, key_padding_mask)
        attn = torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            attn = F.dropout(attn, self.dropout)
        out = (attn @ v).transpose(1, 2).reshape(q.shape[0], -1, h * d)
        out = self.out_proj(out)
        if unbatched:
            out, attn = out.squeeze(0), attn.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, attn.mean(dim=-3) if average_attn_weights else attn


def _additive(attn_mask, scores, is_causal, key_padding_mask) -> torch.Tensor:
    """Masks as one additive float tensor broadcastable to (batch, heads, L, S)."""
    L, S = scores.shape[-2:]
    total = torch.zeros((), dtype=scores.dtype, device=scores.device)
    if attn_mask is None and is_causal:
        attn_mask = torch.triu(torch.ones(L, S, dtype=torch.bool, device=scores.device), 1)
    for mask, shape in ((attn_mask, (1, 1, L, S)), (key_padding_mask, (-1, 1, 1, S))):
        if mask is None:
            continue
        if mask.dim() == 3:
            raise ValueError("HeadPrunedMHA: per-head 3-D attn_mask is not supported after head pruning")
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device).masked_fill(mask, float("-inf"))
        total = total + mask.to(scores.dtype).reshape(shape)
    return total


# ---- Hugging Face BERT-style self-attention (query/key/value Linear + num_attention_heads) ------
def _hf_trace(tr, name, m, args, kwargs, out):
    x = _arg(args, kwargs, 0, "hidden_states")
    tr.block(tr.channels(x, -1), "attention hidden size", warn=False)
    lab = _heads(tr, name, m.all_head_size, m.attention_head_size)
    for role in QKV:
        tr.slot(name, role, lab)
    first = out[0] if isinstance(out, tuple) else out
    tr.set(first, {first.dim() - 1: lab})


def _hf_params(m):
    spec = {}
    for attr, role in zip(("query", "key", "value"), QKV):
        spec[f"{attr}.weight"] = [(0, (role,))]
        if getattr(m, attr).bias is not None:
            spec[f"{attr}.bias"] = [(0, (role,))]
    return spec


def _hf_update(m, keep):
    n = len(keep["q"])
    m.num_attention_heads = n // m.attention_head_size
    m.all_head_size = n
    for attr in ("query", "key", "value"):
        getattr(m, attr).out_features = n
    return m


_TABLE[nn.MultiheadAttention] = Surgery(_mha_trace, _mha_params, ("o",), _mha_update)
for _name in ("BertSelfAttention", "BertSdpaSelfAttention", "RobertaSelfAttention", "RobertaSdpaSelfAttention"):
    _BY_NAME[_name] = Surgery(_hf_trace, _hf_params, (), _hf_update)
