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


def check_outputs(out: torch.Tensor, y: torch.Tensor, loss: Any, name: str = "data") -> None:
    """Raise ValueError unless a model's outputs and the targets of the same rows have shapes ``loss`` can compare.

    ``mse`` and ``bce`` compare one output with one target (the targets are reshaped to the outputs);
    ``cross_entropy`` takes one output per class and a class id per row, or rows of class probabilities
    as wide as the outputs. A callable loss is the caller's business.

    Args:
        out: the model's outputs on a few rows.
        y: the targets of the same rows.
        loss: a loss name of ``TrainConfig.loss`` or a callable.
        name: what to call the data in the message.

    Raises:
        ValueError: naming both shapes per sample and the loss (or model width) that fits.

    Example:
        >>> check_outputs(torch.zeros(2, 1), torch.tensor([0, 1]), "bce")
    """
    if callable(loss) or not isinstance(out, torch.Tensor) or not isinstance(y, torch.Tensor) or not len(y):
        return
    per_out, per_y = out[0].numel(), y[0].numel()
    if loss in ("mse", "bce") and per_out != per_y:
        ids = "" if y.is_floating_point() or y.ndim != 1 else ", or use loss 'cross_entropy' for class ids"
        raise ValueError(f"loss {loss!r} needs one output per target, but the model gives {per_out} outputs "
                         f"per sample and {name} {per_y} target{'s' if per_y != 1 else ''}; give the model {per_y} "
                         f"output{'s' if per_y != 1 else ''}{ids}")
    if loss == "cross_entropy" and y.is_floating_point() and y.ndim == 2 and tuple(out.shape[1:]) != tuple(y.shape[1:]):
        raise ValueError(f"loss 'cross_entropy' with rows of class probabilities needs one output per "
                         f"class, but the model gives {list(out.shape[1:])} per sample and {name} "
                         f"{list(y.shape[1:])}; give the model {y.shape[1]} outputs (or use loss 'mse')")


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


def bad_class_id(y: torch.Tensor, classes: int | None = None) -> float | None:
    """The first label of ``y`` that is not a class id (fractional, negative, or ``classes`` or more), else None."""
    bad = y[(y != y.round()) | (y < 0) | (y >= classes if classes is not None else False)]
    return float(bad[0]) if len(bad) else None


def num_classes(y: torch.Tensor) -> int | None:
    """The number of classes integer labels need (max id + 1), or None for other targets."""
    if y.is_floating_point() or y.ndim != 1 or not len(y):
        return None
    return int(y.max()) + 1
