"""Post-training static int8 quantization: ``st.quantize(model, st.Int8(...), calib_data)``."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import Config, ConfigError, check_choice, check_range
from ..registry import HandlerContext, check_kind, get_handler, handler, register
from .calibrate import calibrate
from .fold import fold_batchnorm
from .graph import lower, qpoint_of
from .observers import OBSERVERS, make_observer
from .qmodel import QuantizedModel
from .qparams import qrange

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "integer")


@register("int8", kind="quantize")
@dataclass(frozen=True)
class Int8(Config):
    """Static int8 quantization: int8 symmetric weights, uint8 affine activations, fixed-point requantization.

    Args:
        per_channel: one weight scale per output channel (else one per tensor).
        observer: activation range observer: minmax, moving_average, percentile or mse.
        weight_observer: weight range observer (minmax or mse).
        percentile: clipping percentile of the "percentile" observer.
        calib_batches: number of calibration batches.
        backend: auto (fastest measured), torch (x86/fbgemm kernels), onnxruntime or integer (reference).
        weight_bits: weight code width 2..8 (stored in int8).
        reduce_range: avoid the int16 saturation of u8*s8 kernels on x86 CPUs without VNNI (their
            pairwise products overflow when both codes are full width): "weights" (7-bit weights),
            "activations" (7-bit activations), "none", or "auto" (weights on such CPUs, whatever the
            backend, so that a saved model runs correctly on every backend).
        max_accuracy_drop: accuracy budget (fraction, 0.001 = 0.1 point) on the labelled calibration
            data; the most sensitive layers stay in float until it holds. None: no check.
        ignore: layer names or regexes kept in float.
    """

    per_channel: bool = True
    observer: str = "minmax"
    weight_observer: str = "minmax"
    percentile: float = 99.99
    calib_batches: int = 16
    backend: str = "auto"
    weight_bits: int = 8
    reduce_range: str = "auto"
    max_accuracy_drop: float | None = None
    ignore: tuple[str, ...] = ()

    needs_calibration = True  # activation ranges are observed on calibration inputs
    terminal = True  # an int8 model: nothing but measuring and export may follow

    def validate(self) -> None:
        check_choice("observer", self.observer, OBSERVERS)
        check_choice("weight_observer", self.weight_observer, ("minmax", "mse"))
        check_range("percentile", self.percentile, 50, 100, hi_open=False)
        check_range("calib_batches", self.calib_batches, 1)
        check_choice("backend", self.backend, BACKEND_CHOICES)
        check_range("weight_bits", self.weight_bits, 2, 8)
        check_choice("reduce_range", self.reduce_range, ("auto", "none", "weights", "activations"))
        if self.max_accuracy_drop is not None:
            check_range("max_accuracy_drop", self.max_accuracy_drop, 0, 1)
        for i, pat in enumerate(self.ignore):
            if not isinstance(pat, str):
                raise ConfigError(f"ignore[{i}]", f"must be a layer name or regex string, got {pat!r}")


def quantize(model: nn.Module, cfg: Config | None = None, calib_data: Any = None) -> nn.Module:
    """Quantize ``model`` with ``cfg`` (Int8 by default, or DynamicInt8) and return the quantized model.

    The result is called like the original (float tensors in, float tensors out). The input model
    is not modified.

    Args:
        model: a float model (torch.fx-traceable for Int8).
        cfg: an ``Int8`` or ``DynamicInt8`` config.
        calib_data: tensor, dataset (``.x``/``.y``) or loader of inputs / (x, y) batches.

    Returns:
        The quantized model.

    Example:
        >>> qmodel = st.quantize(model, st.Int8(per_channel=True, observer="percentile"), calib_data=train)
    """
    cfg = cfg if cfg is not None else Int8()
    check_kind(cfg, "quantize", "st.quantize")
    return get_handler(cfg)(model, cfg, HandlerContext(calib_data=calib_data))


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name == p or re.fullmatch(p, name) for p in patterns)


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
    wbits = min(cfg.weight_bits, 7) if effective_reduce_range(cfg) == "weights" else cfg.weight_bits
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


def has_vnni() -> bool:
    """Whether the CPU has VNNI int8 dot products (no u8*s8 int16 saturation)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


def effective_reduce_range(cfg: Int8) -> str:
    if cfg.reduce_range != "auto":
        return cfg.reduce_range
    return "none" if has_vnni() else "weights"  # also for backend="integer": the model may move to ORT later


def prepare_float(model: nn.Module) -> tuple[nn.Module, list[dict]]:
    """A folded eval-mode copy of ``model`` and its op list."""
    m = fold_batchnorm(copy.deepcopy(model).eval())
    return m, lower(m)


@handler(Int8)
def _quantize_int8(model: nn.Module, cfg: Int8, ctx: HandlerContext) -> QuantizedModel:
    calib_data = ctx.calib_data
    m, ops = prepare_float(model)
    observers = calibrate(m, ops, calib_data, cfg.calib_batches, cfg.observer, cfg.percentile)
    aq = act_qparams_from(observers, cfg)
    float_layers = tuple(cfg.ignore)
    qm = build_qmodel(m, ops, aq, cfg, float_layers)
    if cfg.max_accuracy_drop is not None:
        from .sensitivity import fallback_until_budget

        qm = fallback_until_budget(m, ops, aq, cfg, calib_data, float_layers)
    _choose_backend(qm, cfg.backend, calib_data)
    qm.record(m)
    return qm


def _choose_backend(qm: QuantizedModel, backend: str, calib_data: Any) -> None:
    if backend != "auto":
        qm.set_backend(backend)
        qm.backend_note = f"backend {backend} (chosen by the config)"
        return
    from .backends.auto import choose

    choose(qm, calib_data)
