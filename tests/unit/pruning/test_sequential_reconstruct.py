"""One lockstep pass (sequential.walk) gives the same reconstruction as re-running per layer; a ridge
chosen on held-out calibration rows; models that do not trace fall back to the per-layer path."""

import copy

import pytest
import torch
from residual_net import cut as _cut
from residual_net import model as _model
from torch import nn

from slimtorch.pruning import reconstruct as rec
from slimtorch.pruning.layer_solve import RIDGES, objective, pick_ridge, solve
from slimtorch.pruning.sequential import walk


def _reconstructed(sequential: bool, monkeypatch, **options):
    original, net = _model(), _model()
    plan = _cut(net)
    if not sequential:
        monkeypatch.setattr(rec, "walk", lambda *a: False)
    info = rec.reconstruct(original, net, plan, torch.randn(40, 3, 8, 8), batch_size=16, **options)
    return net, info


@pytest.mark.parametrize("options", [{}, {"ridge": "auto"}])
def test_sequential_pass_equals_per_layer_reruns(monkeypatch, options):
    fast, info_fast = _reconstructed(True, monkeypatch, **options)
    slow, info_slow = _reconstructed(False, monkeypatch, **options)
    assert (info_fast["pass"], info_slow["pass"]) == ("sequential", "per-layer")
    assert [r["name"] for r in info_fast["layers"]] == [r["name"] for r in info_slow["layers"]]
    assert info_fast["solved"] >= 3
    for (name, p), q in zip(fast.state_dict().items(), slow.state_dict().values()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5, msg=name)


def test_walk_sees_pruned_inputs_and_original_outputs():
    original, net = _model(), _model()
    _cut(net)
    x = torch.randn(6, 3, 8, 8)
    seen = {}

    def visit(name, pairs):
        rows = list(pairs)
        seen[name] = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    assert walk(original, net, lambda: [(x[:4], "a"), (x[4:], "b")], {"1.b", "5"}, visit)
    with torch.no_grad():  # oracle: the same tensors through the modules by hand
        h = torch.relu(net[1].bn_a(net[1].a(net[0](x))))
        y = original[1].b(torch.relu(original[1].bn_a(original[1].a(original[0](x)))))
        feats = original[:5](x)
    torch.testing.assert_close(torch.cat(seen["1.b"][0]), h)
    torch.testing.assert_close(torch.cat(seen["1.b"][1]), y)
    torch.testing.assert_close(torch.cat(seen["5"][1]), original[5](feats))
    assert seen["5"][2] == ["a", "b"]


def test_untraceable_model_falls_back():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)  # data-dependent: fx cannot trace it

    calls = []
    assert not walk(Branchy(), Branchy(), lambda: [(torch.randn(2, 4), 0)], {"fc"}, lambda *a: calls.append(a))
    assert calls == []


def test_pick_ridge_minimises_held_out_error():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(1, 6, 2, generator=gen, dtype=torch.float64)

    def sums(n):
        a = torch.randn(1, n, 6, generator=gen, dtype=torch.float64)
        y = a @ w + 2.0 * torch.randn(1, n, 2, generator=gen, dtype=torch.float64)  # noisy: ridge matters
        return a.transpose(1, 2) @ a, a.transpose(1, 2) @ y

    train, held, prior = sums(12), sums(400), torch.zeros(1, 6, 2, dtype=torch.float64)
    errs = {r: objective(*held, solve(*train, prior, r)) for r in RIDGES}
    best = pick_ridge(train, held, prior)
    assert best == min(errs, key=errs.get) and errs[best] <= objective(*held, prior)
    # a prior that is the truth itself: no solve beats it on held-out rows, so nothing changes
    assert pick_ridge(train, held, w) is None


def test_bad_ridge_is_one_line():
    with pytest.raises(ValueError, match="ridge must be a number >= 0 or 'auto'"):
        rec.reconstruct(_model(), _model(), {}, torch.randn(4, 3, 8, 8), ridge="big")


def test_original_is_unchanged():
    original, net = _model(), _model()
    before = copy.deepcopy(original.state_dict())
    rec.reconstruct(original, net, _cut(net), torch.randn(16, 3, 8, 8), ridge="auto")
    for k, v in original.state_dict().items():
        torch.testing.assert_close(v, before[k])
