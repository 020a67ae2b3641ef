"""Run a recipe's stages in order into a run directory, resumably.

Layout of a run directory::

    recipe.json                 the validated recipe (every field, defaults included)
    state.json                  per stage: key (hash of config + inputs), status, model hash
    stages/NN-NAME/             one saved model per stage (safetensors + JSON), trainer checkpoints
    metrics.json                every number of the run (histories, measurements, ratios)
    model.onnx                  the final model
    report.md, report.html, plots/*.png

Everything is validated before the first file is written. Files are written atomically and a
stage is recorded as done only after its model is saved, so Ctrl-C or SIGTERM at any moment
leaves every finished stage intact; the interrupted stage resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import io
from ..bench import report as reporting
from ..config import ConfigError
from ..training.errors import NonFiniteLossError
from .configs import MeasureConfig
from .lock import RunLock, clean_orphans
from .overrides import apply_override
from .prepare import prepare
from .recipe import Recipe, Stage, load_recipe, parse_recipe
from .resume import RunState, model_hash, stage_key, tensors_hash
from .stages import APPLIERS, Context, ModelStore, stage_inputs


@dataclass
class RunResult:
    """What :func:`run` returns: the run directory, all metrics and the final model."""

    out: Path
    metrics: dict[str, Any]
    model: nn.Module


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt for the duration, so both stop a run the same clean way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _labels(stages: list[Any]) -> dict[int, str]:
    counts: dict[str, int] = {}
    for s in stages:
        counts[s.name] = counts.get(s.name, 0) + 1
    return {s.index: s.name if counts[s.name] == 1 else f"{s.name}-{s.index}" for s in stages}


def with_measure(stages: tuple) -> list[Any]:
    """The recipe's stages, plus a default ``measure`` at the end when the recipe has none."""
    stages = list(stages)
    if not any(s.kind == "measure" for s in stages):
        stages.append(Stage(len(stages), "measure", "measure", MeasureConfig(), {}, None))
    return stages


def resolve_out(recipe: Any, out: str | Path | None) -> Path:
    run_dir = Path(out or recipe.report.out or Path("runs") / recipe.name)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError("out", f"{run_dir} exists and is not a directory")
    above = run_dir.absolute().parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():  # found before the run, not when its first file is written (a traceback then)
        raise ConfigError("out", f"cannot write {run_dir}: {above} is a file, not a folder")
    return run_dir


def run(recipe: Any, out: str | Path | None = None, quiet: bool = False, trust_factory: bool = False) -> RunResult:
    """Run ``recipe`` into ``out`` (default: ``report.out`` or ``runs/<recipe name>``).

    One process at a time owns a run directory (an exclusive lock); a second run on it is refused.
    A recipe whose model is a ``factory`` runs that code, so it needs ``trust_factory=True``; models
    loaded back from the run directory (or a teacher folder) are trusted to the same extent.

    Raises:
        ConfigError: a bad recipe, an untrusted factory, or a run directory in use (nothing written).
        KeyboardInterrupt: Ctrl-C / SIGTERM (finished stages kept; rerun to resume).
    """
    run_dir = resolve_out(recipe, out)
    factory = recipe.model.get("factory")
    if factory and not trust_factory:
        raise ConfigError("model.factory", f"{factory!r} would import and run that code; if you trust this recipe, "
                                           "rerun with --trust-factory (st.run_recipe(..., trust_factory=True))")
    with io.trusting(trust_factory):
        prep = prepare(recipe)  # all validation happens here, before any write (the lock is a write)
        with RunLock(run_dir):
            return _run(recipe, prep, run_dir, quiet)


def _run(recipe: Any, prep: Any, run_dir: Path, quiet: bool) -> RunResult:
    stages = with_measure(recipe.stages)
    labels = _labels(stages)
    baseline = next((labels[s.index] for s in stages if s.kind == "train"), "input")
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    store = ModelStore()
    store.put("input", prep.model, None, tensors_hash(prep.model))
    ctx = Context(recipe=recipe, train_data=prep.train_data, test_data=prep.test_data,
                  example_inputs=prep.example_inputs, run_dir=run_dir, quiet=quiet, store=store, baseline=baseline,
                  log=log, stage_labels=labels)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_orphans(run_dir)
    io.write_json(run_dir / "recipe.json", recipe.to_dict())
    state = RunState(run_dir)
    records: list[dict[str, Any]] = []
    current = "input"
    n, threads = len(stages), torch.get_num_threads()
    log(f"slimtorch run '{recipe.name}' -> {run_dir}  "
        f"({n} stage{'s' * (n != 1)}, {threads} thread{'s' * (threads != 1)})")
    if state.problem:  # shown even with quiet: finished stages are about to be redone
        print(f"slimtorch run: warning: {state.problem}", file=sys.stderr, flush=True)
    with interrupts_as_keyboard():
        for stage in stages:
            record = _run_stage(stage, current, ctx, state, len(stages))
            records.append(record)
            if record.get("saved"):
                current = record["label"]
        metrics = _metrics(recipe, stages, records, ctx, current)
        _final_onnx(ctx, current, records, metrics)
        io.write_json(run_dir / "metrics.json", metrics)
        reporting.write_report(run_dir, metrics, plots=recipe.report.plots)
    print(reporting.console_table(metrics), flush=True)
    log(f"report: {run_dir / 'report.html'}")
    ours = {f"{s.index:02d}-{s.name}" for s in stages}  # kept (never deleted: they may hold hours of training)
    left = sorted(d.name for d in (run_dir / "stages").iterdir() if d.is_dir() and d.name not in ours) if (
        run_dir / "stages").is_dir() else []
    if left:
        log(f"note: stages/{', stages/'.join(left)} {'is' if len(left) == 1 else 'are'} left from an earlier recipe "
            "in this folder, not this run's")
    return RunResult(run_dir, metrics, store.get(current))


_NOT_KEYED = ("quiet", "out", "resume")  # how a stage reports and where it checkpoints, not what it computes


def _keyed(stage: Any) -> dict[str, Any]:
    """The stage's config as it enters its key: everything but the fields that do not change results."""
    d = stage.to_dict()
    if stage.train is not None:
        d["train"] = {k: v for k, v in stage.train.to_dict().items() if k not in _NOT_KEYED}
        d[stage.name] = {k: v for k, v in d[stage.name].items() if k not in _NOT_KEYED or stage.kind != "train"}
        d.pop("fit", None)  # already folded into d["train"]
    return d


def _run_stage(stage: Any, current: str, ctx: Context, state: RunState, total: int) -> dict[str, Any]:
    label = ctx.stage_labels[stage.index]
    folder = f"{stage.index:02d}-{stage.name}"
    stage_dir = ctx.run_dir / "stages" / folder
    applier = APPLIERS[stage.kind]
    ctx.stage_inputs[stage.index] = current
    key = stage_key(_keyed(stage), stage_inputs(stage, current, ctx), {"data": ctx.recipe.data.to_dict()})
    head = f"[{stage.index + 1}/{total}] {label}"
    done = state.finished(folder, key, stage_dir)
    if done is not None:
        if done.get("saved"):
            ctx.store.put(label, None, stage_dir, done["model_hash"])
        ctx.log(f"{head}: unchanged, skipped")
        return {**done, "label": label, "skipped": True}
    resume = state.resumable(folder, key)
    if not resume and stage_dir.exists():
        shutil.rmtree(stage_dir)  # a changed stage starts clean: no stale checkpoint may leak into it
    state.start(folder, key)
    ctx.log(f"{head}: {'resuming' if resume else 'running'} ({stage.kind})")
    model = ctx.store.fresh(current) if applier.mutates else ctx.store.get(current)
    t0 = time.perf_counter()
    try:
        outcome = applier.run(stage, model, ctx, stage_dir, resume)
    except NonFiniteLossError as err:  # the CLI prints it as one line: say which stage diverged
        err.stage = f"'{label}' ({stage.index + 1}/{total})"
        raise
    seconds = time.perf_counter() - t0
    record: dict[str, Any] = {"label": label, "index": stage.index, "name": stage.name, "kind": stage.kind,
                              "seconds": round(seconds, 3), "history": outcome.history, "info": outcome.info,
                              "saved": applier.mutates}
    if applier.mutates:
        io.save(outcome.model, stage_dir, extra={"stage": label, "input_shape": list(ctx.example_inputs.shape[1:]),
                                                 "classes": _classes(ctx)})
        record["model_hash"] = model_hash(stage_dir)
        ctx.store.put(label, outcome.model, stage_dir, record["model_hash"])
    state.finish(folder, key, record)
    ctx.log(f"{head}: done in {seconds:.1f}s")
    return {**record, "skipped": False}


def _final(measure: dict[str, Any] | None, baseline: str, final: str) -> dict[str, Any]:
    """The headline: the final model vs the baseline. Its accuracy is the one of the backend that is
    fastest at the largest batch (an int8 model's backends differ in arithmetic)."""
    rows = {r["label"]: r for r in (measure or {}).get("rows", [])}
    if final not in rows or baseline not in rows:
        return {"label": final}
    f, b = rows[final], rows[baseline]
    batch = str((measure or {}).get("batch_sizes", [""])[-1])
    backend = ((f.get("best") or {}).get(batch) or {}).get("backend")
    acc = (f.get("backend_accuracy") or {}).get(backend, f.get("accuracy"))
    drop = None
    if acc is not None and b.get("accuracy") is not None:
        drop = round(100 * (b["accuracy"] - acc), 3)
    return {"label": final, "speedup": f.get("speedup"), "size_ratio": f.get("size_ratio"), "accuracy": acc,
            "accuracy_backend": backend, "accuracy_drop": drop,
            "best_backend": {k: v["backend"] for k, v in (f.get("best") or {}).items()}}


def _classes(ctx: Context) -> list[str] | None:
    """Names of the class ids when the data's labels were strings (a CSV column of names), else None."""
    classes = getattr(ctx.train_data, "classes", None)
    return list(classes) if classes else None


def _metrics(recipe: Any, stages: list, records: list, ctx: Context, final: str) -> dict[str, Any]:
    measures = [r["info"]["measure"] for r in records if r.get("kind") == "measure" and "measure" in r.get("info", {})]
    measure = measures[-1] if measures else None
    stage_records = []
    for r in records:
        info = {k: v for k, v in (r.get("info") or {}).items() if k != "measure"}
        stage_records.append({**{k: v for k, v in r.items() if k not in ("info", "status", "key")}, "info": info})
    return {"format": "slimtorch-metrics", "version": 1, "title": recipe.report.title, "name": recipe.name,
            "recipe": recipe.to_dict(), "baseline": ctx.baseline, "final_stage": final, "stages": stage_records,
            "measure": measure, "final": _final(measure, ctx.baseline, final), "classes": _classes(ctx),
            "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                            "python": platform.python_version(), "machine": platform.machine()}}


def _final_onnx(ctx: Context, final: str, records: list, metrics: dict[str, Any]) -> None:
    """Write ``model.onnx`` for the final model unless an export stage already did for that model."""
    exported = [r for r in records if r.get("kind") == "export"]
    path = ctx.run_dir / "model.onnx"
    if exported and path.exists() and ctx.stage_inputs.get(exported[-1]["index"]) == final:
        return
    from .measure import onnx_runner

    try:
        onnx_runner(ctx.store.get(final), ctx.example_inputs, path)
    except Exception as err:  # a model that cannot export still has its run, report and saved stages
        metrics["onnx_error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ctx.log(f"warning: could not export the final model to ONNX ({metrics['onnx_error']})")


def run_recipe(path_or_recipe: str | os.PathLike | Recipe, out: str | os.PathLike | None = None,
               overrides: Iterable[str] = (), quiet: bool = False, trust_factory: bool = False):
    """Run a recipe's stages in order into a run directory (resumable); see :mod:`slimtorch.pipeline`.

    Args:
        path_or_recipe: a .yaml/.toml recipe file or a parsed :class:`Recipe`.
        out: the run directory (default: ``report.out`` or ``runs/<recipe name>``).
        overrides: ``"a.b=value"`` strings (``--set``), applied before validation.
        quiet: no progress lines (the final table is still printed).
        trust_factory: allow a recipe whose model is a ``factory`` (it imports and runs that code)
            and saved teachers/stages built by one; by default only zoo models are built or loaded.

    Returns:
        A :class:`slimtorch.pipeline.RunResult` (run directory, metrics, final model).

    Raises:
        ConfigError: a bad recipe or override (nothing written).

    Example:
        >>> result = st.run_recipe("recipes/mnist-demo.yaml", overrides=["train.epochs=1"])  # doctest: +SKIP
    """
    if isinstance(path_or_recipe, Recipe):
        recipe = path_or_recipe
        if overrides:
            recipe = parse_recipe(_apply_all(recipe.to_dict(), overrides), name=recipe.name)
    else:
        recipe = load_recipe(path_or_recipe, overrides)
    return run(recipe, out=out, quiet=quiet, trust_factory=trust_factory)


def _apply_all(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    for expr in overrides:
        apply_override(raw, expr)
    return raw
