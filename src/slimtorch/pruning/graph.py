"""Dependency groups of coupled channel dimensions, found from one traced forward pass.

The trace runs the model once on example inputs. Layers with a surgery entry (conv, linear,
norms, attention, user layers) are leaves: a forward hook tells their entry what came in and
what went out, and the entry *creates* channels (conv/linear outputs) or *passes* them (BN).
Every other operation is seen through a ``TorchFunctionMode`` and moves channel labels along:
an elementwise add couples both operands channel by channel, ``cat`` shifts index ranges,
``flatten`` turns one channel into a block of features, and so on (rules in ``ops.py``).

Labels are integers per channel element (``-1`` = not tracked); coupled elements are joined in
a union-find, so one *unit* (a connected component) is one channel that must be removed from
every layer it touches at once. An operation without a rule *blocks* the channels it touched
(kept, with a warning naming the layer and the reason). Several example inputs run through one
tracer: a layer seen in two runs unites its slots, so the plan fits every input. The plan is then
checked against the masked original (``verify.py``), which rolls back whatever the rules got wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

import slimtorch.pruning.ops as ops
import slimtorch.pruning.sharing as sharing

from .surgery import Surgery, _tensor, lookup, param_specs


@dataclass
class Graph:
    """The result of a trace: slots (which channel elements each layer's parameter dims hold) and units."""

    slots: dict[str, dict[str, np.ndarray]]  # module name -> role -> element label per position
    root: np.ndarray  # element -> unit id
    blocked: set[int]  # unit ids that must be kept
    space_of: np.ndarray  # element -> id of the layer output ("space") that created it
    space_names: list[str]
    warnings: list[str] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)  # blocked unit id -> why it is kept

    def units(self) -> dict[int, np.ndarray]:
        """Unit id -> its elements, for units that may be removed."""
        order = np.argsort(self.root, kind="stable")
        ids, starts = np.unique(self.root[order], return_index=True)
        out = {}
        for i, uid in enumerate(ids):
            if int(uid) not in self.blocked:
                end = starts[i + 1] if i + 1 < len(starts) else len(order)
                out[int(uid)] = order[starts[i] : end]
        return out


class Tracer:
    """Collects labels, slots and couplings while the model runs; see the module docstring."""

    def __init__(self, model: nn.Module, ignore: Iterable[str] = ()):
        self.model = model
        self.ignore = [re.compile(p) for p in ignore]
        self.parent: list[int] = []
        self.space: list[int] = []
        self.space_names: list[str] = []
        self.labels: dict[int, tuple[torch.Tensor, dict[int, np.ndarray]]] = {}
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self.blocked: list[int] = []
        self.warnings: list[str] = []
        self.where: list[str] = []  # module names entered, innermost last
        self.depth = 0  # > 0 inside a leaf layer: its internals are the surgery's business
        self.why: dict[int, str] = {}  # blocked element -> first reason
        self.ran: set[str] = set()  # modules called during any run (leaves' insides included)
        self.owner = {id(p): n for n, p in model.named_parameters(remove_duplicate=False)}
        self.free = _free_params(model)  # ids of Parameters no surgery entry cuts
        self.soft: list[bool] = []

    # ---- elements and couplings -------------------------------------------------------------
    def new(self, n: int, name: str, role: str = "out", soft: bool = False) -> np.ndarray:
        """Fresh channel elements for an output of ``n`` channels created by layer ``name``.

        ``soft`` elements (a Parameter's dims) are blocked without a warning: most are not channels.
        """
        start = len(self.parent)
        sid = len(self.space_names)
        self.space_names.append(f"{name}.{role}" if name else role)
        self.parent.extend(range(start, start + n))
        self.space.extend([sid] * n)
        self.soft.extend([soft] * n)
        arr = np.arange(start, start + n, dtype=np.int64)
        if self.ignored(name):
            self.block(arr, f"layer {name!r} is in ignore=[...]", warn=False)
        return arr

    def ignored(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.ignore)

    def find(self, a: int) -> int:
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a: np.ndarray, b: np.ndarray, reason: str = "") -> None:
        """Couple two label arrays position by position; a tracked/untracked pair blocks the tracked one."""
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            self.block(np.concatenate([a.ravel(), b.ravel()]), reason or "channel counts do not line up")
            return
        mixed = (a < 0) != (b < 0)
        if mixed.any():
            self.block(np.where(a[mixed] >= 0, a[mixed], b[mixed]), reason or "combined with an untracked tensor")
        both = (a >= 0) & (b >= 0) & (a != b)
        pairs = np.stack([a[both], b[both]], 1)
        if len(pairs) > 64:  # repeated labels (flatten) give many duplicate pairs
            pairs = np.unique(pairs, axis=0)
        for x, y in pairs.tolist():
            rx, ry = self.find(int(x)), self.find(int(y))
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def union_all(self, arr: np.ndarray) -> None:
        """Make all tracked elements of ``arr`` one unit (a head, a conv group)."""
        arr = arr[arr >= 0]
        if len(arr) > 1:
            self.union(arr[:-1], arr[1:])

    def block(self, arr: Any, reason: str, warn: bool = True) -> None:
        arr = np.asarray(arr).ravel()
        arr = arr[arr >= 0]
        if len(arr) == 0:
            return
        self.blocked.extend(int(a) for a in arr)
        where = self.where[-1] if self.where else "<model>"
        for a in arr.tolist():
            self.why.setdefault(int(a), f"layer {where!r}: {reason}")
        if warn and not all(self.soft[a] for a in arr.tolist()):
            msg = f"layer {where!r}: {reason}; its channels are kept"
            if msg not in self.warnings:
                self.warnings.append(msg)

    # ---- tensor labels ----------------------------------------------------------------------
    def get(self, t: Any) -> dict[int, np.ndarray]:
        if not isinstance(t, torch.Tensor):
            return {}
        hit = self.labels.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else {}

    def set(self, t: Any, labels: dict[int, np.ndarray]) -> None:
        if isinstance(t, torch.Tensor):
            labels = {d: a for d, a in labels.items() if (a >= 0).any()}
            if labels:
                self.labels[id(t)] = (t, labels)  # the tensor is kept alive so its id is not reused
            elif id(t) in self.labels:
                del self.labels[id(t)]

    def channels(self, t: Any, dim: int) -> np.ndarray:
        """Labels of ``t`` along ``dim`` (all -1 when untracked)."""
        dim = dim % t.dim()
        lab = self.get(t)
        if dim in lab:
            return lab[dim]
        return np.full(t.shape[dim], -1, dtype=np.int64)

    def block_tensor(self, t: Any, reason: str) -> None:
        for arr in self.get(t).values():
            self.block(arr, reason)

    def slot(self, name: str, role: str, arr: np.ndarray) -> None:
        """Record that layer ``name``'s parameters of ``role`` are indexed by these elements."""
        per = self.slots.setdefault(name, {})
        if role in per:  # a layer called twice: both calls index the same weights
            self.union(per[role], arr, f"shared layer {name!r} sees different channels")
        else:
            per[role] = np.asarray(arr, dtype=np.int64).copy()

    # ---- the run ----------------------------------------------------------------------------
    def run(self, calls: list[tuple[tuple, dict]]) -> Graph:
        """Trace every ``(args, kwargs)`` call in turn and return the graph they define together."""
        for args, kwargs in calls:
            self._run_once(args, kwargs)
        self._unused()
        self._check_slots()
        sharing.unite(self)
        root = np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)
        blocked = {int(root[b]) for b in self.blocked}
        reasons: dict[int, str] = {}
        for e, why in self.why.items():
            reasons.setdefault(int(root[e]), why)
        space = np.array(self.space, dtype=np.int64)
        return Graph(self.slots, root, blocked, space, self.space_names, self.warnings, reasons)

    def _run_once(self, inputs: tuple, kwargs: dict) -> None:
        entries: dict[nn.Module, tuple[str, Surgery]] = {}
        handles = []
        for name, mod in self.model.named_modules():
            surgery = lookup(type(mod))
            if surgery is not None and name:
                entries[mod] = (name, surgery)
            handles.append(mod.register_forward_pre_hook(self._pre(name, entries.get(mod)), with_kwargs=True))
            handles.append(mod.register_forward_hook(self._post(entries.get(mod)), with_kwargs=True))
        was_training = self.model.training
        self.model.eval()  # eval: no dropout noise, BN uses its running stats
        try:
            with torch.enable_grad(), _Mode(self):  # grad on: fused eval-only fast paths would hide the layers
                out = self.model(*inputs, **(kwargs or {}))
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        self.where = []
        for t in _tensors(out):
            self.block_tensor(t, "network output (its size never changes)")
        self.warnings = [w for w in self.warnings if "network output" not in w]
        self.labels.clear()  # ids of this run's tensors may be reused by the next run

    def _unused(self) -> None:
        """A module holding parameters that never ran is left whole, and so is every traced layer output
        as wide as one of its parameter dims: whichever of them it reads or feeds (a branch picked by
        input size) was not traced, so none of them may be pruned blind."""
        space = np.asarray(self.space, dtype=np.int64)
        width = np.bincount(space, minlength=len(self.space_names)) if len(space) else np.zeros(0, dtype=np.int64)
        for name, mod in self.model.named_modules():
            if not name or name in self.ran or not any(True for _ in mod.parameters(recurse=False)):
                continue
            if any(name.startswith(r + ".") for r in self.ran if r in self.slots):
                continue  # inside a layer that ran: its surgery owns it
            sizes = {int(n) for p in mod.parameters(recurse=False) for n in p.shape}
            self.where.append(name)
            for sid in np.nonzero(np.isin(width, list(sizes)))[0]:
                self.block(np.nonzero(space == sid)[0], "beside a layer that never ran", warn=False)
            self.warnings.append(
                f"layer {name!r}: holds parameters but never ran on any example input; it is left whole, with every "
                f"traced layer output of a width it has ({', '.join(map(str, sorted(sizes)))})"
            )
            self.where.pop()

    def _check_slots(self) -> None:
        """A slot whose length does not match its layer's weights (a surgery misread the call) is blocked."""
        for name, roles in self.slots.items():
            mod = self.model.get_submodule(name)
            for path, specs in param_specs(mod, roles).items():
                t = _tensor(mod, path)
                for dim, names in specs:
                    if t is None or not all(r in roles for r in names):
                        continue
                    if sum(len(roles[r]) for r in names) != t.shape[dim]:
                        self.where.append(name)
                        for r in names:
                            self.block(roles[r], f"traced channels do not match the shape of {path!r}")
                        self.where.pop()

    def _pre(self, name: str, entry: tuple[str, Surgery] | None):
        def hook(mod, args, kwargs):
            self.where.append(name)
            self.ran.add(name)
            if entry is not None:
                self.depth += 1

        return hook

    def _post(self, entry: tuple[str, Surgery] | None):
        def hook(mod, args, kwargs, out):
            if entry is not None:
                self.depth -= 1
                if self.depth == 0:
                    name, surgery = entry
                    try:
                        if parametrize.is_parametrized(mod):  # the weight is computed: cutting it would not stick
                            raise TypeError("its weight is parametrised")
                        surgery.trace(self, name, mod, args, kwargs, out)
                    except Exception as err:  # a surgery that cannot read this call blocks, never crashes
                        reason = f"cannot trace {type(mod).__name__} ({err})"
                        for t in list(_tensors(args)) + list(_tensors(kwargs)) + list(_tensors(out)):
                            self.block_tensor(t, reason)
                        if f"layer {name!r}: {reason}; its channels are kept" not in self.warnings:
                            self.warnings.append(f"layer {name!r}: {reason}; its channels are kept")
            self.where.pop()

        return hook


class _Mode(TorchFunctionMode):
    def __init__(self, tracer: Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.tracer.depth == 0:
            try:
                ops.propagate(self.tracer, func, args, kwargs, out)
            except Exception as err:  # an op called in an unexpected form: keep its channels, never crash
                for t in ops._flat(args) + ops._flat(kwargs):
                    self.tracer.block_tensor(t, f"cannot follow channels through {ops.op_name(func)!r} ({err})")
        return out


def _free_params(model: nn.Module) -> set[int]:
    """Parameters held by modules that neither have a surgery entry nor sit inside one."""
    leaves, free = [], set()
    for name, mod in model.named_modules():
        if any(name.startswith(leaf + ".") for leaf in leaves):
            continue
        if name and lookup(type(mod)) is not None:
            leaves.append(name)
            continue
        free.update(id(p) for p in mod.parameters(recurse=False))
    return free


def _tensors(x: Any):
    """Every tensor inside nested tuples/lists/dicts (HF model outputs are dicts)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)


def as_calls(example_inputs: Any) -> list[tuple[tuple, dict]]:
    """The model calls that ``example_inputs`` stands for, as ``[(args, kwargs), ...]``.

    A tensor is one positional input, a tuple the positional inputs of one call, a dict the keyword
    inputs of one call, and a list several example inputs (each one of the former).
    """
    if isinstance(example_inputs, list):
        if not example_inputs:
            raise ValueError("example_inputs: an empty list; give a tensor, a tuple, a dict or a list of those")
        return [call for x in example_inputs for call in as_calls(x if not isinstance(x, list) else tuple(x))]
    if isinstance(example_inputs, dict):
        return [((), example_inputs)]
    if isinstance(example_inputs, tuple):
        return [(example_inputs, {})]
    return [((example_inputs,), {})]


def trace(model: nn.Module, example_inputs: Any, ignore: Iterable[str] = ()) -> Graph:
    """Run ``model`` on every example input and return its channel dependency graph.

    Args:
        model: any module; layers without a surgery entry are traced through.
        example_inputs: a tensor, a tuple of positional inputs, a dict of keyword inputs, or a list of
            several such inputs (different batch sizes, image sizes, sequence lengths).
        ignore: names or regexes of layers whose output size must not change.

    Returns:
        The :class:`Graph` (slots, units, blocked units with their reasons, warnings).
    """
    return Tracer(model, ignore).run(as_calls(example_inputs))


def input_consumers(model: nn.Module, graph: Graph) -> dict[str, nn.Module]:
    """Layers whose input channels are each read by their own weight column: plain convs and linears.

    Grouped and depthwise convs are left out: they carry a channel along rather than consume it,
    and the layer after them (a projection) is where a channel's effect is measured.
    """
    out = {}
    for name, roles in graph.slots.items():
        m = model.get_submodule(name)
        if "in" in roles and (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)):
            out[name] = m
    return out
