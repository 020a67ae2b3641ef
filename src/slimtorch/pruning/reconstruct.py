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
least-squares error goes down (and everything is finite). With ``ridge="auto"`` the last
``holdout`` share of the calibration inputs (order them so those are other photos) is kept out of the
fit to choose each layer's ridge, and a layer whose held-out error no solve improves is left as cut.

The calibration rows are streamed (``calib_stream.Stream``: a tensor, a dataset such as ``PhotoCrops``
that draws new crops, a DataLoader, or a ``Calibration`` with held-out inputs): each layer's Gram sums
are accumulated batch by batch, so thousands of rows fit in memory. The layers' inputs come from both
networks run in lockstep from a checkpoint (``sequential.walk``, when they trace with torch.fx), else
from re-running both up to each layer (~ depth^2). The least squares itself is in ``layer_solve.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .. import io
from .calib_stream import Calibration, Stream
from .layer_solve import add, assign, match_bn, objective, pick_ridge, solve, stats, theta
from .plan import KIND
from .sequential import MEMORY, walk

Plan = dict[str, dict[str, list[int]]]
SCOPES = ("downstream", "consumers")
__all__ = ["Calibration", "calib_batches", "objective", "prune_then_reconstruct", "reconstruct", "run_until_stop",
           "solve"]
_objective = objective  # the name encoder_reconstruct.py imports


class _Stop(Exception):
    """Raised by a capture hook: the forward pass has produced what is needed."""


def calib_batches(data: Any, batch_size: int = 32, limit: int | None = None) -> list[torch.Tensor]:
    """Input batches (one pass, at most ``limit`` rows) from a tensor, a dataset (``.x``, or rows by index such as
    ``PhotoCrops``: batched here), a :class:`Calibration`, or an iterable of tensors / (x, y) batches."""
    return list(Stream(data, batch_size, limit))


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


def reconstruct(original: nn.Module, pruned: nn.Module, plan: Plan, calib: Any, *, ridge: float | str = "auto",
                scope: str = "downstream", match_bn: bool = True, batch_size: int = 32,
                limit: int | None = None, positions: int = 256, holdout: float = 0.25,
                memory: int = MEMORY) -> dict[str, Any]:
    """Re-solve the pruned model's layers so they follow the original on calibration inputs (in place).

    Args:
        original: the model before pruning (unchanged).
        pruned: the same model after ``plan`` was applied (same layer names); changed in place.
        plan: ``{layer: {role: kept indices}}`` that made ``pruned`` from ``original``.
        calib: unlabeled inputs, streamed batch by batch: a tensor, a dataset (``.x``, or rows drawn by
            index such as ``PhotoCrops``: new crops every pass), a DataLoader / iterable of batches, a
            :class:`Calibration` (fit rows + held-out rows), or a ``calib_stream.Stream``.
        ridge: strength of the pull towards the cut weights (times the mean diagonal of the Gram matrix),
            or "auto" (the default): per layer, the value of ``layer_solve.RIDGES`` whose solve on the other
            rows fits the held-out rows best (none: the layer stays as cut).
        scope: "downstream" (every conv/linear from the first one that reads pruned channels) or
            "consumers" (only the layers that read pruned channels).
        match_bn: re-estimate BatchNorm statistics after each solved layer (original's mean and variance).
        batch_size: calibration rows per forward pass.
        limit: calibration rows per pass at most (None: all the data gives).
        positions: output positions per input sampled for a conv's least squares (all when fewer).
        holdout: with ridge="auto", the share of calibration rows held out to choose the ridge (a tensor's
            last rows; a stream's every ``1/holdout``-th batch; a :class:`Calibration`'s ``held`` instead);
            the chosen ridge is then solved on all of them.
        memory: bytes of activations the sequential pass may cache (``sequential.walk``).

    Returns:
        ``{"layers": [{name, before, after, solved, ridge}], "solved": n, "pass": "sequential"|"per-layer",
        "rows": fit rows of the last pass, "held_rows": n}``: least-squares errors on the calibration set
        (relative to the target's energy) before and after each solve.

    Raises:
        ValueError: no calibration data, an unknown scope, or a bad ridge/holdout.

    Example:
        >>> original = copy.deepcopy(model); apply_plan(model, plan)        # doctest: +SKIP
        >>> reconstruct(original, model, plan, calib_x, ridge="auto")        # doctest: +SKIP
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not (ridge == "auto" or (isinstance(ridge, int | float) and ridge >= 0)) or not 0 < holdout < 1:
        raise ValueError(f"ridge must be a number >= 0 or 'auto' and holdout in (0, 1), got {ridge!r}, {holdout!r}")
    auto = ridge == "auto"
    stream = calib if isinstance(calib, Stream) else Stream(calib, batch_size, limit, holdout if auto else None)
    was = (original.training, pruned.training)
    original.eval()
    pruned.eval()
    try:
        order, bn_of = _order(pruned, stream.example)
        reads_cut = [n for n in order if n in plan and len(plan[n].get("in", ())) < _in_size(original, n)]
        todo = reads_cut if scope == "consumers" or not reads_cut else order[order.index(reads_cut[0]):]
        rows: dict[str, Any] = {}

        def visit(name: str, pairs) -> None:
            rows[name] = _solve_layer(original, pruned, name, plan, pairs, bn_of, ridge, match_bn, positions)

        how = "sequential" if walk(original, pruned, stream.passes, set(todo), visit, memory) else "per-layer"
        if how == "per-layer":
            for n in todo:
                visit(n, _captured(original, pruned, n, stream.passes()))
    finally:
        original.train(was[0])
        pruned.train(was[1])
    out = [rows[n] for n in todo if rows.get(n) is not None]
    counts = next((r["rows"] for r in out), (0, 0))
    return {"layers": out, "solved": sum(r["solved"] for r in out), "pass": how, "rows": counts[0],
            "held_rows": counts[1]}


def _captured(original, pruned, name, batches):
    """Per batch, the pruned model's input to ``name`` and the original's output (one run each)."""
    for x, tag in batches:
        xin, y = _capture(pruned, name, x, output=False), _capture(original, name, x, output=True)
        if xin is None or y is None:
            return
        yield xin, y, tag


def _in_size(model: nn.Module, name: str) -> int:
    m = model.get_submodule(name)
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def _solve_layer(original, pruned, name, plan, pairs, bn_of, ridge, match, positions) -> dict[str, Any] | None:
    """Solve layer ``name`` from its (input, target, held) batches; the held ones choose an "auto" ridge."""
    m = pruned.get_submodule(name)
    bn = pruned.get_submodule(bn_of[name]) if name in bn_of else None
    intercept = m.bias is not None or (bn is not None and bn.track_running_stats and bn.running_mean is not None)
    keep_out = plan.get(name, {}).get("out") or list(range(_out_size(original, name)))
    if len(keep_out) != _out_size(pruned, name):
        return None  # outputs cut by a rule the plan records under another module (attention heads): left as cut
    fit = check = None
    gen, n = torch.Generator().manual_seed(0), [0, 0]
    for xin, y, held in pairs:  # the Gram sums grow batch by batch: no batch is kept
        part = stats(m, [(xin, y)], keep_out, intercept, positions, gen=gen)
        n[bool(held)] += len(xin)
        fit, check = (fit, add(check, part)) if held else (add(fit, part), check)
    every = add(fit, check)
    if every is None:
        return None
    gram, cross, _, y_sq, _ = every
    prior = theta(m, intercept)
    energy = float(y_sq.sum()) or 1.0
    before = objective(gram, cross, prior)
    rows, features = every[4], gram.shape[-1]
    # fewer rows than a few per unknown (a classifier after pooling): least squares would interpolate
    # the calibration set, so the pull towards the cut weights grows with the shortfall
    strength = (1e-3 if ridge == "auto" else ridge) * max(1.0, 4.0 * features / rows)
    if ridge == "auto" and fit is not None and check is not None:
        strength = pick_ridge(fit, check, prior)  # on held-out rows; None: no ridge beats the cut weights there
    t = prior if strength is None else solve(gram, cross, prior, strength)
    after = objective(gram, cross, t)
    ok = strength is not None and bool(torch.isfinite(t).all()) and after <= before
    if ok:
        if match and bn is not None and m.bias is None:
            match_bn(bn, t, every, intercept)  # in the fitted outputs' space; assign then moves the intercept
        assign(m, t, intercept, bn)
    return {"name": name, "before": (before + energy) / energy, "after": (after + energy) / energy, "solved": ok,
            "ridge": strength, "rows": tuple(n)}


def _out_size(model: nn.Module, name: str) -> int:
    m = model.get_submodule(name)
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def prune_then_reconstruct(model: nn.Module, calib: Any, prune: Callable[[nn.Module], nn.Module],
                           solver: Callable[..., Any] | None = None, **options: Any) -> nn.Module:
    """Run ``prune(model)`` (a verified channel prune that records its plan), then :func:`reconstruct`.

    The calibration data is checked (and its first batch drawn) before anything is cut; the original is a
    deep copy taken first. ``options`` go to ``solver`` (:func:`reconstruct` when None; it is called as
    :func:`reconstruct` is, with a ``calib_stream.Stream`` of the data: iterating it gives plain batches).

    Raises:
        ValueError: no calibration data.
    """
    auto = options.get("ridge", "auto") == "auto"
    stream = Stream(calib, options.pop("batch_size", 32), options.pop("limit", None),
                    options.get("holdout", 0.25) if auto else None)
    original = copy.deepcopy(model)
    seen = len(io.transforms(model))
    model = prune(model)
    history = io.transforms(model)
    if len(history) > seen and history[-1].get("kind") == KIND:
        (solver or reconstruct)(original, model, history[-1]["keep"], stream, **options)
    return model
