"""slimtorch: train PyTorch models well, then make them small and fast, and measure it.

Public API only. Names are resolved lazily so that ``import slimtorch`` stays fast and a
heavy optional backend (onnxruntime, transformers) is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _aliases

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # foundation
    "Config": "slimtorch.config",
    "ConfigError": "slimtorch.config",
    "register": "slimtorch.registry",
    "Hook": "slimtorch.hooks",
    "State": "slimtorch.hooks",
    "save": "slimtorch.api",
    "load": "slimtorch.api",
    "data": "slimtorch.data",
    "models": "slimtorch.models",
    # weight + training optimization
    "TrainConfig": "slimtorch.training",
    "History": "slimtorch.training",
    "fit": "slimtorch.api",
    "recalibrate_bn": "slimtorch.api",
    # measuring
    "measure": "slimtorch.api",
    "Report": "slimtorch.bench",
    # pruning
    "prune": "slimtorch.api",
    "MagnitudePrune": "slimtorch.pruning",
    "NMPrune": "slimtorch.pruning",
    "ChannelPrune": "slimtorch.pruning",
    "GradualPrune": "slimtorch.pruning",
    "IterativePrune": "slimtorch.pruning",
    "register_surgery": "slimtorch.pruning",
    "KeepMasks": "slimtorch.pruning",
    # quantization
    "quantize": "slimtorch.api",
    "Int8": "slimtorch.quantization",
    "QAT": "slimtorch.quantization",
    "DynamicInt8": "slimtorch.quantization",
    "fold_batchnorm": "slimtorch.quantization",
    "sensitivity": "slimtorch.quantization",
    "export_onnx": "slimtorch.api",
    # distillation
    "Distill": "slimtorch.distillation",
    "DistillConfig": "slimtorch.distillation",
    "kd_loss": "slimtorch.distillation",
    "distill": "slimtorch.api",
    "distill_report": "slimtorch.distillation",
    # compression (Deep Compression: weight sharing, packed format)
    "share_weights": "slimtorch.api",
    "ShareWeights": "slimtorch.compression",
    "pack": "slimtorch.api",
    # pipeline
    "run_recipe": "slimtorch.pipeline.runner",
    # search
    "optimize": "slimtorch.api",
}

__all__ = sorted(_EXPORTS)

_aliases.install()  # the first release's import paths (slimtorch.prune, .quant, ...) for one more release


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'slimtorch' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"slimtorch.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
