"""Verification of a channel plan against the masked original, with rollback of the groups that fail.

The oracle: the original model with the removed channels masked - the weights that read them
zeroed (for conv/linear layers, equivalently and more cheaply, their input channels), and
normalisations that see all channels at once (LayerNorm, GroupNorm) computed over the kept
channels only. The pruned model must give the same outputs on every example input (to a
tolerance relative to each output's scale) and must not fail. The plan is applied in place; when
it fails, the model is restored exactly (same Parameter objects) and the groups are bisected: a
bad group is rolled back (its channels kept, one warning naming its layer and why) without undoing
the good ones. Whatever is returned has passed the check.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .graph import _tensors
from .plan import _set, apply_plan
from .surgery import lookup, read_positions

Plan = dict[str, dict[str, list[int]]]
RTOL = 1e-4  # of an output's largest magnitude: float32 sums in another order differ far less


def run(model: nn.Module, calls: list[tuple[tuple, dict]]) -> list[list[torch.Tensor]]:
    """The model's output tensors on every call (eval mode, no grad)."""
    was = model.training
    if was:  # eval() walks every module: skip it when there is nothing to switch
        model.eval()
    try:
        # no_grad, not inference_mode: inference tensors cannot be viewed on some backends (lazy/XLA) nor
        # touched later outside the mode ("Cannot set version_counter for inference tensor")
        with torch.no_grad():
            return [[t.detach() for t in _tensors(model(*a, **k))] for a, k in calls]
    finally:
        if was:
            model.train(was)


def compare(got: list[list[torch.Tensor]], want: list[list[torch.Tensor]]) -> str | None:
    """None when every output matches, else a one-line reason."""
    for i, (g_outs, w_outs) in enumerate(zip(got, want)):
        if len(g_outs) != len(w_outs):
            return f"example input #{i}: {len(g_outs)} outputs instead of {len(w_outs)}"
        for j, (g, w) in enumerate(zip(g_outs, w_outs)):
            if g.shape != w.shape:
                return f"example input #{i}, output {j}: shape {tuple(g.shape)} instead of {tuple(w.shape)}"
            if not w.is_floating_point():
                if not torch.equal(g, w):
                    return f"example input #{i}, output {j}: different values"
                continue
            finite = w[torch.isfinite(w)]
            scale = float(finite.abs().max()) if finite.numel() else 0.0
            err = (g.double() - w.double()).abs().nan_to_num(nan=float("inf"))
            nan_both = torch.isnan(g) & torch.isnan(w)
            worst = float(err.masked_fill(nan_both, 0).max()) if err.numel() else 0.0
            if worst > RTOL * scale + 1e-6:
                return f"example input #{i}, output {j}: differs from the masked original by {worst:.3g} " \
                    f"(output scale {scale:.3g})"
    return None


class _MaskedNorms(TorchFunctionMode):
    """Compute the norms whose channels the plan cuts over their kept channels only."""

    def __init__(self, keep: dict[int, torch.Tensor]):
        super().__init__()
        self.keep = keep  # id(weight) -> kept channel indices

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.layer_norm and id(args[2] if len(args) > 2 else kwargs.get("weight")) in self.keep:
            return _masked(args, kwargs, self.keep, "layer")
        if func is F.group_norm and id(args[2] if len(args) > 2 else kwargs.get("weight")) in self.keep:
            return _masked(args, kwargs, self.keep, "group")
        return func(*args, **kwargs)


def _masked(args: tuple, kwargs: dict, keep: dict[int, torch.Tensor], kind: str) -> torch.Tensor:
    names = ("input", "normalized_shape" if kind == "layer" else "num_groups", "weight", "bias", "eps")
    a = dict(zip(names, args), **kwargs)
    x, w, b, eps = a["input"], a["weight"], a.get("bias"), a.get("eps", 1e-5)
    idx = keep[id(w)]
    dim = -1 if kind == "layer" else 1
    xs, bs = x.index_select(dim, idx), None if b is None else b[idx]
    if kind == "layer":
        ys = F.layer_norm(xs, (len(idx),), w[idx], bs, eps)
    else:
        groups = len(idx) * a["num_groups"] // w.shape[0]
        ys = F.group_norm(xs, groups, w[idx], bs, eps)
    return torch.zeros_like(x).index_copy(dim % x.dim(), idx, ys)


def reference(model: nn.Module, plan: Plan, calls: list[tuple[tuple, dict]]) -> list[list[torch.Tensor]]:
    """Outputs of ``model`` with the channels ``plan`` removes masked; the model is left unchanged.

    Layers linear in their input get it masked on the way in (the same as zeroed weights, and cheaper);
    other weights that read removed channels are swapped for zeroed copies during the run (the originals
    are never written), and the norms the plan cuts are computed over kept channels.
    """
    modules = dict(model.named_modules())  # one walk: get_submodule per planned layer cost more than the masks
    swaps: dict[tuple[int, str], tuple[nn.Module, str, torch.Tensor, torch.Tensor]] = {}
    norms, masked = {}, []
    try:  # set up inside: whatever was changed before a failure is undone
        for name, keep in plan.items():
            mod = modules[name] if name in modules else model.get_submodule(name)
            surgery = lookup(type(mod))
            if surgery is None:  # only param:/attr: roles: elementwise, they read no channel
                continue
            if isinstance(mod, (nn.LayerNorm, nn.GroupNorm)) and "c" in keep and mod.weight is not None:
                norms[id(mod.weight)] = torch.as_tensor(keep["c"], dtype=torch.long, device=mod.weight.device)
            if not surgery.consumes:  # channelwise (BatchNorm): what it passes on is masked where it is read
                continue
            if surgery.in_dim is not None and surgery.consumes == ("in",) and "in" in keep:
                masked.append(_mask_input(mod, surgery.in_dim, keep["in"]))
                continue
            _zeroed_reads(mod, keep, swaps)
        for owner, leaf, _, zeroed in swaps.values():
            _table(owner, leaf)[leaf] = zeroed
        with _MaskedNorms(norms) if norms else nullcontext():
            return run(model, calls)
    finally:
        for owner, leaf, orig, _ in swaps.values():
            _table(owner, leaf)[leaf] = orig
        for mod, before in reversed(masked):  # the module's own forward again (or the instance one it had)
            if before is None:
                del mod.__dict__["forward"]
            else:
                mod.__dict__["forward"] = before


def _zeroed_reads(mod: nn.Module, keep: dict[str, list[int]], swaps: dict) -> None:
    """Add to ``swaps`` zeroed copies of ``mod``'s weights at the positions that read removed channels."""
    for path, dim, idx in read_positions(mod, keep):
        owner_path, _, leaf = path.rpartition(".")
        owner = mod.get_submodule(owner_path) if owner_path else mod
        key = (id(owner), leaf)
        orig, cur = swaps[key][2:] if key in swaps else (getattr(owner, leaf), getattr(owner, leaf))
        mask = torch.ones(cur.shape[dim], dtype=cur.dtype, device=cur.device).index_fill_(0, idx, 0.0)
        shape = [1] * cur.dim()
        shape[dim] = -1
        swaps[key] = (owner, leaf, orig, cur.detach() * mask.view(shape))  # one broadcast op, no strided fill


def _mask_input(mod: nn.Module, in_dim: Callable, keep: list[int]) -> tuple[nn.Module, Any]:
    """Make ``mod`` zero the input channels its plan drops (the same as zeroed weights); returns how to undo it.

    An instance ``forward`` rather than a pre-hook: a module with hooks takes torch's slow call path, and
    the reference masks nearly every layer of the network.
    """
    kept = np.asarray(keep, dtype=np.int64)
    masks: dict[tuple, torch.Tensor | None] = {}  # per input layout: built once, reused by every call
    before, inner = mod.__dict__.get("forward"), mod.forward

    def forward(*args, **kwargs):
        if not args:  # the input passed by keyword
            args = (kwargs.pop(next(iter(kwargs))),)
        x = args[0]
        dim = in_dim(mod, x)
        key = (x.dim(), dim, x.shape[dim], x.dtype, x.device)
        if key not in masks:
            masks[key] = _mask(kept, x, dim)
        mask = masks[key]
        return inner(x if mask is None else x * mask, *args[1:], **kwargs)

    mod.__dict__["forward"] = forward
    return mod, before


def _mask(kept: np.ndarray, x: torch.Tensor, dim: int) -> torch.Tensor | None:
    """1 at the kept channels of ``x``'s ``dim``, 0 elsewhere, shaped to broadcast (None: nothing dropped).

    Built in numpy: each torch op costs a dispatch, and a reference masks nearly every layer of the network.
    """
    if len(kept) == x.shape[dim]:  # the plan cuts this layer's outputs only
        return None
    shape = [1] * x.dim()
    shape[dim] = -1
    ones = np.zeros(x.shape[dim], dtype=np.float32)
    ones[kept] = 1.0
    mask = torch.from_numpy(ones.reshape(shape))
    return mask if x.dtype == torch.float32 and x.device.type == "cpu" else mask.to(device=x.device, dtype=x.dtype)


def _table(owner: nn.Module, leaf: str) -> dict:
    return owner._parameters if leaf in owner._parameters else owner._buffers


def _snapshot(model: nn.Module, plan: Plan) -> list:
    """What a cut changes (class, attributes, parameter and buffer tables) of every module the plan touches."""
    snap = []
    modules = dict(model.named_modules())
    for name in plan:
        top = modules[name]
        state = [(m, m.__class__, _copied(m.__dict__), dict(m._parameters), dict(m._buffers), dict(m._modules))
                 for m in top.modules()]
        snap.append((name, top, state))
    return snap


def _copied(attrs: dict) -> dict:
    """``attrs`` with its lists copied: a cut may change one in place (an RNN's ``_flat_weights``)."""
    return {k: v.copy() if type(v) is list else v for k, v in attrs.items()}


def _restore(model: nn.Module, snap: list) -> None:
    for name, top, state in reversed(snap):
        for m, cls, attrs, params, buffers, modules in state:
            m.__class__ = cls
            m.__dict__.clear()
            m.__dict__.update(_copied(attrs))
            m._parameters, m._buffers, m._modules = dict(params), dict(buffers), dict(modules)
        _set(model, name, top)


def check(model: nn.Module, plan: Plan, calls: list, keep: bool) -> str | None:
    """Apply ``plan`` in place and compare with the masked original; undo it on failure (or unless ``keep``)."""
    if not plan:
        return None
    want = reference(model, plan, calls)
    snap = _snapshot(model, plan)
    try:
        apply_plan(model, plan)
        why = compare(run(model, calls), want)
    except Exception as err:  # a cut or a forward that fails is a verdict, not a crash
        why = f"the pruned model fails: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if why is not None or not keep:
        _restore(model, snap)
    return why


def verified(model: nn.Module, groups: list[Any], plan_of: Callable[[list[Any]], Plan], calls: list) -> list:
    """Apply the largest verified subset of ``groups`` in place; returns ``[(group, reason)]`` rolled back.

    The whole plan is tried first (one reference and one pruned forward per input when it passes);
    on failure the groups are bisected so that each bad group is found and kept whole.
    """
    rejected: list = []

    def search(todo: list, accepted: list, known: str | None = None) -> list:
        if not todo:
            return []
        why = known if known is not None else check(model, plan_of(accepted + todo), calls, keep=False)
        if why is None:
            return todo
        if len(todo) == 1:
            rejected.append((todo[0], why))
            return []
        mid = len(todo) // 2
        left = search(todo[:mid], accepted)
        return left + search(todo[mid:], accepted + left)

    why = check(model, plan_of(groups), calls, keep=True)
    if why is None:
        return []
    good = search(groups, [], known=why)
    if check(model, plan_of(good), calls, keep=True) is not None:  # passed above: only a model that is random in eval
        return [(g, "the model's outputs are not reproducible in eval mode") for g in groups]
    return rejected
