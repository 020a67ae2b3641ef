"""The verbs of slimtorch: one call, one config object.

``st.fit``, ``st.prune``, ``st.quantize``, ``st.measure``, ``st.save``, ``st.load``, ``st.export_onnx``,
``st.recalibrate_bn``, ``st.share_weights``, ``st.pack``. A verb checks that its config is of its kind and
names the accepted configs otherwise. ``slimtorch/__init__`` re-exports these names lazily, so
``import slimtorch`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from . import pruning as _pruning  # noqa: F401  (registers the prune configs and their handlers)
from .bench.measure import measure
from .compression import pack, share_weights
from .config import Config
from .devices import MovedBatches, device_of, to_device
from .io import load, save
from .quantization.onnx_export import export_onnx
from .quantization.ptq import quantize
from .registry import HandlerContext, check_kind, get_handler
from .training.bn import recalibrate_bn
from .training.trainer import fit


def prune(model: nn.Module, cfg: Config, example_inputs: Any = None, *, data: Iterable | None = None,
          loss_fn: Callable | None = None, calib_data: Any = None) -> nn.Module:
    """Apply a prune config to ``model`` (in place where possible) and return the model to use.

    Args:
        model: the model.
        cfg: ``MagnitudePrune``, ``NMPrune``, ``ChannelPrune`` or any config registered with kind="prune".
        example_inputs: one batch; required by ``ChannelPrune`` (it traces the model once). Traced and
            verified on the model's device: inputs elsewhere are moved there (as are ``data``'s batches).
        data: labelled (x, y) batches, read by configs with ``needs_labels`` (taylor importance).
        loss_fn: the loss ``data`` is scored with (default: cross entropy).
        calib_data: unlabeled inputs, read by configs with ``needs_calibration`` (``ChannelPrune(reconstruct=True)``).

    Returns:
        The pruned model.

    Raises:
        TypeError: ``cfg`` is not a prune config (the message names the accepted ones).

    Example:
        >>> small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=torch.randn(1, 3, 32, 32))
    """
    check_kind(cfg, "prune", "st.prune")
    device = device_of(model)
    ctx = HandlerContext(example_inputs=to_device(example_inputs, device), loss_fn=loss_fn, calib_data=calib_data,
                         data=None if data is None else MovedBatches(data, device))
    return get_handler(cfg)(model, cfg, ctx)


def optimize(model: nn.Module, data: Any, **kwargs: Any) -> Any:
    """The fastest (or smallest) pruned model within an accuracy budget; see :func:`slimtorch.search.optimize`.

    Example:
        >>> res = st.optimize(model, st.data.load("mnist"), max_accuracy_drop=0.5)  # doctest: +SKIP
    """
    from .search import optimize as _optimize  # heavy (onnxruntime): imported on first use

    return _optimize(model, data, **kwargs)


__all__ = ["export_onnx", "fit", "load", "measure", "optimize", "pack", "prune", "quantize", "recalibrate_bn", "save",
           "share_weights"]
