"""Fake quantization (quantize -> dequantize in float) with a straight-through estimator, and LSQ.

The rounding is half-up (``floor(x + 0.5)``) so that the float simulation rounds exactly like the
integer engine's rounding right shift.
"""

from __future__ import annotations

import torch
from torch import nn

from .observers import make_observer
from .qparams import qrange, round_half_up


def _bshape(t: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Reshape a per-channel vector so that it broadcasts along ``axis`` of ``x``."""
    if axis is None or t.dim() == 0:
        return t
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


class _STEFakeQuant(torch.autograd.Function):
    """Forward: quantize-dequantize. Backward: identity inside the clipping range, 0 outside (STE)."""

    @staticmethod
    def forward(ctx, x, scale, zp, qmin, qmax):
        q = round_half_up(x / scale) + zp
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return (q.clamp(qmin, qmax) - zp) * scale

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, qmin: int, qmax: int,
                  axis: int | None = None) -> torch.Tensor:
    """Quantize-dequantize ``x`` (per tensor, or per channel along ``axis``) with an STE gradient.

    Example:
        >>> fake_quantize(torch.tensor([0.26]), torch.tensor(0.1), torch.tensor(0), -127, 127)
        tensor([0.3000])
    """
    s = _bshape(scale.to(x.dtype), x, axis)
    z = _bshape(zp.to(x.dtype), x, axis)
    return _STEFakeQuant.apply(x, s, z, qmin, qmax)


def lsq_fake_quantize(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, qmin: int, qmax: int,
                      axis: int | None = None) -> torch.Tensor:
    """LSQ (Esser et al. 2020): fake quantization whose ``scale`` is learned; the gradient to the
    scale is scaled by 1/sqrt(numel * qmax) as in the paper."""
    n = x.numel() // max(1, scale.numel())
    g = 1.0 / (n * max(qmax, 1)) ** 0.5
    s = scale * g + (scale - scale * g).detach()  # value = scale, gradient scaled by g
    s = _bshape(s.abs() + 1e-12, x, axis)
    z = _bshape(zp.to(x.dtype), x, axis).detach()
    v = x / s + z
    q = (round_half_up(v) - v).detach() + v  # round with STE, gradient flows to s
    return (q.clamp(qmin, qmax) - z) * s


class FakeQuant(nn.Module):
    """Observe-then-fake-quantize one tensor (an activation or a weight).

    Args:
        bits: code width; signed codes use the symmetric range.
        signed: int codes (weights) vs uint codes (activations).
        symmetric: zero point fixed at the middle / 0.
        axis: channel axis for per-channel parameters, None for per tensor.
        observer: observer name (see ``observers.OBSERVERS``).
        lsq: learn the scale by gradient descent after the first observed batch.
    """

    def __init__(self, bits: int = 8, signed: bool = False, symmetric: bool = False, axis: int | None = None,
                 observer: str = "moving_average", lsq: bool = False, percentile: float = 99.99):
        super().__init__()
        self.bits, self.signed, self.symmetric, self.axis, self.lsq = bits, signed, symmetric, axis, lsq
        self.qmin, self.qmax = qrange(bits, signed)
        self.observer = make_observer(observer, axis, percentile)
        self.observing = True
        self.scale = nn.Parameter(torch.ones(()), requires_grad=lsq)
        self.register_buffer("zero_point", torch.zeros((), dtype=torch.int64))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def freeze(self) -> None:
        """Stop updating the range from data (scales stay learnable with LSQ)."""
        self.observing = False

    def _refresh(self) -> None:
        s, z = self.observer.qparams(self.bits, self.symmetric, self.signed)
        with torch.no_grad():
            if self.scale.shape != s.shape:
                self.scale = nn.Parameter(s.clone().to(self.scale.device), requires_grad=self.lsq)
            else:
                self.scale.copy_(s)
        self.zero_point = z.to(self.zero_point.device)
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing and (not self.lsq or not bool(self.initialized)):
            self.observer.observe(x)
            self._refresh()
        if not bool(self.initialized):
            return x
        fq = lsq_fake_quantize if self.lsq else fake_quantize
        scale = self.scale if self.lsq else self.scale.detach()
        return fq(x, scale, self.zero_point, self.qmin, self.qmax, self.axis)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        s = state_dict.get(prefix + "scale")
        if s is not None and s.shape != self.scale.shape:  # per-channel scales are shaped at first data
            self.scale = nn.Parameter(torch.empty_like(s), requires_grad=self.lsq)
        zp = state_dict.get(prefix + "zero_point")
        if zp is not None and zp.shape != self.zero_point.shape:
            self.zero_point = torch.empty_like(zp)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
