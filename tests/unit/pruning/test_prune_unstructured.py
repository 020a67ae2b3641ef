"""Unstructured sparsity: exact magnitude masks, N:M blocks, zeros that survive training, compact saving."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import saved_bytes
from slimtorch.config import ConfigError
from slimtorch.hooks import State
from slimtorch.pruning import KeepMasks, MagnitudePrune, NMPrune
from slimtorch.pruning.masks import prunable
from slimtorch.pruning.nm import blocks


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))


def test_layer_scope_zeros_exactly_the_smallest_weights_of_each_layer():
    model = _net()
    before = {n: p.detach().clone() for n, p in prunable(model).items()}
    st.prune(model, MagnitudePrune(sparsity=0.75))
    for name, p in prunable(model).items():
        w0 = before[name]
        k = math.floor(0.75 * w0.numel())
        assert int((p == 0).sum()) == k
        threshold = w0.abs().reshape(-1).sort().values[k - 1]
        assert torch.all(p[w0.abs() > threshold] == w0[w0.abs() > threshold])  # the rest is untouched


def test_global_scope_uses_one_threshold():
    model = _net()
    all_w = torch.cat([p.detach().abs().reshape(-1) for p in prunable(model).values()])
    k = math.floor(0.6 * all_w.numel())
    threshold = all_w.sort().values[k - 1]
    st.prune(model, MagnitudePrune(sparsity=0.6, scope="global"))
    zeros = sum(int((p == 0).sum()) for p in prunable(model).values())
    assert zeros == k
    for p in prunable(model).values():
        assert torch.all(p[p != 0].abs() >= threshold)
    per_layer = [float((p == 0).float().mean()) for p in prunable(model).values()]
    assert max(per_layer) - min(per_layer) > 0.01  # layers end up with different sparsities


def test_ignore_and_plain_modules_after_pruning():
    model = _net()
    st.prune(model, MagnitudePrune(sparsity=0.5, ignore=["4"]))
    assert int((model[4].weight == 0).sum()) == 0
    keys = set(model.state_dict())
    assert not any("orig" in k or "mask" in k for k in keys)
    assert all(type(m) in (nn.Linear, nn.ReLU, nn.Sequential) for m in model.modules())


def test_sparsity_shows_in_the_per_layer_table():
    model = _net()
    st.prune(model, MagnitudePrune(sparsity=0.5))
    rows = {r["name"]: r for r in st.bench.per_layer(model)}
    assert rows["0"]["sparsity"] == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_masks_stay_zero_through_training_steps(optimizer):
    model = _net()
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        if optimizer == "sgd_momentum"
        else torch.optim.Adam(model.parameters(), lr=0.01)
    )
    x, y = torch.randn(32, 20), torch.randint(0, 4, (32,))
    for _ in range(3):  # momentum built up on every weight before pruning
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    st.prune(model, MagnitudePrune(sparsity=0.8))
    zeros = {n: p == 0 for n, p in prunable(model).items()}
    hook, state = KeepMasks(), State(model=model, optimizer=opt)
    hook.on_fit_start(state)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        hook.after_backward(state)
        opt.step()
        hook.on_step_end(state)
        for n, p in prunable(model).items():
            assert torch.all(p[zeros[n]] == 0)
    hook.finalize(state)
    assert sum(int((~z).sum()) for z in zeros.values()) > 0


def test_nm_pattern_holds_in_every_block():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4, 8))
    dense = {n: p.detach().clone() for n, p in prunable(model).items()}
    st.prune(model, NMPrune(n=2, m=4))
    for name, p in prunable(model).items():
        b, b0 = blocks(p.detach(), 4), blocks(dense[name], 4)
        assert torch.all((b != 0).sum(-1) == 2)
        kept_min = torch.where(b != 0, b0.abs(), torch.full_like(b0, math.inf)).min(-1).values
        dropped_max = torch.where(b == 0, b0.abs(), torch.zeros_like(b0)).max(-1).values
        assert torch.all(kept_min >= dropped_max)  # the two largest of each block are the ones kept


def test_nm_skips_layers_that_do_not_divide_with_a_warning():
    model = nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 2))
    with pytest.warns(UserWarning, match="'0.weight'.*not a multiple of m=4"):
        st.prune(model, NMPrune())
    assert int((model[0].weight == 0).sum()) == 0 and int((model[1].weight == 0).sum()) == 8


def test_bytes_on_disk_fall_with_sparsity_and_load_is_identical(tmp_path):
    model = st.models.build("lenet300")
    dense_bytes = saved_bytes(model)
    sizes = []
    for s in (0.5, 0.9):
        st.prune(model, MagnitudePrune(sparsity=s, scope="global"))
        sizes.append(saved_bytes(model))
        st.save(model, tmp_path / str(s))
        loaded = st.load(tmp_path / str(s))
        for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), k
    assert dense_bytes > sizes[0] > sizes[1]
    assert sizes[1] < 0.25 * dense_bytes  # 10% values + 1 bit per weight


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="sparsity"):
        MagnitudePrune(sparsity=1.0)
    with pytest.raises(ConfigError, match="scope"):
        MagnitudePrune(scope="model")
    with pytest.raises(ConfigError, match="n: got 5"):
        NMPrune(n=5, m=4)
