"""recalibrate_bn re-estimates running statistics exactly (cumulative average over batches)."""

import torch
from torch import nn

from slimtorch.data.arrays import ArrayDataset
from slimtorch.training import recalibrate_bn


def test_recalibrate_matches_batch_statistics_and_restores_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, momentum=0.3), nn.ReLU(), nn.Linear(5, 2))
    model[1].running_mean.fill_(7.0)  # stale statistics, as after pruning
    model[1].running_var.fill_(9.0)
    x = torch.randn(40, 3) * 2 + 1
    model.eval()
    recalibrate_bn(model, ArrayDataset(x, torch.zeros(40)), batches=4, batch_size=10)
    with torch.no_grad():
        h = model[0](x).reshape(4, 10, 5)  # the four batches, in dataset order
    torch.testing.assert_close(model[1].running_mean, h.mean(1).mean(0))
    torch.testing.assert_close(model[1].running_var, h.var(1, unbiased=True).mean(0))
    assert model[1].num_batches_tracked.item() == 4
    assert model[1].momentum == 0.3 and not model.training
    assert model[0].weight.grad is None


def test_only_first_batches_are_used_and_model_without_bn_is_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = torch.randn(30, 3)
    recalibrate_bn(model, ArrayDataset(x, torch.zeros(30)), batches=1, batch_size=10)
    with torch.no_grad():
        torch.testing.assert_close(model[1].running_mean, model[0](x[:10]).mean(0))
    plain = nn.Linear(3, 1)
    assert recalibrate_bn(plain, ArrayDataset(x, torch.zeros(30))) is plain
