"""The ``measure`` stage: every model of the run so far, measured together, plus int8 sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..compression.breakdown import saved_breakdown
from ..untrusted import ModelFileError
from .configs import MeasureConfig
from .measure import measure_models


def disk_bytes(directory: Path) -> int:
    """Bytes of a saved model on disk (weights + JSON)."""
    return sum((directory / f).stat().st_size for f in ("model.safetensors", "model.json") if (directory / f).exists())


def measured_labels(ctx: Any) -> list[str]:
    """The models to compare: every stage output; the untrained input only when it is the baseline."""
    return [label for label in ctx.store.order if label != "input" or ctx.baseline == "input"]


def measure_run(cfg: MeasureConfig, ctx: Any, stage_dir: Path) -> dict[str, Any]:
    """Measure all models so far against the baseline; returns the ``measure`` section of metrics."""
    labels = measured_labels(ctx)
    models = {label: ctx.store.get(label) for label in labels}
    sizes = {label: disk_bytes(ctx.store.dirs[label]) for label in labels if label in ctx.store.dirs}
    if not ctx.quiet:
        ctx.log(f"  measuring {len(models)} models on {', '.join(cfg.backends)} at batch "
                f"{', '.join(map(str, cfg.batch_sizes))} ({cfg.repeats} interleaved rounds)")
    result = measure_models(models, ctx.baseline, ctx.example_inputs,
                            eval_data=ctx.test_data if cfg.accuracy else None, batch_sizes=tuple(cfg.batch_sizes),
                            backends=tuple(cfg.backends), repeats=cfg.repeats, warmup=cfg.warmup,
                            work_dir=stage_dir / "onnx", disk_bytes=sizes)
    for row in result["rows"]:
        row["size_breakdown"] = size_breakdown(ctx.store.dirs.get(row["label"]))
    if cfg.sensitivity:
        result["sensitivity"] = quant_sensitivity(cfg, ctx)
    return result


def size_breakdown(directory: Path | None) -> dict[str, int] | None:
    """A stage's saved bytes by part (weights, masks, codebooks, indices, gaps, biases, metadata), or None
    when the stage saved no model folder that can be read."""
    if directory is None or not (directory / "model.safetensors").exists():
        return None
    try:
        return saved_breakdown(directory)
    except (ModelFileError, OSError, ValueError):  # a size chart is not worth failing a finished run for
        return None


def _first_quantize(ctx: Any) -> tuple[Any, str] | None:
    """The first stage whose config the sensitivity scan analyses (``scans_sensitivity``: static int8; a
    dynamic_int8 stage's config has no activation observer, its model need not trace) and its input label."""
    for stage in ctx.recipe.stages:
        if stage.config.scans_sensitivity and stage.index in ctx.stage_inputs:
            return stage, ctx.stage_inputs[stage.index]
    return None


def quant_sensitivity(cfg: MeasureConfig, ctx: Any) -> dict[str, Any] | None:
    """Per-layer sensitivity of the model entering the first static int8 stage (None without one)."""
    found = _first_quantize(ctx)
    if found is None:
        return None
    stage, label = found
    from ..quantization.sensitivity import sensitivity

    model: nn.Module = ctx.store.fresh(label).eval()
    data = ctx.test_data.subset(cfg.sensitivity_samples) if hasattr(ctx.test_data, "subset") else ctx.test_data
    rows = sensitivity(model, data, stage.config, batches=max(1, -(-cfg.sensitivity_samples // 256)))
    return {"stage": ctx.stage_labels.get(stage.index, stage.name), **_sensitivity_rows(rows)}


def _sensitivity_rows(rows: Any) -> dict[str, Any]:
    """Normalise quant.sensitivity's answer to {"metric", "layers": [{name, value}]}."""
    if isinstance(rows, dict) and "layers" in rows:
        rows = rows["layers"]
    if isinstance(rows, dict):
        rows = [{"layer": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in rows.items()]
    out, metric = [], "accuracy drop (points)"
    for r in rows:
        name = r.get("layer") or r.get("name")
        if r.get("accuracy_drop") is not None:
            value = 100 * r["accuracy_drop"]
        elif r.get("sqnr_db", r.get("sqnr")) is not None:
            value, metric = r.get("sqnr_db", r.get("sqnr")), "output SQNR (dB)"
        else:
            value = r.get("value")
        out.append({"name": name, "value": float(value)})
    return {"metric": metric, "layers": out}
