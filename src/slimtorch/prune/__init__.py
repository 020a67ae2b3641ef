"""Pruning: unstructured masks (magnitude, N:M, gradual, iterative) and structural channel removal.

``st.prune(model, cfg, example_inputs=x)`` applies any registered prune config::

    small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x)   # physically smaller
    sparse = st.prune(model, st.MagnitudePrune(sparsity=0.9, scope="global"))  # zeros in weights
"""

from __future__ import annotations

import sys
import types
from typing import Any

from torch import nn

from ..config import Config
from ..registry import get_handler
from . import sparse_codec  # noqa: F401  (registers the bitmask codec used by st.save)
from .gradual import GradualPrune, GradualPruneConfig, IterativePrune, IterativePruneConfig
from .masks import KeepMasks, Masks
from .nm import NMPrune
from .plan import apply_plan, zero_plan
from .schedules import cubic_sparsity, iterative_sparsity
from .structured import ChannelPrune, PruneWarning, plan_channels
from .surgery import Surgery, register_surgery
from .unstructured import MagnitudePrune


def prune(model: nn.Module, cfg: Config, example_inputs: Any = None, **kwargs: Any) -> nn.Module:
    """Apply a prune config to ``model`` (in place where possible) and return the model to use.

    Args:
        model: the model.
        cfg: ``MagnitudePrune``, ``NMPrune``, ``ChannelPrune`` or any config registered with kind="prune".
        example_inputs: one batch; required by ``ChannelPrune`` (it traces the model once).
        **kwargs: handler options, e.g. ``data=`` / ``loss_fn=`` for taylor importance.

    Returns:
        The pruned model.

    Example:
        >>> small = prune(model, ChannelPrune(ratio=0.5), example_inputs=torch.randn(1, 3, 32, 32))
    """
    return get_handler(cfg)(model, cfg, example_inputs, **kwargs)


__all__ = [
    "ChannelPrune",
    "GradualPrune",
    "GradualPruneConfig",
    "IterativePrune",
    "IterativePruneConfig",
    "KeepMasks",
    "MagnitudePrune",
    "Masks",
    "NMPrune",
    "PruneWarning",
    "Surgery",
    "apply_plan",
    "cubic_sparsity",
    "iterative_sparsity",
    "plan_channels",
    "prune",
    "register_surgery",
    "zero_plan",
]


class _CallableModule(types.ModuleType):
    """``st.prune`` is both this package and the verb: once the package is imported, Python binds
    ``slimtorch.prune`` to the module, so the module itself forwards calls to :func:`prune`."""

    def __call__(self, model: nn.Module, cfg: Config, example_inputs: Any = None, **kwargs: Any) -> nn.Module:
        return prune(model, cfg, example_inputs, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
