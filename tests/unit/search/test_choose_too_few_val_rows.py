"""When no candidate can pass because the validation split is too small for the budget (one row of 30 is 3.33
points: the standard error's floor times the safety factor exceeds --max-drop even for a candidate that loses
nothing), the note says so and what to change, instead of only "no pruned candidate passed validation"."""

from types import SimpleNamespace

from slimtorch.search.choose import choose


def _res(se, max_drop, safety=1.0):
    base = SimpleNamespace(val=100.0, se=0.0)
    trials = [SimpleNamespace(index=i, val=100.0, se=se, best_ms=1.0, bytes=10) for i in (1, 2)]
    return SimpleNamespace(baseline=base, trials=trials, max_drop=max_drop, safety=safety, objective="latency",
                           notes=[], chosen=None)


def test_a_floor_over_the_budget_is_named():
    res = _res(se=3.34, max_drop=3.0)
    choose(res, lambda s: None)
    assert res.chosen is res.baseline
    assert res.notes[-1] == ("no candidate could pass: even a candidate that loses nothing on validation has a "
                             "standard error of 3.34 points or more (too few validation rows), and 1 x 3.34 > the "
                             "budget 3; give more validation rows (val_rows, --val-rows) or a lower safety")


def test_a_floor_within_the_budget_keeps_the_plain_note():
    res = _res(se=0.5, max_drop=3.0)
    res.trials[0].val = res.trials[1].val = 90.0
    choose(res, lambda s: None)
    assert res.notes == ["no pruned candidate passed validation with the safety margin: the unpruned original is "
                         "kept"]
