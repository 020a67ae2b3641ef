"""The time budget of one search, shared by every step: the setup too, not only the trials.

``budget_minutes`` bounds the whole ``st.optimize`` call. The setup (timing the original, the per-layer
latency table, the rounding check, the sensitivity scan) may use at most ``SETUP_SHARE`` of it; the
trials stop early enough to leave ``FINISH_SHARE`` (or the finish's own estimate ``finish_s``, when larger)
for the finish (re-timing the finalists, scoring them on the test set, the int8 step), which shrinks its
own work to what is left. A step that cannot finish
in time is cut, and each cut is one line in the result's notes, so a short budget gives an honest,
smaller search instead of an overrun. The stated margin (:data:`MARGIN_S` plus one scoring of the
chosen model on the test set) is what a call may still run past the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SETUP_SHARE = 0.35  # table + sensitivity: past this share of the budget, the rest of the scan is cut
FINISH_SHARE = 0.15  # kept back for re-timing, test scoring and int8
MARGIN_S = 5.0  # seconds a call may end past its budget (a step that cannot be interrupted midway)


@dataclass
class Clock:
    """Seconds since the start of a search against its budget, and the notes of what the budget cut.

    Example:
        >>> clock = Clock(60.0)
        >>> clock.setup_over(), clock.search_over(), clock.left() > 59
        (False, False, True)
    """

    budget: float  # seconds
    start: float = field(default_factory=time.perf_counter)
    cuts: list[str] = field(default_factory=list)
    score_s: float = 0.0  # seconds one validation scoring takes (set by the search; the finish scales with it)
    finish_s: float = 0.0  # the search's estimate of what its finish needs (used when more than FINISH_SHARE)
    rounds: int = 20  # timed rounds the original and the table's entries get (fewer when the budget is short)
    stopped: bool = False  # a trial was refused for time: every later one is too, without another note

    def now(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds left of the whole budget (negative once it is spent)."""
        return self.budget - self.now()

    def setup_over(self) -> bool:
        """The setup's share is spent: cut what remains of the scan."""
        return self.now() > SETUP_SHARE * self.budget

    def search_over(self, next_cost: float = 0.0) -> bool:
        """A trial expected to take ``next_cost`` seconds would eat into the time kept for the finish."""
        return self.now() + next_cost > self.budget - max(FINISH_SHARE * self.budget, self.finish_s)

    def over(self) -> bool:
        """The whole budget is spent."""
        return self.left() <= 0

    def trial_fits(self, trials: int, expect: float) -> bool:
        """Does one more trial (``expect`` seconds; 0: unknown) leave time to finish? The first refusal is noted
        (``trials`` so far), and from then on every trial is refused silently: a longer one tried later (the
        near misses' longer recovery) must not add a second, contradicting note."""
        if not self.stopped and not self.search_over(expect):
            return True
        if not self.stopped:
            nxt = f"the next, ~{expect:.0f} s," if expect else "a trial"
            self.cut(f"the search stopped after {trials} trials ({nxt} would not leave time to finish): the best "
                     "candidate found so far is kept")
        self.stopped = True
        return False

    def cut(self, what: str) -> None:
        """Record one cut (once per distinct line)."""
        line = f"time budget ({self.budget / 60:g} min): {what}"
        if line not in self.cuts:
            self.cuts.append(line)
