"""Post-training reconstruction: after channels are cut, re-solve each layer so it follows the original.

Layer by layer in execution order (so each layer sees the pruned, already reconstructed layers
before it), the weights of a conv/linear layer are re-solved by ridge least squares: on the
calibration inputs, the pruned model's input to the layer (its kept channels) must reproduce the
original layer's output (its kept channels). The ridge pulls towards the layer's current (cut)
weights, not towards zero, so a layer with few calibration rows (a classifier after global
pooling) stays near what it was instead of shrinking. Without a bias, the fitted intercept goes
into the following BatchNorm's running mean; the BatchNorm's statistics are then re-estimated so
its outputs on the calibration set have the original's per-channel mean and variance.

Every solve is checked on the calibration Gram matrices: a layer is changed only when its
least-squares error goes down (and everything is finite).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import io
from .plan import KIND

Plan = dict[str, dict[str, list[int]]]
SCOPES = ("downstream", "consumers")
_CHUNK = 1 << 23  # unfolded elements per slice of a batch: bounds memory on large feature maps


class _Stop(Exception):
    """Raised by a capture hook: the forward pass has produced what is needed."""


def calib_batches(data: Any, batch_size: int = 32, limit: int | None = None) -> list[torch.Tensor]:
    """Input batches from a tensor, a dataset with ``.x``, or an iterable of tensors / (x, y) batches."""
    if data is None:
        raise ValueError("reconstruction needs calib_data=... (unlabeled inputs, e.g. st.data.load('images:DIR'))")
    x = data if isinstance(data, torch.Tensor) else getattr(data, "x", None)
    if isinstance(x, torch.Tensor):
        x = x[:limit] if limit else x
        return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    out, n = [], 0
    for b in data:
        t = b if isinstance(b, torch.Tensor) else b[0]
        out.append(t)
        n += len(t)
        if limit and n >= limit:
            break
    if not out:
        raise ValueError("calib_data holds no inputs")
    return out


def run_until_stop(model: nn.Module, x: torch.Tensor) -> None:
    """Run ``model`` on ``x`` without gradients until a capture hook raises ``_Stop`` (or to the end)."""
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass


def _capture(model: nn.Module, name: str, x: torch.Tensor, output: bool) -> torch.Tensor | None:
    """The input (or output) of submodule ``name`` on ``x``; the forward stops right there."""
    box: list[torch.Tensor] = []

    def pre(_m, args):
        box.append(args[0].detach())
        raise _Stop

    def post(_m, _args, out):
        box.append(out.detach())
        raise _Stop

    mod = model.get_submodule(name)
    h = mod.register_forward_hook(post) if output else mod.register_forward_pre_hook(pre)
    try:
        run_until_stop(model, x)
    finally:
        h.remove()
    return box[0] if box else None


def _order(model: nn.Module, x: torch.Tensor) -> tuple[list[str], dict[str, str]]:
    """Conv/linear layers in first-call order, and ``{layer: BatchNorm reading exactly its output}``."""
    names = {m: n for n, m in model.named_modules()}
    order, made, bn_of, hooks = [], {}, {}, []

    def post(m, _args, out):
        if names[m] not in order:
            order.append(names[m])
            made[id(out)] = names[m]

    def pre_bn(m, args):
        src = made.get(id(args[0]))
        if src is not None:
            bn_of.setdefault(src, names[m])

    for m in names:
        if _solvable(m):
            hooks.append(m.register_forward_hook(post))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            hooks.append(m.register_forward_pre_hook(pre_bn))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return order, bn_of


def _solvable(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.padding_mode == "zeros")


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


def _theta(m: nn.Module, intercept: bool) -> torch.Tensor:
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


def _objective(gram: torch.Tensor, cross: torch.Tensor, t: torch.Tensor) -> float:
    """||A T - Y||^2 up to the constant ||Y||^2."""
    return float((t * (gram @ t)).sum() - 2 * (t * cross).sum())


def _accumulate(original, pruned, name, batches, keep_out, intercept, positions):
    m_new, stats, gen = pruned.get_submodule(name), None, torch.Generator().manual_seed(0)
    for x in batches:
        xin, y = _capture(pruned, name, x, output=False), _capture(original, name, x, output=True)
        if xin is None or y is None:
            return None
        y = _targets(m_new, y, keep_out)
        for a, index in _rows(m_new, xin, positions, gen):
            a, t = a.double(), (y if index is None else y[index]).double()
            if intercept:
                a = torch.cat([a, torch.ones(*a.shape[:2], 1, dtype=a.dtype)], -1)
            a_g, t_g = a.transpose(0, 1), t.transpose(0, 1)  # (groups, rows, .)
            part = (a_g.transpose(1, 2) @ a_g, a_g.transpose(1, 2) @ t_g, t_g.sum(1), (t_g**2).sum(1), len(a))
            stats = part if stats is None else tuple(s + p for s, p in zip(stats, part))
    return stats


def _assign(m: nn.Module, t: torch.Tensor, intercept: bool, bn: nn.Module | None) -> None:
    w = t[:, :-1] if intercept else t
    with torch.no_grad():
        m.weight.copy_(w.transpose(1, 2).reshape(m.weight.shape).to(m.weight.dtype))
        if intercept:
            c = t[:, -1].reshape(-1).to(m.weight.dtype)
            if m.bias is not None:
                m.bias.copy_(c)
            else:  # BN(y + c) with mean mu is BN(y) with mean mu - c
                bn.running_mean.sub_(c)


def _match_bn(bn: nn.Module, t: torch.Tensor, stats: tuple, intercept: bool) -> None:
    """Rescale the BN's statistics so its outputs keep the original's per-channel mean and variance."""
    gram, _, y_sum, y_sq, n = stats
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


def reconstruct(original: nn.Module, pruned: nn.Module, plan: Plan, calib: Any, *, ridge: float = 1e-3,
                scope: str = "downstream", match_bn: bool = True, batch_size: int = 32,
                limit: int | None = 512, positions: int = 256) -> dict[str, Any]:
    """Re-solve the pruned model's layers so they follow the original on calibration inputs (in place).

    Args:
        original: the model before pruning (unchanged).
        pruned: the same model after ``plan`` was applied (same layer names); changed in place.
        plan: ``{layer: {role: kept indices}}`` that made ``pruned`` from ``original``.
        calib: unlabeled inputs: a tensor, a dataset with ``.x``, or batches.
        ridge: strength of the pull towards the cut weights (times the mean diagonal of the Gram matrix).
        scope: "downstream" (every conv/linear from the first one that reads pruned channels) or
            "consumers" (only the layers that read pruned channels).
        match_bn: re-estimate BatchNorm statistics after each solved layer (original's mean and variance).
        batch_size: calibration rows per forward pass.
        limit: calibration inputs used at most.
        positions: output positions per input sampled for a conv's least squares (all when fewer).

    Returns:
        ``{"layers": [{name, before, after, solved}], "solved": n}``: least-squares errors on the
        calibration set (relative to the target's energy) before and after each solve.

    Raises:
        ValueError: no calibration data or an unknown scope.

    Example:
        >>> original = copy.deepcopy(model); apply_plan(model, plan)        # doctest: +SKIP
        >>> reconstruct(original, model, plan, calib_x)                      # doctest: +SKIP
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    batches = calib_batches(calib, batch_size, limit)
    was = (original.training, pruned.training)
    original.eval()
    pruned.eval()
    try:
        order, bn_of = _order(pruned, batches[0])
        reads_cut = [n for n in order if n in plan and len(plan[n].get("in", ())) < _in_size(original, n)]
        todo = reads_cut if scope == "consumers" or not reads_cut else order[order.index(reads_cut[0]):]
        rows = [_solve_layer(original, pruned, n, plan, batches, bn_of, ridge, match_bn, positions) for n in todo]
    finally:
        original.train(was[0])
        pruned.train(was[1])
    rows = [r for r in rows if r is not None]
    return {"layers": rows, "solved": sum(r["solved"] for r in rows)}


def _in_size(model: nn.Module, name: str) -> int:
    m = model.get_submodule(name)
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def _solve_layer(original, pruned, name, plan, batches, bn_of, ridge, match_bn, positions) -> dict[str, Any] | None:
    m = pruned.get_submodule(name)
    bn = pruned.get_submodule(bn_of[name]) if name in bn_of else None
    intercept = m.bias is not None or (bn is not None and bn.track_running_stats and bn.running_mean is not None)
    keep_out = plan.get(name, {}).get("out") or list(range(_out_size(original, name)))
    stats = _accumulate(original, pruned, name, batches, keep_out, intercept, positions)
    if stats is None:
        return None
    gram, cross, _, y_sq, _ = stats
    prior = _theta(m, intercept)
    energy = float(y_sq.sum()) or 1.0
    before = _objective(gram, cross, prior)
    rows, features = stats[4], gram.shape[-1]
    # fewer rows than a few per unknown (a classifier after pooling): least squares would interpolate
    # the calibration set, so the pull towards the cut weights grows with the shortfall
    t = solve(gram, cross, prior, ridge * max(1.0, 4.0 * features / rows))
    after = _objective(gram, cross, t)
    ok = bool(torch.isfinite(t).all()) and after <= before
    if ok:
        if match_bn and bn is not None and m.bias is None:
            _match_bn(bn, t, stats, intercept)  # in the fitted outputs' space; _assign then moves the intercept
        _assign(m, t, intercept, bn)
    return {"name": name, "before": (before + energy) / energy, "after": (after + energy) / energy, "solved": ok}


def _out_size(model: nn.Module, name: str) -> int:
    m = model.get_submodule(name)
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def prune_then_reconstruct(model: nn.Module, calib: Any, prune: Callable[[nn.Module], nn.Module],
                           solver: Callable[..., Any] | None = None, **options: Any) -> nn.Module:
    """Run ``prune(model)`` (a verified channel prune that records its plan), then :func:`reconstruct`.

    The calibration data is checked before anything is cut; the original is a deep copy taken first.
    ``options`` go to ``solver`` (:func:`reconstruct` when None; it is called as :func:`reconstruct` is).

    Raises:
        ValueError: no calibration data.
    """
    batches = calib_batches(calib, options.pop("batch_size", 32), options.pop("limit", 512))
    original = copy.deepcopy(model)
    seen = len(io.transforms(model))
    model = prune(model)
    history = io.transforms(model)
    if len(history) > seen and history[-1].get("kind") == KIND:
        (solver or reconstruct)(original, model, history[-1]["keep"], batches,
                                batch_size=max(len(b) for b in batches), limit=None, **options)
    return model
