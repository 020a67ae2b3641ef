"""Post-training static int8 quantization: ``st.quantize(model, st.Int8(...), calib_data)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..config import Config
from ..registry import HandlerContext, check_kind, get_handler, handler
from .convert import build_qmodel, prepare_float, warn_unmatched_ignore
from .int8 import Int8
from .observer_auto import act_qparams
from .qmodel import QuantizedModel
from .sensitivity import fallback_until_budget


def quantize(model: nn.Module, cfg: Config | None = None, calib_data: Any = None) -> nn.Module:
    """Quantize ``model`` with ``cfg`` (Int8 by default, or DynamicInt8) and return the quantized model.

    The result is called like the original (float tensors in, float tensors out) and runs on the CPU,
    where the int8 engines are: a model on another device (a GPU) is copied to the CPU and calibrated
    there, whatever device ``calib_data`` is on. The input model is not modified.

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


@handler(Int8)
def _quantize_int8(model: nn.Module, cfg: Int8, ctx: HandlerContext) -> QuantizedModel:
    calib_data = ctx.calib_data
    m, ops = prepare_float(model)
    warn_unmatched_ignore(cfg.ignore, ops)
    aq, observer_note = act_qparams(m, ops, calib_data, cfg)
    float_layers = tuple(cfg.ignore)
    qm = build_qmodel(m, ops, aq, cfg, float_layers)
    if cfg.max_accuracy_drop is not None:
        qm = fallback_until_budget(m, ops, aq, cfg, calib_data, float_layers)
    qm.observer_note = observer_note
    choose_backend(qm, cfg.backend, calib_data)
    qm.record(m)
    return qm


def choose_backend(qm: QuantizedModel, backend: str, calib_data: Any) -> None:
    """Run ``qm`` on ``backend``, or with "auto" on the fastest measured engine (``backends.auto``)."""
    if backend != "auto":
        qm.set_backend(backend)
        qm.backend_note = f"backend {backend} (chosen by the config)"
        return
    from .backends.auto import choose

    choose(qm, calib_data)
