"""Re-estimate BatchNorm running statistics (needed after pruning or weight surgery)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from ..devices import device_of
from .batching import Batches, epoch_order


def has_bn(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer (whose statistics a cut leaves stale)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def recalibrate_bn(model: nn.Module, data: Dataset, batches: int = 50, batch_size: int = 128) -> nn.Module:
    """Reset every BatchNorm's running mean/var and re-estimate them from ``batches`` batches of ``data``.

    The statistics are a cumulative (equal-weight) average over the batches (``momentum=None``),
    computed by forward passes in train mode without gradients. Each module's momentum and the
    model's train/eval mode are restored afterwards; no parameter changes.

    Args:
        model: a model with BatchNorm layers (other models are returned unchanged).
        data: an ArrayDataset or map-style dataset of ``(x, y)``; its first rows in order are used.
        batches: how many batches to average over.
        batch_size: rows per batch.

    Returns:
        The same model.

    Example:
        >>> recalibrate_bn(pruned, train, batches=20)  # doctest: +SKIP
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return model
    device = device_of(model)  # the batches go where the model is
    momenta = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    try:
        feed = Batches(data, batch_size, device)
        for i, (_, x, _) in enumerate(feed.epoch(epoch_order(len(data), 0, 0, shuffle=False), in_order=True)):
            if i >= batches:
                break
            model(x)
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return model
