"""Resolve a teacher named in a recipe or on the command line into a frozen model."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
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


def check_teacher_fits(teacher: nn.Module, student: nn.Module, x: torch.Tensor, loss: str,
                       loss_field: str = "loss", features_field: str = "features") -> None:
    """Check the teacher takes the student's inputs and, when an output loss compares them, gives outputs
    of the student's shape: a mismatch is one line before training, not a traceback from the loss.

    Args:
        teacher: the resolved teacher model.
        student: the model being trained.
        x: a couple of training inputs (the teacher and the student each run one forward pass on them).
        loss: the output loss ("none": outputs are never compared, so their shapes may differ).
        loss_field, features_field: how the caller spells those settings (recipe fields or CLI flags).

    Raises:
        ConfigError: field ``teacher``, naming the input shape or both output shapes.
    """
    was_training = student.training
    try:
        with torch.no_grad():
            t, s = teacher.eval()(x), student.eval()(x)
    except Exception as err:  # any failure here means teacher and data (or student) do not fit together
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError("teacher", f"rejects input of shape {list(x.shape[1:])} per sample ({first}); "
                          "give a teacher trained on this data") from None
    finally:
        student.train(was_training)
    if loss != "none" and isinstance(t, torch.Tensor) and isinstance(s, torch.Tensor) and t.shape != s.shape:
        raise ConfigError("teacher", f"gives outputs of shape {list(t.shape[1:])} per sample but the student "
                          f"{list(s.shape[1:])}; {loss_field} {loss} compares them (use {loss_field} none with "
                          f"{features_field} to distil features only)")


def check_feature_layers(features: dict[str, str] | None, student: nn.Module, teacher: nn.Module,
                         field: str = "features") -> None:
    """Every ``{student layer: teacher layer}`` pair of ``features`` names layers the two models have: a typo is
    one line before any training (the hooks would find it only when distillation starts).

    Raises:
        ConfigError: field ``field``, naming the missing layer and the layers there are.
    """
    for role, net, names in (("student", student, (features or {}).keys()),
                             ("teacher", teacher, (features or {}).values())):
        layers = dict(net.named_modules())
        for name in names:
            if name not in layers:
                raise ConfigError(field, f"the {role} has no layer {name!r}; its layers: "
                                         f"{', '.join(n for n in layers if n)[:300]}")
