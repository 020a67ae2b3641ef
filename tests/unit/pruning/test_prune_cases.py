"""Case table: every zoo model and the hard architectures, crossed with generic structural-pruning properties."""

from __future__ import annotations

import copy
import warnings

import prune_nets
import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import count_macs, count_params
from slimtorch.pruning import ChannelPrune, apply_plan, plan_channels, zero_plan
from slimtorch.pruning.plan import plan_removed_params


def _zoo(name, x, **kw):
    return lambda: (st.models.build(name, **kw), x)


CASES = {
    "mlp": _zoo("mlp", torch.randn(3, 2)),
    "lenet300": _zoo("lenet300", torch.randn(3, 1, 28, 28)),
    "lenet5": _zoo("lenet5", torch.randn(3, 1, 28, 28)),
    "mnist_cnn": _zoo("mnist_cnn", torch.randn(3, 1, 28, 28)),
    "resnet_cifar": _zoo("resnet_cifar", torch.randn(2, 3, 32, 32), depth=8),
    "mobilenet_v2": _zoo("mobilenet_v2", torch.randn(2, 3, 32, 32), num_classes=10, width_mult=0.5),
    "dense_block": lambda: (prune_nets.dense_block(), torch.randn(2, 3, 8, 8)),
    "se_net": lambda: (prune_nets.se_net(), torch.randn(2, 3, 8, 8)),
    "grouped_net": lambda: (prune_nets.grouped_net(), torch.randn(2, 3, 8, 8)),
    "transformer_layer": lambda: (prune_nets.tiny_transformer(), torch.randn(2, 6, 12)),
    "bert": lambda: (prune_nets.tiny_bert(), torch.randint(0, 50, (2, 7))),
}
CONVNETS = {"lenet5", "mnist_cnn", "resnet_cifar", "mobilenet_v2", "dense_block", "se_net", "grouped_net"}


def _build(name):
    model, x = CASES[name]()
    if name == "mlp":  # the zoo's default mlp input width
        x = torch.randn(3, next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features)
    return model.eval(), x


def _plan(model, x, ratio=0.5, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are tested on purpose-built models
        return plan_channels(model, ChannelPrune(ratio=ratio, **kw), x)


@pytest.mark.parametrize("name", list(CASES))
def test_zero_then_remove_gives_the_same_outputs_and_the_computed_param_drop(name):
    model, x = _build(name)
    plan = _plan(model, x)
    assert plan, "nothing was pruned"
    reference = zero_plan(copy.deepcopy(model), plan)
    before, expected_drop = count_params(model), plan_removed_params(model, plan)
    pruned = apply_plan(model, plan)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), reference(x), atol=1e-4, rtol=1e-4)
    assert count_params(pruned) == before - expected_drop
    assert expected_drop > 0


@pytest.mark.parametrize("name", list(CASES))
def test_forward_shape_size_and_save_load(name, tmp_path):
    model, x = _build(name)
    with torch.no_grad():
        shape = model(x).shape
    params0 = count_params(model)
    macs0 = count_macs(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(model, ChannelPrune(ratio=0.5), example_inputs=x)
    with torch.no_grad():
        out = pruned(x)
    assert out.shape == shape
    p_ratio, m_ratio = count_params(pruned) / params0, count_macs(pruned, x) / macs0
    assert p_ratio < 1
    if name != "transformer_layer":  # the dense layer runs torch's fused fast path, which the MAC counter misses
        assert m_ratio < 1
    if name in CONVNETS:  # inner layers lose in and out channels: between (1-r)^2 and (1-r), with slack
        assert 0.25 * 0.6 <= p_ratio <= 0.5 + 0.1, p_ratio
        assert 0.25 * 0.6 <= m_ratio <= 0.5 + 0.1, m_ratio
    st.save(pruned, tmp_path / "m")
    loaded = st.load(tmp_path / "m", trust_factory=True)  # the case table builds its nets by factory
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), out)


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "random"])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_every_importance_and_scope_keeps_the_invariant(importance, scope):
    model, x = _build("se_net")
    plan = _plan(model, x, ratio=0.4, importance=importance, scope=scope)
    reference = zero_plan(copy.deepcopy(model), plan)
    pruned = apply_plan(model, plan)
    torch.testing.assert_close(pruned(x), reference(x), atol=1e-4, rtol=1e-4)


def test_round_to_keeps_multiples():
    model, x = _build("resnet_cifar")
    widths0 = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st.prune(model, ChannelPrune(ratio=0.3, round_to=8), example_inputs=x)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)
    assert sum(c.out_channels for c in convs) < widths0
