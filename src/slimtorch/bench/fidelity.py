"""Fidelity without labels: how closely a compressed model follows its original on the same inputs.

Classifiers (logits): top-1 and top-5 agreement with the reference's predictions and the mean
KL(reference || model) of their softmax. Encoders (unit-norm embeddings): mean and worst cosine to
the reference's embedding, and nearest-neighbour agreement (each input's nearest other input is
the same under both models) - what a retrieval user sees.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..devices import device_of
from .evaluate import _batches

KINDS = ("auto", "classifier", "encoder")


@torch.no_grad()
def outputs(model: nn.Module, data: Any, batch_size: int = 64) -> torch.Tensor:
    """The model's outputs on every input of ``data`` (eval mode; training mode restored), as (N, D) float."""
    was = model.training
    model.eval()
    dev = device_of(model)
    try:
        outs = [model(b[0].to(dev)).float().reshape(len(b[0]), -1).cpu() for b in _batches(data, batch_size)]
    finally:
        model.train(was)
    return torch.cat(outs)


def same_shape(out: torch.Tensor, ref: torch.Tensor) -> None:
    """Refuse outputs that cannot be compared row by row, in one line (not a broadcasting RuntimeError).

    Raises:
        ValueError: ``out`` and ``ref`` differ in shape.
    """
    if out.shape != ref.shape:
        raise ValueError(f"model gives outputs of shape {tuple(out.shape[1:])} per input but the reference "
                         f"(original or teacher) gives {tuple(ref.shape[1:])}; fidelity compares models with the "
                         "same outputs")


def kind_of(ref: torch.Tensor) -> str:
    """``encoder`` when every reference row has unit L2 norm (normalised embeddings), else ``classifier``."""
    return "encoder" if torch.allclose(ref.norm(dim=1), torch.ones(len(ref)), atol=1e-3) else "classifier"


def classifier_fidelity(out: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Top-1 / top-5 agreement and mean KL(ref || out) of two logit matrices (N, C).

    Raises:
        ValueError: the two have different shapes (say, a student of 3 classes and a teacher of 10).
    """
    same_shape(out, ref)
    top1 = ref.argmax(1)
    result = {"agreement_top1": float((out.argmax(1) == top1).float().mean())}
    if out.shape[1] >= 5:  # the reference's top-1 among the model's top 5
        result["agreement_top5"] = float((out.topk(5, dim=1).indices == top1[:, None]).any(1).float().mean())
    log_p, log_q = F.log_softmax(ref, 1), F.log_softmax(out, 1)
    result["kl"] = float((log_p.exp() * (log_p - log_q)).sum(1).mean())
    return result


def encoder_fidelity(out: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Mean / worst cosine of matching rows and nearest-neighbour agreement (needs 3+ rows) of two (N, D).

    Raises:
        ValueError: the two have different shapes.
    """
    same_shape(out, ref)
    cos = F.cosine_similarity(out, ref, dim=1)
    result = {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
    if len(out) >= 3:
        nn_out, nn_ref = _nearest(out), _nearest(ref)
        result["nn_agreement"] = float((nn_out == nn_ref).float().mean())
    return result


def _nearest(e: torch.Tensor) -> torch.Tensor:
    e = F.normalize(e, dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-float("inf"))  # a row is not its own neighbour
    return sim.argmax(1)


def fidelity(model: nn.Module, reference: nn.Module, data: Any, kind: str = "auto",
             batch_size: int = 64) -> dict[str, Any]:
    """Compare ``model`` with ``reference`` on the inputs of ``data`` (labels, if any, are ignored).

    Args:
        model: the compressed model.
        reference: the original model (the outputs to follow).
        data: a dataset of (x, y) rows (ArrayDataset from ``st.data.load``, images or text).
        kind: "classifier", "encoder", or "auto" (encoder when the reference's outputs are unit-norm).
        batch_size: rows per forward pass.

    Returns:
        ``{"fidelity_kind", "fidelity_n", ...}`` plus ``agreement_top1``, ``agreement_top5``, ``kl``
        (classifier) or ``cosine_mean``, ``cosine_min``, ``nn_agreement`` (encoder).

    Raises:
        ValueError: unknown kind, empty data, or outputs of different shapes.

    Example:
        >>> fidelity(pruned, original, held_out)["agreement_top1"]  # doctest: +SKIP
        0.92
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if len(data) == 0:
        raise ValueError("fidelity needs at least one input; the evaluation data is empty")
    out, ref = outputs(model, data, batch_size), outputs(reference, data, batch_size)
    kind = kind_of(ref) if kind == "auto" else kind
    scores = classifier_fidelity(out, ref) if kind == "classifier" else encoder_fidelity(out, ref)
    return {"fidelity_kind": kind, "fidelity_n": len(out), **scores}


def unlabeled(data: Any) -> bool:
    """True when ``data`` carries no labels (``y`` all -1, as images:DIR without subfolders and text:FILE)."""
    y = getattr(data, "y", None)
    return isinstance(y, torch.Tensor) and not y.is_floating_point() and y.numel() > 0 and bool((y < 0).all())


FIELDS = (("agreement_top1", "top-1 agreement"), ("agreement_top5", "top-5 agreement"), ("kl", "KL to reference"),
          ("cosine_mean", "cosine mean"), ("cosine_min", "cosine worst"), ("nn_agreement", "nearest-neighbour agr."))


def rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's fidelity values as (label, text) rows for a printed table."""
    return [(label, text(key, report[key])) for key, label in FIELDS if report.get(key) is not None]


def text(key: str, value: float | None) -> str:
    """One fidelity value as printed: KL and cosines as numbers, agreements as percentages; '-' for none."""
    if value is None:
        return "-"
    return f"{value:.4f}" if key in ("kl", "cosine_mean", "cosine_min") else f"{100 * value:.2f}%"
