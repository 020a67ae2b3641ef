"""Range observers: min-max, moving-average min-max, percentile and MSE-optimal clipping.

An observer sees tensors (``observe``) and answers a clipping range (``range``); per-channel
observers keep one range per slice along ``axis``. ``qparams`` turns the range into scale and
zero point for a bit width and a symmetric/affine choice.
"""

from __future__ import annotations

import torch

from .qparams import choose_qparams, qrange, round_half_up

OBSERVERS = ("minmax", "moving_average", "percentile", "mse")


def _per_channel_view(x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """(C, N) view of ``x`` with channel ``axis`` first, or (1, N) per tensor."""
    x = x.detach().float()
    if axis is None:
        return x.reshape(1, -1)
    return x.transpose(0, axis).reshape(x.shape[axis], -1)


class Observer:
    """Base: running min/max per channel (or per tensor when ``axis`` is None)."""

    def __init__(self, axis: int | None = None):
        self.axis = axis
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None

    def observe(self, x: torch.Tensor) -> None:
        v = _per_channel_view(x, self.axis)
        lo, hi = v.amin(1), v.amax(1)
        self._update(lo, hi, v)

    def _update(self, lo: torch.Tensor, hi: torch.Tensor, v: torch.Tensor) -> None:
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lo is None:
            raise RuntimeError("observer has seen no data: run calibration batches first")
        lo, hi = self.lo, self.hi
        return (lo[0], hi[0]) if self.axis is None else (lo, hi)

    def qparams(self, bits: int = 8, symmetric: bool = False, signed: bool = False):
        """(scale, zero_point) for the observed range."""
        qmin, qmax = qrange(bits, signed)
        lo, hi = self.range()
        return choose_qparams(lo, hi, qmin, qmax, symmetric)


class MinMaxObserver(Observer):
    """The whole observed range (no clipping)."""


class MovingAverageObserver(Observer):
    """Exponential moving average of each batch's min and max (robust to a single odd batch)."""

    def __init__(self, axis: int | None = None, momentum: float = 0.1):
        super().__init__(axis)
        self.momentum = momentum

    def _update(self, lo, hi, v):
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo = self.lo + self.momentum * (lo - self.lo)
            self.hi = self.hi + self.momentum * (hi - self.hi)


class PercentileObserver(Observer):
    """Clip at the ``percentile`` (and 100-percentile) of the values, averaged over batches."""

    def __init__(self, axis: int | None = None, percentile: float = 99.99, max_samples: int = 1 << 20):
        super().__init__(axis)
        self.q = percentile / 100.0
        self.max_samples = max_samples
        self.n = 0

    def _update(self, lo, hi, v):
        if v.shape[1] > self.max_samples:  # torch.quantile has a size limit; a strided sample is enough
            v = v[:, :: v.shape[1] // self.max_samples + 1]
        plo = torch.quantile(v, 1 - self.q, dim=1)
        phi = torch.quantile(v, self.q, dim=1)
        self.n += 1
        if self.lo is None:
            self.lo, self.hi = plo, phi
        else:  # running mean over batches
            self.lo = self.lo + (plo - self.lo) / self.n
            self.hi = self.hi + (phi - self.hi) / self.n


class MSEObserver(Observer):
    """Pick the clipping range that minimises the quantization MSE on the observed values.

    Keeps a bounded sample of values per channel and grid-searches a shrink factor of the
    min-max range (per channel) at the bit width used by ``qparams``.
    """

    def __init__(self, axis: int | None = None, max_samples: int = 1 << 16, grid: int = 50):
        super().__init__(axis)
        self.max_samples, self.grid = max_samples, grid
        self.samples: list[torch.Tensor] = []

    def _update(self, lo, hi, v):
        super()._update(lo, hi, v)
        step = max(1, v.shape[1] // self.max_samples)
        self.samples.append(v[:, ::step])

    def qparams(self, bits: int = 8, symmetric: bool = False, signed: bool = False):
        qmin, qmax = qrange(bits, signed)
        v = torch.cat(self.samples, 1)
        if v.shape[1] > 4 * self.max_samples:
            v = v[:, :: v.shape[1] // (4 * self.max_samples) + 1]
        lo0, hi0 = self.lo, self.hi
        best_err = torch.full_like(lo0, float("inf"))
        best = (lo0.clone(), hi0.clone())
        for i in range(self.grid):
            f = 1.0 - i / (self.grid * 1.25)  # shrink factors 1.0 .. 0.2
            lo, hi = lo0 * f, hi0 * f
            s, z = choose_qparams(lo, hi, qmin, qmax, symmetric)
            s, z = s[:, None].double(), z[:, None].double()
            q = torch.clamp(round_half_up(v / s) + z, qmin, qmax)
            err = ((q - z) * s - v).pow(2).mean(1).float()
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best = (torch.where(better, lo, best[0]), torch.where(better, hi, best[1]))
        lo, hi = best
        if self.axis is None:
            lo, hi = lo[0], hi[0]
        return choose_qparams(lo, hi, qmin, qmax, symmetric)


def make_observer(name: str, axis: int | None = None, percentile: float = 99.99) -> Observer:
    """Observer by name: one of ``OBSERVERS``.

    Raises:
        ValueError: unknown name.
    """
    if name == "minmax":
        return MinMaxObserver(axis)
    if name == "moving_average":
        return MovingAverageObserver(axis)
    if name == "percentile":
        return PercentileObserver(axis, percentile)
    if name == "mse":
        return MSEObserver(axis)
    raise ValueError(f"observer {name!r} unknown; allowed: {', '.join(OBSERVERS)}")
