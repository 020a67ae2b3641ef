"""Conversion: a BN-folded float model plus activation ranges -> a QuantizedModel (int8 weights, int32 biases)."""

from __future__ import annotations

import copy
import re
import warnings

import torch
from torch import nn

from .errors import DYNAMIC_HINT, UnsupportedModelError
from .fold import fold_batchnorm
from .graph import lower, qpoint_of
from .int8 import Int8, effective_reduce_range, weight_bits
from .observers import make_observer
from .qmodel import QuantizedModel
from .qparams import qrange


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name == p or re.fullmatch(p, name) for p in patterns)


def warn_unmatched_ignore(patterns: tuple[str, ...], ops: list[dict]) -> None:
    """Warn for each ``Int8.ignore`` entry that names no conv/linear layer (a typo kept nothing in float)."""
    layers = [op for op in ops if op["op"] in ("conv", "linear")]
    names = ", ".join(op["module"] for op in layers[:8]) + (f", ... ({len(layers)} in all)" if len(layers) > 8 else "")
    for p in patterns:
        if not any(_matches(op["name"], (p,)) or _matches(op["module"], (p,)) for op in layers):
            warnings.warn(f"ignore: {p!r} matches no conv/linear layer (layers: {names}); it has no effect",
                          UserWarning, stacklevel=3)


def build_qmodel(float_model: nn.Module, ops: list[dict], act_qparams: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 cfg: Int8, float_layers: tuple[str, ...] = ()) -> QuantizedModel:
    """Quantize the weights of a folded float model and assemble a QuantizedModel.

    Args:
        float_model: the BN-folded float model whose modules the conv/linear ops name.
        ops: its op list (``graph.lower``).
        act_qparams: {quantization point value: (scale, zero point)}.
        cfg: weight settings (per_channel, weight_bits, weight_observer).
        float_layers: op names / module names / regexes kept in float.
    """
    src = qpoint_of(ops)
    tensors: dict[str, torch.Tensor] = {}
    ops = copy.deepcopy(ops)
    wbits = weight_bits(cfg)
    wmin, wmax = qrange(wbits, signed=True)
    points = [op["out"] for op in ops if op["out"] and src.get(op["out"]) == op["out"]]
    tensors["act_s"] = torch.stack([torch.as_tensor(act_qparams[v][0]).float().reshape(()) for v in points])
    tensors["act_z"] = torch.stack([torch.as_tensor(act_qparams[v][1]).long().reshape(()) for v in points])
    for op in ops:
        if op["op"] not in ("conv", "linear"):
            continue
        m = float_model.get_submodule(op["module"])
        w = m.weight.detach().float()
        b = m.bias.detach().float() if m.bias is not None else torch.zeros(w.shape[0])
        if _matches(op["name"], float_layers) or _matches(op["module"], float_layers):
            op["float"] = True
            tensors[f"{op['name']}_wf"], tensors[f"{op['name']}_bf"] = w, b
            continue
        ob = make_observer(cfg.weight_observer, 0 if cfg.per_channel else None)
        ob.observe(w)
        ws, _ = ob.qparams(wbits, symmetric=True, signed=True)
        ws = ws.expand(w.shape[0]).clone() if ws.dim() == 0 else ws
        shape = (-1,) + (1,) * (w.dim() - 1)
        wq = torch.clamp(torch.floor(w / ws.reshape(shape) + 0.5), wmin, wmax).to(torch.int8)
        s_in = float(act_qparams[src[op["in"][0]]][0])
        bq = torch.clamp(torch.floor(b.double() / (ws.double() * s_in) + 0.5), -(2**31), 2**31 - 1).to(torch.int32)
        tensors.update({f"{op['name']}_wq": wq, f"{op['name']}_ws": ws.float(), f"{op['name']}_bq": bq})
    act_range = (0, 127) if effective_reduce_range(cfg) == "activations" else (0, 255)
    qm = QuantizedModel(ops, {k: list(v.shape) for k, v in tensors.items()}, act_range, "integer", cfg.weight_bits,
                        points)
    qm.load_state_dict(tensors)
    return qm


def act_qparams_from(observers: dict, cfg: Int8) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    bits = 7 if effective_reduce_range(cfg) == "activations" else 8
    return {v: ob.qparams(bits, symmetric=False, signed=False) for v, ob in observers.items()}


def prepare_float(model: nn.Module) -> tuple[nn.Module, list[dict]]:
    """A folded eval-mode CPU copy of ``model`` (int8 engines are CPU kernels) and its op list.

    Raises:
        UnsupportedModelError: a model torch.fx cannot trace or with an op the int8 engines lack (pointing at
            DynamicInt8).
    """
    try:
        m = fold_batchnorm(copy.deepcopy(model).cpu().eval())
        return m, lower(m)
    except UnsupportedModelError as err:  # quantize was called: say so, and what takes any model
        raise UnsupportedModelError("quantize", f"{err.reason}; {DYNAMIC_HINT}") from None
