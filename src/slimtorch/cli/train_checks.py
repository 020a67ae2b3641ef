"""What ``slimtorch train`` checks before it trains: the model against the data (shapes, classes), the
teacher against both, and the flags' values the data makes wrong; each mismatch is one line naming the flag."""

from __future__ import annotations

import argparse
from typing import Any


def class_advice(name: str, classes: int, outputs: int, kwargs: dict[str, Any]) -> str:
    """The flag that gives zoo model ``name`` ``classes`` outputs; with ``pretrained=true`` the shipped head
    keeps its ``outputs`` (num_classes cannot change with it), so a fresh model is the way."""
    from .. import models

    if kwargs.get("pretrained"):
        return (f"the shipped weights give {outputs} classes: give data of at most {outputs} classes, or drop "
                f"--model-arg pretrained=true and add --model-arg num_classes={classes} (trained from scratch)")
    if "num_classes" in models.signature(name):
        return f"add --model-arg num_classes={classes}"
    return f"its last width (--model-arg widths=[..., {classes}])"


def check_model_args(name: str, kwargs: dict[str, Any]) -> None:
    """``--model-arg`` values a zoo model's own checks let through, read off its signature: a size (an integer
    default: classes, channels, features, depth) must be >= 1 (num_classes=-3 failed inside torch), a pretrained
    flag true or false (the string 'ture' is truthy), and a tuple default (mlp widths) a list.

    Raises:
        UsageError: ``--model-arg: KEY=VALUE; allowed: ...``.
    """
    from .. import models
    from . import UsageError

    defaults = models.signature(name) if name in models.names() else {}
    for key, value in kwargs.items():
        default = defaults.get(key)
        allowed = None
        if isinstance(default, bool) or key == "pretrained":
            allowed = None if isinstance(value, bool) else "true or false"
        elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool) and value < 1:
            allowed = "an integer >= 1"
        elif isinstance(default, tuple) and not isinstance(value, (list, tuple)):
            allowed = "a list of sizes like [64, 128, 10]"
        if allowed:
            raise UsageError(f"--model-arg: {key}={value!r}; allowed: {allowed}")


def model_error(err: Any, name: str, kwargs: dict[str, Any] | None = None) -> Exception:
    """A recipe-worded ``model: ... set the model's number of classes to N`` as the flag that sets it here."""
    import re

    from .. import models
    from . import UsageError

    text = str(err).split(": ", 1)[-1]
    wanted = re.search(r"number of classes to (\d+)", text)
    if err.path != "model" or not wanted:
        return err
    outputs = re.search(r"gives (\d+) outputs", text)
    if "num_classes" in models.signature(name) or name == "mlp":
        text += f": {class_advice(name, int(wanted.group(1)), int(outputs.group(1)) if outputs else 0, kwargs or {})}"
    return UsageError(f"--model {name}: {text}")


def check_fits(model: Any, train: Any, args: argparse.Namespace, kwargs: dict[str, Any]) -> None:
    """A zoo model that cannot take the data's samples: one ``--data`` line with both shapes and the flags that
    fit them (``--model-arg in_channels=3 --data-option size=28``), not torch's words about its layers."""
    from .prune import ZOO_INPUTS
    from .shapes import check_inputs, zoo_fit_advice

    shape = None if kwargs else ZOO_INPUTS.get(args.model)  # given model arguments may change what it takes
    expected = [int(d) for d in shape.split(",")] if shape else None
    try:
        check_inputs(model.eval(), train.x[:1], "--data", expected, args.data, f"the zoo {args.model}'s input",
                     lambda err: zoo_fit_advice(args.model, expected, list(train.x.shape[1:]), args.data, err))
    finally:
        model.train()


def check_alpha(alpha: float | str, train: Any, data: str) -> None:
    """Unlabeled data leaves only the teacher to learn from: an alpha below 1 (0.9 by default) is refused
    naming the flag, before training (st.distill's own line names the config field)."""
    from ..distillation.validation import has_labels
    from . import UsageError

    if alpha != "auto" and alpha < 1 and not has_labels(train.y):
        raise UsageError(f"--alpha: got {alpha:g} but --data {data} has no labels (every row is -1); allowed: "
                         "--alpha 1 or --alpha auto (label-free distillation), or labelled data")


def check_teacher(hook: Any, model: Any, train: Any, options: dict[str, str]) -> None:
    """The teacher fits the data and the student (see :func:`check_teacher_fits`) and has the layers the feature
    pairs name, else one line before training; ``options``: the CLI's spelling of the distillation fields."""
    from ..config import ConfigError
    from ..distillation.teacher import check_feature_layers, check_teacher_fits
    from . import UsageError

    try:
        check_teacher_fits(hook.teacher, model, train.x[:2], hook.cfg.loss,
                           options["loss"], options["features"])
    except ConfigError as err:
        raise UsageError(f"--{err}") from None
    try:  # found only when distillation starts, after the student-alone comparison trained
        check_feature_layers(hook.cfg.features, model, hook.teacher, options["features"])
    except ConfigError as err:
        raise UsageError(str(err)) from None


def check_teacher_given(args: argparse.Namespace) -> None:
    """A distillation flag (``--temperature 2``) without ``--teacher`` would be silently ignored: one line."""
    import dataclasses

    from . import UsageError
    from .flags import _default

    flags = args._distill_flags
    defaults = {f.name: _default(f) for f in dataclasses.fields(flags.cls)}
    if args.distill_teacher:
        return
    for name, value in flags.values(args).items():
        if name != "teacher" and value != defaults.get(name):
            raise UsageError(f"{flags.options[name]}: a distillation flag, which needs --teacher PATH_OR_ZOO_NAME "
                             "(without it the model trains alone and the flag would be ignored)")


def check_train_flags_used(args: argparse.Namespace) -> None:
    """A training flag the chosen optimizer, schedule or loss never reads (``--milestones`` with the constant
    schedule, ``--momentum`` with adam) is one line: it would be silently ignored (training.unused knows which)."""
    from ..training.unused import ignored_settings
    from . import UsageError

    flags = args._train_flags
    found = ignored_settings(flags.values(args))
    if found:
        s = found[0]
        raise UsageError(f"{flags.options[s.name]}: only used by --{s.by} {' or '.join(s.readers)} (got {s.chosen}); "
                         f"leave it out or change --{s.by}")
