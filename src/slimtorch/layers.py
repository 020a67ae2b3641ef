"""Which layers hold the weights that compression transforms work on (shared by the pillars).

Pruning masks them, weight sharing clusters them, packing codes them: one definition, in a neutral
module, so that no pillar imports another for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn


def prunable(model: nn.Module, ignore: Iterable[str] = ()) -> dict[str, nn.Parameter]:
    """``{"layer.weight": parameter}`` of every conv/linear weight not matched by ``ignore`` (names or regexes).

    Args:
        model: the model.
        ignore: module names or regexes (full match) whose weights are left out.

    Returns:
        The weights in module order, keyed by their state-dict names.

    Example:
        >>> list(prunable(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))))
        ['0.weight', '2.weight']
    """
    pats = [re.compile(p) for p in ignore]
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.modules.conv._ConvNd)) and not any(p.fullmatch(name) for p in pats):
            out[f"{name}.weight" if name else "weight"] = mod.weight
    return out
