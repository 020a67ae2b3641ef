"""Scale / zero-point choice and the fixed-point requantization arithmetic (see DESIGN.md).

Affine mapping ``r = S * (q - Z)``. A layer rescales its int32 accumulator into the next layer's
integer domain with ``M = S_in * S_w / S_out = M0 * 2**-p`` where ``M0`` is a 31-bit integer
(``2**30 <= M0 < 2**31``), and ``q_out = clamp(round((M0 * acc) / 2**p) + Z_out)`` with a
rounding right shift (round half up), all in integers.
"""

from __future__ import annotations

import math

import torch

M0_BITS = 31


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """Integer range of a ``bits``-bit code. Signed weights use the symmetric range [-(2^(b-1)-1), 2^(b-1)-1]
    so that the code -2^(b-1) never occurs (keeps quantization symmetric around 0)."""
    if signed:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """floor(x + 0.5): the float twin of the integer rounding right shift (torch.round rounds half to even)."""
    return torch.floor(x + 0.5)


def choose_qparams(lo: torch.Tensor, hi: torch.Tensor, qmin: int, qmax: int,
                   symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point covering [lo, hi] (widened to include 0 so that 0 is exact).

    Args:
        lo, hi: observed range (scalars or per-channel vectors).
        qmin, qmax: the integer range.
        symmetric: zero point at the middle of the range (0 for signed codes).

    Returns:
        (scale float32, zero_point int64) tensors shaped like ``lo``.
    """
    lo = torch.minimum(torch.as_tensor(lo, dtype=torch.float64), torch.zeros(()))
    hi = torch.maximum(torch.as_tensor(hi, dtype=torch.float64), torch.zeros(()))
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        amax = torch.maximum(-lo, hi)
        scale = torch.clamp(amax / ((qmax - qmin) / 2), min=eps)
        zp = torch.full_like(scale, (qmin + qmax + 1) // 2 if qmin >= 0 else 0, dtype=torch.int64)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=eps)
        zp = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int64)
    return scale.to(torch.float32), zp


def quantize_multiplier(m: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a positive real multiplier into ``M0 * 2**-p`` with ``2**30 <= M0 < 2**31``.

    Args:
        m: multiplier(s) ``S_in * S_w / S_out``, positive.

    Returns:
        (M0 int64, p int64) tensors shaped like ``m``.

    Raises:
        ValueError: a multiplier is not positive and finite, or needs a shift outside [0, 62].
    """
    m = torch.as_tensor(m, dtype=torch.float64)
    flat = m.reshape(-1).tolist()
    m0s, ps = [], []
    for v in flat:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"fixed-point multiplier must be positive and finite, got {v!r}")
        mant, exp = math.frexp(v)  # v = mant * 2**exp, 0.5 <= mant < 1
        m0 = round(mant * (1 << M0_BITS))
        if m0 == 1 << M0_BITS:  # rounding overflowed the 31 bits: renormalise
            m0 //= 2
            exp += 1
        p = M0_BITS - exp
        if not 0 <= p <= 62:
            raise ValueError(f"fixed-point multiplier {v!r} needs a right shift of {p}; allowed 0..62")
        m0s.append(m0)
        ps.append(p)
    return (torch.tensor(m0s, dtype=torch.int64).reshape(m.shape),
            torch.tensor(ps, dtype=torch.int64).reshape(m.shape))


def rounding_rshift(x: torch.Tensor, p: torch.Tensor | int) -> torch.Tensor:
    """``round(x / 2**p)`` (half up) in int64 only: ``(x + 2**(p-1)) >> p``; p may be per element."""
    p = torch.as_tensor(p, dtype=torch.int64)
    half = torch.where(p > 0, torch.bitwise_left_shift(torch.ones_like(p), (p - 1).clamp(min=0)), torch.zeros_like(p))
    return torch.bitwise_right_shift(x + half, p)


def requantize(acc: torch.Tensor, m0: torch.Tensor, p: torch.Tensor, zp_out: int, qmin: int, qmax: int,
               lo: int | None = None, hi: int | None = None) -> torch.Tensor:
    """``clamp(round(M0 * acc / 2**p) + Z_out)`` in int64 arithmetic (acc holds the int32 bias already).

    ``m0``/``p`` broadcast against ``acc`` (per-channel: shape (C, 1, 1) for NCHW). ``lo``/``hi``
    narrow the clamp for a fused ReLU / ReLU6.
    """
    out = rounding_rshift(acc.to(torch.int64) * m0, p) + zp_out
    return out.clamp(qmin if lo is None else max(qmin, lo), qmax if hi is None else min(qmax, hi))
