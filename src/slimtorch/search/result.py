"""The result of ``st.optimize``: the chosen model, every candidate tried, and what reproduces the choice.

``write(out)`` puts in ``out``: ``model/`` (``st.save``), ``optimized.yaml`` (the recipe that rebuilds
the chosen model with ``slimtorch run``), ``candidates.json`` (every trial, the latency table's
prediction error, the rounding measurement, the sensitivities) and ``report.md`` / ``report.html``
(the candidates table and the accuracy-vs-latency / accuracy-vs-size Pareto plots), and ``model.onnx``
when an ONNX Runtime backend was the fastest (in the form that backend timed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import io
from .space import Group, Keep, Space
from .trial import Trial


def recipe_for(base: dict | None, model: nn.Module, fit_data: Any, train: Any, epochs: int, temperature: float,
               alpha: float) -> dict[str, Any]:
    """The recipe head (model, data, train, the stages that made the original) plus the recovery stage.

    The data section trains on the same first rows as the search (``train_subset``): the rows after them
    were the search's validation set.
    """
    base = dict(base or {})
    spec = io.get_spec(model) or {}
    data = dict(base.get("data") or {"name": getattr(fit_data, "name", "?").removesuffix("-train")})
    data["train_subset"] = len(fit_data)
    head = {"model": base.get("model") or {"name": spec.get("name", "?"), "kwargs": spec.get("kwargs", {})},
            "data": data, "train": base.get("train") or _changed(train), "stages": list(base.get("stages") or [])}
    recovery = []
    if epochs:
        recovery = [{"distill": {"teacher": "baseline", "temperature": temperature, "alpha": alpha, "epochs": epochs,
                                 "compare": False},  # each candidate was scored with KD alone: no comparison run
                     "fit": {"lr": train.lr}}]
    return {"head": head, "recovery": recovery}


def _with_epochs(stage: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """A recovery stage with the chosen candidate's own epochs (a near miss trained longer: ``longer``)."""
    if epochs is None or "distill" not in stage:
        return stage
    return {**stage, "distill": {**stage["distill"], "epochs": epochs}}


def _changed(cfg: Any) -> dict[str, Any]:
    """The fields of a config that differ from its defaults (a short recipe section)."""
    default = type(cfg)().to_dict()
    return {k: v for k, v in cfg.to_dict().items() if default.get(k) != v}


@dataclass
class OptimizeResult:
    """Everything ``st.optimize`` found (see the module docstring for what :meth:`write` writes)."""

    model: nn.Module
    baseline: Trial
    objective: str
    metric: str
    max_drop: float
    batch_size: int
    groups: list[Group]
    trials: list[Trial] = field(default_factory=list)
    chosen: Trial | None = None
    path: list[Keep] = field(default_factory=list)
    sensitivity: list[dict[int, float]] = field(default_factory=list)
    rounding: dict[str, Any] = field(default_factory=dict)
    table_error: dict[str, float] | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bn_recal: bool = True  # False: candidates kept the original's BatchNorm statistics (so does optimized.yaml)
    seconds: float = 0.0
    safety: float = 1.0  # standard errors of its validation drop a candidate had to clear (``margin``)
    test_kept: bool | None = None  # the chosen model keeps the budget on the test set (read once, after the choice)
    example: Any = field(default=None, repr=False)  # the batch the latency was timed on (for the ONNX export)

    @property
    def best(self) -> nn.Module:
        """The chosen model (the original when nothing kept the budget)."""
        return (self.chosen or self.baseline).model

    def stages(self) -> list[dict[str, Any]]:
        """The recipe stages that cut the original to the chosen widths and recover it."""
        chosen = self.chosen or self.baseline
        if chosen is self.baseline:
            return []
        keep_bn = {} if self.bn_recal else {"recalibrate_bn": False}
        cuts = [{"channel_prune": {"ratio": cfg.ratio, "ignore": list(cfg.ignore), **keep_bn}}
                for cfg in Space(self.groups, []).stages(chosen.keep)]
        recovery = [_with_epochs(st, chosen.epochs) for st in self.recipe.get("recovery", [])] if cuts else []
        share = []
        if chosen.share:
            fine = {"share_weights": {"bits": chosen.share["bits"], "epochs": chosen.share["epochs"]},
                    "fit": {"lr": chosen.share["lr"]}}
            share = [fine, {"pack": {}}]
        return cuts + recovery + ([{"int8": dict(chosen.int8)}] if chosen.int8 else []) + share

    def recipe_dict(self) -> dict[str, Any]:
        """``optimized.yaml``: the original's recipe + the chosen cuts + recovery + a measure stage."""
        head = dict(self.recipe.get("head", {}))
        stages = list(head.get("stages", [])) + self.stages()
        stages.append({"measure": {"batch_sizes": sorted({1, self.batch_size})}})
        return {**head, "stages": stages}

    def to_dict(self) -> dict[str, Any]:
        """JSON form (no model weights)."""
        chosen = self.chosen or self.baseline
        return {"objective": self.objective, "metric": self.metric, "max_drop": self.max_drop,
                "batch_size": self.batch_size,
                "groups": [{"layers": list(g.layers), "size": g.size} for g in self.groups],
                "baseline": self.baseline.to_dict(), "chosen": chosen.to_dict(),
                "trials": [t.to_dict() for t in self.trials], "path": [list(k) for k in self.path],
                "sensitivity": [{str(k): round(v, 3) for k, v in s.items()} for s in self.sensitivity],
                "rounding": self.rounding, "table_error": self.table_error, "notes": self.notes,
                "safety": self.safety, "test_kept": self.test_kept, "seconds": round(self.seconds, 1)}

    def summary(self) -> str:
        """A few lines: what was chosen, its speed and size against the original, and any notes."""
        c, b = self.chosen or self.baseline, self.baseline
        lines = [f"chosen: keep {list(c.keep)} of {list(b.keep)}; test {self.metric} {c.test:.2f} "
                 f"(original {b.test:.2f}, budget -{self.max_drop}: "
                 f"{'kept' if self.test_kept else 'MISSED' if self.test_kept is False else 'not checked'}; the search "
                 f"chose on validation: val {c.val:.2f} vs {b.val:.2f}, se {c.se:.2f}, safety {self.safety:g})",
                 f"latency @ batch {self.batch_size}: {c.best_ms:.3f} ms on {c.backend} = {c.speedup:.2f}x "
                 f"the original in torch eager fp32 ({c.baseline_ms:.3f} ms, same run); "
                 f"bytes {c.bytes:,} ({b.bytes / c.bytes:.2f}x smaller)",
                 f"{len(self.trials)} candidates tried in {self.seconds:.0f} s"]
        if self.rounding.get("layer"):
            lines.append(f"channel multiple measured on {b.backend}: {self.rounding['multiple']} (layer "
                         f"{self.rounding['layer']}: " + ", ".join(f"{w} ch {ms:.3f} ms" for w, ms in
                                                                   self.rounding["ms"].items()) + ")")
        if self.table_error:
            lines.append(f"latency table prediction error: mean {100 * self.table_error['mean']:.1f}%, "
                         f"worst {100 * self.table_error['max']:.1f}% over {self.table_error['candidates']} candidates")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write model/, optimized.yaml, candidates.json, report.md and report.html into ``out``."""
        import yaml

        from .report import render

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        # the input shape lets `slimtorch prune`/`bench` of model/ run without --input-shape
        shape = {"input_shape": list(self.example.shape[1:])} if isinstance(self.example, torch.Tensor) else None
        io.save(self.best, out / "model", extra=shape)
        written = {"model.onnx": self._onnx(out / "model.onnx")} if self.example is not None else {}
        text = yaml.safe_dump(self.recipe_dict(), sort_keys=False, default_flow_style=None)
        io.atomic_write(out / "optimized.yaml", lambda tmp: Path(tmp).write_text(text))
        io.write_json(out / "candidates.json", self.to_dict())
        md, html, plots = render(self)
        for name, png in plots.items():
            io.atomic_write(out / name, lambda tmp, png=png: Path(tmp).write_bytes(png))
        io.atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
        io.atomic_write(out / "report.html", lambda tmp: Path(tmp).write_text(html))
        return {"model": out / "model", "recipe": out / "optimized.yaml", "report": out / "report.html",
                **{k: v for k, v in written.items() if v is not None}}

    def _onnx(self, path: Path) -> Path | None:
        """The chosen model as ONNX, in the form its fastest backend ran (``onnxruntime-bc``: the batch-as-channels
        rewrite, verified); None when it ran fastest in torch eager."""
        from ..quantization.onnx_export import fp32_model
        from .batch_channels import verified

        chosen = self.chosen or self.baseline
        if not chosen.backend.startswith("onnxruntime"):
            return None
        proto = fp32_model(self.best, self.example[:1])
        fast = verified(proto, self.example) if chosen.backend == "onnxruntime-bc" else None
        data = (fast or proto).SerializeToString()
        io.atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        return path
