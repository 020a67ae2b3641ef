"""Per-layer sensitivity: quantize one layer at a time and measure the damage; float fallback."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .calibrate import float_impl, iter_batches
from .convert import build_qmodel, prepare_float
from .graph import qpoint_of
from .int8 import Int8
from .interp import run_ops
from .observer_auto import act_qparams, sqnr_db
from .qparams import round_half_up


def _labelled(data: Any, batches: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Up to ``batches`` batches of 256 rows as ``(x, y)``; y is None where the data has no labels (a tensor, a
    loader of bare inputs, or an ArrayDataset whose labels are all -1: ``images:DIR`` without class folders)."""
    if hasattr(data, "x") and hasattr(data, "y"):
        xs = list(iter_batches(data.x, batches, 256))
        ys = list(iter_batches(data.y, batches, 256))
        if all(bool((y < 0).all()) for y in ys):
            return [(x, None) for x in xs]
        return list(zip(xs, ys))
    if isinstance(data, torch.Tensor):
        return [(x, None) for x in iter_batches(data, batches, 256)]
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
    aq, _ = act_qparams(m, ops, data if not hasattr(data, "x") else data.x, cfg)
    return _scan(build_qmodel(m, ops, aq, cfg), m, ops, _labelled(data, batches))


def _scan(qm, m: nn.Module, ops: list[dict], batches_: list) -> list[dict[str, Any]]:
    """``sensitivity``'s rows for the int8 model ``qm`` of ``m``, one layer at a time, on ``batches_``."""
    with torch.no_grad():
        ref = [run_ops(ops, x, float_impl(m)) for x, _ in batches_]
        acc_ref = _accuracy(ref, batches_)
        rows = []
        for op in qm.layer_ops():
            out = [run_ops(ops, x, _one_layer(qm, m, ops, op["name"])) for x, _ in batches_]
            acc = _accuracy(out, batches_)
            rows.append({"layer": op["name"], "module": op["module"],
                         "accuracy_drop": None if acc is None else acc_ref - acc, "sqnr_db": sqnr_db(ref, out)})
    return sorted(rows, key=lambda r: (-(r["accuracy_drop"] or 0.0), r["sqnr_db"]))


SCAN_BATCHES = 2  # batches of 256 rows that rank the layers (a ranking; the budget is checked on CHECK_BATCHES)
CHECK_BATCHES = 8


def _targets(m: nn.Module, ops: list[dict], data: Any) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], str, float]:
    """The rows the budget is checked on, each with its target: the label, or without labels the float
    model's own top-1 (the budget is then top-1 agreement with it, as everywhere in slimtorch); the metric's
    name and the float model's score on them."""
    batches_ = _labelled(data, CHECK_BATCHES)
    with torch.no_grad():
        outs = [run_ops(ops, x, float_impl(m)) for x, _ in batches_]
    if all(y is not None for _, y in batches_):
        return batches_, "accuracy", _accuracy(outs, batches_)
    if any(o.dim() != 2 or o.shape[1] < 2 for o in outs):
        raise ValueError(f"max_accuracy_drop without labels reads top-1 agreement with the float model, which needs "
                         f"(rows, classes) outputs; got {tuple(outs[0].shape)}; allowed: labelled calib_data (a "
                         "dataset with .y or a loader of (x, y)), or max_accuracy_drop=None")
    return [(x, o.argmax(-1)) for (x, _), o in zip(batches_, outs)], "top-1 agreement", 1.0


def fallback_until_budget(m: nn.Module, ops: list[dict], aq: dict, cfg, data: Any,
                          float_layers: tuple[str, ...] = ()):
    """Keep the most sensitive layers in float until the drop of the simulated int8 model on ``data`` is within
    ``cfg.max_accuracy_drop``: accuracy against the labels, or top-1 agreement with the float model where
    ``data`` has none.

    The layers are ranked once (one at a time in int8, on ``SCAN_BATCHES`` batches); how many of the most
    sensitive stay in float is found by bisection on that ranking (about log2(layers) checks on ``CHECK_BATCHES``
    batches, not one check per layer), and the returned model is one that was checked within the budget (or
    every layer in float). ``qm.fallback_report`` says the metric, both scores and the float layers.

    Raises:
        ValueError: no labels and outputs that are not (rows, classes) logits.
    """
    batches_, metric, acc_ref = _targets(m, ops, data)  # the float model runs once on the check rows
    order = [r["layer"] for r in _scan(build_qmodel(m, ops, aq, cfg), m, ops, batches_[:SCAN_BATCHES])]
    order = [n for n in order if n not in float_layers]
    checked: dict[int, tuple[Any, float]] = {}

    def check(k: int) -> bool:  # the k most sensitive layers in float (plus the ones asked for)
        qm = build_qmodel(m, ops, aq, cfg, (*float_layers, *order[:k]))
        with torch.no_grad():
            checked[k] = qm, _accuracy([qm.simulate(x) for x, _ in batches_], batches_)
        return acc_ref - checked[k][1] <= cfg.max_accuracy_drop

    lo, hi = -1, len(order)  # lo: fails (or none checked yet), hi: passes or every layer in float
    if check(0):
        hi = 0
    else:
        lo = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if check(mid) else (mid, hi)
    if hi not in checked:
        check(hi)
    qm, acc = checked[hi]
    if acc_ref - acc > cfg.max_accuracy_drop:  # every layer's weights in float and still over: say so, never silently
        warnings.warn(f"max_accuracy_drop={cfg.max_accuracy_drop} not reached: with every conv/linear layer in float "
                      f"the {metric} still drops {acc_ref - acc:.4f} on the calibration rows, because the activations "
                      "between layers stay uint8; try observer='percentile' or 'mse', more calib_batches, or keep "
                      "the model in float", stacklevel=4)
    qm.fallback_report = {"metric": metric, "float_accuracy": acc_ref, "int8_accuracy": acc,
                          "float_layers": [*float_layers, *order[:hi]], "checks": len(checked)}
    return qm
