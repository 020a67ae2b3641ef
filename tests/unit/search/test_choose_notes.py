"""What the optimizer says when it returns the original: nothing tried is not the same as nothing passed."""

from types import SimpleNamespace

from slimtorch.search.optimize import _choose


def _result(trials):
    base = SimpleNamespace(val=90.0, index=0)
    return SimpleNamespace(trials=trials, baseline=base, max_drop=0.5, objective="latency", notes=[], chosen=None)


def test_no_trial_at_all_says_the_budget_ran_out_before_the_first_one():
    res = _result([])
    _choose(res, test_score=lambda m: 0.0, base_test=90.0, say=lambda msg: None)
    assert res.chosen is res.baseline
    assert len(res.notes) == 1 and res.notes[0].startswith("no candidate was tried")


def test_candidates_that_fail_the_test_set_are_named_as_such():
    bad = SimpleNamespace(val=89.8, index=1, model="m", best_ms=1.0, bytes=10, speedup=2.0, test=None)
    res = _result([bad])
    _choose(res, test_score=lambda m: 80.0, base_test=90.0, say=lambda msg: None)
    assert res.chosen is res.baseline
    assert res.notes == ["no candidate kept the budget on the test set: the original is returned"]
