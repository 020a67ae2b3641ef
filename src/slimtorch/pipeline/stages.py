"""The stage table: for each kind of registered stage, how the pipeline applies it.

| kind      | applied with                                                | e.g.                            |
| --------- | ----------------------------------------------------------- | ------------------------------- |
| train     | ``st.fit(model, train, cfg, eval_data=test)``               | train                           |
| prune     | ``st.prune(model, cfg, example_inputs)`` (+ BN re-estimate) | channel_prune, magnitude_prune  |
| quantize  | ``st.quantize(model, cfg, calib_data=train)``               | int8                            |
| hook      | ``get_handler(cfg)(model, cfg, hctx)`` -> Hook, then fit    | distill, qat, gradual_prune     |
| transform | ``get_handler(cfg)(model, cfg, hctx)``                      | fold_bn                         |
| export    | ``st.export_onnx`` into the run directory                   | export_onnx                     |
| measure   | every model so far, side by side                            | measure                         |

The pipeline holds no algorithm: each pillar's own entry point does the work, and what a stage
gets (labelled batches, calibration data, the baseline model) is what its config class declares
(``needs_labels``, ``needs_calibration``, ``needs_baseline``; see :class:`slimtorch.config.Config`).

Devices (the run's data stays on the CPU): training stages run on ``train.device`` and leave their
model there; pruning traces on the model's device and quantizing calibrates a CPU copy (the verbs
move what they need, see :mod:`slimtorch.devices`); export and measure run CPU copies.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from ..devices import on_cpu
from ..registry import HandlerContext, get_handler
from .configs import register_pipeline_stages

register_pipeline_stages()


class ModelStore:
    """The models of a run by label: in memory when produced in this process, else loaded lazily."""

    def __init__(self) -> None:
        self._models: dict[str, nn.Module] = {}
        self.dirs: dict[str, Path] = {}
        self.hashes: dict[str, str] = {}
        self.order: list[str] = []

    def put(self, label: str, model: nn.Module | None, directory: Path | None, digest: str) -> None:
        if model is not None:
            self._models[label] = model
        if directory is not None:
            self.dirs[label] = directory
        self.hashes[label] = digest
        if label not in self.order:
            self.order.append(label)

    def get(self, label: str) -> nn.Module:
        if label not in self._models:
            from ..io import load

            self._models[label] = load(self.dirs[label])
        return self._models[label]

    def fresh(self, label: str) -> nn.Module:
        """A copy to transform in place, leaving the stored model as it was."""
        try:
            return copy.deepcopy(self.get(label))
        except Exception:  # some backends hold uncopyable handles (sessions): reload from disk instead
            from ..io import load

            return load(self.dirs[label])


@dataclass
class Context:
    """What every stage may use: data, example inputs, the run's models, where to write."""

    recipe: Any
    train_data: Any
    test_data: Any
    example_inputs: torch.Tensor  # a batch of real training inputs
    run_dir: Path
    quiet: bool
    store: ModelStore
    baseline: str  # label of the reference model (the first train stage's output, else the input)
    log: Callable[[str], None] = print
    stage_labels: dict[int, str] = field(default_factory=dict)  # stage index -> label of its output
    stage_inputs: dict[int, str] = field(default_factory=dict)  # stage index -> label of its input model


@dataclass
class Outcome:
    """A stage's result: the model to pass on, its training history, notes for the report."""

    model: nn.Module
    history: dict[str, list] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Applier(NamedTuple):
    run: Callable[[Any, nn.Module, Context, Path, bool], Outcome]
    mutates: bool  # transforms its input in place (gets a copy) and produces a new model to save


def history_dict(history: Any) -> dict[str, list]:
    """A JSON-safe dict of a History (NaN -> None)."""
    d = history.to_dict()
    return {k: [None if isinstance(v, float) and not math.isfinite(v) else v for v in vals]
            if isinstance(vals, list) else vals for k, vals in d.items()}


def _fit(stage: Any, model: nn.Module, ctx: Context, stage_dir: Path, resume: bool, hooks: list) -> Outcome:
    from ..training import fit

    cfg = stage.train.replace(out=str(stage_dir / "checkpoints"), resume=resume,
                              quiet=ctx.quiet or stage.train.quiet)
    history = fit(model, ctx.train_data, cfg, eval_data=ctx.test_data, hooks=hooks)
    return Outcome(history.model if history.model is not None else model, history_dict(history),
                   fit_info(history, resume))


def fit_info(history: Any, resume: bool) -> dict[str, Any]:
    """A training stage's notes: epochs run, resumed or not, the last eval accuracy (when there is one)."""
    info: dict[str, Any] = {"epochs": len(history), "resumed": resume}
    last = history.last().get("eval_accuracy")
    if last is not None and math.isfinite(last):
        info["eval_accuracy"] = round(last, 5)
    return info


def apply_train(stage, model, ctx, stage_dir, resume) -> Outcome:
    return _fit(stage, model, ctx, stage_dir, resume, hooks=[])


def labelled_batches(data: Any, rows: int = 512, batch_size: int = 128) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A few labelled (x, y) batches from the start of the training data (gradient-based scores)."""
    x, y = data.x, data.y
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, min(len(x), rows), batch_size)]


def handler_context(stage: Any, ctx: Context) -> HandlerContext:
    """What the stage's handler gets: example inputs, plus only what its config declares it needs."""
    cfg = stage.config
    return HandlerContext(example_inputs=ctx.example_inputs[:1],
                          calib_data=ctx.train_data if cfg.needs_calibration else None,
                          data=labelled_batches(ctx.train_data) if cfg.needs_labels else None,
                          baseline=ctx.store.get(ctx.baseline) if cfg.needs_baseline else None)


def apply_hook(stage, model, ctx, stage_dir, resume) -> Outcome:
    hook = get_handler(stage.config)(model, stage.config, handler_context(stage, ctx))
    if hasattr(hook, "drive"):  # the hook runs its own fits (distill: validation split, best epoch, comparison)
        return _driven(hook, stage, model, ctx, stage_dir, resume)
    return _fit(stage, model, ctx, stage_dir, resume, hooks=[hook])


def _driven(hook: Any, stage: Any, model: nn.Module, ctx: Context, stage_dir: Path, resume: bool) -> Outcome:
    from ..training import fit

    cfg = stage.train.replace(out=str(stage_dir / "checkpoints"), resume=resume, quiet=ctx.quiet or stage.train.quiet)
    model = hook.drive(model, ctx.train_data, cfg, fit, ctx.test_data)
    history = getattr(hook, "history", None)  # its last fit's
    info = fit_info(history, resume) if history is not None else {"resumed": resume}
    report = getattr(hook, "report", None)  # what it kept and why, for the run's metrics
    if report:
        info[stage.name] = report
    return Outcome(model, history_dict(history) if history is not None else None, info)


def apply_prune(stage, model, ctx, stage_dir, resume) -> Outcome:
    from ..api import prune

    before = sum(p.numel() for p in model.parameters())
    hctx = handler_context(stage, ctx)
    model = prune(model, stage.config, example_inputs=hctx.example_inputs, data=hctx.data, loss_fn=hctx.loss_fn,
                  calib_data=hctx.calib_data)  # ChannelPrune(reconstruct=True) solves on the training inputs
    from ..training.bn import has_bn, recalibrate_bn

    if has_bn(model) and stage.config.recalibrates_bn:  # removed channels leave BN statistics of the old mixture:
        recalibrate_bn(model, ctx.train_data, batches=20)  # re-estimated (unless the config says they stay)
    after = sum(p.numel() for p in model.parameters())
    return Outcome(model, info={"params_before": before, "params_after": after})


def apply_quantize(stage, model, ctx, stage_dir, resume) -> Outcome:
    from ..quantization import quantize

    model.eval()
    from ..quantization.backends.auto import deploy_batch_sizes
    from .measure import measured_batch_sizes

    with deploy_batch_sizes(measured_batch_sizes(ctx.recipe)):  # backend="auto" decides where the run measures
        qmodel = quantize(model, stage.config, calib_data=handler_context(stage, ctx).calib_data)
    info = {}
    for attr in ("backend", "backend_note", "backend_batches", "observer_note", "fallback_report"):  # engine, observer
        value = getattr(qmodel, attr, None)
        if value:
            info[attr] = value
    return Outcome(qmodel, info=info)


def apply_transform(stage, model, ctx, stage_dir, resume) -> Outcome:
    model.eval()
    out = get_handler(stage.config)(model, stage.config, handler_context(stage, ctx))
    return Outcome(out if isinstance(out, nn.Module) else model)


def apply_export(stage, model, ctx, stage_dir, resume) -> Outcome:
    from .measure import batch_of, onnx_runner

    path = ctx.run_dir / "model.onnx"
    model = on_cpu(model).eval()  # the check runs onnxruntime and the model side by side on the CPU
    x = batch_of(ctx.test_data.x if hasattr(ctx.test_data, "x") else ctx.example_inputs, stage.config.check_rows)
    runner = onnx_runner(model, x, path)
    info: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size}
    if stage.config.check:
        with torch.inference_mode():
            ref = model(x)
        got = torch.from_numpy(runner(x)[0])
        info["max_abs_diff"] = float((ref - got).abs().max())
        if ref.ndim == 2 and ref.shape[1] > 1:
            info["top1_agreement"] = float((ref.argmax(1) == got.argmax(1)).float().mean())
    return Outcome(model, info=info)


def apply_measure(stage, model, ctx, stage_dir, resume) -> Outcome:
    from .measure_stage import measure_run

    return Outcome(model, info={"measure": measure_run(stage.config, ctx, stage_dir)})


APPLIERS: dict[str, Applier] = {
    "train": Applier(apply_train, True),
    "hook": Applier(apply_hook, True),
    "prune": Applier(apply_prune, True),
    "quantize": Applier(apply_quantize, True),
    "transform": Applier(apply_transform, True),
    "export": Applier(apply_export, False),
    "measure": Applier(apply_measure, False),
}


def stage_inputs(stage: Any, current: str, ctx: Context) -> dict[str, str]:
    """Hashes of the models a stage reads (its key changes when any of them changes)."""
    if stage.kind == "measure":
        return {label: ctx.store.hashes[label] for label in ctx.store.order}
    inputs = {"model": ctx.store.hashes[current]}
    if stage.config.needs_baseline:
        inputs["baseline"] = ctx.store.hashes[ctx.baseline]
    return inputs
