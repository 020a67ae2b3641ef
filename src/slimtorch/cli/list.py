"""``slimtorch list [NAME]``: the vocabulary (models, datasets, optimizers, schedules, losses, algorithms), or the
fields and defaults of one stage (``train`` included) or zoo model: what a recipe or ``--model-arg`` may set."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("list", help="list models, datasets, optimizers, schedules and algorithms",
                       description="Print every name the CLI, recipes and the Python API accept.")
    p.add_argument("name", nargs="?", default=None,
                   help="a stage (e.g. channel_prune, train) or zoo model: print its fields and defaults")
    return p


def sections() -> dict[str, list[str]]:
    """Section title -> names. Algorithm packages that are not part of this build are skipped."""
    from .. import data, models, registry
    from ..recipe import import_algorithms
    from ..training.config import LOSSES, OPTIMIZERS, SCHEDULES

    import_algorithms()  # importing the pillars registers their algorithm names
    out = {"models": models.names(), "datasets": data.names(), "optimizers": list(OPTIMIZERS),
           "schedules": list(SCHEDULES), "losses": list(LOSSES)}
    for kind in registry.kinds():
        out[f"algorithms ({kind})"] = registry.names(kind)
    return out


def fields(name: str) -> tuple[str, dict]:
    """What ``name`` is (a line) and its fields with their defaults: a stage's config, ``train``, or a zoo model.

    Raises:
        UsageError: ``name`` is none of them (with the close match).
    """
    import dataclasses

    from .. import models, registry
    from ..pipeline.recipe import close_match, stage_kind, train_config_class
    from ..recipe import import_algorithms
    from . import UsageError

    import_algorithms()
    stages = sorted(set(registry.names()) | {"train"})
    if name in stages:
        cls = train_config_class() if name == "train" else registry.config_class(name)
        defaults = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                defaults[f.name] = f.default_factory()
            else:
                defaults[f.name] = "(required)"
        what = "the train: section and train stages" if name == "train" else f"{stage_kind(name)} stage"
        return f"{name} ({what}; recipe: - {name}: {{FIELD: VALUE}})", defaults
    if name in models.names():
        return (f"{name} (zoo model; --model-arg KEY=VALUE, recipe model: {{name: {name}, KEY: VALUE}})",
                models.signature(name))
    allowed = [*stages, *models.names()]
    raise UsageError(f"list: unknown name {name!r}{close_match(name, allowed)}; allowed: {', '.join(allowed)}")


def run(args: argparse.Namespace) -> int:
    if args.name is not None:
        title, defaults = fields(args.name)
        print(title)
        for key, value in defaults.items():
            print(f"  {key}: {list(value) if isinstance(value, tuple) else value!r}")
        return 0
    for title, names in sections().items():
        print(f"{title}: {', '.join(names) if names else '(none)'}")
    return 0
