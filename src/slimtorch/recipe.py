"""Recipes: the parser is :mod:`slimtorch.pipeline.recipe`, ``run_recipe`` is in :mod:`slimtorch.pipeline.runner`.

This module keeps the ``slimtorch.recipe`` import path; it re-exports both and holds no code (its
``__getattr__`` only resolves the deprecated ``DataSpec``).
"""

from typing import Any

from .pipeline.recipe import (
    DataConfig,
    Recipe,
    ReportConfig,
    Stage,
    apply_override,
    import_algorithms,
    load_recipe,
    parse_model,
    parse_recipe,
    parse_scalar,
    read_recipe_file,
    renamed,
    stage_kind,
    train_config_class,
)
from .pipeline.runner import run_recipe

__all__ = ["DataConfig", "Recipe", "ReportConfig", "Stage", "apply_override", "import_algorithms", "load_recipe",
           "parse_model", "parse_recipe", "parse_scalar", "read_recipe_file", "run_recipe", "stage_kind",
           "train_config_class"]


def __getattr__(name: str) -> Any:
    """The deprecated ``DataSpec`` (warns; see :data:`slimtorch.pipeline.recipe.RENAMED`)."""
    return renamed(__name__, name)
