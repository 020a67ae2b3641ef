"""Command-line flags for distillation, shared by ``slimtorch train`` (``--teacher PATH_OR_ZOO_NAME``).

The ``train`` subcommand calls :func:`add_distill_arguments` on its parser and
:func:`distill_hook_from_args` on the parsed arguments; the hook is None when ``--teacher`` is absent.
"""

from __future__ import annotations

import argparse

from torch import nn

from .config import DistillConfig
from .distiller import Distill


def add_distill_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--teacher``, ``--temperature``, ``--alpha``, ``--distill-feature`` and ``--teacher-cache``."""
    d = DistillConfig()
    group = parser.add_argument_group("distillation")
    group.add_argument(
        "--teacher",
        default=None,
        metavar="PATH_OR_ZOO_NAME",
        help="distil from this teacher: a folder written by st.save or a zoo model with weights",
    )
    group.add_argument("--temperature", type=float, default=d.temperature, help="softening temperature T")
    group.add_argument("--alpha", type=float, default=d.alpha, help="weight of the teacher's term (task: 1 - alpha)")
    group.add_argument(
        "--distill-feature",
        action="append",
        default=[],
        metavar="STUDENT=TEACHER",
        help="add a hint loss between two layers (repeatable), e.g. features.3=features.3",
    )
    group.add_argument(
        "--teacher-cache", action="store_true", help="cache teacher outputs per row (fixed, unaugmented data only)"
    )


def distill_hook_from_args(args: argparse.Namespace, baseline: nn.Module | None = None) -> Distill | None:
    """The Distill hook the flags describe, or None without ``--teacher``.

    Raises:
        ConfigError: a bad value (the message names the field, e.g. ``alpha``).
        ValueError: a ``--distill-feature`` without ``=``.
    """
    if not getattr(args, "teacher", None):
        return None
    features = {}
    for pair in args.distill_feature:
        student, sep, teacher = pair.partition("=")
        if not sep or not student or not teacher:
            raise ValueError(f"--distill-feature {pair!r}: expected STUDENT_LAYER=TEACHER_LAYER")
        features[student] = teacher
    cfg = DistillConfig(
        teacher=args.teacher,
        temperature=args.temperature,
        alpha=args.alpha,
        features=features or None,
        cache=args.teacher_cache,
    )
    return cfg.build(baseline=baseline)
