"""``slimtorch run RECIPE [--set a.b=value ...] [--out DIR] [--quiet]``: run a recipe's stages."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a recipe (YAML or TOML) into a resumable run directory",
                       description="Run the stages of a recipe in order. A rerun skips stages whose config and "
                                   "input are unchanged and resumes an interrupted stage from its checkpoint.")
    p.add_argument("recipe", help="recipe file (.yaml, .yml or .toml)")
    add_run_options(p)
    return p


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``demo``."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a recipe field, value parsed as YAML: train.lr=0.05, stages[2].int8.calib_batches=8")
    p.add_argument("--out", default=None, help="run directory (default: the recipe's report.out or runs/NAME)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage log (the final table still prints)")
    p.add_argument("--trust-factory", action="store_true",
                   help="allow a model given as a factory ('package.module:function') in the recipe or in a saved "
                        "folder it loads: that imports and runs the named code (default: zoo models only)")


# what a run directory holds from its first moments (pipeline/runner.py, pipeline/lock.py)
RUN_MARKS = {"recipe.json", "state.json", "stages", ".slimtorch.lock"}


def check_run_options(args: argparse.Namespace) -> None:
    """``--out`` names a folder (or a path to create) that is empty or a run directory, checked before the
    recipe is read."""
    from . import UsageError
    from .outputs import refuse_empty, refuse_foreign

    refuse_empty(args.out, "--out")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out: {args.out} is a file; give a folder for the run (created if missing)")
    if args.out:  # a photo folder, a `train --out`: the run would litter it
        refuse_foreign(args.out, "--out", RUN_MARKS, "stages/, recipe.json, reports and model.onnx")


def run(args: argparse.Namespace) -> int:
    from ..recipe import run_recipe
    from . import UsageError

    if Path(args.recipe).is_dir():  # the library's "file not found" would mislead: it is there, as a folder
        raise UsageError(f"recipe: {args.recipe} is a folder; give a recipe file (.yaml, .yml or .toml)")
    check_run_options(args)
    run_recipe(args.recipe, out=args.out, overrides=args.overrides, quiet=args.quiet, trust_factory=args.trust_factory)
    return 0
