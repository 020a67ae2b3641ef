"""Structural pruning: remove whole channels, neurons and heads so tensors get physically smaller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

import slimtorch.pruning.attention as attention  # noqa: F401  (register the built-in surgery entries)
import slimtorch.pruning.layers as layers  # noqa: F401  (register the built-in surgery entries)

from ..config import Config, ConfigError, check_choice, check_range, check_regex
from ..registry import HandlerContext, handler, register
from .channels import PruneWarning, plan_channels, prune_channels, select  # noqa: F401  (public names)
from .encoder_reconstruct import reconstruct_any
from .importance import CALIBRATED, KINDS
from .reconstruct import prune_then_reconstruct


@register("channel_prune", kind="prune")
@dataclass(frozen=True)
class ChannelPrune(Config):
    """Remove a fraction of the channels of every dependency group.

    Args:
        ratio: fraction of each group's channels (neurons, heads) removed, in [0, 1).
        importance: "auto" | "l1" | "l2" | "bn_scale" | "taylor" | "activation" | "fisher" | "obs" | "random".
            "activation" scores each channel by the energy it sends into the layers reading it on ``calib_data``;
            "fisher" by how far removing it moves the model's output there (``fisher.py``); "obs" by the error
            its Linear readers keep after a least-squares re-fit without it (``obs.py``);
            "auto" (the default) is "activation" with ``reconstruct=True`` (calibration data is there
            anyway), else "l2".
        scope: "layer" (the ratio in every group) or "global" (one ranking over all groups,
            scores normalised by their group mean; with "fisher" raw scores, ranked across groups of the
            same size, so each kind of unit - heads, FFN neurons - loses ``ratio`` of its units).
        round_to: keep a multiple of this many channels per group (SIMD-friendly widths).
        ignore: names or regexes of layers whose output size is kept.
        seed: for ``importance="random"``.
        reconstruct: after the cut, re-solve each layer by least squares so it follows the original on
            calibration inputs (``calib_data``; no labels) and re-estimate BatchNorm statistics. When every
            cut lies inside BERT-style encoder blocks, each block's two output projections are solved so
            projection + residual meets the original's LayerNorm input (``encoder_reconstruct.py``).
        recalibrate_bn: in a recipe, the prune stage re-estimates BatchNorm statistics on the training data after
            the cut (False: they stay; ``st.optimize`` writes it when the re-estimate hurt the original itself).
            ``st.prune`` never does (``st.recalibrate_bn`` is the call).
        calib_rows: with ``reconstruct``, solve on at most this many calibration rows (the first ones; None: all
            of them); channel scores read at most the first 512 either way.
        ratios: per-layer ratios ``{regex: ratio}`` (or ``[[regex, ratio], ...]``) overriding ``ratio`` for a
            group with a layer whose name the regex matches (the first matching regex wins): e.g. cut each
            block by its measured sensitivity (``pruning.allocate``). Only with ``scope="layer"``.
    """

    ratio: float = 0.5
    importance: str = "auto"
    scope: str = "layer"
    round_to: int | None = None
    ignore: tuple[str, ...] = ()
    seed: int = 0
    reconstruct: bool = False
    ratios: tuple[tuple[str, float], ...] = ()
    calib_rows: int | None = None
    recalibrate_bn: bool = True

    makes_report: ClassVar[bool] = True  # st.prune(..., report=True) returns the coverage report (report.py)

    @property
    def needs_calibration(self) -> bool:  # reconstruction and activation scores read calibration activations
        return self.reconstruct or self.importance in CALIBRATED

    @property
    def recalibrates_bn(self) -> bool:  # the pipeline's prune stage reads this (the config's own field says it)
        return self.recalibrate_bn

    @property
    def scoring(self) -> str:
        """The importance actually used ("auto" resolved)."""
        if self.importance != "auto":
            return self.importance
        return "activation" if self.reconstruct else "l2"

    @property
    def needs_labels(self) -> bool:  # taylor scores are gradients of the loss on labelled batches
        return self.importance == "taylor"

    def __post_init__(self) -> None:
        if isinstance(self.ratios, dict):  # a mapping (recipes, the API) becomes pairs: configs stay hashable
            object.__setattr__(self, "ratios", tuple(self.ratios.items()))
        object.__setattr__(self, "ratios", tuple(tuple(p) if isinstance(p, list) else p for p in self.ratios))
        super().__post_init__()

    def validate(self) -> None:
        check_range("ratio", self.ratio, 0.0, 1.0, hi_open=True)
        for i, pair in enumerate(self.ratios):
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ConfigError(f"ratios[{i}]", f"must be a (regex, ratio) pair, got {pair!r}")
            check_range(f"ratios[{pair[0]!r}]", pair[1], 0.0, 1.0, hi_open=True)
            check_regex(f"ratios[{i}]", pair[0])
        for i, pattern in enumerate(self.ignore):
            if not isinstance(pattern, str):
                raise ConfigError(f"ignore[{i}]", f"must be a layer name or regex (a string), got {pattern!r}")
            check_regex(f"ignore[{i}]", pattern)
        if self.ratios and self.scope != "layer":
            raise ConfigError("ratios", f"per-layer ratios need scope='layer', got scope={self.scope!r}")
        check_choice("importance", self.importance, ("auto", *KINDS))
        check_choice("scope", self.scope, ("layer", "global"))
        if self.round_to is not None:
            check_range("round_to", self.round_to, 1)
        if self.calib_rows is not None:
            if isinstance(self.calib_rows, bool) or not isinstance(self.calib_rows, int):
                raise ConfigError("calib_rows", f"must be a whole number of rows or None, got {self.calib_rows!r}")
            check_range("calib_rows", self.calib_rows, 1)


@handler(ChannelPrune)
def _channel_prune(model: nn.Module, cfg: ChannelPrune, ctx: HandlerContext) -> nn.Module:
    # activation scores run on the calibration inputs; taylor scores on labelled batches
    data = ctx.calib_data if cfg.scoring in CALIBRATED else ctx.data
    if cfg.reconstruct:
        return prune_then_reconstruct(
            model,
            ctx.calib_data,
            lambda m: prune_channels(m, cfg, ctx.example_inputs, data, ctx.loss_fn),
            solver=reconstruct_any,
            limit=cfg.calib_rows,
        )
    return prune_channels(model, cfg, ctx.example_inputs, data, ctx.loss_fn)
