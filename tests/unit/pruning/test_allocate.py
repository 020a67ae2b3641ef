"""allocate: per-block ratios from sensitivity (a multiple-choice knapsack), against hand-solved tables."""

from __future__ import annotations

import pytest

from slimtorch.pruning.allocate import allocate


def test_the_cheap_block_is_cut_deep_and_the_sensitive_one_kept():
    errors = {"early": {0.25: 0.1, 0.5: 0.2, 0.75: 0.3}, "late": {0.25: 0.5, 0.5: 1.5, 0.75: 3.0}}
    saved = {"early": {0.25: 10, 0.5: 20, 0.75: 30}, "late": {0.25: 10, 0.5: 20, 0.75: 30}}
    assert allocate(errors, saved, need=30) == {"early": 0.75, "late": 0.0}
    assert allocate(errors, saved, need=40) == {"early": 0.75, "late": 0.25}  # 0.3 + 0.5, not 0.2 + 1.5


def test_exact_where_a_greedy_by_error_per_mac_is_not():
    # greedy by error per MAC takes a (0.01/MAC) first and then must add c: 1.0 + 3.0; the optimum is b alone
    errors = {"a": {0.5: 1.0}, "b": {0.5: 2.5}, "c": {0.5: 3.0}}
    saved = {"a": {0.5: 100}, "b": {0.5: 150}, "c": {0.5: 60}}
    assert allocate(errors, saved, need=150) == {"a": 0.0, "b": 0.5, "c": 0.0}


def test_the_saving_is_never_overstated_by_the_bins():
    errors = {"a": {0.5: 0.1}, "b": {0.5: 0.2}}
    saved = {"a": {0.5: 49.99}, "b": {0.5: 60.0}}
    picks = allocate(errors, saved, need=50, bins=10)  # a's 49.99 rounds down to 4 bins: b is needed
    assert sum(saved[k][r] for k, r in picks.items() if r) >= 50


def test_an_unreachable_saving_is_one_line():
    with pytest.raises(ValueError, match="saves 10"):
        allocate({"a": {0.5: 1.0}}, {"a": {0.5: 10}}, need=11)
