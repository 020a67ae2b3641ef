"""``slimtorch demo [--out DIR] [--quiet]``: the shipped MNIST recipe, end to end.

LeNet-5 on MNIST -> remove 50% of channels -> distill from the baseline -> int8 -> ONNX ->
measure every stage, with the report in the run directory.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from .run import add_run_options, check_run_options

DEMO = "mnist-demo.yaml"


def demo_recipe() -> Path:
    """Path of the demo recipe shipped inside the package (works from an installed wheel too)."""
    return Path(str(resources.files("slimtorch") / "recipes" / DEMO))


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="train, prune, distill, quantize, export and measure LeNet-5 on MNIST",
                       description=f"Run the shipped recipe {DEMO} (see it with: slimtorch demo --show).")
    add_run_options(p)
    p.add_argument("--show", action="store_true", help="print the recipe and exit")
    return p


def run(args: argparse.Namespace) -> int:
    from ..recipe import run_recipe

    path = demo_recipe()
    if args.show:
        print(path.read_text(), end="")
        return 0
    check_run_options(args)
    run_recipe(path, out=args.out, overrides=args.overrides, quiet=args.quiet, trust_factory=args.trust_factory)
    return 0
