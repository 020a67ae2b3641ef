"""Least-squares reconstruction after channel pruning: the solver against torch.linalg.lstsq, and
reconstruction against plain pruning on small conv nets with random weights."""

import copy

import pytest
import torch
from torch import nn

from slimtorch.pruning.plan import apply_plan
from slimtorch.pruning.reconstruct import calib_batches, reconstruct, solve


def _net(depthwise: bool = False) -> nn.Module:
    torch.manual_seed(0)
    mid = [nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False), nn.BatchNorm2d(12), nn.ReLU()] if depthwise else []
    net = nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
        *mid,
        nn.Conv2d(12, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    net.train()
    with torch.no_grad():  # real BN statistics of the input distribution
        for _ in range(5):
            net(torch.randn(32, 3, 8, 8) + 0.3)
    return net.eval()


def _plan(net: nn.Module, depthwise: bool) -> dict:
    """Remove half the channels of the first conv (and whatever reads them)."""
    keep = [0, 2, 4, 6, 8, 10]
    plan = {"0": {"in": [0, 1, 2], "out": keep}, "1": {"c": keep}}
    nxt = "3"
    if depthwise:
        plan["3"] = {"in": keep, "out": keep}
        plan["4"] = {"c": keep}
        nxt = "6"
    plan[nxt] = {"in": keep, "out": list(range(16))}
    return plan


def _err(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).pow(2).mean())


def test_solve_matches_lstsq_on_the_same_matrices():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2, 50, 7, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 50, 3, generator=gen, dtype=torch.float64)
    prior = torch.randn(2, 7, 3, generator=gen, dtype=torch.float64)
    gram = a.transpose(1, 2) @ a
    got = solve(gram, a.transpose(1, 2) @ y, prior, ridge=0.05)
    for g in range(2):
        lam = 0.05 * float(gram[g].diagonal().mean())
        big_a = torch.cat([a[g], lam**0.5 * torch.eye(7, dtype=torch.float64)])
        big_y = torch.cat([y[g], lam**0.5 * prior[g]])
        torch.testing.assert_close(got[g], torch.linalg.lstsq(big_a, big_y).solution)


def test_consumer_weights_equal_lstsq_on_captured_activations():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 4)).eval()
    original = copy.deepcopy(net)
    keep = [1, 2, 3, 5, 7, 9]
    plan = {"0": {"in": list(range(6)), "out": keep}, "2": {"in": keep, "out": list(range(4))}}
    apply_plan(net, plan)
    x = torch.randn(40, 6)
    prior = torch.cat([net[2].weight.detach().T, net[2].bias.detach()[None]]).double()
    reconstruct(original, net, plan, x, ridge=1e-2, scope="consumers")
    with torch.no_grad():  # the oracle: the same problem built by hand, solved by torch
        h = torch.relu(original[0](x))[:, keep].double()
        a = torch.cat([h, torch.ones(40, 1, dtype=torch.float64)], 1)
        target = original(x).double()
    lam = 1e-2 * float((a.T @ a).diagonal().mean())
    sol = torch.linalg.lstsq(torch.cat([a, lam**0.5 * torch.eye(7, dtype=torch.float64)]),
                             torch.cat([target, lam**0.5 * prior])).solution
    torch.testing.assert_close(net[2].weight.detach().double(), sol[:-1].T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net[2].bias.detach().double(), sol[-1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("match_bn", [False, True])
def test_reconstruction_reduces_output_error_on_held_out_inputs(depthwise, match_bn):
    net = _net(depthwise)
    original = copy.deepcopy(net)
    plan = _plan(net, depthwise)
    apply_plan(net, plan)
    plain = copy.deepcopy(net)
    calib, held = torch.randn(64, 3, 8, 8) + 0.3, torch.randn(64, 3, 8, 8) + 0.3
    info = reconstruct(original, net, plan, calib, match_bn=match_bn)
    assert info["solved"] >= 1 and all(r["after"] <= r["before"] + 1e-9 for r in info["layers"])
    assert _err(net, original, held) < 0.7 * _err(plain, original, held)
    assert [p.shape for p in net.parameters()] == [p.shape for p in plain.parameters()]  # values only


def test_nothing_cut_changes_nothing():
    net = _net()
    original = copy.deepcopy(net)
    info = reconstruct(original, net, {}, torch.randn(8, 3, 8, 8))
    assert info["solved"] == 0
    for p, q in zip(net.parameters(), original.parameters()):
        torch.testing.assert_close(p, q)


def test_bad_calibration_data():
    with pytest.raises(ValueError, match="needs calib_data"):
        calib_batches(None)
    with pytest.raises(ValueError, match="holds no inputs"):
        calib_batches([])
    with pytest.raises(ValueError, match="scope must be one of"):
        reconstruct(_net(), _net(), {}, torch.randn(2, 3, 8, 8), scope="all")


@pytest.mark.slow  # ~10-20 s on 2 shared cores: a small MobileNetV2 pruned twice
def test_st_prune_reconstruct_beats_plain_and_round_trips(tmp_path):
    import slimtorch as st

    def fresh():
        torch.manual_seed(0)
        m = st.models.build("mobilenet_v2", num_classes=5, width_mult=0.25).train()
        with torch.no_grad():
            for _ in range(3):
                m(torch.randn(16, 3, 32, 32))
        return m.eval()

    original, x = fresh(), torch.randn(2, 3, 32, 32)
    calib, held = torch.randn(48, 3, 32, 32), torch.randn(32, 3, 32, 32)
    plain = st.prune(fresh(), st.ChannelPrune(ratio=0.3), example_inputs=x)
    rec = st.prune(fresh(), st.ChannelPrune(ratio=0.3, reconstruct=True), example_inputs=x, calib_data=calib)
    assert [p.shape for p in rec.parameters()] == [p.shape for p in plain.parameters()]
    assert _err(rec, original, held) < _err(plain, original, held)
    st.save(rec, tmp_path / "m")
    again = st.load(tmp_path / "m").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(held), rec(held))


def test_st_prune_reconstruct_without_calibration_is_one_line():
    import slimtorch as st

    with pytest.raises(ValueError, match="needs calib_data"):
        st.prune(_net(), st.ChannelPrune(ratio=0.5, reconstruct=True), example_inputs=torch.randn(1, 3, 8, 8))
