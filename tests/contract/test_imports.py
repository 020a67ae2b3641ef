"""Gate: no import cycles between source files, and the pillars stay independent.

Every ``import`` / ``from ... import`` statement counts, including the lazy ones inside functions: a
lazy import hides a cycle from Python, not from a reader. Importing ``a.b.c`` also runs ``a.b``'s
``__init__``, so that package counts as imported too (unless the importer lives inside it). Plug-in
discovery by name (``importlib.import_module("slimtorch.models")`` in io, so that the zoo and the
transforms register themselves) is not an import statement and is not a dependency: the plug-ins
import io, never the reverse. A pillar (training, pruning, quantization,
distillation, compression) imports the foundation (config, registry, hooks, io, data, models, bench, ...) but never
another pillar, the pipeline (``pipeline/``, ``recipe.py``) or the CLI.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import torch

SRC = Path(__file__).resolve().parents[2] / "src"
PILLARS = ("training", "pruning", "quantization", "distillation", "compression")
UPPER = ("pipeline", "recipe", "cli", "api")  # what the pillars are composed by, never what they use
# (importer, imported) pairs a pillar may use although both are pillars or upper layers, each with why.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The slimtorch modules that ``name`` imports anywhere in its file (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the submodule pkg.sub when there is one, else a name of pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.c`` of a name: the deepest module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
                found.update(_enclosing_packages(target, name, known))
    return found


def _enclosing_packages(target: str, importer: str, known: set[str]) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` runs, except those the importer is inside."""
    parts = target.split(".")
    inside = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
    return {p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in known and p not in inside}


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def area(module: str) -> str:
    """The top-level area of a module: ``slimtorch.pruning.graph`` -> ``pruning``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def boundary_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, targets in graph.items():
        home = area(importer)
        if home not in PILLARS:
            continue
        for target in targets:
            there = area(target)
            crosses = there != home and (there in PILLARS or there in UPPER)
            if crosses and (home, there) not in ALLOWED:
                bad.append(f"{importer} -> {target}")
    return sorted(bad)


def test_graph_sees_lazy_relative_and_package_imports():
    graph = import_graph()
    assert "slimtorch.config" in graph["slimtorch.registry"]  # ``from .config import ...`` at the top
    assert "slimtorch.quantization.backends.auto" in graph["slimtorch.quantization.ptq"]  # inside a function
    # ``from .pipeline.recipe import ...`` also runs slimtorch/pipeline/__init__.py
    assert {"slimtorch.pipeline.recipe", "slimtorch.pipeline"} <= graph["slimtorch.recipe"]
    assert "slimtorch.pipeline" not in graph["slimtorch.pipeline.runner"]  # its own package is already running
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (lazy imports count): " + "; ".join(" <-> ".join(c) for c in found)


def test_pillars_import_no_other_pillar_pipeline_or_cli():
    bad = boundary_violations(import_graph())
    assert not bad, ("a pillar imports another pillar, the pipeline or the CLI (move the shared piece to a "
                     "neutral module): " + "; ".join(bad))


def test_io_knows_no_model_and_still_rebuilds_zoo_models():
    """The zoo registers its builder with io (io imports no model file), and io rebuilds zoo models."""
    from slimtorch.io import build_from_spec

    assert not {t for t in import_graph()["slimtorch.io"] if t.startswith("slimtorch.models")}
    model = build_from_spec({"name": "mlp", "kwargs": {"widths": [3, 5, 2]}})
    assert model(torch.zeros(1, 3)).shape == (1, 2)


def test_run_recipe_lives_in_the_runner_and_keeps_its_old_paths():
    import slimtorch as st
    from slimtorch import recipe
    from slimtorch.pipeline import runner

    assert recipe.run_recipe is runner.run_recipe is st.run_recipe


def test_compression_verbs_live_in_api_and_prunable_keeps_its_old_path():
    """st.share_weights / st.pack resolve through api like the other verbs; the shared layer helper moved
    to the neutral slimtorch.layers (compression is a pillar) and pruning.masks still exports it."""
    import slimtorch as st
    from slimtorch import api, compression, layers
    from slimtorch.pruning import masks

    assert st.share_weights is api.share_weights is compression.share_weights
    assert st.pack is api.pack is compression.pack and st.ShareWeights is compression.ShareWeights
    assert {"pack", "share_weights"} <= set(api.__all__)
    assert masks.prunable is layers.prunable
    assert not {t for t in import_graph()["slimtorch.compression.sharing"] if area(t) == "pruning"}
