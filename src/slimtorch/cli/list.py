"""``slimtorch list``: the vocabulary: models, datasets, optimizers, schedules, losses, algorithms."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return sub.add_parser("list", help="list models, datasets, optimizers, schedules and algorithms",
                          description="Print every name the CLI, recipes and the Python API accept.")


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


def run(args: argparse.Namespace) -> int:
    for title, names in sections().items():
        print(f"{title}: {', '.join(names) if names else '(none)'}")
    return 0
