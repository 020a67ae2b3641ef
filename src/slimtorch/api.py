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
from .quantization.dynamic import is_int8
from .quantization.onnx_export import export_onnx
from .quantization.ptq import quantize
from .registry import HandlerContext, check_kind, get_handler
from .training.bn import recalibrate_bn
from .training.trainer import fit


def prune(model: nn.Module, cfg: Config, example_inputs: Any = None, *, data: Iterable | None = None,
          loss_fn: Callable | None = None, calib_data: Any = None, report: bool = False) -> Any:
    """Apply a prune config to ``model`` (in place where possible) and return the model to use.

    Args:
        model: the model.
        cfg: ``MagnitudePrune``, ``NMPrune``, ``ChannelPrune`` or any config registered with kind="prune".
        example_inputs: one batch; required by ``ChannelPrune`` (it traces the model once). Traced and
            verified on the model's device: inputs elsewhere are moved there (as are ``data``'s batches).
        data: labelled (x, y) batches, read by configs with ``needs_labels`` (taylor importance).
        loss_fn: the loss ``data`` is scored with (default: cross entropy).
        calib_data: unlabeled inputs, read by configs with ``needs_calibration`` (``ChannelPrune(reconstruct=True)``).
        report: also return the coverage report (per group of coupled layers: pruned or kept, and why), for
            configs that make one (``makes_report``: ``ChannelPrune``); ``st.pruning.report(model)`` reads it later.

    Returns:
        The pruned model; with ``report=True``, ``(model, report)``.

    Raises:
        TypeError: ``cfg`` is not a prune config (the message names the accepted ones).
        ValueError: ``report=True`` with a config that makes no coverage report (checked before pruning), or
            ``model`` is quantized (int8): prune the float model, then quantize.

    Example:
        >>> small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=torch.randn(1, 3, 32, 32))
        >>> small, rep = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x, report=True)
        >>> print(rep)  # one row per group: pruned / kept, and why
    """
    check_kind(cfg, "prune", "st.prune")
    _check_float(model)
    if report and not getattr(cfg, "makes_report", False):
        makers = ", ".join(c.__name__ for c in _pruning.__dict__.values()
                           if isinstance(c, type) and issubclass(c, Config) and getattr(c, "makes_report", False))
        raise ValueError(f"report=True: {type(cfg).__name__} makes no coverage report; configs that do: {makers}")
    device = device_of(model)
    ctx = HandlerContext(example_inputs=to_device(example_inputs, device), loss_fn=loss_fn, calib_data=calib_data,
                         data=None if data is None else MovedBatches(data, device))
    out = get_handler(cfg)(model, cfg, ctx)
    return (out, _pruning.report(out)) if report else out


def _check_float(model: nn.Module) -> None:
    """Refuse an int8 model: it has no float weights to rank, so pruning it would be a silent no-op."""
    if is_int8(model):
        raise ValueError(f"st.prune: the model ({type(model).__name__}) is quantized (int8); pruning works on the "
                         "float model: prune it first, then quantize")


def distill(student: nn.Module, data: Any, kd: Any, cfg: Any = None, *, eval_data: Any = None) -> nn.Module:
    """Train ``student`` from ``kd``'s teacher on ``data``, keeping what is best on a held-out split.

    Without labels (a tensor of inputs, or data whose labels are all -1: ``images:DIR`` without subfolders,
    ``text:FILE``) it needs ``alpha=1``: soft targets for classifiers, cosine for unit-norm embeddings
    (``loss="auto"``). A seeded ``val_fraction`` of the rows is held out; the epoch with the best validation
    fidelity to the teacher (top-1 agreement beyond its standard error, else KL; or mean cosine; epoch 0 is the
    student as given) is kept, and training stops after ``patience`` epochs without a better one. With labels (and
    ``compare=True``, the default) the student is also trained alone and the more accurate on the
    validation split wins; a warning says when distillation lost. ``st.distill_report(model)`` tells what happened.

    Args:
        student: the model to train (in place), e.g. a pruned copy of the teacher.
        data: a tensor of inputs, an ``(x, y)`` pair, or a dataset of ``(x, y)`` rows.
        kd: ``st.Distill(teacher, ...)``; the teacher is usually the unpruned original.
        cfg: the TrainConfig of each fit (default ``TrainConfig()``); its seed also picks the validation rows.
        eval_data: labelled data evaluated after each epoch of the last fit (``kd.history``); never used to choose.

    Returns:
        The trained student.

    Raises:
        TypeError: ``kd`` is not a Distill hook, or ``data`` is of an unknown kind.
        ConfigError: no labels and ``alpha`` < 1 (field ``alpha``).

    Example:
        >>> kd = st.Distill(original, alpha=1.0)                                 # doctest: +SKIP
        >>> small = st.distill(small, photos, kd, st.TrainConfig(epochs=5))     # doctest: +SKIP
        >>> st.distill_report(small)["kept_epoch"]  # doctest: +SKIP
    """
    from .distillation import Distill
    from .training import TrainConfig

    if not isinstance(kd, Distill):
        raise TypeError(f"st.distill: kd must be st.Distill(teacher, ...), got {type(kd).__name__}")
    return kd.drive(student, data, cfg if cfg is not None else TrainConfig(), fit, eval_data)


def optimize(model: nn.Module, data: Any, **kwargs: Any) -> Any:
    """The fastest (or smallest) pruned model within an accuracy budget; see :func:`slimtorch.search.optimize`.

    Example:
        >>> res = st.optimize(model, st.data.load("mnist"), max_accuracy_drop=0.5)  # doctest: +SKIP
    """
    from .search import optimize as _optimize  # heavy (onnxruntime): imported on first use

    return _optimize(model, data, **kwargs)


__all__ = ["distill", "export_onnx", "fit", "load", "measure", "optimize", "pack", "prune", "quantize",
           "recalibrate_bn", "save", "share_weights"]
