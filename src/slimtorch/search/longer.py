"""Longer recovery for the near misses: recovery epochs are part of the search space.

After the walk (bisection, seeds, refinement), candidates that are faster (or smaller) than the best one
that passes, and that missed the budget by little, are cut and recovered again with ``FACTOR`` times the
recovery epochs: a cut that loses 0.6 points after one epoch of distillation may keep the budget after
three. Only near misses are retried (validation drop within ``REACH`` times the budget), cheapest first;
the step ends at the first that passes (the cheapest that does) or when the time is up. The chosen
candidate's epochs go into ``optimized.yaml``'s distill stage, so ``slimtorch run`` repeats them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .choose import objective, passes, ranked
from .space import Keep
from .trial import Trial

FACTOR = 3  # epochs of the longer recovery, in units of the search's own recovery epochs
REACH = 2.0  # a near miss lost at most this many times the budget on validation (with the default recovery)


def near_misses(res: Any) -> list[Trial]:
    """Failed trials (default recovery, not int8/shared) that beat the best passing candidate (or the original,
    when none passes) on the objective and lost at most ``REACH`` x the budget; cheapest first, one per width."""
    cost = objective(res)
    best = (ranked(res) or [res.baseline])[0]
    out: dict[Keep, Trial] = {}
    for t in res.trials:
        if (t.epochs is None and t.int8 is None and t.share is None and not passes(res, t)
                and cost(t) < cost(best) and res.baseline.val - t.val <= REACH * res.max_drop):
            out.setdefault(t.keep, t)
    return sorted(out.values(), key=cost)


def retry_longer(res: Any, epochs: int, try_keep: Callable[[Keep, int], bool | None]) -> Trial | None:
    """Try the near misses with ``FACTOR * epochs`` recovery epochs until one passes (returned) or ``try_keep``
    says the time is up (None); a note says what the step did."""
    if not epochs:
        return None
    misses, longer = near_misses(res), FACTOR * epochs
    for n, t in enumerate(misses, 1):
        ok = try_keep(t.keep, longer)
        if ok is None:
            res.notes.append(f"longer recovery ({longer} epochs): the time ran out after {n - 1} of "
                             f"{len(misses)} near misses")
            return None
        if ok:
            found = next(u for u in reversed(res.trials) if u.keep == t.keep and u.epochs == longer)
            res.notes.append(f"longer recovery ({longer} epochs): #{found.index} passes where #{t.index} (same "
                             f"widths, {epochs} epoch{'s' if epochs > 1 else ''}) missed")
            return found
    if misses:
        res.notes.append(f"longer recovery ({longer} epochs): none of {len(misses)} near misses passes")
    return None
