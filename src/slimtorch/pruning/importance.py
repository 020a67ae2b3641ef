"""Channel importance: one score per unit (a channel across every layer it touches).

Scores sum over all parameter slices of the unit (producers and consumers, as group-level
criteria do): ``l1`` = sum |w|, ``l2`` = sqrt(sum w^2), ``taylor`` = sum |w * dL/dw| (needs
gradients), ``bn_scale`` = sum |gamma| of the BatchNorms in the group (groups without BN fall
back to l2), ``random`` = uniform noise (a baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from .graph import Graph
from .surgery import _tensor, param_specs

KINDS = ("l1", "l2", "bn_scale", "taylor", "random")


def _per_position(t: torch.Tensor, dim: int, kind: str) -> np.ndarray:
    if kind == "taylor":
        if t.grad is None:
            raise ValueError("importance='taylor' needs gradients: run loss.backward() first or pass data=...")
        v = (t.detach() * t.grad.detach()).abs()
    else:
        v = t.detach().abs() if kind in ("l1", "bn_scale") else t.detach().pow(2)
    other = [d for d in range(v.dim()) if d != dim]
    return (v.sum(other) if other else v).double().cpu().numpy()


def element_scores(model: nn.Module, graph: Graph, kind: str) -> np.ndarray:
    """Per channel element, the summed criterion over every parameter slice that holds it."""
    scores = np.zeros(len(graph.root))
    for name, roles in graph.slots.items():
        mod = model.get_submodule(name)
        is_bn = isinstance(mod, nn.modules.batchnorm._BatchNorm)
        for path, specs in param_specs(mod, roles).items():
            t = _tensor(mod, path)
            if not isinstance(t, nn.Parameter) or (kind == "bn_scale" and not (is_bn and path == "weight")):
                continue
            for dim, role_names in specs:
                per = _per_position(t, dim, kind)
                block = len(per) // len(role_names)
                for i, r in enumerate(role_names):
                    lab = roles.get(r)
                    if lab is None:
                        continue
                    part = per[i * block : (i + 1) * block]
                    ok = lab >= 0
                    np.add.at(scores, lab[ok], part[ok])
    return scores


def unit_scores(
    model: nn.Module, graph: Graph, units: dict[int, np.ndarray], kind: str, seed: int = 0
) -> dict[int, float]:
    """Score of each unit; ``bn_scale`` groups without a BatchNorm use l2."""
    if kind == "random":
        rng = np.random.default_rng(seed)
        return {u: float(rng.random()) for u in units}
    base = element_scores(model, graph, "l2" if kind == "bn_scale" else kind)
    per_root = np.bincount(graph.root, weights=base, minlength=len(graph.root))  # a unit's id is its root
    out = {u: float(per_root[u]) for u in units}
    if kind in ("l2", "bn_scale"):  # l2 sums squares per slice; the root is taken per unit
        out = {u: s**0.5 for u, s in out.items()}
    if kind == "bn_scale":
        bn, has_bn = element_scores(model, graph, "bn_scale"), _bn_elements(model, graph)
        out.update({u: float(bn[e].sum()) for u, e in units.items() if has_bn[e].any()})
    return out


def _bn_elements(model: nn.Module, graph: Graph) -> np.ndarray:
    """Elements held by a BatchNorm (a group either has one or has none, so scores stay comparable)."""
    mask = np.zeros(len(graph.root), dtype=bool)
    for name, roles in graph.slots.items():
        if isinstance(model.get_submodule(name), nn.modules.batchnorm._BatchNorm):
            lab = roles["c"]
            mask[lab[lab >= 0]] = True
    return mask


def taylor_grads(model: nn.Module, data: Iterable[Any], loss_fn: Callable | None = None, batches: int = 4) -> None:
    """Accumulate gradients of the task loss over a few batches (what taylor importance reads)."""
    loss_fn = loss_fn or nn.functional.cross_entropy
    model.zero_grad(set_to_none=True)
    was = model.training
    model.eval()
    for i, batch in enumerate(data):
        if i >= batches:
            break
        x, y = batch[0], batch[1]
        loss_fn(model(x), y).backward()
    model.train(was)
