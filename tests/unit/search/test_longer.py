"""Longer recovery for the near misses: which failed candidates are retried, the step's stop rules, and the
recipe and journal that carry a chosen candidate's own epochs."""

from types import SimpleNamespace

import slimtorch as st
from slimtorch.search.journal import Journal
from slimtorch.search.longer import FACTOR, REACH, near_misses, retry_longer
from slimtorch.search.result import OptimizeResult
from slimtorch.search.space import Group
from slimtorch.search.trial import Trial


def _t(index, keep, val, ms, se=0.1, **kw):
    return Trial(index, keep, val, 0, 100, {"eager": ms}, 10.0, se=se, model=f"m{index}", **kw)


def _res(trials, max_drop=0.5):
    base = _t(0, (8, 8), 99.0, 10.0, se=0.0)
    return SimpleNamespace(trials=trials, baseline=base, max_drop=max_drop, objective="latency", notes=[], safety=1.0)


def test_near_misses_are_failed_candidates_faster_than_the_best_pass_within_reach_cheapest_first():
    ok = _t(1, (6, 6), 98.8, 6.0)                       # passes: drop 0.2 + 0.1
    near_fast, near_slow = _t(2, (2, 6), 98.3, 3.0), _t(3, (4, 6), 98.4, 4.0)  # drops 0.7 / 0.6: within 2 x 0.5
    hopeless = _t(4, (1, 1), 97.0, 1.0)                  # drop 2.0 > REACH x budget
    slower = _t(5, (6, 5), 98.4, 7.0)                    # fails but slower than the passing one
    int8 = _t(6, (2, 6), 98.3, 2.0, int8={"x": 1})        # an int8 model is not retrained
    res = _res([ok, near_slow, near_fast, hopeless, slower, int8])
    assert REACH * res.max_drop >= 0.7
    assert [t.index for t in near_misses(res)] == [2, 3]
    assert [t.index for t in near_misses(_res([near_fast, hopeless]))] == [2]  # none passes: beat the original


def test_retry_stops_at_the_first_that_passes_and_notes_it():
    res = _res([_t(1, (6, 6), 98.8, 6.0), _t(2, (2, 6), 98.3, 3.0), _t(3, (4, 6), 98.4, 4.0)])
    tried = []

    def try_keep(keep, epochs):
        tried.append((keep, epochs))
        passed = keep == (4, 6)
        res.trials.append(_t(len(res.trials) + 1, keep, 98.9 if passed else 98.3, 4.0, epochs=epochs))
        return passed

    found = retry_longer(res, 1, try_keep)
    assert tried == [((2, 6), FACTOR), ((4, 6), FACTOR)]
    assert found.keep == (4, 6) and found.epochs == FACTOR
    assert res.notes == [f"longer recovery ({FACTOR} epochs): #5 passes where #3 (same widths, 1 epoch) missed"]


def test_retry_stops_when_the_time_is_up_and_does_nothing_without_recovery():
    res = _res([_t(1, (6, 6), 98.8, 6.0), _t(2, (2, 6), 98.3, 3.0)])
    assert retry_longer(res, 2, lambda keep, epochs: None) is None
    assert res.notes == [f"longer recovery ({2 * FACTOR} epochs): the time ran out after 0 of 1 near misses"]
    calls = []
    assert retry_longer(_res(res.trials), 0, lambda k, e: calls.append(k)) is None and not calls


def test_the_recipe_repeats_the_chosen_candidates_epochs():
    base = Trial(0, (4,), 90.0, 0, 100, {"eager": 1.0}, 1.0, model="m")
    res = OptimizeResult(model=None, baseline=base, objective="latency", metric="accuracy", max_drop=0.5,
                         batch_size=8, groups=[Group(("fc",), 4)])
    res.recipe = {"head": {}, "recovery": [{"distill": {"teacher": "baseline", "epochs": 1}, "fit": {"lr": 0.01}}]}
    res.chosen = Trial(1, (2,), 90.0, 0, 50, {"eager": 1.0}, 0.5, model="m", epochs=3)
    distill = [s for s in res.stages() if "distill" in s]
    assert distill == [{"distill": {"teacher": "baseline", "epochs": 3}, "fit": {"lr": 0.01}}]
    assert res.recipe["recovery"][0]["distill"]["epochs"] == 1  # the search's own setting is not changed
    res.chosen.epochs = None
    assert [s for s in res.stages() if "distill" in s][0]["distill"]["epochs"] == 1


def test_the_journal_keeps_a_longer_trial_apart(tmp_path):
    j = Journal(tmp_path, {"model": "x"})
    assert j.key((2, 6)) != j.key((2, 6), 3) and j.key((2, 6)) == j.key((2, 6), None)
    model = st.models.build("mlp", widths=(2, 2))
    trial = Trial(1, (2,), 98.0, 10, 100, {"eager": 1.0}, 2.0, model=model, epochs=3)
    j.put(trial)
    assert j.get((2,), 1) is None
    back = j.get((2,), 4, epochs=3)
    assert back.epochs == 3 and back.index == 4 and back.to_dict()["epochs"] == 3


def test_the_report_row_of_a_longer_trial_says_its_epochs():
    from slimtorch.search.report import rows

    res = _res([_t(1, (2, 6), 98.3, 3.0), _t(2, (2, 6), 98.9, 3.0, epochs=3)])
    res.chosen = res.trials[1]
    kept = [r[1] for r in rows(res)]
    assert kept == ["8 8", "2 6", "2 6 (3 recovery epochs)"]
