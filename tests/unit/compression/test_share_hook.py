"""The ShareWeights hook: a hand-computed centroid update, ties and zeros kept by st.fit, resume, config errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.compression import ShareWeights, ShareWeightsConfig, clusters
from slimtorch.config import ConfigError
from slimtorch.data.arrays import ArrayDataset
from slimtorch.hooks import State
from slimtorch.pruning.masks import prunable
from slimtorch.registry import get_handler


def test_centroid_moves_by_the_sum_of_its_members_gradients_by_hand():
    layer = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, 0.5, -0.25, 0.0]]))  # clusters a = 0.5 (x2), b = -0.25, one zero
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    hook, state = ShareWeights(bits=1), State(model=layer, optimizer=opt)
    hook.on_fit_start(state)
    layer(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()  # dL/dw = x = 1, 2, 3, 4
    hook.after_backward(state)
    opt.step()
    hook.on_step_end(state)
    # a <- 0.5 - 0.1 * (1 + 2) = 0.2 ; b <- -0.25 - 0.1 * 3 = -0.55 ; the zero gets no gradient
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[0.2, 0.2, -0.55, 0.0]]))
    torch.testing.assert_close(layer.weight.grad, torch.tensor([[3.0, 3.0, 3.0, 0.0]]))


def _task():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=g)
    x = (torch.randn(3, 6, generator=g) * 3)[y] + torch.randn(96, 6, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    st.prune(model, st.MagnitudePrune(sparsity=0.5))
    return ArrayDataset(x, y), model


def test_fit_with_adam_and_weight_decay_keeps_clusters_tied_and_zeros_zero():
    data, model = _task()
    masks = {n: p.detach() != 0 for n, p in prunable(model).items()}
    st.share_weights(model, bits=2)
    index0 = {n: clusters(p)[1] for n, p in prunable(model).items()}
    codebook0 = {n: clusters(p)[0] for n, p in prunable(model).items()}
    cfg = st.TrainConfig(epochs=2, batch_size=16, optimizer="adamw", lr=0.01, weight_decay=0.1, quiet=True)
    history = st.fit(model, data, cfg, hooks=[ShareWeights(bits=2)])
    assert history.to_dict()["loss"][-1] < history.to_dict()["loss"][0]
    for name, p in prunable(model).items():
        codebook, index = clusters(p)
        assert torch.equal(p.detach() != 0, masks[name])
        # the same members per cluster (values may change order): old cluster -> new cluster is one-to-one
        pairs = torch.unique(torch.stack([index0[name][masks[name]], index[masks[name]]]), dim=1)
        assert pairs.shape[1] == torch.unique(index0[name][masks[name]]).numel() == codebook.numel()
        assert not torch.allclose(codebook, codebook0[name])


def test_state_dict_restores_the_clusters_on_a_resumed_model():
    data, model = _task()
    hook = ShareWeights(bits=2)
    hook.on_fit_start(State(model=model))
    saved = hook.state_dict()
    fresh = ShareWeights(bits=2)
    fresh.on_fit_start(State(model=model))
    fresh.load_state_dict(saved)
    for name, (_, idx, _, k) in hook.groups.items():
        assert torch.equal(fresh.groups[name][1], idx) and fresh.groups[name][3] == k


def test_registered_as_a_hook_stage():
    cfg = ShareWeightsConfig.from_dict({"bits": 4, "epochs": 2})
    hook = get_handler(cfg)(nn.Linear(2, 2), cfg, None)
    assert isinstance(hook, ShareWeights) and hook.cfg.bits == 4


@pytest.mark.parametrize("fields, match", [({"bits": 0}, r"stage: bits: got 0; allowed: an integer in \[1, 8\]"),
                                            ({"init": "kmeans"}, "stage.init: got 'kmeans'"),
                                            ({"epochs": 0}, "stage.epochs: got 0"),
                                            ({"bits": {"fc1": 9}}, "bits.fc1: got 9")])
def test_config_errors_name_the_field(fields, match):
    with pytest.raises(ConfigError, match=match):
        ShareWeightsConfig.from_dict(fields, "stage")
