"""Task losses by name, and a sync-free count of correct predictions for the train accuracy."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_loss(loss: str | LossFn, label_smoothing: float = 0.0) -> LossFn:
    """``loss(outputs, targets) -> mean loss`` for a name or a callable.

    ``cross_entropy`` takes logits and integer classes (or class probabilities); ``bce`` takes
    logits and 0/1 targets of the same shape (``binary_cross_entropy_with_logits``, numerically
    stable); ``mse`` compares outputs and targets of the same shape. A callable is used as is.
    """
    if callable(loss):
        return loss
    if loss == "cross_entropy":
        return lambda out, y: F.cross_entropy(out, y, label_smoothing=label_smoothing)
    if loss == "bce":
        def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            y = y.reshape(out.shape).to(out.dtype)
            if label_smoothing:
                y = y * (1 - label_smoothing) + 0.5 * label_smoothing
            return F.binary_cross_entropy_with_logits(out, y)
        return bce
    if loss == "mse":
        return lambda out, y: F.mse_loss(out, y.reshape(out.shape).to(out.dtype))
    raise ValueError(f"loss: got {loss!r}; allowed: 'cross_entropy', 'bce', 'mse' or a callable")


def count_correct(loss: str | LossFn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Correct predictions in a batch as a 0-dim tensor (no host sync), or None when the loss has
    no notion of accuracy (callables, mse on several outputs)."""
    if loss == "cross_entropy":
        pred = out.argmax(-1)
        return (pred == (y.argmax(-1) if y.is_floating_point() else y)).sum()
    if loss == "bce":
        return ((out > 0).reshape(y.shape) == (y > 0.5)).reshape(len(y), -1).all(1).sum()
    if loss == "mse" and out.ndim == 2 and out.shape[1] == 1:  # one sigmoid output: a binary decision
        return ((out > 0.5).reshape(y.shape) == (y > 0.5)).reshape(len(y), -1).all(1).sum()
    return None


def eval_loss_fn(loss: str | LossFn) -> LossFn:
    """The loss used for evaluation: the task loss without label smoothing."""
    return make_loss(loss, 0.0)
