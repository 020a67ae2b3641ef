"""Channel importance: one score per unit (a channel across every layer it touches).

Scores sum over all parameter slices of the unit (producers and consumers, as group-level
criteria do): ``l1`` = sum |w|, ``l2`` = sqrt(sum w^2), ``taylor`` = sum |w * dL/dw| (needs
gradients), ``bn_scale`` = sum |gamma| of the BatchNorms in the group (groups without BN fall
back to l2), ``activation`` = the energy a channel sends into the layers that read it on calibration
inputs (``E[x_c^2] * ||W[:, c]||^2`` summed over its consumers: what removing it takes out of their
outputs; needs ``calib_data``), ``fisher`` = how far removing the unit alone moves the model's output on
calibration inputs (Gauss-Newton diagonal, ``fisher.py``; one scale for every unit of the model; needs
``calib_data``), ``obs`` = the error a Linear reader keeps after re-solving without the unit (greedy
Optimal Brain Surgeon, ``obs.py``; the cost reconstruction cannot remove; needs ``calib_data``),
``random`` = uniform noise (a baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from .graph import Graph, input_consumers
from .surgery import _tensor, param_specs

KINDS = ("l1", "l2", "bn_scale", "taylor", "activation", "fisher", "obs", "random")
CALIBRATED = ("activation", "fisher", "obs")  # kinds that run the model on calib_data


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
    model: nn.Module, graph: Graph, units: dict[int, np.ndarray], kind: str, seed: int = 0,
    calib: Iterable[torch.Tensor] | None = None,
) -> dict[int, float]:
    """Score of each unit; ``bn_scale`` groups without a BatchNorm use l2; ``activation`` reads ``calib``."""
    if kind == "random":
        rng = np.random.default_rng(seed)
        return {u: float(rng.random()) for u in units}
    if kind == "activation":
        per_root = np.bincount(graph.root, weights=activation_scores(model, graph, calib), minlength=len(graph.root))
        return {u: float(per_root[u]) for u in units}
    if kind == "fisher":
        from .fisher import fisher_scores

        per_unit = fisher_scores(model, graph, calib, seed=seed)
        return {u: float(per_unit[u]) for u in units}
    if kind == "obs":
        from .obs import obs_scores

        per = obs_scores(model, graph, calib)
        return {u: per.get(u, 0.0) for u in units}
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


@torch.no_grad()
def activation_scores(model: nn.Module, graph: Graph, calib: Iterable[torch.Tensor] | None) -> np.ndarray:
    """Per channel element, ``E[x_c^2] * ||W[:, c]||^2`` over the calibration inputs of each consumer layer.

    That product is the energy channel ``c`` adds to the consumer's output (cross terms aside), so a
    channel that is silent on real inputs scores zero however large its weights are.

    Raises:
        ValueError: no calibration inputs.
    """
    if calib is None:
        raise ValueError("importance='activation' needs calib_data=... (unlabeled inputs the model runs on)")
    consumers = input_consumers(model, graph)
    energy: dict[str, torch.Tensor] = {}

    def hook(name: str, channel_dim: int):
        def pre(_m, args):
            x = args[0].detach().double()
            dims = [d for d in range(x.dim()) if d != channel_dim % x.dim()]
            e = x.pow(2).sum(dims)
            energy[name] = energy.get(name, 0) + e
        return pre

    hooks = [m.register_forward_pre_hook(hook(n, -1 if isinstance(m, nn.Linear) else 1)) for n, m in consumers.items()]
    was, count = model.training, 0
    model.eval()
    try:
        for x in calib:
            model(x)
            count += 1
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    if not count:
        raise ValueError("importance='activation': calib_data holds no inputs")
    scores = np.zeros(len(graph.root))
    for name, m in consumers.items():
        if name not in energy:  # not reached by the calibration inputs
            continue
        w = m.weight.detach().double()
        col = w.pow(2).sum([d for d in range(w.dim()) if d != 1])
        lab = graph.slots[name]["in"]
        ok = lab >= 0
        np.add.at(scores, lab[ok], (energy[name] * col).cpu().numpy()[ok])
    return scores
