"""Batch-norm folding: a BN that follows a conv/linear becomes part of its weight and bias."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.fx import symbolic_trace

from ..config import Config
from ..io import record_transform, register_rebuilder
from ..registry import HandlerContext, handler, register
from .errors import UnsupportedModelError, first_sentence

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)
LAYER_TYPES = (nn.Conv2d, nn.Conv1d, nn.Linear)


@register("fold_bn", kind="transform")
@dataclass(frozen=True)
class FoldBN(Config):
    """Fold every BatchNorm that directly follows a conv/linear into it (no fields)."""


def find_conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(layer name, bn name) pairs where the BN's only input is the layer's output and the layer
    output feeds nothing else.

    Raises:
        UnsupportedModelError: the model cannot be traced by torch.fx (a ValueError).
    """
    try:
        gm = symbolic_trace(model)
    except Exception as err:  # fx raises many types for untraceable control flow
        raise UnsupportedModelError("fold_batchnorm", f"cannot trace {type(model).__name__} with torch.fx "
                                    f"({first_sentence(str(err))})") from None
    mods = dict(gm.named_modules())
    pairs = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(mods.get(node.target), BN_TYPES):
            continue
        src = node.args[0]
        if (getattr(src, "op", None) == "call_module" and isinstance(mods.get(src.target), LAYER_TYPES)
                and len(src.users) == 1):
            pairs.append((src.target, node.target))
    return pairs


def fold_into(layer: nn.Module, bn: nn.Module) -> None:
    """Fold ``bn`` (eval statistics) into ``layer``'s weight and bias in place."""
    with torch.no_grad():
        inv = bn.running_var.add(bn.eps).rsqrt()
        gamma = bn.weight if bn.affine else torch.ones_like(inv)
        beta = bn.bias if bn.affine else torch.zeros_like(inv)
        factor = gamma * inv
        w = layer.weight
        layer.weight.copy_(w * factor.reshape(-1, *([1] * (w.dim() - 1))))
        b = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        new_b = (b - bn.running_mean) * factor + beta
        layer.bias = nn.Parameter(new_b.to(w.dtype))


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def _ensure_bias(layer: nn.Module) -> None:
    if layer.bias is None:
        layer.bias = nn.Parameter(torch.zeros(layer.weight.shape[0], dtype=layer.weight.dtype))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each BN following a conv/linear into that layer and replace the BN by Identity.

    The model is changed in place and returned; outputs in eval mode are unchanged up to float
    rounding. The folding is recorded so that ``st.save``/``st.load`` rebuild the folded structure.

    Args:
        model: a torch.fx-traceable model.

    Returns:
        The same model, folded, in eval mode.

    Example:
        >>> model = st.fold_batchnorm(model)
    """
    model.eval()
    pairs = find_conv_bn_pairs(model)
    for layer_name, bn_name in pairs:
        fold_into(model.get_submodule(layer_name), model.get_submodule(bn_name))
        _set_module(model, bn_name, nn.Identity())
    if pairs:
        record_transform(model, "fold_bn", {"pairs": [list(p) for p in pairs]})
    return model


def _rebuild(model: nn.Module, data: dict) -> nn.Module:
    for layer_name, bn_name in data["pairs"]:
        _ensure_bias(model.get_submodule(layer_name))
        _set_module(model, bn_name, nn.Identity())
    return model


register_rebuilder("fold_bn", _rebuild)


@handler(FoldBN)
def _fold_handler(model: nn.Module, cfg: FoldBN, ctx: HandlerContext) -> nn.Module:
    return fold_batchnorm(model)
