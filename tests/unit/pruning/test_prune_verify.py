"""Verification inside ChannelPrune: rollback of bad groups, several example inputs, shared parameters."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch import io
from slimtorch.bench import count_params
from slimtorch.pruning import ChannelPrune, PruneWarning, apply_plan, register_surgery, report, zero_plan
from slimtorch.pruning.plan import plan_removed_params
from slimtorch.pruning.surgery import _TABLE


def recorded_plan(model):
    """The plan st.prune applied (what st.save records)."""
    kept = [t["keep"] for t in io.transforms(model) if t["kind"] == "channel_prune"]
    return kept[-1] if kept else {}


def assert_matches_masked_original(original, pruned, inputs):
    """The oracle: the original with the recorded plan's removed channels zeroed, on every input."""
    reference = zero_plan(copy.deepcopy(original), recorded_plan(pruned))
    with torch.no_grad():
        for x in inputs:
            torch.testing.assert_close(pruned(x), reference(x), atol=1e-5, rtol=1e-4)


class Mixer(nn.Module):
    """Reverses the channel order, but will be registered, wrongly, as a per-channel scale."""

    def __init__(self, c):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(c) + 0.5)

    def forward(self, x):
        return torch.flip(x, dims=[1]) * self.scale.view(1, -1, 1, 1)


def _two_groups(mixer=True):
    torch.manual_seed(0)
    mid = Mixer(8) if mixer else nn.Identity()
    return nn.Sequential(nn.Conv2d(3, 8, 1), mid, nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 2, 1)).eval()


def test_a_group_that_silently_differs_is_rolled_back_and_the_others_stay_pruned(monkeypatch):
    monkeypatch.setitem(_TABLE, Mixer, None)  # removed again after the test
    register_surgery(Mixer, lambda m: {"scale": [(0, "in")]}, channel_dim=1)  # wrong: it mixes channels
    model = _two_groups()
    original, x = copy.deepcopy(model), torch.randn(2, 3, 4, 4)
    with pytest.warns(PruneWarning, match=r"layer '0' \(Conv2d.*differs from the masked original"):
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=x)
    assert model[0].out_channels == 8 and model[1].scale.shape == (8,)  # the bad group kept whole
    assert model[3].out_channels == 4  # the good group still pruned
    assert_matches_masked_original(original, model, [x])
    rows = {r.layers[0]: r for r in report(model)}
    assert rows["0.out"].status == "kept" and "rolled back" in rows["0.out"].reason
    assert rows["3.out"].status == "pruned" and rows["3.out"].removed == 4


class SizeCheck(nn.Module):
    def forward(self, x):
        if x.shape[1] != 8:
            raise RuntimeError("expects 8 channels")
        return x


def test_a_group_whose_pruned_forward_fails_is_rolled_back():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1), SizeCheck(), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 2, 1))
    x = torch.randn(2, 3, 4, 4)
    with pytest.warns(PruneWarning, match=r"layer '0'.*fails: RuntimeError: expects 8 channels"):
        st.prune(model.eval(), ChannelPrune(ratio=0.5), example_inputs=x)
    assert model[0].out_channels == 8 and model[3].out_channels == 4


def test_bisection_keeps_every_good_group_around_one_bad_one():
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 1), nn.ReLU()]
    for i in range(6):
        layers += [nn.Conv2d(8, 8, 1), SizeCheck() if i == 3 else nn.Identity(), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Conv2d(8, 2, 1)).eval()
    original, x = copy.deepcopy(model), torch.randn(2, 3, 4, 4)
    with pytest.warns(PruneWarning, match="expects 8 channels"):
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=x)
    widths = [m.out_channels for m in model if isinstance(m, nn.Conv2d)]
    assert widths == [4, 4, 4, 4, 8, 4, 4, 2]  # only the conv feeding the size check keeps its channels
    assert_matches_masked_original(original, model, [x])


class SizeBranch(nn.Module):
    """Picks a layer by input size: tracing only small inputs never sees ``big``."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.small, self.big = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = self.big(y) if x.shape[-1] > 6 else self.small(y)
        return self.head(torch.relu(y).mean((2, 3)))


def test_a_layer_that_never_ran_is_left_whole_with_its_neighbours():
    model = SizeBranch().eval()
    small = torch.randn(2, 3, 4, 4)
    with pytest.warns(PruneWarning, match=r"layer 'big': holds parameters but never ran"):
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=small)
    assert model.stem.out_channels == 8 and model.big.in_channels == 8
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 8)).shape == (2, 2)  # the untraced branch still runs


def test_several_example_inputs_of_different_shapes_are_all_traced_and_verified():
    model = SizeBranch().eval()
    original = copy.deepcopy(model)
    inputs = [torch.randn(2, 3, 4, 4), torch.randn(3, 3, 8, 8)]
    st.prune(model, ChannelPrune(ratio=0.5), example_inputs=inputs)
    assert model.stem.out_channels == 4 and model.small.in_channels == 4 and model.big.in_channels == 4
    assert_matches_masked_original(original, model, inputs)


class Tied(nn.Module):
    """A language model whose output projection is its embedding (one Parameter, two layers)."""

    def __init__(self, vocab=20, d=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.mlp = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, d))
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, ids):
        h = self.emb(ids)
        return self.out(h + self.mlp(h))


def test_a_tied_weight_is_pruned_consistently_and_stays_one_parameter():
    torch.manual_seed(0)
    model, ids = Tied().eval(), torch.randint(0, 20, (2, 5))
    original = copy.deepcopy(model)
    st.prune(model, ChannelPrune(ratio=0.5), example_inputs=ids)
    assert count_params(original) - count_params(model) == plan_removed_params(original, recorded_plan(model))
    assert model.out.weight is model.emb.weight
    assert model.emb.weight.shape == (20, 4) and model.mlp[0].in_features == 4
    assert len(list(model.parameters())) == len(list(original.parameters()))
    assert_matches_masked_original(original, model, [ids])
    loaded = apply_plan(copy.deepcopy(original), recorded_plan(model))  # what st.load replays
    assert loaded.out.weight is loaded.emb.weight


class TiedUnused(Tied):
    def forward(self, ids):
        h = self.emb(ids)
        return (h + self.mlp(h)).mean(-1)  # ``out`` never runs


def test_a_weight_shared_with_a_layer_that_never_ran_is_kept_whole():
    torch.manual_seed(0)
    model = TiedUnused().eval()
    with pytest.warns(PruneWarning, match="never ran"):
        st.prune(model, ChannelPrune(ratio=0.5), example_inputs=torch.randint(0, 20, (2, 5)))
    assert model.out.weight is model.emb.weight and model.emb.weight.shape == (20, 8)
    assert model.mlp[0].out_features == 8  # hidden width pruned


class ConvMix(nn.Module):
    """A plain conv, a depthwise conv, a conv whose inputs are all kept and a linear head: every kind of reader."""

    def __init__(self):
        super().__init__()
        self.stem, self.dw = nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw, self.fc = nn.Conv2d(8, 6, 1), nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.pw(torch.relu(self.dw(torch.relu(self.stem(x)))))).mean((2, 3)))


def test_the_verifiers_reference_is_the_masked_original_and_leaves_the_model_as_it_was():
    from slimtorch.pruning import plan_channels
    from slimtorch.pruning.verify import reference

    torch.manual_seed(0)
    model, xs = ConvMix().eval(), [torch.randn(2, 3, 5, 5), torch.randn(1, 3, 4, 4)]
    plan = plan_channels(model, ChannelPrune(ratio=0.5), xs)
    assert len(plan["stem"]["in"]) == 3 and len(plan["dw"]["in"]) == 4  # a layer with all inputs kept is in the plan
    params, before = list(model.parameters()), copy.deepcopy(model.state_dict())
    got = reference(model, plan, [((x,), {}) for x in xs])
    oracle = zero_plan(copy.deepcopy(model), plan)  # the test's own: weights that read removed channels zeroed
    with torch.no_grad():
        for (out,), x in zip(got, xs):
            torch.testing.assert_close(out, oracle(x), atol=1e-6, rtol=1e-5)
    assert all(a is b for a, b in zip(model.parameters(), params))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)
    assert not any("forward" in vars(m) or m._forward_pre_hooks for m in model.modules())  # every mask removed
