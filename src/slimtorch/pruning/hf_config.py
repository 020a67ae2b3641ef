"""Hugging Face configs after a channel prune: make ``model.config`` describe the widths the cut left.

A pruned ``transformers`` model keeps the config it was built from, so ``save_pretrained`` +
``from_pretrained`` would rebuild the old widths. After a verified prune, the widths are read
from the modules (residual size from the LayerNorms, heads from the query projections, the
feed-forward size from the MLP's first layer); where one value holds for every layer, the config
field gets it. The attention modules' own copies (``num_heads``, ``all_head_size``, ``embed_dim``,
``split_size``) are set per module, and kept only if the model's outputs stay the same.

The oracle is a rebuild: a fresh model from the new config on the ``meta`` device (no memory,
no weights) must have every parameter and buffer shape of the pruned model. Only then is the
config fully updated; otherwise only the feed-forward size (a width nothing else derives from)
is written, and the report says what the config cannot express (per-layer widths, heads whose
size no longer follows ``hidden_size // num_attention_heads``), so such a model reloads through
``st.load`` (which replays the plan), not ``from_pretrained``.
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn

# query projections and how many of q/k/v their output holds (GPT-2's c_attn is q|k|v)
Q_PROJ = {"query": 1, "q_proj": 1, "q_lin": 1, "q": 1, "c_attn": 3, "qkv": 3}
K_PROJ = ("key", "k_proj", "k_lin", "k")  # a separate key projection: its heads are the key/value heads (GQA)
UP_PROJ = ("intermediate.dense", "mlp.fc1", "mlp.c_fc", "ffn.lin1", "mlp.up_proj")
HIDDEN, HEADS, HEAD_DIM = "hidden_size", "num_attention_heads", "head_dim"
KV_HEADS = "num_key_value_heads"
INTERMEDIATE = ("intermediate_size", "n_inner", "ffn_dim")
HEAD_ATTRS = ("num_attention_heads", "num_heads", "n_head")


def _width(m: nn.Module) -> int | None:
    """Output width of a Linear or a Hugging Face ``Conv1D`` (weight stored (in, out))."""
    if isinstance(m, nn.Linear):
        return m.out_features
    w = getattr(m, "weight", None)
    return int(w.shape[-1]) if type(m).__name__ == "Conv1D" and w is not None else None


def _child_width(m: nn.Module, child: str) -> int | None:
    sub = getattr(m, child, None)
    return _width(sub) if isinstance(sub, nn.Module) else None


def _attention(model: nn.Module) -> list[tuple[nn.Module, int, int, int]]:
    """``(module, head size, query width, key width)`` of every attention module with a known query projection
    (the key width is the query width where q, k and v share one projection)."""
    out = []
    for m in model.modules():
        head = getattr(m, "head_dim", None) or getattr(m, "attention_head_size", None)
        if not isinstance(head, int) or head <= 0:
            continue
        for child, per in Q_PROJ.items():
            width = _child_width(m, child)
            if width is not None and width % per == 0:
                key = next((w for w in map(lambda k: _child_width(m, k), K_PROJ) if w is not None), None)
                out.append((m, head, width // per, key if per == 1 and key is not None else width // per))
                break
    return out


def _measured(model: nn.Module, cfg) -> tuple[dict, list[str]]:
    """Config updates the modules imply where every layer agrees, and notes where they do not."""
    updates, notes = {}, []
    norms = Counter(m.normalized_shape[-1] for m in model.modules() if isinstance(m, nn.LayerNorm))
    hidden = norms.most_common(1)[0][0] if norms else None
    if hidden is not None and isinstance(getattr(cfg, HIDDEN, None), int) and hidden != getattr(cfg, HIDDEN):
        updates[HIDDEN] = hidden
    ups = {_width(m) for n, m in model.named_modules() if n.endswith(UP_PROJ)} - {None}
    field = next((f for f in INTERMEDIATE if hasattr(cfg, f)), None)
    if len(ups) > 1:
        notes.append(f"feed-forward widths differ across layers ({sorted(ups)})")
    elif ups and field is not None and getattr(cfg, field) != next(iter(ups)):
        updates[field] = next(iter(ups))
    attn = _attention(model)
    heads = {width // head for _, head, width, _ in attn}
    if len(heads) > 1:
        notes.append(f"attention heads differ across layers ({sorted(heads)})")
    elif heads and isinstance(getattr(cfg, HEADS, None), int) and getattr(cfg, HEADS) != next(iter(heads)):
        updates[HEADS] = next(iter(heads))
    n_heads = updates.get(HEADS, getattr(cfg, HEADS, None))
    if attn and len(heads) == 1 and (HEADS in updates or HIDDEN in updates) and isinstance(n_heads, int) and (
            hasattr(cfg, HEAD_DIM) or updates.get(HIDDEN, getattr(cfg, HIDDEN, 0)) // n_heads != attn[0][1]):
        updates[HEAD_DIM] = attn[0][1]  # heads keep their size: only models that read config.head_dim follow
    kv = {key // head for _, head, _, key in attn}
    if len(kv) > 1:
        notes.append(f"key/value heads differ across layers ({sorted(kv)})")
    elif kv and isinstance(getattr(cfg, KV_HEADS, None), int) and getattr(cfg, KV_HEADS) != next(iter(kv)):
        updates[KV_HEADS] = next(iter(kv))  # grouped-query attention: whole key/value groups went with their heads
    return updates, notes


def _mismatches(model: nn.Module, cfg) -> list[str]:
    """Parameters and buffers whose shape a model rebuilt from ``cfg`` would not have (rebuilt on ``meta``)."""
    try:
        with torch.device("meta"):
            fresh = type(model)(cfg)
    except Exception as err:  # a config the class refuses is a verdict too
        return [f"the model class refuses the updated config ({type(err).__name__}: {err})"]
    want = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return [f"{k} {want[k]} instead of {got[k]}" for k in got if want.get(k, got[k]) != got[k]]


def _module_changes(attn: list[tuple[nn.Module, int, int, int]], hidden: int | None) -> list[tuple]:
    """``[(module, attr, old, new)]``: each attention module's own copies of its sizes that the cut left stale."""
    changes = []
    for m, head, width, key in attn:
        values = {a: width // head for a in HEAD_ATTRS}
        values.update(all_head_size=width, split_size=width, num_key_value_heads=key // head,
                      num_key_value_groups=width // key)
        if hidden is not None:
            values["embed_dim"] = hidden
        for attr, new in values.items():
            old = getattr(m, attr, None)
            if isinstance(old, int) and not isinstance(old, bool) and old != new:
                changes.append((m, attr, old, new))
    return changes


def _set_module_attrs(changes: list[tuple], calls: list, run, compare) -> None:
    """Apply ``changes`` unless the model's outputs move: a forward that reads an attribute in a way the cut
    did not foresee keeps the old value. Verification passed with the old values, so nothing to change means
    no forward to run (the Llama family, BERT: the surgery already set what their forwards read)."""
    if not changes:
        return
    before = run(calls)
    for m, attr, _, new in changes:
        setattr(m, attr, new)
    if compare(run(calls), before) is not None:
        for m, attr, old, _ in changes:
            setattr(m, attr, old)


def sync(model: nn.Module, calls: list, run, compare) -> list[str]:
    """Update a pruned Hugging Face model's config (and attention attributes) to its widths; returns report notes.

    Args:
        model: the pruned model (anything without a ``transformers`` config is left alone).
        calls: the example inputs as ``[(args, kwargs)]``.
        run: ``run(model, calls)`` -> outputs (``verify.run``).
        compare: ``compare(got, want)`` -> None or why (``verify.compare``).

    Returns:
        Notes for the prune report: empty when the config now describes the model exactly.
    """
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict") or not hasattr(type(model), "config_class"):
        return []
    updates, notes = _measured(model, cfg)
    changes = _module_changes(_attention(model), updates.get(HIDDEN, getattr(cfg, HIDDEN, None)))
    _set_module_attrs(changes, calls, lambda c: run(model, c), compare)
    candidate = copy.deepcopy(cfg)
    for k, v in updates.items():
        setattr(candidate, k, v)
    if HEADS in updates and "pruned_heads" in vars(candidate):
        del candidate.pruned_heads  # numbered against the old head count, which the config no longer holds
    wrong = _mismatches(model, candidate)
    if not wrong and not notes:
        _apply(cfg, updates)
        return []
    for f in INTERMEDIATE:  # a width nothing else derives from: true whatever the rest says
        if f in updates:
            setattr(cfg, f, updates[f])
    if HEAD_DIM in updates:
        notes.append(f"{updates.get(HEADS, getattr(cfg, HEADS))} heads of size {updates[HEAD_DIM]} per layer, "
                     f"a head size {type(cfg).__name__} derives as hidden_size // num_attention_heads")
    wrong = _mismatches(model, cfg)
    shown = "; ".join(wrong[:2]) + (f" and {len(wrong) - 2} more" if len(wrong) > 2 else "")
    why = "; ".join(notes) or "widths the config has no field for"
    return [f"config: {type(cfg).__name__} cannot express the pruned widths ({why}): it gives "
            f"{shown or 'other shapes'}; reload with st.load, not from_pretrained"]


def _apply(cfg, updates: dict) -> None:
    """Write ``updates`` into the config object every submodule shares (in place)."""
    for k, v in updates.items():
        setattr(cfg, k, v)
    if HEADS in updates and "pruned_heads" in vars(cfg):
        del cfg.pruned_heads
