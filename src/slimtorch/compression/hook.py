"""Trained weight sharing: fine-tune the shared values (centroids) of a clustered model during ``st.fit``.

With ``w_i = c_k`` for every weight ``i`` of cluster ``k``, the loss gradient of the centroid is the
sum of its members' gradients (Han et al. 2016, eq. 3). The hook writes that sum into every member's
gradient before the optimizer step, so any optimizer moves all members alike (their update is the
centroid's), and re-ties them to their mean after the step (elementwise kernels may round members
differently). Zeros get zero gradients and stay zero. Because a cluster's gradient is a sum over its
members, use a learning rate well below the one the dense model trained with (or Adam).

A hand-written loop calls the same methods as ``st.fit``::

    hook.on_fit_start(state)
    loss.backward(); hook.after_backward(state); opt.step(); hook.on_step_end(state)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..config import Config, ConfigError, check_choice, check_range
from ..hooks import Hook, State
from ..registry import handler, register
from .kmeans import INITS
from .sharing import check_bits, clusters, layer_bits, share_weights

if TYPE_CHECKING:
    from ..registry import HandlerContext


@register("share_weights", kind="hook")
@dataclass(frozen=True)
class ShareWeightsConfig(Config):
    """Share weights by k-means (2^bits values per layer), then fine-tune the shared values.

    Example (recipe)::

        stages:
          - share_weights: {bits: 5, epochs: 2}
            fit: {lr: 0.001}
          - pack
    """

    bits: int | dict[str, int] = 5  # one width, or {layer name or regex: bits} (first match wins)
    init: str = "linear"  # "linear" | "density" | "random"
    ignore: tuple[str, ...] = ()  # layers left as they are
    epochs: int | None = None  # fine-tuning epochs; None: the recipe's train.epochs

    def validate(self) -> None:
        try:
            check_bits(self.bits)
        except ValueError as err:
            raise ConfigError("", str(err)) from None
        check_choice("init", self.init, INITS)
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1)


class ShareWeights(Hook):
    """Cluster the model at fit start (layers already shared are kept) and train the centroids.

    Example:
        >>> st.fit(model, train, st.TrainConfig(epochs=2, lr=1e-3), hooks=[st.ShareWeights(bits=5)])
    """

    def __init__(self, cfg: ShareWeightsConfig | None = None, **kwargs: Any):
        self.cfg = cfg if cfg is not None else ShareWeightsConfig(**kwargs)
        self.model: nn.Module | None = None
        # name -> (parameter, flat cluster index with k for zeros, members per cluster, k)
        self.groups: dict[str, tuple[nn.Parameter, torch.Tensor, torch.Tensor, int]] = {}

    def on_fit_start(self, state: State) -> None:
        self.model = share_weights(state.model, self.cfg.bits, self.cfg.init, self.cfg.ignore)
        self._bind({})

    def _bind(self, indices: dict[str, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        self.groups = {}
        for name in layer_bits(self.model, self.cfg.bits, self.cfg.ignore):
            p = params[name]
            idx = indices[name].long() if name in indices else clusters(p)[1]
            k = int(idx.max()) + 1 if idx.numel() else 0
            flat = torch.where(idx < 0, k, idx).reshape(-1).to(p.device)
            counts = torch.bincount(flat, minlength=k + 1).to(torch.float64)
            self.groups[name] = (p, flat, counts.clamp(min=1), k)

    def after_backward(self, state: State) -> None:
        for p, idx, _, k in self.groups.values():
            if p.grad is None:
                continue
            g = p.grad.reshape(-1)
            sums = torch.zeros(k + 1, dtype=g.dtype, device=g.device).index_add_(0, idx, g)
            sums[k] = 0  # the pruned weights' "cluster": no gradient, they stay zero
            p.grad.copy_(sums[idx].view_as(p.grad))

    @torch.no_grad()
    def on_step_end(self, state: State) -> None:
        for p, idx, counts, k in self.groups.values():
            w = p.reshape(-1)
            means = torch.zeros(k + 1, dtype=torch.float64, device=w.device).index_add_(0, idx, w.double())
            means = means / counts.to(w.device)
            means[k] = 0
            p.copy_(means.to(p.dtype)[idx].view_as(p))

    def finalize(self, state: State) -> None:
        self.on_step_end(state)

    def codebooks(self) -> dict[str, torch.Tensor]:
        """The current shared values of each layer (sorted distinct nonzero weights)."""
        return {name: clusters(p)[0] for name, (p, *_) in self.groups.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"index": {name: torch.where(idx == k, -1, idx).to(torch.int16).cpu()
                          for name, (_, idx, _, k) in self.groups.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.model is not None and state.get("index"):
            params = dict(self.model.named_parameters())
            self._bind({n: i.view(params[n].shape) for n, i in state["index"].items()})


@handler(ShareWeightsConfig)
def _share_weights(model: nn.Module, cfg: ShareWeightsConfig, ctx: HandlerContext) -> ShareWeights:
    return ShareWeights(cfg)
