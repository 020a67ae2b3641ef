"""The least squares of one layer: rows from its input, Gram statistics, the ridge solve, the write-back.

:mod:`reconstruct` decides which layers to solve and where their inputs come from; this file turns a
layer's input and the original layer's output into ``A^T A`` / ``A^T Y`` (float64), solves
``argmin ||A T - Y||^2 + lam ||T - T0||^2`` (``T0`` = the cut weights: the ridge pulls towards the
original restricted to the kept inputs, not towards zero), picks ``lam`` on held-out calibration rows
when asked, and writes the solution (and the matching BatchNorm statistics) back into the layer.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

_CHUNK = 1 << 23  # unfolded elements per slice of a batch: bounds memory on large feature maps
# ridge strengths tried when ridge="auto" (times the mean diagonal of the Gram matrix)
RIDGES = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
Stats = tuple  # (gram, cross, y_sum, y_sq, rows), each summed over calibration rows


def _rows(m: nn.Module, x: torch.Tensor, positions: int, gen: torch.Generator):
    """The layer's input as least-squares rows (rows, groups, features per group) with their row indices.

    A conv contributes at most ``positions`` random output positions per input: neighbouring
    positions are highly correlated, so a sample of them gives nearly the same Gram matrix for a
    fraction of the work on large feature maps.
    """
    if isinstance(m, nn.Linear):
        yield x.reshape(-1, 1, x.shape[-1]), None
        return
    per = max(1, _CHUNK // max(1, x[0].numel() * m.kernel_size[0] * m.kernel_size[1]))
    for i in range(0, len(x), per):
        cols = F.unfold(x[i:i + per], m.kernel_size, m.dilation, m.padding, m.stride)  # (n, C*k, L)
        n, f, length = cols.shape
        if length > positions:
            sel = torch.stack([torch.randperm(length, generator=gen)[:positions] for _ in range(n)])
            cols = cols.gather(2, sel[:, None, :].expand(n, f, positions))
            index = (sel + (i + torch.arange(n))[:, None] * length).reshape(-1)
        else:
            index = torch.arange(i * length, (i + n) * length)
        yield cols.transpose(1, 2).reshape(-1, m.groups, f // m.groups), index


def _targets(m: nn.Module, y: torch.Tensor, keep_out: list[int]) -> torch.Tensor:
    """The original layer's output on the kept channels as (rows, groups, outputs per group)."""
    if isinstance(m, nn.Linear):
        return y[..., keep_out].reshape(-1, 1, len(keep_out))
    y = y[:, keep_out]
    return y.permute(0, 2, 3, 1).reshape(-1, m.groups, len(keep_out) // m.groups)


def theta(m: nn.Module, intercept: bool) -> torch.Tensor:
    """Current weights as (groups, features [+1 intercept], outputs per group), float64."""
    g = 1 if isinstance(m, nn.Linear) else m.groups
    w = m.weight.detach().double().reshape(g, m.weight.shape[0] // g, -1).transpose(1, 2)
    if not intercept:
        return w
    b = m.bias.detach().double() if m.bias is not None else torch.zeros(m.weight.shape[0], dtype=torch.float64)
    return torch.cat([w, b.reshape(g, 1, -1)], 1)


def solve(gram: torch.Tensor, cross: torch.Tensor, prior: torch.Tensor, ridge: float) -> torch.Tensor:
    """argmin_T ||A T - Y||^2 + lam ||T - prior||^2 from ``gram`` = A^T A and ``cross`` = A^T Y (batched).

    ``lam`` is ``ridge`` times the mean diagonal of ``gram`` (per group), so ``ridge`` has no units.
    """
    lam = ridge * gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    return torch.linalg.solve(gram + lam[:, None, None] * eye, cross + lam[:, None, None] * prior)


def objective(gram: torch.Tensor, cross: torch.Tensor, t: torch.Tensor) -> float:
    """||A T - Y||^2 up to the constant ||Y||^2."""
    return float((t * (gram @ t)).sum() - 2 * (t * cross).sum())


def stats(m: nn.Module, pairs: Iterable[tuple[torch.Tensor, torch.Tensor]], keep_out: list[int],
          intercept: bool, positions: int, seed: int = 0, gen: torch.Generator | None = None) -> Stats | None:
    """Gram statistics of layer ``m`` from (its input, the original layer's output) batch pairs.

    ``gen`` (else one seeded by ``seed``) samples a conv's output positions: pass one generator to every
    call when the sums of one layer are accumulated batch by batch.

    Returns:
        ``(A^T A, A^T Y, sum Y, sum Y^2, rows)`` per group in float64, or None without any pair.
    """
    out, gen = None, gen or torch.Generator().manual_seed(seed)
    for xin, y in pairs:
        y = _targets(m, y, keep_out)
        for a, index in _rows(m, xin, positions, gen):
            a, t = a.double(), (y if index is None else y[index]).double()
            if intercept:
                a = torch.cat([a, torch.ones(*a.shape[:2], 1, dtype=a.dtype)], -1)
            a_g, t_g = a.transpose(0, 1), t.transpose(0, 1)  # (groups, rows, .)
            part = (a_g.transpose(1, 2) @ a_g, a_g.transpose(1, 2) @ t_g, t_g.sum(1), (t_g**2).sum(1), len(a))
            out = part if out is None else tuple(s + p for s, p in zip(out, part))
    return out


def add(a: Stats | None, b: Stats | None) -> Stats | None:
    """The statistics of both row sets (either may be None)."""
    return b if a is None else a if b is None else tuple(x + y for x, y in zip(a, b))


def pick_ridge(train: Stats, held: Stats, prior: torch.Tensor) -> float | None:
    """The ridge of :data:`RIDGES` whose solve on ``train`` fits the ``held`` rows best.

    Returns None when the prior itself (no change) fits the held-out rows at least as well as every solve.
    """
    best, best_err = None, objective(held[0], held[1], prior)
    for r in RIDGES:
        t = solve(train[0], train[1], prior, r)
        err = objective(held[0], held[1], t) if bool(torch.isfinite(t).all()) else float("inf")
        if err < best_err:
            best, best_err = r, err
    return best


def assign(m: nn.Module, t: torch.Tensor, intercept: bool, bn: nn.Module | None) -> None:
    w = t[:, :-1] if intercept else t
    with torch.no_grad():
        m.weight.copy_(w.transpose(1, 2).reshape(m.weight.shape).to(m.weight.dtype))
        if intercept:
            c = t[:, -1].reshape(-1).to(m.weight.dtype)
            if m.bias is not None:
                m.bias.copy_(c)
            else:  # BN(y + c) with mean mu is BN(y) with mean mu - c
                bn.running_mean.sub_(c)


def match_bn(bn: nn.Module, t: torch.Tensor, sums: Stats, intercept: bool) -> None:
    """Rescale the BN's statistics so its outputs keep the original's per-channel mean and variance."""
    gram, _, y_sum, y_sq, n = sums
    mean_o, var_o = (y_sum / n).reshape(-1), (y_sq / n).reshape(-1) - (y_sum / n).reshape(-1) ** 2
    # fitted values: mean = (1^T A / n) T, second moment = diag(T^T G T) / n
    a_mean = gram[:, -1, :] / n if intercept else None
    if a_mean is None:
        return
    mean_p = (a_mean.unsqueeze(1) @ t).reshape(-1)
    var_p = ((t * (gram @ t)).sum(1) / n).reshape(-1) - mean_p**2
    ok = (var_o > 1e-12) & (var_p > 1e-12)
    ratio = torch.where(ok, var_p / var_o.clamp_min(1e-12), torch.ones_like(var_p))
    with torch.no_grad():
        rm, rv = bn.running_mean.double(), bn.running_var.double() + bn.eps
        new_rv = rv * ratio
        new_rm = mean_p - (mean_o - rm) * ratio.sqrt()
        bn.running_var.copy_((new_rv - bn.eps).clamp_min(0).to(bn.running_var.dtype))
        bn.running_mean.copy_(new_rm.to(bn.running_mean.dtype))


