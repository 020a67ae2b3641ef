"""Channel counts this CPU runs fastest: measure whether widths between multiples of 4/8/16 cost less.

Vectorised kernels process channels in blocks (ONNX Runtime's NCHWc blocks are 8 wide on AVX2), so
keeping 13 channels may cost as much as keeping 16. The check times the model's heaviest layer at
widths just off and on each multiple; the largest multiple whose off-widths above it are not cheaper than
the next multiple is the step of the ladder of counts the search tries (1 when no blocking shows). Widths
under the multiple do not vote: a rounded ladder never goes below one multiple, and a 3-channel layer
running a different (cheaper) kernel than a 16-channel one said nothing about 15 against 16 (MobileNetV2 on
onnxruntime: 15 channels 1.12 ms, 16 0.50 ms, 31 2.18 ms, 32 1.03 ms, yet 3 channels 0.25 ms had vetoed every
multiple, and the uniform 1/32 cut, 31 of 32 channels, ran 2.1x slower than the original).
"""

from __future__ import annotations

from typing import Any

from .latency_table import LatencyTable

MULTIPLES = (16, 8, 4)
KEEP_FRACTIONS = (0.75, 0.5, 0.375, 0.25, 0.125, 0.0625)  # the rungs of each group's ladder
TOLERANCE = 0.1  # off-multiple widths up to 10% cheaper than the multiple count as "the same" (timing noise)


def _ceil(w: int, m: int) -> int:
    return -(-w // m) * m


def measure_multiple(table: LatencyTable) -> dict[str, Any]:
    """Time the heaviest layer that a group's width controls at widths around 4, 8, 16, 32; pick the step.

    Returns:
        ``{"multiple": m, "layer": name, "ms": {width: ms}, "checked": [multiples that held]}``.
    """
    full = table.space.full
    keys = table.keys(full)
    table.fill(keys)
    outs = {layer.name: layer for layer in table.space.layers if layer.per_group_out}
    candidates = [k for k in keys if k[0] in outs]
    if not candidates:
        return {"multiple": 1, "layer": None, "ms": {}, "checked": []}
    name, c_in, c_out = max(candidates, key=lambda k: table.entries[k])
    widths = sorted({w for w in (3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32) if w <= c_out})
    layer = table.model.get_submodule(name)  # a depthwise conv's input is as wide as its output (MobileNetV2)
    depthwise = getattr(layer, "groups", 1) > 1 and layer.groups == layer.in_channels == layer.out_channels
    keys = {w: (name, w if depthwise else c_in, w) for w in widths}
    table.fill(list(keys.values()))
    t = {w: table.entries[k] for w, k in keys.items()}
    held = []
    for m in MULTIPLES:  # widths under m never reach a rounded ladder (its least rung is m): they do not vote
        pairs = [(w, _ceil(w, m)) for w in widths if w > m and w % m and _ceil(w, m) in t]
        if pairs and all(t[w] >= (1 - TOLERANCE) * t[up] for w, up in pairs):
            held.append(m)
    return {"multiple": max(held, default=1), "layer": name, "ms": {w: 1e3 * s for w, s in t.items()}, "checked": held}


def ladder(n: int, multiple: int) -> list[int]:
    """Kept counts tried for a group of ``n`` channels, largest first: ``n`` and fractions rounded to ``multiple``;
    a group of fewer than 2 multiples is rounded to the largest smaller block of ``MULTIPLES`` it holds 2 of (the
    fast widths of blocks of 16 are multiples of 8 too), else not rounded.

    Example:
        >>> ladder(64, 8)
        [64, 48, 32, 24, 16, 8]
        >>> ladder(16, 8)  # 12 channels run as slowly as 16 where the CPU computes blocks of 8
        [16, 8]
        >>> ladder(24, 16)  # unrounded (24, 18, 12, 9, ...), it missed 16, its one width on a block
        [24, 16, 8]
        >>> ladder(6, 4)  # smaller than 2 of any block: not rounded
        [6, 4, 3, 2, 1]
    """
    # ResNet-20's 16-wide groups at 12 or 4 channels made ONNX Runtime reorder layouts between blocked and plain
    # convolutions: slower than 16 (measured); so a group of 2 multiples is rounded too. Since widths under a
    # multiple stopped vetoing it (measure_multiple), 16 holds where 8 did before: groups 16-31 wide would lose
    # their rounding altogether
    step = next((m for m in (multiple, *MULTIPLES) if m <= multiple and multiple % m == 0 and n >= 2 * m), 1)
    counts = {n}
    for f in KEEP_FRACTIONS:
        counts.add(min(n, max(step, round(n * f / step) * step)))
    return sorted(counts, reverse=True)
