"""Per-block pruning ratios from measured sensitivity: the least summed error that saves the MACs asked for.

A uniform ratio cuts every block alike, but blocks differ: in ImageNet MobileNetV2 cutting three quarters
of the hidden channels of block 9 moved the output (KL to the original, on other photos) less than cutting
a quarter of block 16's, for twice the MACs. Given, per block and candidate ratio, the measured error and
the MACs saved, :func:`allocate` picks one ratio per block (0 always allowed) so that the MACs saved reach
``need`` with the least summed error: a multiple-choice knapsack, solved exactly over ``bins`` steps of
``need`` (the saving of each choice is rounded down, so the answer never saves less than it claims).
Summing the blocks' errors assumes they add up; they compound, which is why the result is a choice
between cuts, not a prediction of the error.
"""

from __future__ import annotations

import math


def allocate(
    errors: dict[str, dict[float, float]], saved: dict[str, dict[float, float]], need: float, bins: int = 1000
) -> dict[str, float]:
    """One ratio per block: MACs saved >= ``need`` with the least summed error.

    Args:
        errors: ``{block: {ratio: error}}`` (ratio 0, error 0, is added when missing).
        saved: ``{block: {ratio: MACs saved}}`` for the same keys.
        need: MACs to save in all.
        bins: resolution of the knapsack (steps of ``need / bins``).

    Returns:
        ``{block: ratio}`` for every block of ``errors``.

    Raises:
        ValueError: a ratio without a saving, or ``need`` more than cutting every block at its largest ratio saves.

    Example:
        >>> allocate({"a": {0.5: 1.0}, "b": {0.5: 0.1}}, {"a": {0.5: 10}, "b": {0.5: 10}}, need=10)
        {'a': 0.0, 'b': 0.5}
    """
    step = max(need, 1e-12) / bins
    best: dict[int, tuple[float, tuple[float, ...]]] = {0: (0.0, ())}  # saved bins (capped) -> (error, choices)
    blocks = list(errors)
    for b in blocks:
        options = {0.0: 0.0, **errors[b]}
        if set(errors[b]) - set(saved.get(b, {})):
            raise ValueError(f"block {b!r}: a ratio of errors has no MACs saved in saved[{b!r}]")
        nxt: dict[int, tuple[float, tuple[float, ...]]] = {}
        for have, (err, picks) in best.items():
            for r, e in options.items():
                gain = 0 if r == 0 else math.floor(saved[b][r] / step + 1e-9)
                key = min(bins, have + gain)
                cand = (err + e, (*picks, r))
                if key not in nxt or cand[0] < nxt[key][0]:
                    nxt[key] = cand
        best = nxt
    if bins not in best and need > 0:
        most = sum(max(saved[b].values(), default=0.0) for b in blocks)
        raise ValueError(f"need={need:g} MACs saved but cutting every block at its largest ratio saves {most:g}")
    picks = min((v for k, v in best.items() if k >= bins or need <= 0), key=lambda v: v[0])[1]
    return dict(zip(blocks, picks))
