"""Configs of the stages the pipeline itself provides: ``measure`` and ``export_onnx``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..bench.limits import check_batch_sizes
from ..config import Config, ConfigError, check_range
from ..registry import names, register

MEASURE_BACKENDS = ("eager", "onnxruntime")  # where `measure` times a model (not int8 engines)


@dataclass(frozen=True)
class MeasureConfig(Config):
    """Measure every model of the run so far, side by side (accuracy, size, MACs, latency).

    Latency is timed interleaved across all models and backends, median of ``repeats`` rounds.
    ``sensitivity`` also quantizes one layer at a time (before the first quantize stage) and
    reports each layer's accuracy loss.
    """

    batch_sizes: tuple[int, ...] = (1, 64)
    backends: tuple[str, ...] = MEASURE_BACKENDS
    repeats: int = 20
    warmup: int = 3
    accuracy: bool = True
    sensitivity: bool = True
    sensitivity_samples: int = 1000  # test rows used per sensitivity evaluation

    def validate(self) -> None:
        if not self.batch_sizes:
            raise ConfigError("batch_sizes", "give at least one batch size, e.g. [1, 64]")
        for i, b in enumerate(self.batch_sizes):
            if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                raise ConfigError(f"batch_sizes[{i}]", f"got {b!r}; allowed: an integer >= 1")
        for i, b in enumerate(self.backends):
            if b not in MEASURE_BACKENDS:
                raise ConfigError(f"backends[{i}]", f"got {b!r}; allowed: {', '.join(MEASURE_BACKENDS)}")
        if "eager" not in self.backends:
            raise ConfigError("backends", "must include 'eager' (the torch fp32 baseline every ratio refers to)")
        check_range("repeats", self.repeats, 1)
        check_range("warmup", self.warmup, 0)
        check_range("sensitivity_samples", self.sensitivity_samples, 1)

    def preflight_fit(self, model: Any, inputs: Any) -> None:
        """The largest timed batch of the run's samples can be built (10^9 rows took the machine's memory)."""
        check_batch_sizes(self.batch_sizes, inputs.shape[1:])


@dataclass(frozen=True)
class ExportOnnxConfig(Config):
    """Export the current model to ``model.onnx`` in the run directory (int8 models as int8 ONNX).

    ``check`` runs the file in onnxruntime on a test batch and records the largest output
    difference and the top-1 agreement with the PyTorch model.
    """

    check: bool = True
    check_rows: int = 256

    def validate(self) -> None:
        check_range("check_rows", self.check_rows, 1)


def register_pipeline_stages() -> None:
    """Register ``measure`` and ``export_onnx`` unless a pillar already did."""
    if "measure" not in names():
        register("measure", kind="measure")(MeasureConfig)
    if "export_onnx" not in names():
        register("export_onnx", kind="export")(ExportOnnxConfig)
