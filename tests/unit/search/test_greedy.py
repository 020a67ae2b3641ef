"""Greedy path (cheapest cut per point lost first) and the bisection along it, on hand-made costs."""

import pytest

from slimtorch.search.greedy import MIN_LOSS, bisect, greedy_path


def test_greedy_takes_the_cut_with_most_savings_per_point_lost():
    ladders = [[4, 2], [4, 2]]
    lost = [{4: 0.0, 2: 2.0}, {4: 0.0, 2: 0.5}]
    # cost: group 0 saves 10 per rung, group 1 saves 4 -> ratios 10/2=5 and 4/0.5=8: group 1 first
    cost = lambda k: (k[0] - 2) / 2 * 10 + (k[1] - 2) / 2 * 4  # noqa: E731
    assert greedy_path(ladders, lost, cost) == [(4, 4), (4, 2), (2, 2)]


def test_free_cuts_are_ranked_by_savings_not_divided_by_zero():
    ladders = [[8, 4], [8, 4]]
    lost = [{8: 0.0, 4: 0.0}, {8: 0.0, 4: -1.0}]  # a cut that even "helps" counts as MIN_LOSS
    cost = lambda k: 3 * k[0] + 1 * k[1]  # noqa: E731
    path = greedy_path(ladders, lost, cost)
    assert path[1] == (4, 8)  # saves 12 per MIN_LOSS vs 4 per MIN_LOSS
    assert MIN_LOSS > 0


def test_prefetch_sees_every_step_before_cost():
    seen = []
    greedy_path([[3, 2, 1]], [{3: 0, 2: 1, 1: 2}], lambda k: k[0], prefetch=seen.append)
    assert seen == [[(2,), (1,)], [(1,)]]


def test_a_cut_may_skip_a_rung_that_costs_more_than_the_wider_width():
    # 12 channels cost more than 16 (blocks of 8): the walk goes 16 -> 8 directly instead of through 12
    block = {16: 2.0, 12: 2.5, 8: 1.0, 4: 0.9}
    lost = [{16: 0.0, 12: 0.1, 8: 0.2, 4: 3.0}, {4: 0.0, 2: 5.0}]
    path = greedy_path([[16, 12, 8, 4], [4, 2]], lost, lambda k: block[k[0]] + k[1])
    assert path[1] == (8, 4) and (12, 4) not in path


@pytest.mark.parametrize("n,last_ok", [(1, 0), (2, 1), (10, 0), (10, 3), (10, 9), (33, 17)])
def test_bisect_finds_the_last_passing_index(n, last_ok):
    tried = []

    def passes(i):
        tried.append(i)
        return i <= last_ok

    assert bisect(n, passes) == last_ok
    assert len(tried) <= max(1, (n - 1).bit_length())


def test_bisect_stops_with_the_best_so_far_when_time_runs_out():
    answers = iter([True, None])
    assert bisect(16, lambda i: next(answers)) == 8  # first probe (8) passed, then out of time


def test_uniform_seed_takes_the_nearest_rung():
    from slimtorch.search.greedy import uniform_seed

    assert uniform_seed([[6, 4], [16, 12, 8, 4], [120, 88, 60, 44]], 0.5) == (4, 8, 60)
    assert uniform_seed([[6, 4], [16, 12, 8, 4]], 0.0) == (6, 16)


def test_refine_moves_one_rung_while_the_budget_holds():
    from slimtorch.search.greedy import refine

    tried = []

    def passes(keep):
        tried.append(keep)
        return sum(keep) >= 5

    rank = lambda cur, k: 10 - k[0]  # noqa: E731  (cutting group 0 ranks first; every cut saves something)
    assert refine((4, 4), [[4, 2, 1], [4, 2, 1]], rank, passes) == (1, 4)
    assert tried == [(2, 4), (1, 4), (1, 2)]


def test_refine_stops_when_time_is_up():
    from slimtorch.search.greedy import refine

    assert refine((4, 4), [[4, 2], [4, 2]], lambda cur, k: 1, lambda k: None) == (4, 4)


def test_refine_skips_a_width_that_saves_nothing():
    from slimtorch.search.greedy import refine

    tried = []
    cost = {16: 2.0, 12: 2.5, 8: 1.0}
    rank = lambda cur, k: cost[cur[0]] - cost[k[0]]  # noqa: E731
    assert refine((16,), [[16, 12, 8]], rank, lambda k: tried.append(k) or True) == (8,)
    assert tried == [(8,)]  # 12 (slower than 16) was never trained


def test_gain_per_point():
    from slimtorch.search.greedy import gain_per_point

    rank = gain_per_point(lambda k: 10 * k[0] + k[1], [{4: 0.0, 2: 1.0}, {4: 0.0, 2: 0.0}])
    assert rank((4, 4), (2, 4)) == pytest.approx(20.0)  # saves 20 for 1 point
    assert rank((4, 4), (4, 2)) == pytest.approx(2 / MIN_LOSS)
