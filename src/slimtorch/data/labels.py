"""Labels checked against the loss before training: a bad label is one line, not a crash mid-epoch."""

from __future__ import annotations

from typing import Any

import torch


def check_labels(y: torch.Tensor, loss: Any, name: str = "data") -> None:
    """Raise ValueError unless ``y`` suits ``loss``.

    ``cross_entropy`` needs integer class ids >= 0 (or rows of class probabilities); ``bce`` needs
    targets in [0, 1]; every loss needs finite targets. A callable loss is the caller's business.

    Args:
        y: the targets of a dataset (all rows).
        loss: a loss name of ``TrainConfig.loss`` or a callable.
        name: what to call the data in the message.

    Raises:
        ValueError: the first problem, naming a bad value and what is allowed.

    Example:
        >>> check_labels(torch.tensor([0, 2, 1]), "cross_entropy")
    """
    if callable(loss) or not isinstance(y, torch.Tensor) or y.numel() == 0:
        return
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name}: labels hold NaN or inf; allowed: finite values")
    if loss == "cross_entropy":
        _class_ids(y, name)
    elif loss == "bce" and (float(y.min()) < 0 or float(y.max()) > 1):
        raise ValueError(f"{name}: loss 'bce' needs targets in [0, 1], got values from {float(y.min()):g} "
                         f"to {float(y.max()):g}")


def _class_ids(y: torch.Tensor, name: str) -> None:
    if y.is_floating_point():
        if y.ndim == 2:  # rows of class probabilities are a valid cross_entropy target
            return
        frac = y[y != y.round()]
        example = float(frac[0]) if len(frac) else float(y.reshape(-1)[0])
        raise ValueError(f"{name}: loss 'cross_entropy' needs integer class ids 0, 1, ...; got label {example:g} "
                         "(for regression targets use loss 'mse')")
    low = int(y.min())
    if low < 0:
        raise ValueError(f"{name}: got label {low}; allowed: class ids 0, 1, ... (no negative labels)")


def num_classes(y: torch.Tensor) -> int | None:
    """The number of classes integer labels need (max id + 1), or None for other targets."""
    if y.is_floating_point() or y.ndim != 1 or not len(y):
        return None
    return int(y.max()) + 1
