"""What the optimizer says when it returns the original: nothing tried is not the same as nothing passed."""

from types import SimpleNamespace

from slimtorch.search.choose import check_test, choose


def _result(trials):
    base = SimpleNamespace(val=90.0, index=0)
    return SimpleNamespace(trials=trials, baseline=base, max_drop=0.5, objective="latency", notes=[], chosen=None)


def test_no_trial_at_all_says_the_budget_ran_out_before_the_first_one():
    res = _result([])
    choose(res, say=lambda msg: None)
    assert res.chosen is res.baseline
    assert len(res.notes) == 1 and res.notes[0].startswith("no pruned candidate was tried")


def test_candidates_that_fail_validation_with_the_margin_are_named_as_such():
    bad = SimpleNamespace(val=89.8, se=0.4, index=1, model="m", best_ms=1.0, bytes=10, speedup=2.0, test=None)
    res = _result([bad])  # drop 0.2 + 1 x se 0.4 > 0.5
    choose(res, say=lambda msg: None)
    assert res.chosen is res.baseline
    assert res.notes == ["no pruned candidate passed validation with the safety margin: the unpruned original is kept"]


def _cand(index, val, se, ms):
    return SimpleNamespace(val=val, se=se, index=index, model=f"m{index}", best_ms=ms, bytes=10, speedup=1.0,
                           test=None)


def test_the_choice_reads_no_test_row_and_the_test_set_is_read_once_for_the_chosen():
    fast_risky, slow_safe = _cand(1, 89.8, 0.4, 1.0), _cand(2, 89.9, 0.1, 2.0)
    res = _result([fast_risky, slow_safe])
    res.baseline.test = 90.0
    choose(res, say=lambda msg: None)
    assert res.chosen is slow_safe  # the faster one's drop + margin (0.6) is over the budget
    read = []
    check_test(res, test_score=lambda m: read.append(m) or 89.0, say=lambda msg: None)
    assert read == ["m2"] and res.chosen is slow_safe  # one reading; a miss is reported, not repaired on test
    assert res.test_kept is False and any("misses the budget on the test set" in n for n in res.notes)
    res.safety = 0.0  # no margin: the faster one passes validation (drop 0.2)
    choose(res, say=lambda msg: None)
    assert res.chosen is fast_risky


def test_an_unsteady_retiming_is_said_in_the_notes_and_the_report(monkeypatch):
    import importlib
    import time

    from slimtorch.search.clock import Clock
    from slimtorch.search.report import rows
    from slimtorch.search.trial import Trial

    opt = importlib.import_module("slimtorch.search.choose")

    def fake_time_models(models, baseline, x, backends, repeats=20, stat="median", spreads=None):
        spreads.update({"baseline|eager": 0.05, "1|eager": 0.6, "1|onnxruntime": 0.1})
        return {"1": {"eager": 2.0, "onnxruntime": 1.0}}, 4.0

    monkeypatch.setattr(opt, "time_models", fake_time_models)
    cand = Trial(1, (2,), 90.0, 10, 100, {"eager": 2.0, "onnxruntime": 1.0}, 4.0, model="m")
    base = Trial(0, (4,), 90.0, 20, 200, {"eager": 4.0}, 4.0, model="b")
    res = SimpleNamespace(trials=[cand], baseline=base, max_drop=0.5, objective="latency", notes=[], chosen=cand)
    opt.retime(res, x=None, clock=Clock(600.0))
    assert cand.spread == 0.1 and not any(n.startswith("timing not stable") for n in res.notes)  # eager is not used
    monkeypatch.setattr(opt, "time_models", lambda *a, spreads=None, **k: (
        spreads.update({"baseline|eager": 0.4, "1|eager": 0.1, "1|onnxruntime": 0.3}) or
        ({"1": {"eager": 2.0, "onnxruntime": 1.0}}, 4.0)))
    opt.retime(res, x=None, clock=Clock(600.0))
    assert any(n.startswith("timing not stable: IQR/median up to 0.40") for n in res.notes), res.notes
    assert rows(res)[1][-2] == "0.30 (unstable)"
    short = Clock(1.0, start=time.perf_counter() - 2)  # no time left for a re-timing: said, not done
    opt.retime(res, x=None, clock=short)
    assert len(short.cuts) == 1 and "not re-timed" in short.cuts[0]


def test_no_trial_because_the_user_stopped_it_does_not_blame_the_budget():
    res = _result([])
    choose(res, say=lambda msg: None, interrupted=True)
    assert res.chosen is res.baseline
    assert len(res.notes) == 1 and "interruption" in res.notes[0] and "--resume" in res.notes[0]
    assert "minutes" not in res.notes[0]
