"""Resolve a teacher named in a recipe or on the command line into a frozen model."""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from ..config import ConfigError


def resolve_teacher(teacher: str | nn.Module, baseline: nn.Module | None = None) -> nn.Module:
    """Return the teacher model, in eval mode, with gradients off.

    Args:
        teacher: a model; "baseline" (the pipeline's trained model before compression); a folder
            written by ``st.save``; or a zoo name with shipped weights (e.g. "mnist_cnn").
        baseline: the model "baseline" refers to. It is deep-copied, so training the student (which
            may be the same object, compressed in place later) never touches the teacher.

    Returns:
        The teacher module.

    Raises:
        ConfigError: the name is none of the above (field ``teacher``).
    """
    if isinstance(teacher, nn.Module):
        model = teacher
    elif teacher == "baseline":
        if baseline is None:
            raise ConfigError("teacher", "'baseline' needs the pipeline's trained model; none was given")
        model = copy.deepcopy(baseline)
    elif Path(teacher).is_dir():
        from ..io import load

        model = load(teacher)
    else:
        model = _from_zoo(teacher)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _from_zoo(name: str) -> nn.Module:
    try:
        from .. import models
    except ImportError:
        raise ConfigError("teacher", f"{name!r} is not a saved model folder and the model zoo is unavailable") from None
    known = models.names()
    if name not in known:
        raise ConfigError(
            "teacher",
            f"got {name!r}; allowed: 'baseline', a folder written by st.save, or a zoo "
            f"name with weights: {', '.join(known)}",
        )
    if "pretrained" not in models.signature(name):
        raise ConfigError(
            "teacher",
            f"zoo model {name!r} has no pretrained weights; an untrained teacher teaches nothing. "
            "Train it and pass its st.save folder (or 'baseline' in a recipe) instead",
        )
    return models.build(name, pretrained=True)
