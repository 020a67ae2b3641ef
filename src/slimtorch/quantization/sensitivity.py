"""Per-layer sensitivity: quantize one layer at a time and measure the damage; float fallback."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .calibrate import calibrate, float_impl, iter_batches
from .convert import act_qparams_from, build_qmodel, prepare_float
from .graph import qpoint_of
from .int8 import Int8
from .interp import run_ops
from .qparams import round_half_up


def _labelled(data: Any, batches: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    if hasattr(data, "x") and hasattr(data, "y"):
        xs = list(iter_batches(data.x, batches, 256))
        ys = list(iter_batches(data.y, batches, 256))
        return list(zip(xs, ys))
    out = []
    for i, item in enumerate(data):
        if i >= batches:
            break
        out.append((item[0], item[1]) if isinstance(item, (tuple, list)) and len(item) > 1 else (item, None))
    return out


def _accuracy(outputs: list[torch.Tensor], batches) -> float | None:
    if any(y is None for _, y in batches):
        return None
    correct = sum(int((o.argmax(-1) == y).sum()) for o, (_, y) in zip(outputs, batches))
    return correct / sum(len(y) for _, y in batches)


def _sqnr_db(ref: list[torch.Tensor], out: list[torch.Tensor]) -> float:
    sig = sum(float(r.double().pow(2).sum()) for r in ref)
    noise = sum(float((r.double() - o.double()).pow(2).sum()) for r, o in zip(ref, out))
    return math.inf if noise == 0 else 10 * math.log10(sig / noise)


def _one_layer(qm, m: nn.Module, ops: list[dict], name: str) -> dict:
    """Interpreter functions running the float model with only layer ``name`` quantized (its int8
    weights and int32 bias, its input and output activations)."""
    src = qpoint_of(ops)
    qmin, qmax = qm.act_range

    def fq(v, value):
        s, z = qm.act(value)
        return (torch.clamp(round_half_up(v / s) + z, qmin, qmax) - z) * s

    base = float_impl(m)

    def layer(op, xs):
        if op["name"] != name:
            return base[op["op"]](op, xs)
        wq, ws = getattr(qm, f"{name}_wq"), getattr(qm, f"{name}_ws")
        w = wq.float() * ws.reshape(-1, *[1] * (wq.dim() - 1))
        b = getattr(qm, f"{name}_bq").float() * ws * qm.act(src[op["in"][0]])[0]
        x = fq(xs[0], src[op["in"][0]])
        y = (F.conv2d(x, w, b, op["stride"], op["padding"], op["dilation"], op["groups"])
             if op["op"] == "conv" else F.linear(x, w, b))
        y = F.relu(y) if op["act"] == "relu" else F.relu6(y) if op["act"] == "relu6" else y
        return fq(y, op["out"])

    return dict(base, conv=layer, linear=layer)


def sensitivity(model: nn.Module, data: Any, cfg=None, batches: int = 8) -> list[dict[str, Any]]:
    """Quantize one layer at a time and report each layer's accuracy loss and output SQNR.

    Args:
        model: float model (fx-traceable).
        data: labelled dataset (``.x``/``.y``) or loader of (x, y); also used for calibration.
        cfg: an ``Int8`` config (defaults to ``Int8()``).
        batches: batches of 256 samples used.

    Returns:
        One dict per conv/linear layer, most sensitive first: ``{"layer", "accuracy_drop", "sqnr_db"}``
        (accuracy_drop is None for unlabelled data).
    """
    cfg = cfg or Int8()
    m, ops = prepare_float(model)
    aq = act_qparams_from(calibrate(m, ops, data if not hasattr(data, "x") else data.x, cfg.calib_batches,
                                    cfg.observer, cfg.percentile), cfg)
    qm = build_qmodel(m, ops, aq, cfg)
    batches_ = _labelled(data, batches)
    with torch.no_grad():
        ref = [run_ops(ops, x, float_impl(m)) for x, _ in batches_]
        acc_ref = _accuracy(ref, batches_)
        rows = []
        for op in qm.layer_ops():
            out = [run_ops(ops, x, _one_layer(qm, m, ops, op["name"])) for x, _ in batches_]
            acc = _accuracy(out, batches_)
            rows.append({"layer": op["name"], "module": op["module"],
                         "accuracy_drop": None if acc is None else acc_ref - acc, "sqnr_db": _sqnr_db(ref, out)})
    return sorted(rows, key=lambda r: (-(r["accuracy_drop"] or 0.0), r["sqnr_db"]))


def fallback_until_budget(m: nn.Module, ops: list[dict], aq: dict, cfg, data: Any,
                          float_layers: tuple[str, ...] = ()):
    """Keep the most sensitive layers in float, one more at a time, until the accuracy drop of the
    simulated int8 model on ``data`` is within ``cfg.max_accuracy_drop``.

    Raises:
        ValueError: ``data`` has no labels (an accuracy budget needs them).
    """
    batches_ = _labelled(data, 8)
    if any(y is None for _, y in batches_):
        raise ValueError("max_accuracy_drop needs labelled calib_data (a dataset with .y or a loader of (x, y))")
    with torch.no_grad():
        acc_ref = _accuracy([run_ops(ops, x, float_impl(m)) for x, _ in batches_], batches_)
    order = [r["layer"] for r in sensitivity(m, data, cfg)]
    floats = list(float_layers)
    while True:
        qm = build_qmodel(m, ops, aq, cfg, tuple(floats))
        with torch.no_grad():
            acc = _accuracy([qm.simulate(x) for x, _ in batches_], batches_)
        remaining = [n for n in order if n not in floats]
        if acc_ref - acc <= cfg.max_accuracy_drop or not remaining:
            qm.fallback_report = {"float_accuracy": acc_ref, "int8_accuracy": acc, "float_layers": floats}
            return qm
        floats.append(remaining[0])
