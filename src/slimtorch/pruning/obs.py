"""OBS importance: what a unit's removal costs a layer that reads it once the layer is re-solved without it.

For a consumer ``y = W x`` with input Gram ``H = sum x x^T`` on calibration inputs, removing the inputs ``g``
of a unit and re-fitting the other columns by least squares leaves the error
``tr(W_g [H^-1]_gg^-1 W_g^T)`` (Optimal Brain Surgeon, group form; Frantar & Alistarh 2022). That is the
error reconstruction (``reconstruct=True``) cannot take out: a unit whose contribution the others can
reproduce costs nothing, however large its activations. Removal is greedy per consumer: the cheapest unit
goes, ``H^-1`` is updated to the survivors, the costs are re-read; a unit's score is the running maximum
of the costs up to its removal (so the lowest scores of a group are exactly the greedy's first removals).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from .graph import Graph

DAMP = 1e-2  # times the mean diagonal of H: keeps H invertible when inputs are collinear or dead


def _grams(model: nn.Module, names: list[str], calib: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Input Gram matrix ``sum x x^T`` (float64) of each named Linear layer over the calibration inputs."""
    grams: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def pre(_m, args):
            x = args[0].detach().double().reshape(-1, args[0].shape[-1])
            grams[name] = grams.get(name, 0) + x.T @ x
        return pre

    hooks = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x in calib:
                model(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return grams


def _costs(w: torch.Tensor, hinv: torch.Tensor, units: list[np.ndarray], alive: list[int]) -> np.ndarray:
    """OBS cost of removing each alive unit now; one column per unit takes the vectorised form."""
    if all(len(units[u]) == 1 for u in alive):
        cols = torch.from_numpy(np.concatenate([units[u] for u in alive]))
        return (w[:, cols].pow(2).sum(0) / hinv[cols, cols].clamp_min(1e-30)).numpy()
    out = []
    for u in alive:
        g = torch.from_numpy(units[u])
        out.append(float(torch.trace(w[:, g] @ torch.linalg.solve(hinv[g][:, g], w[:, g].T))))
    return np.array(out)


def greedy_costs(weight: torch.Tensor, gram: torch.Tensor, units: list[np.ndarray], fraction: float = 0.5
                 ) -> np.ndarray:
    """Per unit (its input columns), the running-max OBS cost at its greedy removal (see module docstring).

    The greedy stops after ``fraction`` of the units; the rest score above every removed one, by their cost then.
    """
    h = gram + DAMP * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(len(gram), dtype=gram.dtype)
    hinv = torch.linalg.inv(h)
    w = weight.detach().double().clone()
    alive, out, running = list(range(len(units))), np.zeros(len(units)), 0.0
    for _ in range(int(np.ceil(fraction * len(units)))):
        costs = _costs(w, hinv, units, alive)
        pick = alive[int(np.argmin(costs))]
        running = max(running, float(costs.min()))
        out[pick] = running
        g = torch.from_numpy(units[pick])
        # survivors' inverse Gram: the Schur complement that takes ``g`` out of H^-1
        hinv = hinv - hinv[:, g] @ torch.linalg.solve(hinv[g][:, g], hinv[g, :])
        hinv[g, :] = 0.0
        hinv[:, g] = 0.0
        w[:, g] = 0.0
        alive.remove(pick)
    if alive:
        out[alive] = running * (1 + 1e-9) + 1e-30 + _costs(w, hinv, units, alive)
    return out


@torch.no_grad()
def obs_scores(model: nn.Module, graph: Graph, calib: Iterable[torch.Tensor] | None) -> dict[int, float]:
    """Per unit id, the greedy OBS cost (:func:`greedy_costs`) summed over the Linear layers that read it.

    Units read by no Linear layer (convolutions) score 0. Raises ValueError without calibration inputs.
    """
    if calib is None:
        raise ValueError("importance='obs' needs calib_data=... (unlabeled inputs the model runs on)")
    names = [n for n, r in graph.slots.items() if "in" in r and isinstance(model.get_submodule(n), nn.Linear)]
    grams = _grams(model, names, calib)
    scores: dict[int, float] = {}
    for n in names:
        if n not in grams:  # not reached by the calibration inputs
            continue
        lab = graph.slots[n]["in"]
        pos = np.flatnonzero(lab >= 0)
        roots = graph.root[lab[pos]]
        ids = list(dict.fromkeys(roots.tolist()))
        cols = [pos[roots == u] for u in ids]
        for u, c in zip(ids, greedy_costs(model.get_submodule(n).weight, grams[n], cols)):
            scores[u] = scores.get(u, 0.0) + float(c)
    if not scores:
        raise ValueError("importance='obs': calib_data holds no inputs that reach a pruned Linear layer")
    return scores
