"""Dynamic int8 for Linear-heavy models (transformers): int8 per-channel weights, activations
quantized per call by the x86/fbgemm dynamic kernel; fp32 in, fp32 out. Hugging Face's Conv1D (GPT-2's
projections: a Linear with its weight stored transposed) is quantized as the Linear it is."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import Config, ConfigError, check_choice, check_range
from ..devices import CPU, to_device
from ..io import record_transform, register_rebuilder
from ..registry import HandlerContext, handler, register
from .int8 import effective_reduce_range, weight_bits
from .qparams import qrange


@register("dynamic_int8", kind="quantize")
@dataclass(frozen=True)
class DynamicInt8(Config):
    """Dynamic int8 quantization of nn.Linear layers (and Hugging Face Conv1D, GPT-2's).

    Args:
        per_channel: one weight scale per output row (else one per matrix).
        weight_bits: weight code width 2..8.
        reduce_range: which side gives up a bit so that u8*s8 products cannot saturate int16 on CPUs
            without VNNI: "weights" (7-bit weights, 8-bit activations; measured more accurate on
            MiniLM), "activations" (7-bit activations), "none", "auto" (weights on such CPUs).
        smooth: SmoothQuant alpha (0..1): migrate activation outliers into the weights with a
            per-input-channel scale computed on calib_data; None: off.
        calib_batches: calibration batches used by ``smooth``.
        ignore: layer names or regexes kept in float (e.g. sensitive output projections).
        min_features: Linear layers with fewer input features stay float (too small to gain).
    """

    per_channel: bool = True
    weight_bits: int = 8
    reduce_range: str = "auto"
    smooth: float | None = None
    calib_batches: int = 8
    ignore: tuple[str, ...] = ()
    min_features: int = 1

    terminal = True  # an int8 model: nothing but measuring and export may follow

    @property
    def needs_calibration(self) -> bool:  # only SmoothQuant looks at activations
        return self.smooth is not None

    def validate(self) -> None:
        check_range("weight_bits", self.weight_bits, 2, 8)
        check_choice("reduce_range", self.reduce_range, ("auto", "none", "weights", "activations"))
        if self.smooth is not None:
            check_range("smooth", self.smooth, 0, 1)
        check_range("calib_batches", self.calib_batches, 1)
        check_range("min_features", self.min_features, 1)
        for i, pat in enumerate(self.ignore):
            if not isinstance(pat, str):
                raise ConfigError(f"ignore[{i}]", f"must be a layer name or regex string, got {pat!r}")


class DynamicLinear(nn.Module):
    """nn.Linear with int8 weights (per-channel scales); the float input is quantized on each call."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_q", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features))
        self.register_buffer("smooth", torch.ones(in_features))  # x * smooth before quantizing
        self.reduce_range = True
        self._packed = None

    def weight_tensors(self) -> list[torch.Tensor]:
        """The int8 weight codes and the bias: what ``st.measure`` counts as parameters."""
        return [self.weight_q, self.bias]

    @classmethod
    def from_linear(cls, lin: nn.Module, per_channel: bool = True, bits: int = 8, reduce_range: bool = True,
                    act_absmax: torch.Tensor | None = None, alpha: float | None = None) -> DynamicLinear:
        """Quantize ``lin`` (an nn.Linear or a Hugging Face Conv1D); with ``act_absmax`` and ``alpha``, smooth
        activation outliers first."""
        q = cls(*features(lin))
        q.reduce_range = reduce_range
        w = linear_weight(lin).detach().float()
        if act_absmax is not None and alpha is not None:
            # SmoothQuant: s_j = max|x_j|^a / max|W_j|^(1-a); W' = W * s, x' = x / s (same product)
            s = act_absmax.clamp(min=1e-5).pow(alpha) / w.abs().amax(0).clamp(min=1e-5).pow(1 - alpha)
            s = s.clamp(min=1e-3, max=1e3)
            w = w * s
            q.smooth.copy_(1.0 / s)
        qmin, qmax = qrange(bits, signed=True)
        amax = w.abs().amax(1) if per_channel else w.abs().amax().expand(w.shape[0])
        scale = torch.clamp(amax / qmax, min=1e-12)
        q.weight_q.copy_(torch.clamp(torch.floor(w / scale[:, None] + 0.5), qmin, qmax).to(torch.int8))
        q.weight_scale.copy_(scale)
        if lin.bias is not None:
            q.bias.copy_(lin.bias.detach())
        return q

    def _apply(self, fn, recurse=True):
        self._packed = None
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args, **kwargs):
        self._packed = None
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .backends.torch import dynamic_linear, dynamic_linear_prepack

        if self._packed is None:
            self._packed = dynamic_linear_prepack(self.weight_q, self.weight_scale, self.bias)
        shape, dtype = x.shape, x.dtype  # the int8 kernel runs in fp32; a bf16/fp16 model gets its dtype back
        x = x.reshape(-1, shape[-1]).float()
        x = x * self.smooth
        y = dynamic_linear(x.contiguous(), self._packed, self.reduce_range)
        return y.reshape(*shape[:-1], self.out_features).to(dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def is_conv1d(mod: nn.Module) -> bool:
    """A Hugging Face ``Conv1D`` (GPT-2 and its kin): a Linear whose weight is stored (in, out), ``x @ W + b``."""
    weight = getattr(mod, "weight", None)
    return (type(mod).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2
            and getattr(mod, "nf", None) == weight.shape[1])


def linear_weight(mod: nn.Module) -> torch.Tensor:
    """The (out, in) weight of an nn.Linear or a Hugging Face Conv1D."""
    return mod.weight.t() if is_conv1d(mod) else mod.weight


def features(mod: nn.Module) -> tuple[int, int]:
    """(in, out) features of an nn.Linear or a Hugging Face Conv1D."""
    out_features, in_features = linear_weight(mod).shape
    return in_features, out_features


def _set(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def _targets(model: nn.Module, cfg: DynamicInt8) -> list[str]:
    return [name for name, mod in model.named_modules()
            if (isinstance(mod, nn.Linear) or is_conv1d(mod)) and features(mod)[0] >= cfg.min_features
            and not any(name == p or re.fullmatch(p, name) for p in cfg.ignore)]


def _call(model: nn.Module, batch: Any) -> None:
    if isinstance(batch, dict) or hasattr(batch, "keys"):
        model(**batch)
    elif isinstance(batch, (tuple, list)):
        model(batch[0])
    else:
        model(batch)


def input_absmax(model: nn.Module, names: list[str], data: Any, batches: int) -> dict[str, torch.Tensor]:
    """Per-input-channel max |x| of each named Linear over ``batches`` batches of ``data``.

    ``data``: a tensor / dict of tensors (one batch), a dataset with ``.x`` or an iterable of batches.
    """
    x = getattr(data, "x", None)
    if isinstance(x, torch.Tensor):  # a dataset (text:FILE in a recipe): iterating it gives rows, not batches
        data = [x[i:i + 32] for i in range(0, len(x), 32)]
    stats: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        def hook(mod, args, name=name):
            a = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0).float()
            stats[name] = a if name not in stats else torch.maximum(stats[name], a)
        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    single = isinstance(data, (torch.Tensor, dict)) or hasattr(data, "keys")
    try:
        with torch.no_grad():
            for i, batch in enumerate([data] if single else data):
                if i >= batches:
                    break
                _call(model, to_device(batch, CPU))  # calibration runs on the CPU copy
    finally:
        for h in handles:
            h.remove()
    return stats


def quantize_dynamic(model: nn.Module, cfg: DynamicInt8 | None = None, calib_data: Any = None) -> nn.Module:
    """Replace the model's nn.Linear layers (and Hugging Face Conv1D, GPT-2's) by DynamicLinear in place and
    return the model; a warning says so when there is none to replace (the model stays float).

    Raises:
        ValueError: ``cfg.smooth`` is set but no calib_data is given.
    """
    cfg = cfg or DynamicInt8()
    names = _targets(model, cfg)
    if not names:
        kept = f" with >= {cfg.min_features} input features" if cfg.min_features > 1 else ""
        kept += " outside ignore" if cfg.ignore else ""
        warnings.warn(f"DynamicInt8: {type(model).__name__} has no nn.Linear layer{kept} to quantize; it stays "
                      "float (st.Int8 quantizes convolutions)", UserWarning, stacklevel=3)
    rr = effective_reduce_range(cfg)
    bits = weight_bits(cfg)
    stats: dict[str, torch.Tensor] = {}
    if cfg.smooth is not None:
        if calib_data is None:
            raise ValueError("DynamicInt8(smooth=...) needs calib_data to measure activation ranges")
        stats = input_absmax(model, names, calib_data, cfg.calib_batches)
    for name in names:
        _set(model, name, DynamicLinear.from_linear(model.get_submodule(name), cfg.per_channel, bits,
                                                    rr == "activations", stats.get(name), cfg.smooth))
    record_transform(model, "dynamic_int8", {"layers": names, "reduce_range": rr == "activations"})
    return model


def is_dynamic(model: nn.Module) -> bool:
    return any(isinstance(m, DynamicLinear) for m in model.modules())


def is_int8(model: nn.Module) -> bool:
    """Either int8 form (``st.Int8``'s QuantizedModel or ``st.DynamicInt8``'s layers): no float weights to prune."""
    from .qmodel import QuantizedModel

    return isinstance(model, QuantizedModel) or is_dynamic(model)


@handler(DynamicInt8)
def _dynamic_handler(model: nn.Module, cfg: DynamicInt8, ctx: HandlerContext) -> nn.Module:
    import copy

    return quantize_dynamic(copy.deepcopy(model).cpu().eval(), cfg, ctx.calib_data)  # int8 kernels are CPU ones


def _rebuild(model: nn.Module, data: dict) -> nn.Module:
    for name in data["layers"]:
        q = DynamicLinear(*features(model.get_submodule(name)))
        q.reduce_range = data.get("reduce_range", True)
        _set(model, name, q)
    return model


register_rebuilder("dynamic_int8", _rebuild)
