"""slimtorch: train PyTorch models well, then make them small and fast, and measure it.

Public API only. Names are resolved lazily so that ``import slimtorch`` stays fast and a
heavy optional backend (onnxruntime, transformers) is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # foundation
    "Config": "slimtorch.config",
    "ConfigError": "slimtorch.config",
    "register": "slimtorch.registry",
    "Hook": "slimtorch.hooks",
    "State": "slimtorch.hooks",
    "save": "slimtorch.io",
    "load": "slimtorch.io",
    "data": "slimtorch.data",
    "models": "slimtorch.models",
    # weight + training optimization
    "TrainConfig": "slimtorch.train",
    "History": "slimtorch.train",
    "fit": "slimtorch.train",
    "recalibrate_bn": "slimtorch.train",
    # measuring
    "measure": "slimtorch.bench",
    "Report": "slimtorch.bench",
    # pruning
    "prune": "slimtorch.prune",
    "MagnitudePrune": "slimtorch.prune",
    "NMPrune": "slimtorch.prune",
    "ChannelPrune": "slimtorch.prune",
    "GradualPrune": "slimtorch.prune",
    "IterativePrune": "slimtorch.prune",
    "register_surgery": "slimtorch.prune",
    "KeepMasks": "slimtorch.prune",
    # quantization
    "quantize": "slimtorch.quant",
    "Int8": "slimtorch.quant",
    "QAT": "slimtorch.quant",
    "DynamicInt8": "slimtorch.quant",
    "fold_batchnorm": "slimtorch.quant",
    "sensitivity": "slimtorch.quant",
    "export_onnx": "slimtorch.quant",
    # distillation
    "Distill": "slimtorch.distill",
    "DistillConfig": "slimtorch.distill",
    "kd_loss": "slimtorch.distill",
    # pipeline
    "run_recipe": "slimtorch.recipe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'slimtorch' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"slimtorch.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
