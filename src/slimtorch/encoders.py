"""BERT-style encoder blocks and pad ids: what pruning's reconstruction and distillation's hints both read.

A block here is a module with both sub-layer endings of a BERT layer, ``attention.output.dense`` +
``attention.output.LayerNorm`` and ``output.dense`` + ``output.LayerNorm`` (Hugging Face's naming).
One definition, in a neutral module, so that no pillar imports another for it.
"""

from __future__ import annotations

from torch import nn

# (projection, the LayerNorm that reads projection + residual), relative to a block
PAIRS = (("attention.output.dense", "attention.output.LayerNorm"), ("output.dense", "output.LayerNorm"))


def blocks(model: nn.Module) -> list[str]:
    """Names of the BERT-style blocks of ``model`` (both projection/LayerNorm pairs present), in order."""
    found = []
    for name, m in model.named_modules():
        try:
            ok = all(isinstance(m.get_submodule(d), nn.Linear) and isinstance(m.get_submodule(n), nn.LayerNorm)
                     for d, n in PAIRS)
        except AttributeError:
            ok = False
        if ok:
            found.append(name)
    return found


def pad_id(model: nn.Module) -> int | None:
    """The pad token id of ``model``: its ``pad_id`` attribute or a submodule config's ``pad_token_id``."""
    pad = getattr(model, "pad_id", None)
    if pad is None:
        cfg = next((m.config for m in model.modules() if hasattr(m, "config")), None)
        pad = getattr(cfg, "pad_token_id", None)
    return pad if isinstance(pad, int) and not isinstance(pad, bool) else None
