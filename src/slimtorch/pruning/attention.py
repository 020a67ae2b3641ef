"""Attention heads: whole heads leave q, k, v and the output projection together.

``nn.MultiheadAttention`` derives its head size from the embedding size, so a module with fewer
heads becomes a :class:`HeadPrunedMHA` (same parameters and state-dict keys, its own forward);
torch's fused encoder kernel needs all heads, so a pruned ``TransformerEncoderLayer`` runs in Python.
Hugging Face BERT-style self-attention reshapes with ``-1`` heads, so slicing q/k/v and updating
``num_attention_heads`` / ``all_head_size`` is enough (the removed heads are also listed in
``config.pruned_heads``, HF's record of them); its output projection is an ordinary
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
    # torch's fused encoder kernel (torch._transformer_encoder_layer_fwd -> _native_multi_head_attention) checks
    # TORCH_CHECK(3 * embed_dim == qkv_weight.size(0)): a fused q|k|v of 3 * embed_dim rows, so it cannot run with
    # fewer heads while the embedding (residual) size stays. False makes TransformerEncoderLayer.forward skip the
    # fast path (it would raise) and call this module, as torch does for any layer its kernel cannot take.
    m._qkv_same_embed_dim = False
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
        if query.is_nested:  # nn.TransformerEncoder in eval packs a padded batch so (use_nested_tensor, padding mask)
            return _nested(self, query, key, value, attn_mask, is_causal), None
        if not self.batch_first and query.dim() == 3:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
        out, attn = self._attend(query, key, value, key_padding_mask, attn_mask, is_causal, need_weights)
        if unbatched:
            out, attn = out.squeeze(0), None if attn is None else attn.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if attn is None:
            return out, None
        return out, attn.mean(dim=-3) if average_attn_weights else attn

    def _attend(self, query, key, value, key_padding_mask, attn_mask, is_causal, need_weights):
        """Batch-first attention; the weights (batch, heads, L, S) only when ``need_weights``."""
        n = self.in_proj_weight.shape[0] // 3
        w, b = self.in_proj_weight, self.in_proj_bias
        bs = (None, None, None) if b is None else (b[:n], b[n : 2 * n], b[2 * n :])
        h, d = self.num_heads, self.head_dim
        q, k, v = (F.linear(t, w[i * n : (i + 1) * n], bs[i]) for i, t in enumerate((query, key, value)))
        q, k, v = (t.view(t.shape[0], t.shape[1], h, d).transpose(1, 2) for t in (q, k, v))
        mask = _additive(attn_mask, q, k, is_causal, key_padding_mask)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(d)
            attn = torch.softmax(scores if mask is None else scores + mask, dim=-1)
            ctx = (F.dropout(attn, p) if p > 0 else attn) @ v
        else:  # as torch's own MultiheadAttention without weights: one fused kernel where the backend has one
            attn, ctx = None, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = self.out_proj(ctx.transpose(1, 2).reshape(q.shape[0], -1, h * d))
        return out, attn


def _nested(mha: HeadPrunedMHA, query, key, value, attn_mask, is_causal):
    """Attention on nested (ragged, batch-first) tensors: pad, mask the padding keys, re-pack."""
    (q, lengths), (k, k_lengths), (v, _) = (_unpad(t) for t in (query, key, value))
    k_pad = torch.arange(k.shape[1], device=k.device)[None] >= torch.tensor(k_lengths, device=k.device)[:, None]
    out, _ = mha._attend(q, k, v, k_pad, attn_mask, is_causal, need_weights=False)
    return torch.nested.as_nested_tensor([o[:n] for o, n in zip(out.unbind(0), lengths)])


def _unpad(t: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    return t.to_padded_tensor(0.0), [s.shape[0] for s in t.unbind()]


def _additive(attn_mask, q, k, is_causal, key_padding_mask) -> torch.Tensor | None:
    """Masks as one additive float tensor broadcastable to (batch, heads, L, S); None when there is none."""
    L, S = q.shape[-2], k.shape[-2]
    total = None
    if attn_mask is None and is_causal:
        attn_mask = torch.triu(torch.ones(L, S, dtype=torch.bool, device=q.device), 1)
    for mask, shape in ((attn_mask, (1, 1, L, S)), (key_padding_mask, (-1, 1, 1, S))):
        if mask is None:
            continue
        if mask.dim() == 3:
            raise ValueError("HeadPrunedMHA: per-head 3-D attn_mask is not supported after head pruning")
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(mask, float("-inf"))
        mask = mask.to(q.dtype).reshape(shape)
        total = mask if total is None else total + mask
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
    _record_pruned_heads(m, {i // m.attention_head_size for i in keep["q"]})
    m.num_attention_heads = n // m.attention_head_size
    m.all_head_size = n
    for attr in ("query", "key", "value"):
        getattr(m, attr).out_features = n
    return m


def _record_pruned_heads(m, kept: set[int]) -> None:
    """Add the heads this cut removes to the model's ``config.pruned_heads`` ({layer: original head indices}).

    That is the record HF's own ``prune_heads`` kept up to transformers 4.x, whose ``from_pretrained`` rebuilds
    the pruned shapes from it (a checkpoint whose feed-forward width is also pruned still cannot rebuild there).
    ``config.num_attention_heads`` stays the original count on purpose: every layer shares it, the head size is
    derived from it (``hidden_size // num_attention_heads``), and ``pruned_heads`` is numbered against it; setting
    it to the kept count would give rebuilt layers a wrong head size and cannot express uneven layers.
    Transformers 5 dropped head pruning (no ``pruned_heads``, no ``prune_heads``): it reads neither, so there a
    pruned checkpoint reloads through ``st.load`` (which replays the plan), not ``from_pretrained``.
    Only modules that hold their model's config (transformers >= 5) can record; 4.x attention modules do not.
    """
    cfg, layer = getattr(m, "config", None), getattr(m, "layer_idx", None)
    if layer is None or not isinstance(getattr(cfg, "num_attention_heads", None), int):
        return
    done = {int(k): list(v) for k, v in (getattr(cfg, "pruned_heads", None) or {}).items()}
    gone = set(done.get(layer, ()))
    alive = [h for h in range(cfg.num_attention_heads) if h not in gone]  # current position -> original head
    if len(alive) != m.num_attention_heads:  # the config does not describe this module: no numbering to trust
        return
    done[layer] = sorted(gone | {h for i, h in enumerate(alive) if i not in kept})
    cfg.pruned_heads = done


_TABLE[nn.MultiheadAttention] = Surgery(_mha_trace, _mha_params, ("o",), _mha_update)
for _name in ("BertSelfAttention", "BertSdpaSelfAttention", "RobertaSelfAttention", "RobertaSdpaSelfAttention"):
    _BY_NAME[_name] = Surgery(_hf_trace, _hf_params, (), _hf_update)
