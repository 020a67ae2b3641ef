"""Gate: the pipeline knows no algorithm by name.

The pipeline (``pipeline/`` and ``recipe.py``) runs stages by their *kind* and reads what a config
declares it needs (``needs_baseline``, ``needs_labels``, ``needs_calibration``, ``terminal``). It must
not name a registered algorithm (``"qat"``), an algorithm's config class (``ChannelPrune``), or read an
algorithm's own config field (``stage.config.importance``, ``getattr(cfg, "teacher")``).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from slimtorch import registry
from slimtorch.recipe import DataConfig, ReportConfig, import_algorithms
from slimtorch.training import TrainConfig

SRC = Path(__file__).resolve().parents[2] / "src" / "slimtorch"
PIPELINE_FILES = sorted((SRC / "pipeline").glob("*.py")) + [SRC / "recipe.py"]


def vocabulary() -> tuple[set[str], set[str], set[str]]:
    """(algorithm names, their config class names, config fields only algorithms have)."""
    import_algorithms()
    own = set(registry.names("measure") + registry.names("export"))  # the pipeline's own stages
    algos = {n: registry.config_class(n) for n in registry.names() if n not in own}
    pipeline_fields = {f.name for c in (TrainConfig, DataConfig, ReportConfig, *map(registry.config_class, own))
                       for f in dataclasses.fields(c)}
    fields = {f.name for c in algos.values() for f in dataclasses.fields(c)} - pipeline_fields
    return set(algos), {c.__name__ for c in algos.values()}, fields


def _config_of(node: ast.AST) -> bool:
    """Whether ``node`` is an expression like ``stage.config`` / ``cfg`` (a stage's config)."""
    return (isinstance(node, ast.Attribute) and node.attr == "config") or (
        isinstance(node, ast.Name) and node.id in ("cfg", "config"))


def offences(source: str, label: str, names: set[str], classes: set[str], fields: set[str]) -> list[str]:
    """Where ``source`` names an algorithm, its config class, or reads an algorithm-only config field."""
    out = []
    for node in ast.walk(ast.parse(source, label)):
        where = f"{label}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            out.append(f"{where} names the algorithm {node.value!r}")
        elif isinstance(node, (ast.Name, ast.alias)) and (getattr(node, "id", None) or node.name) in classes:
            out.append(f"{where} names the config class {getattr(node, 'id', None) or node.name}")
        elif isinstance(node, ast.Attribute) and node.attr in fields and _config_of(node.value):
            out.append(f"{where} reads the algorithm field .{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and _config_of(node.args[0]) and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in fields):
            out.append(f"{where} reads the algorithm field {node.args[1].value!r}")
    return out


def test_vocabulary_is_not_empty():
    names, classes, fields = vocabulary()
    assert {"channel_prune", "int8", "qat", "distill"} <= names
    assert {"ChannelPrune", "Int8", "QATConfig"} <= classes
    assert {"teacher", "importance"} <= fields


def test_checker_catches_what_the_pipeline_once_did():
    planted = ('if stage.name == "qat" or getattr(stage.config, "importance", None) == "taylor":\n'
               '    t = stage.config.teacher\n    c = ChannelPrune\n')
    found = sorted(o.split(" ", 1)[1] for o in offences(planted, "planted.py", *vocabulary()))
    assert found == ["names the algorithm 'qat'", "names the config class ChannelPrune",
                     "reads the algorithm field 'importance'", "reads the algorithm field .teacher"]


def test_pipeline_names_no_algorithm():
    vocab = vocabulary()
    found = [o for path in PIPELINE_FILES for o in offences(path.read_text(), str(path.relative_to(SRC)), *vocab)]
    assert not found, "the pipeline knows an algorithm (declare the need on the config instead): " + "; ".join(found)
