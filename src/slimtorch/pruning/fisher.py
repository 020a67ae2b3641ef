"""Fisher (Gauss-Newton) importance: how far removing one unit moves the model's output, on calibration inputs.

Each unit (channel, neuron, head) gets a mask ``m_u`` (1 = kept) that scales every position of the unit where
a layer reads it. For a model output ``y(m)``, removing the unit alone moves the output by about
``J e_u = dy/dm_u``; its score is ``sum_x ||dy/dm_u||^2`` over calibration inputs, the diagonal of the
Gauss-Newton matrix ``J^T J`` (Kwon et al. 2022, "A Fast Post-Training Pruning Framework for Transformers",
with the output itself as the label-free target). Scores of different units are on one scale (output change),
so heads and neurons of every layer can be ranked together.

``dy/dm_u`` needs no mask parameter: scaling a channel's input by ``m`` has derivative ``sum_t x_t * dL/dx_t``
at ``m = 1``, read from the input of each layer that consumes the channel. The squared norm over the
output's ``D`` dimensions is estimated with random probes (Hutchinson): for ``v ~ N(0, I)``,
``E[(v^T J e_u)^2] = ||J e_u||^2``, one backward pass per probe instead of ``D``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from .graph import Graph, input_consumers


def _per_sample(x: torch.Tensor, g: torch.Tensor, linear: bool) -> torch.Tensor:
    """(N, C): per input, ``sum x * grad`` over every position but the channel's (batch first)."""
    prod = (x * g).double()
    if linear:
        return prod.reshape(len(prod), -1, prod.shape[-1]).sum(1)
    return prod.flatten(2).sum(2)


def fisher_scores(model: nn.Module, graph: Graph, calib: Iterable[torch.Tensor] | None,
                  probes: int | None = 2, seed: int = 0) -> np.ndarray:
    """Per unit id (a root of ``graph``), ``sum ||dy/dm_u||^2`` over the calibration inputs.

    Args:
        model: the model (its output ``y`` is one tensor with the batch first).
        graph: its trace (units and the layers reading them).
        calib: batches of unlabeled inputs.
        probes: random output directions per batch (the estimate's variance falls as 1/probes); None: exact,
            one backward pass per output dimension.
        seed: seed of the probe directions.

    Returns:
        An array indexed by unit id (entries of elements that are not unit roots are 0).

    Raises:
        ValueError: no calibration inputs, or none reach a layer that reads a unit.
    """
    if calib is None:
        raise ValueError("importance='fisher' needs calib_data=... (unlabeled inputs the model runs on)")
    consumers = input_consumers(model, graph)
    seen: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def pre(_m, args):
            seen[name] = args[0]
        return pre

    hooks = [m.register_forward_pre_hook(hook(n)) for n, m in consumers.items()]
    gen = torch.Generator().manual_seed(seed)
    scores = np.zeros(len(graph.root) + 1)
    was, count = model.training, 0
    model.eval()
    try:
        for x in calib:
            seen.clear()
            with torch.enable_grad():
                y = model(x)
                names = [n for n in consumers if n in seen and seen[n].requires_grad]
                flat = y.reshape(len(y), -1)
                count_p = flat.shape[1] if probes is None else probes
                for p in range(count_p):
                    v = (torch.randn(flat.shape, generator=gen, dtype=y.dtype) if probes is not None
                         else nn.functional.one_hot(torch.full((len(y),), p), flat.shape[1]).to(y.dtype))
                    grads = torch.autograd.grad((flat * v).sum(), [seen[n] for n in names],
                                                retain_graph=p < count_p - 1)
                    per_unit = 0
                    for n, g in zip(names, grads):
                        z = _per_sample(seen[n].detach(), g, isinstance(consumers[n], nn.Linear))
                        lab = graph.slots[n]["in"]
                        ok = torch.from_numpy(lab >= 0)
                        roots = torch.from_numpy(graph.root[lab[lab >= 0]])
                        per_unit = per_unit + torch.zeros(len(z), len(scores), dtype=z.dtype).index_add_(
                            1, roots, z[:, ok])  # one unit's positions sum before squaring (one mask per unit)
                    if isinstance(per_unit, torch.Tensor):
                        scores += per_unit.pow(2).sum(0).numpy() / (1 if probes is None else probes)
            count += 1
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    if not count or not scores.any():
        raise ValueError("importance='fisher': calib_data holds no inputs that reach a pruned layer")
    return scores[:-1]


def global_cut(members: dict[tuple, list[int]], scores: dict[int, float], ratio: float) -> set[int]:
    """Units to remove under ``scope="global"`` with fisher scores: one ranking per kind of group.

    Fisher scores share one scale (output change), so no per-group normalisation: the lowest scores across
    groups go first, and a sensitive layer keeps more. Groups of different sizes (the heads of a block and
    its FFN neurons) are ranked apart so ``ratio`` holds for each kind: a head and a neuron differ in cost.
    """
    kinds: dict[int, list[int]] = {}
    for us in members.values():
        kinds.setdefault(len(us), []).extend(us)
    cut: set[int] = set()
    for us in kinds.values():
        cut.update(sorted(us, key=lambda u: scores[u])[: math.floor(ratio * len(us))])
    return cut
