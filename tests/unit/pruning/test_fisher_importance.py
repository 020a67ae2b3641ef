"""importance="fisher" (squared output change from removing a unit, to first order) and "obs" (the error a
reader keeps after re-solving without the unit)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.pruning.fisher import fisher_scores, global_cut
from slimtorch.pruning.graph import trace
from slimtorch.pruning.obs import DAMP, greedy_costs, obs_scores


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)).eval()


def _masked_jacobian_scores(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Oracle: an explicit mask on the 8 hidden units of layer 0, its per-input Jacobian by torch, squared, summed."""
    def out(m, xi):
        return net[2:](net[1](net[0](xi)) * m)

    total = torch.zeros(8, dtype=torch.float64)
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda m, xi=xi: out(m, xi[None]), torch.ones(8))  # (1, 3, 8)
        total += jac.double().pow(2).sum((0, 1))
    return total


def test_exact_scores_equal_the_masked_jacobian():
    net, x = _mlp(), torch.randn(10, 5)
    graph = trace(net, x[:2])
    scores = fisher_scores(net, graph, [x[:4], x[4:]], probes=None)
    units = graph.root[graph.slots["0"]["out"]]
    np.testing.assert_allclose(scores[units], _masked_jacobian_scores(net, x).numpy(), rtol=1e-6)


def test_random_probes_estimate_the_same_scores():
    net, x = _mlp(), torch.randn(64, 5)
    graph = trace(net, x[:2])
    units = graph.root[graph.slots["0"]["out"]]
    est = fisher_scores(net, graph, [x], probes=400)[units]
    want = _masked_jacobian_scores(net, x).numpy()
    np.testing.assert_allclose(est, want, rtol=0.2)  # Hutchinson: relative error ~ sqrt(2/400) per unit


def test_a_unit_the_output_ignores_scores_zero_and_goes_first():
    net, x = _mlp(), torch.randn(16, 5)
    with torch.no_grad():
        net[2].weight[:, 3] = 0.0  # hidden unit 3 of layer 0 reaches nothing
    pruned = st.prune(copy.deepcopy(net), st.ChannelPrune(ratio=0.125, importance="fisher", ignore=["2"]),
                      example_inputs=x[:2], calib_data=x)
    assert pruned[0].out_features == 7
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), net(x))


def test_fisher_needs_calibration():
    net, x = _mlp(), torch.randn(4, 5)
    assert st.ChannelPrune(importance="fisher").needs_calibration
    with pytest.raises(ValueError, match="calib_data"):
        st.prune(net, st.ChannelPrune(ratio=0.25, importance="fisher"), example_inputs=x)


def test_obs_first_cost_is_the_least_squares_error_of_the_cheapest_removal():
    torch.manual_seed(1)
    w, x = torch.randn(4, 6).double(), torch.randn(50, 6).double()
    gram = x.T @ x
    h = gram + DAMP * gram.diagonal().mean() * torch.eye(6, dtype=torch.float64)
    brute = []
    for g in range(6):  # re-fit the other five columns: W' = W H[:, S] H[S, S]^-1, error tr((W - W') H (W - W')^T)
        s = [i for i in range(6) if i != g]
        fit = torch.zeros_like(w)
        fit[:, s] = w @ h[:, s] @ torch.linalg.inv(h[s][:, s])
        brute.append(float(torch.trace((w - fit) @ h @ (w - fit).T)))
    got = greedy_costs(w, gram, [np.array([i]) for i in range(6)], fraction=1.0)
    assert int(np.argmin(got)) == int(np.argmin(brute))
    np.testing.assert_allclose(got.min(), min(brute), rtol=1e-8)
    assert np.all(np.diff(np.sort(got)) >= 0) and np.all(got > 0)


def test_obs_drops_a_duplicated_unit_and_reconstruction_restores_the_output():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    with torch.no_grad():  # unit 7 copies unit 2 (large, and fully redundant): its reader can take it over
        net[0].weight[7], net[0].bias[7] = net[0].weight[2] * 1.0, net[0].bias[2] * 1.0
        net[2].weight[:, 7] *= 5.0
    x = torch.randn(256, 5)
    graph = trace(net, x[:2])
    scores = obs_scores(net, graph, [x])
    units = graph.root[graph.slots["2"]["in"]]
    assert {int(np.argmin([scores[u] for u in units]))} <= {2, 7}


@pytest.mark.parametrize(("ratio", "want"), [(0.25, {1, 10}), (0.5, {1, 2, 10, 11, 20})])
def test_global_cut_ranks_raw_scores_per_kind_of_group(ratio, want):
    # two groups of 4 units (say the heads of two blocks) and one of 2: the sizes tell the kinds apart
    members = {("a",): [1, 2, 3, 4], ("b",): [10, 11, 12, 13], ("c",): [20, 21]}
    scores = {1: 0.1, 2: 5.0, 3: 6.0, 4: 7.0, 10: 0.2, 11: 0.3, 12: 5.5, 13: 9.0, 20: 1.0, 21: 2.0}
    assert global_cut(members, scores, ratio) == want
