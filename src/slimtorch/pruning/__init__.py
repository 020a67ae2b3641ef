"""Pruning: unstructured masks (magnitude, N:M, gradual, iterative) and structural channel removal.

The verb ``st.prune(model, cfg, example_inputs=x)`` (in ``slimtorch.api``) applies any registered prune config::

    small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x)   # physically smaller
    sparse = st.prune(model, st.MagnitudePrune(sparsity=0.9, scope="global"))  # zeros in weights
"""

from __future__ import annotations

import slimtorch.pruning.heads as heads  # noqa: F401  (surgery entries; the bitmask codec st.save uses)
import slimtorch.pruning.layers_extra as layers_extra  # noqa: F401  (surgery entries; the bitmask codec st.save uses)
import slimtorch.pruning.layers_rnn as layers_rnn  # noqa: F401  (surgery entries: GRU, LSTM, RNN)
import slimtorch.pruning.sparse_codec as sparse_codec  # noqa: F401  (surgery entries; the bitmask codec st.save uses)

from .gradual import GradualPrune, GradualPruneConfig, IterativePrune, IterativePruneConfig
from .masks import KeepMasks, Masks
from .nm import NMPrune
from .plan import apply_plan, zero_plan
from .report import PruneReport, report
from .schedules import cubic_sparsity, iterative_sparsity
from .structured import ChannelPrune, PruneWarning, plan_channels
from .surgery import Surgery, register_surgery
from .unstructured import MagnitudePrune

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
    "PruneReport",
    "PruneWarning",
    "Surgery",
    "apply_plan",
    "cubic_sparsity",
    "iterative_sparsity",
    "plan_channels",
    "register_surgery",
    "report",
    "zero_plan",
]
