"""The time budget bounds the whole st.optimize call, the setup included, and the notes say what it cut."""

import importlib
import time

import pytest
import torch

import slimtorch as st
from slimtorch.search.clock import FINISH_SHARE, MARGIN_S, SETUP_SHARE, Clock
from slimtorch.search.optimize import optimize

sensitivity_mod = importlib.import_module("slimtorch.search.sensitivity")


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 64, 32, 10))
    st.fit(model, train, st.TrainConfig(epochs=3, batch_size=64, lr=0.1, momentum=0.9, quiet=True))
    return model.eval(), train, test


def test_clock_shares():
    clock = Clock(100.0, start=time.perf_counter() - 40)  # 40 s spent of 100
    assert clock.setup_over() == (40 > 100 * SETUP_SHARE)
    assert not clock.search_over() and clock.search_over(next_cost=100 * (1 - FINISH_SHARE) - 39)
    assert 59 < clock.left() <= 60 and not clock.over()
    clock.finish_s = 55.0  # a finish estimated longer than FINISH_SHARE keeps its own time
    assert clock.search_over(next_cost=6) and not clock.search_over(next_cost=4)
    clock.cut("x")
    clock.cut("x")
    assert clock.cuts == ["time budget (1.66667 min): x"]


def test_a_slow_sensitivity_scan_is_cut_and_the_call_ends_within_its_budget(trained, monkeypatch):
    model, train, test = trained
    real = sensitivity_mod.apply

    def slow_apply(*a, **k):  # every scan step takes 0.8 s: the full scan (4 cuts) would need 3.2 s alone
        time.sleep(0.8)
        return real(*a, **k)

    monkeypatch.setattr(sensitivity_mod, "apply", slow_apply)
    budget_s = 4.0
    t0 = time.perf_counter()
    res = optimize(model, (train, test), max_accuracy_drop=2.0, budget_minutes=budget_s / 60, batch_size=16,
                   recovery_epochs=0, int8=False)
    wall = time.perf_counter() - t0
    assert wall <= budget_s + MARGIN_S + 2.0  # + the test set's scoring of the chosen model (stated margin)
    measured = sum(len(s) for s in res.sensitivity) - len(res.sensitivity)
    assert measured < 4  # 4 cuts (64 -> 48, 32, 16; 32 -> 16): not all measured (how many depends on the load)
    assert any("sensitivity scan measured" in n for n in res.notes), "\n".join(res.notes) + str(res.sensitivity)
    c = res.chosen
    assert c.test >= res.baseline.test - 2.0  # a cut search is smaller, never wrong
    for group, lost in zip(res.path[-1], res.sensitivity):  # the path cuts no deeper than was measured
        assert group in lost


def test_the_first_trial_refused_for_time_is_noted_once_and_every_later_one_is_refused_too():
    clock = Clock(100.0, start=time.perf_counter() - 70)  # 70 s spent: 15 s of search time left
    assert clock.trial_fits(3, 10.0)
    assert not clock.trial_fits(4, 30.0)
    assert not clock.trial_fits(4, 1.0) and not clock.trial_fits(4, 90.0)  # a shorter one too: the search is over
    assert clock.cuts == ["time budget (1.66667 min): the search stopped after 4 trials (the next, ~30 s, would not "
                          "leave time to finish): the best candidate found so far is kept"]


def test_a_longer_recovery_that_does_not_fit_leaves_no_search_stopped_note():
    optimize_mod = importlib.import_module("slimtorch.search.optimize")
    clock = Clock(100.0, start=time.perf_counter() - 70)  # 15 s of search time left
    assert optimize_mod._fits(clock, 3, 10.0, None) and not optimize_mod._fits(clock, 3, 30.0, 3)
    assert clock.cuts == [] and not clock.stopped  # retry_longer notes the longer step's own end
    assert not optimize_mod._fits(clock, 4, 30.0, None) and clock.stopped and len(clock.cuts) == 1
    assert not optimize_mod._fits(clock, 4, 1.0, 3)  # the walk was stopped: no longer trial either
