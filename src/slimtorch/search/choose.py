"""The finish of a search: re-time the finalists together, choose on validation alone, try int8, check the test set.

The choice is made on validation data only (with the safety margin of ``margin``): the best candidate on the
objective among those that pass. The test set is then read once, for the chosen model, to check the budget on
data the search never saw; a miss is reported as such (``test_kept`` False and a note), never repaired by
trying the next candidate on the test set, which would make the test set part of the search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..bench.latency import MAX_SPREAD
from ..bench.machine import machine_load
from .clock import Clock
from .int8 import int8_trial
from .latency_table import BACKENDS
from .margin import Z, keeps
from .share import BITS, share_trial
from .trial import Trial, time_models


def passes(res: Any, trial: Trial) -> bool:
    """``trial`` passes validation: its drop plus the safety margin within the budget."""
    return keeps(trial, res.baseline.val, res.max_drop, getattr(res, "safety", Z))


def objective(res: Any) -> Callable[[Trial], float]:
    return (lambda t: t.best_ms) if res.objective == "latency" else (lambda t: t.bytes)


def ranked(res: Any) -> list[Trial]:
    """The trials that pass validation, best on the objective first."""
    return sorted((t for t in res.trials if passes(res, t)), key=objective(res))


def retime(res: Any, x: torch.Tensor, clock: Clock, finalists: int = 6) -> None:
    """Time the best passing candidates again, together with the original, in one round-robin: a trial's own
    timing was taken at another moment of a drifting machine, so the choice is made on timings taken together.
    Up to 30 rounds, fewer when the budget has less time left; a spread over ``MAX_SPREAD`` is noted."""
    top = ranked(res)[:finalists]
    if res.objective != "latency" or not top:
        return
    per_round = 1e-3 * (res.baseline.baseline_ms + sum(sum(t.ms.values()) for t in top))
    rounds = int(min(30, 0.3 * clock.left() / per_round - 3))  # a third of what is left; 3 warm-up rounds
    if rounds < 5:
        clock.cut("the finalists were not re-timed together (each keeps the timing of its own trial)")
        return
    spreads: dict[str, float] = {}
    ms, base_ms = time_models(
        {str(t.index): t.model for t in top}, res.baseline.model, x, BACKENDS, repeats=rounds, spreads=spreads
    )
    for t in top:
        t.ms, t.baseline_ms = ms[str(t.index)], base_ms
        t.spread = spreads[f"{t.index}|{t.backend}"]
    res.notes.append(
        f"finalists #{', #'.join(str(t.index) for t in top)} re-timed together ({rounds} interleaved rounds)"
    )
    compared = ["baseline|eager"] + [f"{t.index}|{t.backend}" for t in top]  # the timings the choice rests on
    unsteady = {k: spreads[k] for k in compared if spreads[k] > MAX_SPREAD}
    if unsteady:
        worst = max(unsteady, key=unsteady.get)
        res.notes.append(
            f"timing not stable: IQR/median up to {unsteady[worst]:.2f} (> {MAX_SPREAD:g}; {worst}) in "
            f"that re-timing, {machine_load().describe()}: treat speed ratios as rough"
        )


def choose(res: Any, say: Callable, interrupted: bool = False) -> None:
    """The best candidate that passes validation (else the original); the test set is not read here.
    ``interrupted``: the user stopped the search (Ctrl-C, SIGTERM), so an empty trial list is not the budget's."""
    passing = ranked(res)
    if passing:
        res.chosen = t = passing[0]
        say(
            f"chosen #{t.index}: val {t.val:.2f} (se {t.se:.2f}; original {res.baseline.val:.2f}), {t.speedup:.2f}x, "
            f"{t.bytes:,} bytes"
        )
        return
    res.chosen = res.baseline
    if not res.trials and interrupted:
        res.notes.append("no pruned candidate was tried before the interruption: the original is returned; "
                         "rerun with --resume (resume_dir= in the API) to go on")
        return
    if not res.trials:  # nothing was tried: saying no candidate kept the budget would blame the candidates
        res.notes.append(
            "no pruned candidate was tried: the time budget was spent before the first trial (timing the "
            "original, the per-layer latency table, the sensitivity scan); the original is returned: "
            "give it more minutes"
        )
        return
    res.notes.append("no pruned candidate passed validation with the safety margin: the unpruned original is kept")
    floor, safety = min(t.se for t in res.trials), getattr(res, "safety", Z)
    if safety * floor > res.max_drop:  # a lossless candidate fails too: the split is too small for the budget
        res.notes[-1] = (
            f"no candidate could pass: even a candidate that loses nothing on validation has a standard error of "
            f"{floor:.2f} points or more (too few validation rows), and {safety:g} x {floor:.2f} > the budget "
            f"{res.max_drop:g}; give more validation rows (val_rows, --val-rows) or a lower safety"
        )


def try_int8(res: Any, calib: Any, val_score: Callable, x: torch.Tensor, say: Callable) -> None:
    """The chosen model in int8 (``int8.py``): chosen instead when it passes validation and wins on the objective."""
    fp32 = res.chosen or res.baseline
    got = int8_trial(res, fp32, calib, val_score, x, say)
    if got is None:
        return
    trial, fp32_ms = got
    res.trials.append(trial)
    ok = passes(res, trial)
    better = trial.bytes < fp32.bytes if res.objective == "size" else trial.best_ms < fp32_ms
    if ok and better:
        res.chosen = trial
        res.notes.append(
            f"chosen: #{trial.index}, the int8 model of #{fp32.index} (passes validation, "
            + (
                "smaller)"
                if res.objective == "size"
                else f"{fp32_ms / trial.best_ms:.2f}x faster than #{fp32.index} on {fp32.backend}, same run)"
            )
        )
        say(f"chosen #{trial.index}: the int8 model of #{fp32.index}")
        return
    why = (
        "loses more than the budget (with the safety margin)"
        if not ok
        else (
            f"is slower ({trial.best_ms:.3f} ms on {trial.backend} vs {fp32_ms:.3f} ms on {fp32.backend}, same run)"
            if res.objective == "latency"
            else "is not smaller"
        )
    )
    res.notes.append(f"int8 of #{fp32.index} (#{trial.index}) {why}: the fp32 model is kept")


def check_test(res: Any, test_score: Callable, say: Callable) -> None:
    """Score the chosen model once on the test set: does it keep the budget on data the search never saw?"""
    c, base = res.chosen or res.baseline, res.baseline
    if c is not base:
        c.test = test_score(c.model)
    res.test_kept = c.test >= base.test - res.max_drop
    say(
        f"test: chosen {c.test:.2f} vs original {base.test:.2f} (budget -{res.max_drop}): "
        + ("kept" if res.test_kept else "MISSED")
    )
    if not res.test_kept:
        res.notes.append(
            f"the chosen model misses the budget on the test set ({c.test:.2f} vs {base.test:.2f} - "
            f"{res.max_drop}), which the search never read: its validation drop {base.val - c.val:.2f} "
            f"+ {getattr(res, 'safety', Z):g} x se {c.se:.2f} was within it; raise safety or val_rows"
        )


def try_share(res: Any, fp32: Trial, fit_data: Any, train: Any, val_score: Callable, x: torch.Tensor,
              clock: Clock, say: Callable) -> None:
    """Size: ``fp32`` weight-shared and packed (``share.py``) at each of ``BITS``, widest first; chosen when it
    passes validation and saves fewer bytes than the current choice; a narrower width only after a wider passed."""
    took = sorted(t.seconds for t in res.trials if t.seconds and t.int8 is None and t.epochs is None)
    expect = took[len(took) // 2] if took else 0.0  # one epoch of fine-tuning: about a trial's recovery
    for bits in BITS:
        if clock.left() < expect:
            clock.cut(f"weight sharing at {bits} bits was not tried ({clock.left():.0f} s left, ~{expect:.0f} s "
                      "needed)")
            return
        t = share_trial(res, fp32, fit_data, train, val_score, x, bits)
        res.trials.append(t)
        ok, current = passes(res, t), res.chosen or res.baseline
        say(f"  #{t.index} #{fp32.index} shared at {bits} bits + packed: val {t.val:.2f} (se {t.se:.2f}), "
            f"{t.bytes:,} bytes ({'passes' if ok else 'over budget'})")
        if not ok:
            res.notes.append(f"weight sharing of #{fp32.index} at {bits} bits (#{t.index}) loses more than the "
                             "budget (with the safety margin)")
            return
        if t.bytes < current.bytes:
            res.chosen = t
            res.notes.append(f"chosen: #{t.index}, #{fp32.index} shared at {bits} bits and packed ({t.bytes:,} vs "
                             f"{current.bytes:,} bytes of #{current.index})")
