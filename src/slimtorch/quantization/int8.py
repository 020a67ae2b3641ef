"""The ``Int8`` config: static int8 quantization settings (applied by :func:`slimtorch.quantization.quantize`).

The config lives apart from its handler (ptq.py) because the per-layer sensitivity analysis, the
conversion and QAT read it too, and the handler uses the sensitivity analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config, ConfigError, check_choice, check_finite, check_range
from ..registry import register
from .backends import BACKEND_CHOICES
from .cpu import has_vnni
from .observers import OBSERVERS


@register("int8", kind="quantize")
@dataclass(frozen=True)
class Int8(Config):
    """Static int8 quantization: int8 symmetric weights, uint8 affine activations, fixed-point requantization.

    Args:
        per_channel: one weight scale per output channel (else one per tensor).
        observer: activation range observer: minmax, moving_average, percentile, mse, or auto (each of
            minmax/percentile/mse calibrated, the one whose int8 outputs are closest to the float model's kept;
            ``qm.observer_note`` says which).
        weight_observer: weight range observer (minmax or mse).
        percentile: clipping percentile of the "percentile" observer.
        calib_batches: number of calibration batches.
        backend: auto (fastest measured), torch (x86/fbgemm kernels), onnxruntime or integer (reference).
        weight_bits: weight code width 2..8 (stored in int8).
        reduce_range: avoid the int16 saturation of u8*s8 kernels on x86 CPUs without VNNI (their
            pairwise products overflow when both codes are full width): "weights" (7-bit weights),
            "activations" (7-bit activations), "none", or "auto" (weights on such CPUs, whatever the
            backend, so that a saved model runs correctly on every backend).
        max_accuracy_drop: accuracy budget (fraction, 0.001 = 0.1 point) on the calibration data (without
            labels: top-1 agreement with the float model); the most sensitive layers stay in float, with what
            follows them up to the next int8 layer, until it holds (a warning when even all of them do not).
            None: no check.
        ignore: layer names or regexes kept in float.
    """

    per_channel: bool = True
    observer: str = "minmax"
    weight_observer: str = "minmax"
    percentile: float = 99.99
    calib_batches: int = 16
    backend: str = "auto"
    weight_bits: int = 8
    reduce_range: str = "auto"
    max_accuracy_drop: float | None = None
    ignore: tuple[str, ...] = ()

    needs_calibration = True  # activation ranges are observed on calibration inputs
    terminal = True  # an int8 model: nothing but measuring and export may follow
    scans_sensitivity = True  # the measure stage's per-layer sensitivity scan is an analysis of this config

    def validate(self) -> None:
        check_choice("observer", self.observer, (*OBSERVERS, "auto"))
        check_choice("weight_observer", self.weight_observer, ("minmax", "mse"))
        check_range("percentile", self.percentile, 50, 100, hi_open=False)
        check_range("calib_batches", self.calib_batches, 1)
        check_choice("backend", self.backend, BACKEND_CHOICES)
        check_range("weight_bits", self.weight_bits, 2, 8)
        check_choice("reduce_range", self.reduce_range, ("auto", "none", "weights", "activations"))
        if self.max_accuracy_drop is not None:
            drop = self.max_accuracy_drop
            check_finite("max_accuracy_drop", drop)
            if isinstance(drop, (int, float)) and not isinstance(drop, bool) and drop > 1:  # written in points
                raise ConfigError("max_accuracy_drop", f"got {drop!r}; allowed range [0, 1]: a fraction (0.02 = 2 "
                                  "points; st.optimize's max_accuracy_drop is in points)")
            check_range("max_accuracy_drop", drop, 0, 1)
        for i, pat in enumerate(self.ignore):
            if not isinstance(pat, str):
                raise ConfigError(f"ignore[{i}]", f"must be a layer name or regex string, got {pat!r}")

    def preflight_fit(self, model: Any, inputs: Any) -> None:
        """The model traces into ops the int8 engine runs (checked on the run's input model: earlier stages change
        widths, not ops), so that a recipe fails before its first stage, not after training."""
        import copy

        from .fold import fold_batchnorm
        from .graph import lower

        try:
            lower(fold_batchnorm(copy.deepcopy(model).cpu().eval()))  # as convert.prepare_float
        except ValueError as err:
            raise ConfigError("", f"{err}; allowed: a torch.fx-traceable model of ops the int8 engine runs, or "
                                  "dynamic_int8 (int8 Linear layers, any model)") from None


def effective_reduce_range(cfg: Any) -> str:
    """The side that gives up a bit on this CPU ("none", "weights" or "activations"), ``"auto"`` resolved.

    Args:
        cfg: a config with a ``reduce_range`` field (``Int8``, ``DynamicInt8``).
    """
    if cfg.reduce_range != "auto":
        return cfg.reduce_range
    return "none" if has_vnni() else "weights"  # also for backend="integer": the model may move to ORT later


def weight_bits(cfg: Any) -> int:
    """The weight code width of ``cfg`` (``weight_bits``, ``reduce_range``): at most 7 when weights give up a bit."""
    return min(cfg.weight_bits, 7) if effective_reduce_range(cfg) == "weights" else cfg.weight_bits
