"""``st.optimize``: the fastest (or smallest) pruned model within an accuracy budget, chosen on measured latency.

The steps, each in its own file: split a validation set off the training data (the test set is
only read at the end, to check the budget on data the search never saw); find the prune groups
(``space``); time the original on every backend and build a per-layer latency table on the fastest
(``latency_table``); measure which channel multiples this CPU runs fastest (``rounding``); measure
each group's sensitivity (``sensitivity``); try the mildest uniform ratio first (so a budget that holds a
uniform recipe never ends on the original), then walk a greedy path of cuts and bisect along it with
recovered, really-timed candidates (``greedy``, ``trial``); a candidate passes when its validation drop plus
``safety`` standard errors is within the budget (``margin``); choose on validation alone, try int8 (and, for
size, weight sharing + packing: ``share``), then read the test set once for the chosen model (``choose``);
write the model, the recipe that reproduces it, the table of candidates and the report (``result``).
Ctrl-C keeps the best so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..bench.counts import count_params, saved_bytes
from ..bench.limits import check_batch_sizes
from ..data.arrays import ArrayDataset
from .choose import check_test, choose, ranked, retime, try_int8, try_share
from .choose import passes as passes_val
from .clock import MARGIN_S, Clock
from .greedy import bisect, gain_per_point, greedy_path, refine, uniform_keep, uniform_seed
from .int8 import int8_rows
from .journal import Journal, data_fingerprint, fingerprint
from .latency_table import BACKENDS, build_table, prediction_error
from .longer import retry_longer
from .margin import Z
from .result import OptimizeResult, recipe_for
from .rounding import ladder, measure_multiple
from .score import Scorer
from .sensitivity import sensitivity
from .space import Keep, Space, space_of
from .trial import Trial, run_trial, time_models

OBJECTIVES = ("latency", "size")
SENS_ROWS = 512  # validation rows of the sensitivity scan (expected score: Scorer.soft): it ranks groups, it does
# not decide the budget
# uniform recipes (ChannelPrune(ratio) everywhere, exact widths) tried as candidates with the same recovery: the
# mildest before the bisection, so a search whose budget holds a uniform ratio never ends on the original
SEED_RATIOS = (0.125, 0.25, 0.5, 0.75)
TEMPERATURE, ALPHA = 4.0, 0.9  # the demo's distillation settings: recovery = distill from the original
LABEL_FREE_ALPHA = 1.0  # unlabeled data: the original's outputs are the only target (st.distill's label-free mode)


def split(train: ArrayDataset, val_rows: int | None) -> tuple[ArrayDataset, ArrayDataset]:
    """The first rows train (``data.train_subset`` in a recipe), the last ``val_rows`` validate the search."""
    n = len(train)
    if val_rows is None:  # a tenth; a standard error needs 2 rows (paired_se)
        v = min(5000, n // 10)
        if not 2 <= v < n:
            raise ValueError(f"{n} training rows, which leave {v} for validation; the search needs at least 2 (and "
                             "rows to train on): give more data or val_rows=2")
    elif not 2 <= (v := val_rows) < n:
        raise ValueError(f"val_rows: got {v}; allowed: 2 .. {n - 1} (rows of the training data; a standard error "
                         "needs 2)")
    return ArrayDataset(train.x[: n - v], train.y[: n - v], train.name), ArrayDataset(train.x[n - v:], train.y[n - v:])


def _check(objective: str, batch_size: int, max_accuracy_drop: float, budget_minutes: float, data: Any) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: got {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size: got {batch_size}; allowed: an integer >= 1")
    if not 0 <= max_accuracy_drop < 100:
        raise ValueError(f"max_accuracy_drop: got {max_accuracy_drop}; allowed range [0, 100) (points)")
    if not budget_minutes > 0:
        raise ValueError(f"budget_minutes: got {budget_minutes}; allowed: > 0")
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, ArrayDataset) for d in data)):
        raise ValueError("data: give (train, test) as returned by st.data.load(name); test is the held-out set")


def default_recovery() -> Any:
    """The recovery's TrainConfig when ``train`` is not given: one epoch of SGD (lr 0.01, momentum 0.9, cosine)."""
    from ..training import TrainConfig

    return TrainConfig(epochs=1, batch_size=128, optimizer="sgd", lr=0.01, momentum=0.9, schedule="cosine")


def _finisher(teacher: nn.Module, fit_data: ArrayDataset, train: Any, epochs: int, labelled: bool,
              bn_recal: bool = True) -> Callable:
    """What the recipe does after the cuts: re-estimate BatchNorm (unless ``bn_recal`` is False: the original's
    statistics stay), then distil from the original for ``epochs`` (unlabeled data: label-free, ``alpha=1``, the
    best epoch on a held-out split, the student as cut counting as epoch 0)."""
    from ..distillation import Distill
    from ..training import fit
    from ..training.bn import has_bn, recalibrate_bn

    def bn(model: nn.Module, batches: int = 20) -> nn.Module:
        if bn_recal and has_bn(model):
            recalibrate_bn(model, fit_data, batches=batches)  # 20: as the pipeline's prune stage does
        return model.eval()

    def finish(model: nn.Module) -> nn.Module:
        model = bn(model)
        if epochs:  # as the recipe's distill stage runs it (result.recipe_for): the same model
            kd = Distill(teacher, temperature=TEMPERATURE, alpha=ALPHA if labelled else LABEL_FREE_ALPHA,
                         compare=False)
            model = kd.drive(model, fit_data, train.replace(epochs=epochs, quiet=True), fit)
        return model.eval()

    finish.epochs = epochs  # type: ignore[attr-defined]
    finish.longer = lambda n: _finisher(teacher, fit_data, train, n, labelled, bn_recal)  # type: ignore[attr-defined]
    finish.bn_only = lambda m: bn(m, batches=4)  # type: ignore[attr-defined]  (the sensitivity scan: a rough estimate)
    return finish


def _params(model: nn.Module, space: Space) -> Callable[[Keep], float]:
    """Parameters of the conv/linear layers for given widths (the size objective's cost, from shapes alone)."""
    per = []
    for layer in space.layers:
        mod = model.get_submodule(layer.name)
        k = mod.weight[0, 0].numel()
        depthwise = getattr(mod, "groups", 1) > 1 and mod.groups == mod.in_channels == mod.out_channels
        per.append((layer, k, depthwise, mod.bias is not None))

    def cost(keep: Keep) -> float:
        total = 0
        for layer, k, depthwise, bias in per:
            c_in, c_out = layer.dims(space.groups, keep)
            total += c_out * (1 if depthwise else c_in) * k + (c_out if bias else 0)
        return float(total)

    return cost


def optimize(model: nn.Module, data: Any, *, objective: str = "latency", batch_size: int = 64,
             max_accuracy_drop: float = 0.5, budget_minutes: float = 15.0, recovery_epochs: int = 1,
             train: Any = None, val_rows: int | None = None, recipe: dict | None = None,
             resume_dir: str | Path | None = None, int8: bool = True, share: bool = True,
             safety: float = Z,
             log: Callable[[str], None] | None = None) -> OptimizeResult:
    """Search per-group channel counts for the fastest (or smallest) model within an accuracy budget.

    Args:
        model: the trained original (not changed).
        data: ``(train, test)`` ArrayDatasets; the last ``val_rows`` training rows validate the search,
            the test set only checks the chosen model. Unlabeled data: the budget is top-1 agreement.
        objective: "latency" (measured at ``batch_size``, best of torch eager / ONNX Runtime fp32) or "size".
        batch_size: the batch the latency is measured at.
        max_accuracy_drop: points of accuracy (or top-1 agreement) the result may lose on the test set.
        budget_minutes: wall-clock for the search; when spent, the best candidate so far is returned.
        recovery_epochs: epochs of distillation from the original after the cuts (0: none); on unlabeled data
            label-free (``alpha=1``, the best epoch on a held-out split, never worse there than the cut alone).
        train: the TrainConfig recovery trains with (default: SGD lr 0.01, momentum 0.9, cosine).
        val_rows: validation rows (default: 10% of the training data, at most 5000).
        recipe: ``model``/``data``/``train``/``stages`` sections that made the original; the written
            ``optimized.yaml`` appends the cuts and the recovery to it.
        resume_dir: a folder where every finished trial is kept; a search given the same folder again (same
            original, data and settings) reuses them instead of training them again (see ``journal``).
        int8: also try the chosen model in int8 (per-layer fp32 fallback within the budget, fastest int8
            engine); kept when it passes validation and is smaller (size) or measured faster (latency).
        share: objective "size": also try the chosen fp32 model weight-shared (5, then 4 bits per layer, centroids
            fine-tuned one epoch) in the entropy-coded format ``st.pack`` saves; kept when it passes and is smaller.
        safety: standard errors of its validation drop a candidate must clear (``margin``): a candidate passes
            when ``drop + safety * se <= max_accuracy_drop``, se from the validation rows (paired with the
            original) and the test set's size, at least one discordant row's (so ``max_accuracy_drop=0`` needs
            ``safety=0``); 0 judges on the validation drop alone.
        log: progress lines (default: silent).

    Returns:
        An :class:`OptimizeResult`: ``.model`` (the chosen model), ``.trials``, ``.write(out_dir)``.

    Raises:
        ValueError: a bad argument (the message names it and what is allowed), or no prunable group.

    Example:
        >>> res = st.optimize(model, st.data.load("mnist"), max_accuracy_drop=0.5)  # doctest: +SKIP
        >>> res.write("runs/optimized"); print(res.summary())  # doctest: +SKIP
    """
    _check(objective, batch_size, max_accuracy_drop, budget_minutes, data)
    if not safety >= 0:
        raise ValueError(f"safety: got {safety}; allowed: a number >= 0 (standard errors)")
    say = log or (lambda msg: None)
    clock = Clock(60 * budget_minutes)
    train_cfg = train or default_recovery()
    fit_data, val = split(data[0], val_rows)
    test = data[1]
    model = model.eval()
    example = fit_data.x[:1].clone()
    check_batch_sizes([batch_size], fit_data.x.shape[1:], "batch_size")  # before the batch is built
    x = fit_data.x[torch.arange(batch_size) % len(fit_data)].contiguous()
    val_score, test_score = Scorer(val, model, n_test=len(test)), Scorer(test, model)
    finish = _finisher(model, fit_data, train_cfg, recovery_epochs, val_score.labelled)
    space = space_of(model, example)
    t_score = time.perf_counter()
    base_val = val_score(model)
    clock.score_s = time.perf_counter() - t_score  # what scoring costs: the finish's estimates scale with it
    base_test = test_score(model)
    bn_off = not val_score.labelled and not _bn_helps(model, finish, val_score, base_val, max_accuracy_drop, say)
    if bn_off:
        finish = _finisher(model, fit_data, train_cfg, recovery_epochs, False, bn_recal=False)
    spreads: dict[str, float] = {}
    clock.rounds = _rounds(model, x, clock)
    int8_s = int8_rows(len(space.layers), len(fit_data)) * clock.score_s / len(val) if int8 else 0.0
    clock.finish_s = int8_s + 2 * clock.score_s * len(test) / max(len(val), 1)  # + the chosen scored on test
    ms, base_ms = time_models({"base": model}, model, x, BACKENDS, repeats=clock.rounds, spreads=spreads)
    baseline = Trial(0, space.full, base_val, count_params(model), saved_bytes(model), ms["base"], base_ms,
                     test=base_test, model=model)
    baseline.spread = spreads[f"base|{baseline.backend}"]
    res = OptimizeResult(model=model, baseline=baseline, objective=objective, metric=val_score.metric,
                         max_drop=max_accuracy_drop, batch_size=batch_size, groups=space.groups, example=x,
                         safety=safety)
    res.recipe = recipe_for(recipe, model, fit_data, train_cfg, recovery_epochs, TEMPERATURE,
                            ALPHA if val_score.labelled else LABEL_FREE_ALPHA)
    if bn_off:
        res.bn_recal = False
        res.notes.append("the BatchNorm re-estimate lost more than the budget on the original itself: candidates "
                         "keep the original's BatchNorm statistics (optimized.yaml's prune stages too: "
                         "recalibrate_bn: false)")
    pretrained = (res.recipe["head"]["model"].get("kwargs") or {}).get("pretrained")  # the zoo's shipped weights
    if not pretrained and not any("train" in stage for stage in res.recipe["head"]["stages"]):
        res.notes.append("optimized.yaml has no stage that trains the original (pass recipe= as the CLI does): "
                         "`slimtorch run` would cut an untrained model")
    say(f"original: {val_score.metric} val {base_val:.2f} / test {base_test:.2f}; "
        f"{baseline.best_ms:.3f} ms @ batch {batch_size} on {baseline.backend}")
    journal = None if resume_dir is None else Journal(resume_dir, {
        "model": fingerprint(model), "fit": data_fingerprint(fit_data.x, fit_data.y), "epochs": recovery_epochs,
        "val": data_fingerprint(val.x, val.y), "train": train_cfg.to_dict(), "batch": batch_size, "backends": BACKENDS})
    interrupted = False
    try:
        _search(res, space, example, x, finish, val_score, clock, say, journal)
    except KeyboardInterrupt:
        int8, interrupted = False, True  # the user asked to stop: nothing new is started
        res.notes.append("interrupted (Ctrl-C): the best candidate found so far is kept")
    if journal is not None and journal.resumed:
        res.notes.append(f"resumed: {journal.resumed} finished trials reused from {resume_dir}")
    retime(res, x, clock)
    choose(res, say, interrupted)
    fp32 = res.chosen
    if int8 and clock.left() < int8_s:
        clock.cut(f"the int8 step was not tried ({clock.left():.0f} s left, it needs about {int8_s:.0f} s)")
    elif int8:
        try_int8(res, fit_data, val_score, x, say)
    if share and objective == "size" and val_score.labelled and not interrupted:  # fine-tuning needs labels
        try_share(res, fp32, fit_data, train_cfg, val_score, x, clock, say)
    check_test(res, test_score, say)
    res.notes.extend(clock.cuts)
    res.seconds = clock.now()
    if res.seconds > clock.budget + MARGIN_S:
        res.notes.append(f"the call ran {res.seconds - clock.budget:.0f} s past its budget (a step that could not "
                         "be cut midway)")
    return res


def _bn_helps(model: nn.Module, finish: Callable, val_score: Scorer, base_val: float, max_drop: float,
              say: Callable) -> bool:
    """Unlabeled data, where the BatchNorm re-estimate is the whole recovery: does it keep the original itself
    within the budget? A pretrained ImageNet model's statistics re-estimated from a few hundred photo crops do
    not (MobileNetV2 on the bundled photos: 100% -> 41% top-1 agreement, before any cut); then every candidate
    keeps the original's statistics instead."""
    import copy

    from ..training.bn import has_bn

    if not has_bn(model):
        return True

    score = val_score(finish(copy.deepcopy(model)))
    if score >= base_val - max_drop:
        return True
    say(f"the BatchNorm re-estimate alone takes the original from {base_val:.2f} to {score:.2f} on validation: "
        "candidates keep the original's statistics")
    return False


def _rounds(model: nn.Module, x: torch.Tensor, clock: Clock) -> int:
    """Timed rounds of the original (and of the latency table's entries): 20, fewer when that would take more
    than 3% of the budget (a slow model, a loaded machine, a short budget); at least 5."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        model(x)
    one = time.perf_counter() - t0  # eager fp32; the ORT backends are faster: 4 x bounds a round
    rounds = int(min(20, 0.03 * clock.budget / (4 * one) - 3))
    if rounds < 20:
        clock.cut(f"the original and the latency table were timed over {max(rounds, 5)} rounds, not 20 (one eager "
                  f"call took {1e3 * one:.0f} ms)")
    return max(rounds, 5)


def _setup(res: OptimizeResult, space: Space, example: torch.Tensor, x: torch.Tensor, finish: Callable,
           val_score: Scorer, clock: Clock, say: Callable) -> tuple[Any, list[list[int]], Callable]:
    """Latency table, rounding, sensitivity scan and greedy path, within the setup's share of the budget:
    ``(table, ladders, cost)``; what the budget cut is in ``clock.cuts``."""
    base, table = res.baseline, None
    if res.objective == "latency":  # the size objective's cost is the parameter count: no table to time
        table = build_table(base.model, space, example, base.backend, len(x))
        table.expired = clock.setup_over
        table.repeats = min(table.repeats, clock.rounds)
        table.calibrate()
    # rounding to a fast multiple is a latency matter; for size every channel counts (and the search then
    # depends on no timing: the same data gives the same candidates, which resuming relies on)
    if table is not None and clock.setup_over():
        clock.cut("the channel multiple was not measured (channels not rounded)")
    res.rounding = measure_multiple(table) if table is not None and not clock.setup_over() else {
        "multiple": 1, "layer": None, "ms": {}, "checked": [],
        "why": "objective size: channels not rounded" if res.objective == "size" else "cut by the time budget"}
    seeds = [uniform_keep(space.full, r) for r in SEED_RATIOS]  # their exact widths join the ladders
    ladders = [sorted(set(ladder(g.size, res.rounding["multiple"])) | {s[i] for s in seeds}, reverse=True)
               for i, g in enumerate(space.groups)]
    say(f"channel multiple on {base.backend}: {res.rounding['multiple']}; ladders {ladders}")
    rows = val_score.data.x[:SENS_ROWS], val_score.data.y[:SENS_ROWS]
    res.sensitivity = sensitivity(base.model, space, ladders, example, Scorer(ArrayDataset(*rows), base.model).soft,
                                  prepare=finish_bn(finish), expired=clock.setup_over)
    scanned = sum(len(s) for s in res.sensitivity)
    if scanned < sum(len(lad) for lad in ladders):
        clock.cut(f"the sensitivity scan measured {scanned - len(ladders)} of {sum(map(len, ladders)) - len(ladders)}"
                  " cuts (mildest first); the search only cuts as deep as was measured")
        ladders = [[k for k in lad if k in s] for lad, s in zip(ladders, res.sensitivity)]
    if table is None:
        res.path = greedy_path(ladders, res.sensitivity, _params(base.model, space))
        return None, ladders, _params(base.model, space)
    res.path = greedy_path(ladders, res.sensitivity, table.predict,
                           prefetch=lambda ks: table.fill([k for keep in ks for k in table.keys(keep)]))
    if table.estimated:
        clock.cut(f"{len(table.estimated)} latency-table entries were estimated from measured ones (scaled by "
                  "multiply-adds), not measured")
    table.expired = clock.search_over
    say(f"setup {clock.now():.0f} s; greedy path of {len(res.path)} candidates")
    return table, ladders, table.predict


def _search(res: OptimizeResult, space: Space, example: torch.Tensor, x: torch.Tensor, finish: Callable,
            val_score: Scorer, clock: Clock, say: Callable, journal: Journal | None = None) -> None:
    """Setup, then bisection along the greedy path, seeds, refinement; trials go to ``res.trials``."""
    base = res.baseline
    table, ladders, cost = _setup(res, space, example, x, finish, val_score, clock, say)

    done: dict[tuple[Keep, int | None], Trial] = {}

    def passes(keep: Keep, epochs: int | None = None) -> bool | None:  # epochs: a longer recovery (``longer``)
        if (keep, epochs) in done:
            return passes_val(res, done[keep, epochs])
        trial = journal.get(keep, len(res.trials) + 1, epochs) if journal is not None else None
        took = sorted(t.seconds for t in res.trials if t.seconds and t.epochs is None)
        expect = took[len(took) // 2] if took else 0.0  # a trial takes about as long as the median one so far
        expect *= epochs / max(finish.epochs, 1) if epochs else 1  # recovery dominates a trial
        if trial is None and not _fits(clock, len(res.trials), expect, epochs):
            return None
        if trial is None:
            fin = finish if epochs is None else finish.longer(epochs)
            trial = run_trial(len(res.trials) + 1, keep, base.model, space, example, fin, val_score, x, BACKENDS)
            trial.predicted_ms, trial.epochs = None if table is None else 1e3 * table.predict(keep), epochs
            if journal is not None:
                journal.put(trial)
        res.trials.append(trial)
        done[keep, epochs] = trial
        ok = passes_val(res, trial)
        longer = f" ({epochs} recovery epochs)" if epochs else ""
        say(f"  #{trial.index} keep {list(keep)}{longer}: val {trial.val:.2f} se {trial.se:.2f} "
            f"({'ok' if ok else 'over budget'}), "
            f"{trial.best_ms:.3f} ms on {trial.backend} ({trial.speedup:.2f}x), {trial.bytes:,} bytes")
        return ok

    def seed(ratio: float) -> Keep:  # exact where the scan measured its widths, else the nearest rungs
        keep = uniform_keep(space.full, ratio)
        return keep if all(k in lad for k, lad in zip(keep, ladders)) else uniform_seed(ladders, ratio)

    if passes(seed(SEED_RATIOS[0])) is not None:
        bisect(len(res.path), lambda i: passes(res.path[i]))
    for ratio in SEED_RATIOS[1:]:  # the other uniform seeds, mildest first, until one fails
        if passes(seed(ratio)) is not True:
            break
    best = (ranked(res) or [None])[0]
    if best is not None:
        say(f"refining #{best.index} one rung at a time")
        refine(best.keep, ladders, gain_per_point(cost, res.sensitivity), passes)
    retry_longer(res, getattr(finish, "epochs", 0), passes)  # near misses with a longer recovery
    pairs = [(t.predicted_ms, t.min_ms[base.backend]) for t in res.trials if t.predicted_ms is not None]
    res.table_error = prediction_error(pairs)


def _fits(clock: Clock, trials: int, expect: float, epochs: int | None) -> bool:
    """One more trial fits the budget; a longer recovery that does not fit is ``retry_longer``'s to say (the walk
    itself was not cut short: no "search stopped" note), and none runs once the walk was stopped for time."""
    if epochs is None:
        return clock.trial_fits(trials, expect)
    return not clock.stopped and not clock.search_over(expect)


def finish_bn(finish: Callable) -> Callable:
    """Sensitivity is measured without recovery training: only the BatchNorm re-estimate of ``finish``."""
    return getattr(finish, "bn_only", lambda m: m)
