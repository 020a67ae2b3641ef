"""Accuracy and loss of a model on a dataset, the fast way for in-memory data."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.arrays import in_memory_tensors
from ..devices import device_of


def _batches(data: Dataset, batch_size: int):
    """Yield (x, y) batches; in-memory tensors are sliced directly (no per-sample Python calls)."""
    tensors = in_memory_tensors(data)
    if tensors is not None:
        x, y = tensors
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]
    else:
        yield from DataLoader(data, batch_size=batch_size, shuffle=False)


def _correct(out: torch.Tensor, y: torch.Tensor) -> int:
    """Count correct predictions: argmax for class logits, threshold 0.5 for a single output column
    (binary targets like XOR's float (N, 1) labels), exact match otherwise."""
    if out.ndim >= 2 and out.shape[-1] > 1 and (y.ndim == 1 or y.shape[-1] == 1) and not y.is_floating_point():
        return int((out.argmax(-1) == y.reshape(-1)).sum())
    if out.ndim >= 2 and out.shape[-1] > 1 and y.is_floating_point() and y.shape == out.shape:
        return int((out.argmax(-1) == y.argmax(-1)).sum())  # one-hot / soft targets
    # single output: probabilities or logits? sigmoid-range outputs use 0.5, raw logits use 0.
    pred = out.reshape(len(out), -1)
    target = y.reshape(len(y), -1).to(pred.dtype)
    threshold = 0.5 if float(pred.min()) >= 0.0 and float(pred.max()) <= 1.0 else 0.0
    return int(((pred > threshold).to(pred.dtype) == target).all(dim=1).sum())


def default_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer class targets, MSE otherwise (summed over the batch)."""
    if not y.is_floating_point() and out.ndim >= 2 and out.shape[-1] > 1:
        return nn.functional.cross_entropy(out, y.reshape(-1), reduction="sum")
    return nn.functional.mse_loss(out.reshape(y.shape).float(), y.float(), reduction="sum") / max(
        1, y[0].numel())


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, batch_size: int = 512,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Accuracy and mean loss of ``model`` on ``data`` in eval mode (training mode restored after).

    Args:
        model: any module whose forward takes the dataset's x and returns logits/outputs.
        data: an ArrayDataset or two-tensor TensorDataset (sliced directly), or any map-style Dataset of (x, y).
        batch_size: rows per forward pass.
        loss_fn: ``loss_fn(outputs, targets)`` returning a *mean* loss over the batch; default is
            cross-entropy for integer targets and MSE for float targets.

    Returns:
        ``{"accuracy": fraction correct in 0..1, "loss": mean loss per sample}``. Accuracy is the
        argmax match for class logits; for a single output column it thresholds at 0.5 when every
        output lies in [0, 1] (probabilities) and at 0 otherwise (logits).

    Raises:
        ValueError: ``data`` is empty or ``batch_size`` < 1.

    Example:
        >>> evaluate(model, test)["accuracy"]  # doctest: +SKIP
        0.991
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(data)
    if n == 0:
        raise ValueError("evaluate: the dataset is empty")
    was_training = model.training
    model.eval()
    device = device_of(model)
    correct, loss_sum, seen = 0, 0.0, 0
    try:
        for x, y in _batches(data, batch_size):
            x, y = x.to(device), y.to(device)
            out = model(x)
            if isinstance(out, (tuple, list)):
                out = out[0]
            out = out.float()
            correct += _correct(out, y)
            if loss_fn is None:
                loss_sum += float(default_loss(out, y))
            else:
                loss_sum += float(loss_fn(out, y)) * len(x)
            seen += len(x)
    finally:
        model.train(was_training)
    return {"accuracy": correct / seen, "loss": loss_sum / seen}
